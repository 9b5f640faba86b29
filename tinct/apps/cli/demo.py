"""``tinct demo``: run tinct's main jobs on the bundled example images.

Colorizes the bundled black-and-white photographs with the default model and
recolours a bundled photo with every registered transfer method, writing the
results under ``./tinct-demo/`` (or ``-o DIR``) and printing each file written.
"""

from __future__ import annotations

from pathlib import Path

from tinct.apps.cli._common import emit
from tinct.data import GRAY_EXAMPLES, TRANSFER_PAIR, example
from tinct.errors import MissingDependencyError, MissingWeightsError
from tinct.registry import list_methods


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="run tinct on the bundled example images", description=__doc__)
    p.add_argument("-o", "--output", default="tinct-demo", help="output folder (default ./tinct-demo)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=run)


def run(args) -> int:
    from tinct.pipeline import make_job, run_file

    out = Path(args.output)
    written: list[dict] = []
    skipped: list[dict] = []
    notes: list[str] = []
    # The demo folder is the demo's own: re-running it replaces its files.
    colorizers = {m.name for m in list_methods("colorize")}
    if "auto" in colorizers:
        try:
            job = make_job("auto", "colorize", overwrite=True)
            for name in GRAY_EXAMPLES:
                dst = out / "colorize" / f"{Path(name).stem}.auto.png"
                written.append({"job": "colorize", "method": "auto", **run_file(job, example(name), dst)})
        except (MissingWeightsError, MissingDependencyError) as exc:
            skipped.append({"method": "auto", "reason": str(exc)})
            notes.append(f"skipped colorize: {exc}")

    target, reference = (example(n) for n in TRANSFER_PAIR)
    for method in list_methods("transfer"):
        job = make_job(method, "transfer", inputs={"reference": reference}, overwrite=True)
        dst = out / "transfer" / f"{target.stem}.{method.name}.png"
        written.append({"job": "transfer", "method": method.name, **run_file(job, target, dst)})

    lines = [f"wrote {w['output']}  ({w['job']} with {w['method']}, {w['seconds']:.2f} s)" for w in written]
    if any(w["method"] == "reinhard" and w["seconds"] > 2 for w in written):
        notes.append("(the first reinhard run compiles tinct's kernels once; they are cached for later runs)")
    lines += notes + [f"{len(written)} files written under {out}/"]
    emit(args, {"output": str(out), "written": written, "skipped": skipped}, lines)
    return 0
