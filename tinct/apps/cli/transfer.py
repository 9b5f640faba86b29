"""``tinct transfer TARGET... --reference REF``: recolour images with a reference's colours."""

from __future__ import annotations

from tinct.apps.cli._common import add_method_options, named_inputs, pixel_count, progress, report
from tinct.errors import ParameterError
from tinct.io.files import collect_inputs, output_paths, parse_suffix


def add_parser(sub) -> None:
    p = sub.add_parser(
        "transfer", help="give images the colours of a reference image", description=__doc__,
        epilog="Example: tinct transfer house.jpg --reference sunset.jpg -o house_sunset.jpg",
    )
    p.add_argument("targets", nargs="+", metavar="TARGET", help="image files or folders to recolour")
    p.add_argument("-r", "--reference", required=True, help="image whose colours are taken")
    p.add_argument("-o", "--output", default=None,
                   help="output file (one target) or folder (default: the current folder)")
    p.add_argument("--target-mask", "--mask", dest="mask", default=None,
                   help="image file: nonzero where the target may change")
    p.add_argument("--reference-mask", default=None, help="image file: nonzero where reference colours are measured")
    p.add_argument("--format", default=None, help="output format (png, jpg, tif, webp, bmp); default: the input's")
    p.add_argument("--progress", action="store_true", help="show a progress bar even when not on a terminal")
    add_method_options(p, "transfer")
    p.set_defaults(func=run)


def run(args) -> int:
    from tinct.pipeline import make_job, run_files

    inputs = {"reference": args.reference, "mask": args.mask, "reference_mask": args.reference_mask,
              **named_inputs(args.extra_inputs)}
    job = make_job(args.method, "transfer", inputs=inputs, params=args.param, post=args.post,
                   max_pixels=pixel_count(args.max_pixels) if args.max_pixels else None,
                   overwrite=args.overwrite, provenance=not args.no_provenance)
    files = collect_inputs(args.targets)
    if args.mask is not None and len(files) > 1:
        raise ParameterError("--target-mask: a target mask fits one target image, got several")
    outputs = output_paths(files, args.output, job.method.name, parse_suffix(args.format, "--format"))
    done, failed = run_files(job, [(f, o) for (f, _), o in zip(files, outputs)],
                             progress=lambda it: progress(it, len(files), job.method.name, args.progress))
    return report(args, job.method.name, done, failed)
