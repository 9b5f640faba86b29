"""``tinct transfer TARGET... --reference REF``: recolour images with a reference's colours."""

from __future__ import annotations

import sys

from tinct.apps.cli._common import add_method_options, emit
from tinct.apps.cli._run import Job, check_inputs, read_side_input, run_files
from tinct.errors import ParameterError
from tinct.io.files import collect_inputs, output_paths
from tinct.registry import get_method


def add_parser(sub) -> None:
    p = sub.add_parser(
        "transfer", help="give images the colours of a reference image", description=__doc__,
        epilog="Example: tinct transfer house.jpg --reference sunset.jpg -o house_sunset.jpg",
    )
    p.add_argument("targets", nargs="+", metavar="TARGET", help="image files or folders to recolour")
    p.add_argument("-r", "--reference", required=True, help="image whose colours are taken")
    p.add_argument("-o", "--output", default=None,
                   help="output file (one target) or folder (default: the current folder)")
    p.add_argument("--target-mask", default=None, help="image file: nonzero where the target may change")
    p.add_argument("--reference-mask", default=None, help="image file: nonzero where reference colours are measured")
    p.add_argument("--format", default=None, help="output format (png, jpg, tif, webp, bmp); default: the input's")
    p.add_argument("--progress", action="store_true", help="show a progress bar even when not on a terminal")
    add_method_options(p, "transfer", "reinhard")
    p.set_defaults(func=run)


def run(args) -> int:
    method = get_method(args.method, "transfer")
    params = method.parse(args.param)
    files = collect_inputs(args.targets)
    inputs = {
        "reference": read_side_input(args.reference, args.max_pixels),
        "target_mask": read_side_input(args.target_mask, args.max_pixels),
        "reference_mask": read_side_input(args.reference_mask, args.max_pixels),
        "_paths": [p for p in (args.reference, args.target_mask, args.reference_mask) if p],
    }
    check_inputs(method, inputs)
    if inputs["target_mask"] is not None and len(files) > 1:
        raise ParameterError("--target-mask: a target mask fits one target image, got several")
    outputs = output_paths(files, args.output, method.name, args.format)
    job = Job(method, params, inputs, args.post, args.max_pixels, args.overwrite)
    done, failed = run_files(job, [f for f, _ in files], outputs, args.progress)
    return report(args, method.name, done, failed)


def report(args, method: str, done: list[dict], failed: list[dict]) -> int:
    lines = [f"wrote {d['output']}  ({d['seconds']:.2f} s)" for d in done]
    for f in failed:
        print(f"tinct: error: {f['error']}", file=sys.stderr)
    if len(done) + len(failed) > 1:
        lines.append(f"{len(done)} written, {len(failed)} failed")
    emit(args, {"method": method, "written": done, "failed": failed}, lines)
    return 2 if failed else 0
