"""``tinct colorize INPUT...``: colorize black-and-white photos (files or folders)."""

from __future__ import annotations

from tinct.apps.cli._common import add_command, add_method_options, named_inputs, pixel_count, progress, report
from tinct.errors import ParameterError
from tinct.io.files import collect_inputs, output_paths, parse_suffix


def add_parser(sub) -> None:
    p = add_command(sub, "colorize", "colorize black-and-white images", __doc__, "tinct colorize old.jpg -o out/",
                    "tinct colorize scans/ --method patchdb", "tinct colorize gray.jpg --scribbles marked.png")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    p.add_argument("-o", "--output", default=None,
                   help="output file (one input) or folder (default: the current folder)")
    p.add_argument("-r", "--reference", default=None, help="colour reference image (exemplar colorization)")
    p.add_argument("-s", "--scribbles", default=None, help="copy of the input with colour strokes (scribble method)")
    p.add_argument("--mask", default=None, help="image file: nonzero where colour may change")
    p.add_argument("--hints", default=None, metavar="FILE.json",
                   help='colour points: a JSON list of {"x": 120, "y": 45, "color": "#1f3a93"} (optional "radius")')
    p.add_argument("--hint", action="append", default=[], metavar="X,Y,#RRGGBB",
                   help="one colour point (column, row in pixels of the input), repeatable; adds to --hints")
    p.add_argument("--region", action="append", default=[], metavar="MASK=#RRGGBB",
                   help="colour the region of a mask image (the input's size) with this colour, repeatable")
    p.add_argument("--vividness", type=str, default=None, metavar="V",
                   help="CNN methods: 0 = gray, 1 = calibrated default, up to 2 = the plain annealed mean")
    p.add_argument("--save-confidence", action="store_true",
                   help="CNN methods: also write where the model is sure, as a gray PNG beside each output "
                        "(<output>.confidence.png; white = sure)")
    p.add_argument("--skip-colour", action="store_true",
                   help="leave out inputs that are already in colour (hand-coloured, autochrome, colour photos); "
                        "they are reported as skipped")
    p.add_argument("--format", default=None, help="output format (png, jpg, tif, webp, bmp); default: the input's")
    p.add_argument("--progress", action="store_true", help="show a progress bar even when not on a terminal")
    add_method_options(p, "colorize")
    p.set_defaults(func=run)


def hint_list(path: str | None, points: list[str]):
    """``--hints FILE`` and every ``--hint X,Y,#RRGGBB`` as one (N, 6) hints array, or None when there are none."""
    import numpy as np

    from tinct.colorize.hints import parse_hint_option, parse_hints

    if path is None and not points:
        return None
    from_file = parse_hints(path, what="--hints") if path else np.zeros((0, 6))
    return np.concatenate([from_file, parse_hints([parse_hint_option(p) for p in points])])


def run(args) -> int:
    from tinct.pipeline import make_job, run_files

    inputs = {"reference": args.reference, "scribbles": args.scribbles, "mask": args.mask,
              "hints": hint_list(args.hints, args.hint), "regions": args.region or None,
              **named_inputs(args.extra_inputs)}
    params = args.param + ([f"vividness={args.vividness}"] if args.vividness is not None else [])
    job = make_job(args.method, "colorize", inputs=inputs, params=params, post=args.post,
                   max_pixels=pixel_count(args.max_pixels) if args.max_pixels else None,
                   overwrite=args.overwrite, provenance=not args.no_provenance,
                   save_confidence=args.save_confidence, skip_colour=args.skip_colour)
    files = collect_inputs(args.inputs)
    if len(files) > 1 and any(i.kind in ("mask", "scribbles", "labels") and job.inputs.get(i.name) is not None
                              for i in job.method.inputs):
        raise ParameterError("--scribbles/--mask: they fit one input image, got several")
    outputs = output_paths(files, args.output, job.method.name, parse_suffix(args.format, "--format"))
    done, failed = run_files(job, [(f, o) for (f, _), o in zip(files, outputs)],
                             progress=lambda it: progress(it, len(files), job.method.name, args.progress))
    return report(args, job.method.name, done, failed)
