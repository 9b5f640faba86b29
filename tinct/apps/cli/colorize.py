"""``tinct colorize INPUT...``: colorize black-and-white photos (files or folders)."""

from __future__ import annotations

from tinct.apps.cli._common import add_method_options
from tinct.apps.cli._run import Job, check_inputs, read_side_input, run_files
from tinct.apps.cli.transfer import report
from tinct.errors import ParameterError
from tinct.io.files import collect_inputs, output_paths
from tinct.registry import get_method


def add_parser(sub) -> None:
    p = sub.add_parser(
        "colorize", help="colorize black-and-white images", description=__doc__,
        epilog="Examples: tinct colorize old.jpg -o out/ ; tinct colorize scans/ --method patchdb ; "
        "tinct colorize gray.jpg --scribbles marked.png",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    p.add_argument("-o", "--output", default=None,
                   help="output file (one input) or folder (default: the current folder)")
    p.add_argument("-r", "--reference", default=None, help="colour reference image (exemplar methods)")
    p.add_argument("-s", "--scribbles", default=None, help="copy of the input with colour strokes (scribble method)")
    p.add_argument("--mask", default=None, help="image file: nonzero where colour may change")
    p.add_argument("--format", default=None, help="output format (png, jpg, tif, webp, bmp); default: the input's")
    p.add_argument("--progress", action="store_true", help="show a progress bar even when not on a terminal")
    add_method_options(p, "colorize", "auto")
    p.set_defaults(func=run)


def run(args) -> int:
    # Scribbles name their own method: `--scribbles` alone means the scribble method.
    name = "scribble" if args.scribbles and args.method == "auto" else args.method
    name = "exemplar" if args.reference and name == "auto" else name
    method = get_method(name, "colorize")
    params = method.parse(args.param)
    files = collect_inputs(args.inputs)
    inputs = {
        "reference": read_side_input(args.reference, args.max_pixels),
        "scribbles": read_side_input(args.scribbles, args.max_pixels),
        "mask": read_side_input(args.mask, args.max_pixels),
        "_paths": [p for p in (args.reference, args.scribbles, args.mask) if p],
    }
    check_inputs(method, inputs)
    if len(files) > 1 and (inputs["scribbles"] is not None or inputs["mask"] is not None):
        raise ParameterError("--scribbles/--mask: they fit one input image, got several")
    outputs = output_paths(files, args.output, method.name, args.format)
    job = Job(method, params, inputs, args.post, args.max_pixels, args.overwrite)
    done, failed = run_files(job, [f for f, _ in files], outputs, args.progress)
    return report(args, method.name, done, failed)
