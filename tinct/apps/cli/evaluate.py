"""``tinct evaluate --method M DIR``: colorize the gray version of each colour image and score it.

Reports PSNR, SSIM, AuC of the ab error curve (plain and class-rebalanced),
colourfulness of results and truth, the spurious-colour rate (% of the pixels
neutral in truth, chroma < 8, that come out vivid, chroma > 25) and the
ab-histogram distance, pooled over the set, with the ``gray`` baseline (ab = 0)
in the same table and each method's PSNR, AuC, AuC-rebalanced, colourfulness
and spurious rate also as the difference to gray (``-gray`` columns).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from tinct.apps.cli._common import add_command
from tinct.errors import ImageWriteError


def add_parser(sub) -> None:
    p = add_command(sub, "evaluate", "score a colorization method on a folder of colour images", __doc__,
                    "tinct evaluate --method eccv16 -p weights=w.pth ../shared/data/eval/kodak24 -o report.json "
                    "--sheet sheet.png")
    p.add_argument("folder", metavar="DIR", help="folder of colour images (ground truth)")
    p.add_argument("-m", "--method", default="gray", help="colorize method (see `tinct methods --kind colorize`); "
                   "'gray' scores the baseline only")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="method parameter")
    p.add_argument("--limit", type=int, default=None, help="evaluate at most N images")
    p.add_argument("-r", "--reference", default=None, help="reference image for methods that need one")
    p.add_argument("-o", "--output", default=None, help="write the full report as JSON here")
    p.add_argument("--sheet", default=None, help="write a PNG contact sheet (gray / result / truth)")
    p.add_argument("--max-pixels", type=int, default=None, help="refuse images larger than this")
    p.add_argument("--json", action="store_true", help="print the JSON report instead of the table")
    p.set_defaults(func=run)


def _clean(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def run(args) -> int:
    from tinct.evaluate.run import evaluate_folder, format_table

    for out in (args.output, args.sheet):
        if out is not None and not Path(out).parent.resolve().is_dir():
            raise ImageWriteError(f"{out}: folder {Path(out).parent} does not exist")
    params = {}
    if args.method != "gray":
        from tinct.registry import get_method

        params = get_method(args.method, "colorize").parse(args.param)
    bar = None
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(desc=f"evaluate {args.method}", unit="img", file=sys.stderr)
    try:
        report = evaluate_folder(args.method, args.folder, limit=args.limit, params=params,
                                 reference=args.reference, sheet=args.sheet, max_pixels=args.max_pixels,
                                 progress=bar.update if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    report = _clean(report)
    if args.output:
        tmp = Path(args.output).with_name(Path(args.output).name + ".tmp")
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        tmp.replace(args.output)
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_table(report))
        for s in report.get("skipped", []):
            print(f"skipped {s['image']}: {s['reason']}", file=sys.stderr)
    return 0

