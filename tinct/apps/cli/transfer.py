"""``tinct transfer TARGET... --reference REF``: recolour images with a reference's colours."""

from __future__ import annotations

from tinct.apps.cli._common import add_command, add_method_options, named_inputs, pixel_count, progress, report
from tinct.errors import ParameterError
from tinct.io.files import collect_inputs, output_paths, parse_suffix


def add_parser(sub) -> None:
    p = add_command(sub, "transfer", "give images the colours of a reference image", __doc__,
                    "tinct transfer house.jpg --reference sunset.jpg -o house_sunset.jpg")
    p.add_argument("targets", nargs="+", metavar="TARGET", help="image files or folders to recolour")
    p.add_argument("-r", "--reference", required=True, help="image whose colours are taken")
    p.add_argument("-o", "--output", default=None,
                   help="output file (one target) or folder (default: the current folder)")
    p.add_argument("--target-mask", "--mask", dest="mask", default=None,
                   help="image file: nonzero where the target may change")
    p.add_argument("--reference-mask", default=None, help="image file: nonzero where reference colours are measured")
    p.add_argument("--export-lut", default=None, metavar="FILE.cube",
                   help="also write the transfer as a 3D LUT (.cube, for Resolve, Premiere, OBS, ffmpeg lut3d); "
                        "pointwise methods (reinhard, mkl, gmm, sliced) without masks, one target")
    p.add_argument("--lut-size", type=int, default=None, metavar="N",
                   help="LUT points per axis with --export-lut (default 33)")
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
    if args.lut_size is not None and not args.export_lut:
        raise ParameterError("--lut-size: only with --export-lut")
    if args.export_lut:
        from tinct.transfer.lut import check_lutable

        if len(files) > 1:
            raise ParameterError("--export-lut: a LUT is fitted on one target image, got several")
        check_lutable(job.method.name, {**{k: v for k, v in job.inputs.items() if k != "reference"}, **job.params})
    outputs = output_paths(files, args.output, job.method.name, parse_suffix(args.format, "--format"))
    done, failed = run_files(job, [(f, o) for (f, _), o in zip(files, outputs)],
                             progress=lambda it: progress(it, len(files), job.method.name, args.progress))
    if args.export_lut and done:
        done[0]["lut"] = str(export_lut_for(job, files[0][0], args.export_lut, args.lut_size, args.overwrite))
    return report(args, job.method.name, done, failed)


def export_lut_for(job, target_path, path, size, overwrite: bool):
    """Fit the job's transfer as a LUT on its target and write it (``--export-lut``)."""
    from tinct.io import read_image
    from tinct.transfer.lut import DEFAULT_SIZE, export_lut

    target = read_image(target_path, max_pixels=job.max_pixels).pixels
    export_lut(job.method.name, target, job.inputs["reference"], path, size or DEFAULT_SIZE, overwrite=overwrite,
               **job.params)
    return path
