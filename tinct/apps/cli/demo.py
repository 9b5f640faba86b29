"""``tinct demo``: run tinct's main jobs on the bundled example images.

Colorizes the bundled black-and-white photographs with the default model and
recolours a bundled photo with every registered transfer method, writing the
results under ``./tinct-demo/`` (or ``-o DIR``) and printing each file written.
"""

from __future__ import annotations

import time
from pathlib import Path

from tinct.apps.cli._common import emit
from tinct.data import GRAY_EXAMPLES, TRANSFER_PAIR, example
from tinct.errors import MissingWeightsError
from tinct.registry import list_methods


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="run tinct on the bundled example images", description=__doc__)
    p.add_argument("-o", "--output", default="tinct-demo", help="output folder (default ./tinct-demo)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=run)


def run(args) -> int:
    from tinct.io import read_image, write_image

    out = Path(args.output)
    written: list[dict] = []
    skipped: list[dict] = []
    lines: list[str] = []

    def save(path: Path, result, like) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # The demo folder is the demo's own: re-running it replaces its files.
        write_image(path, result, like=like, alpha=like.alpha, overwrite=True)

    colorizers = {m.name: m for m in list_methods("colorize")}
    if "auto" in colorizers:
        for name in GRAY_EXAMPLES:
            src = read_image(example(name))
            start = time.perf_counter()
            try:
                result = colorizers["auto"](src.pixels)
            except MissingWeightsError as exc:
                skipped.append({"method": "auto", "reason": str(exc)})
                lines.append(f"skipped colorize: {exc}")
                break
            dst = out / "colorize" / f"{Path(name).stem}.auto.png"
            save(dst, result, src)
            written.append({"job": "colorize", "method": "auto", "input": name, "output": str(dst),
                            "seconds": round(time.perf_counter() - start, 3)})

    target = read_image(example(TRANSFER_PAIR[0]))
    reference = read_image(example(TRANSFER_PAIR[1]))
    for method in list_methods("transfer"):
        start = time.perf_counter()
        result = method(target.pixels, reference.pixels)
        dst = out / "transfer" / f"{Path(TRANSFER_PAIR[0]).stem}.{method.name}.png"
        save(dst, result, target)
        written.append({"job": "transfer", "method": method.name, "input": TRANSFER_PAIR[0], "output": str(dst),
                        "seconds": round(time.perf_counter() - start, 3)})

    lines = [f"wrote {w['output']}  ({w['job']} with {w['method']}, {w['seconds']:.2f} s)" for w in written] + lines
    lines.append(f"{len(written)} files written under {out}/")
    emit(args, {"output": str(out), "written": written, "skipped": skipped}, lines)
    return 0
