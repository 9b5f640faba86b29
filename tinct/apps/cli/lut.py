"""``tinct lut``: 3-D colour lookup tables (.cube, as DaVinci Resolve, Premiere, OBS and ffmpeg lut3d read them).

``tinct lut apply FILE.cube IN -o OUT`` applies any 3-D .cube LUT (tinct's or a third party's) to an
image or a video (audio kept). ``tinct lut export TARGET -r REF -m METHOD -o FILE.cube`` fits a
pointwise colour transfer (reinhard, mkl, gmm, sliced) on TARGET and REF and writes it as a LUT.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tinct.apps.cli._common import add_command, emit


def add_parser(sub) -> None:
    p = add_command(sub, "lut", "apply a 3-D .cube LUT to an image or video, or export a transfer as one", __doc__,
                    "tinct lut apply look.cube photo.jpg -o graded.jpg", "tinct lut apply look.cube clip.mp4 -o graded.mp4",
                    "tinct lut export shot.jpg -r sunset.jpg -m mkl -o sunset.cube")
    lsub = p.add_subparsers(dest="lut_command", metavar="ACTION")
    a = lsub.add_parser("apply", help="apply a .cube LUT to an image or a video", description=__doc__)
    a.add_argument("cube", metavar="FILE.cube", help="3-D LUT in the Adobe/Resolve .cube format")
    a.add_argument("input", metavar="IN", help="image or video file")
    a.add_argument("-o", "--output", required=True, help="output image or video (.mp4, .mkv, .mov, .m4v)")
    a.add_argument("--crf", type=int, default=18, help="video: H.264 quality, 0 (lossless) .. 51 (default 18)")
    a.add_argument("--preset", default="veryfast", help="video: x264 speed preset (default veryfast)")
    a.add_argument("--overwrite", action="store_true", help="replace an existing output (never an input)")
    a.add_argument("--json", action="store_true", help="print a JSON summary on stdout instead of text")
    a.set_defaults(func=run_apply)
    e = lsub.add_parser("export", help="fit a pointwise transfer on TARGET and REF and write it as a .cube LUT",
                        description=__doc__)
    e.add_argument("target", metavar="TARGET", help="image the transfer is fitted on (a frame of the footage)")
    e.add_argument("-r", "--reference", required=True, help="colour reference image")
    e.add_argument("-m", "--method", default="reinhard", help="reinhard (default), mkl, gmm or sliced")
    e.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="method parameter")
    e.add_argument("-o", "--output", required=True, metavar="FILE.cube", help="LUT file to write")
    e.add_argument("--lut-size", type=int, default=33, help="nodes per axis, 2..256 (default 33)")
    e.add_argument("--overwrite", action="store_true", help="replace an existing LUT file")
    e.add_argument("--json", action="store_true", help="print a JSON summary on stdout instead of text")
    e.set_defaults(func=run_export)
    p.set_defaults(func=lambda args: _usage(p))


def _usage(p) -> int:
    p.print_help(sys.stderr)
    return 2


def run_apply(args) -> int:
    from tinct.errors import ParameterError
    from tinct.transfer.lut import apply_lut, read_cube
    from tinct.video.io import VIDEO_SUFFIXES

    lut = read_cube(args.cube)
    src, dst = Path(args.input), Path(args.output)
    if src.suffix.lower() in VIDEO_SUFFIXES and src.suffix.lower() != ".gif":
        from tinct.video.grade import apply_lut_video

        summary = apply_lut_video(lut, src, dst, overwrite=args.overwrite, crf=args.crf, preset=args.preset)
        emit(args, summary, [f"wrote {summary['output']}  ({summary['frames']} frames, {summary['seconds']:.1f} s, "
                             f"{summary['fps']} frames/s)"])
        return 0
    from tinct.io import read_image, write_image
    from tinct.video.io import OUTPUT_SUFFIXES

    if dst.suffix.lower() in OUTPUT_SUFFIXES:
        raise ParameterError(f"output: {dst.name} is a video name but {src.name} is not a video")
    image = read_image(src)
    write_image(dst, apply_lut(lut, image.pixels), like=image, alpha=image.alpha, overwrite=args.overwrite,
                protect=[src, Path(args.cube)])
    emit(args, {"input": str(src), "output": str(dst), "lut_size": lut.size}, [f"wrote {dst}"])
    return 0


def run_export(args) -> int:
    from tinct.io import read_image
    from tinct.registry import get_method
    from tinct.transfer.lut import check_lutable, export_lut

    params = get_method(args.method, "transfer").parse(args.param)
    params = check_lutable(args.method, params)
    target = read_image(args.target).pixels
    reference = read_image(args.reference).pixels
    if Path(args.output).resolve() in (Path(args.target).resolve(), Path(args.reference).resolve()):
        from tinct.errors import ImageWriteError

        raise ImageWriteError(f"{args.output}: it is an input file; choose another output name")
    lut = export_lut(args.method, target, reference, args.output, args.lut_size, overwrite=args.overwrite, **params)
    emit(args, {"output": args.output, "method": args.method, "lut_size": lut.size},
         [f"wrote {args.output}  ({args.method}, {lut.size}^3 nodes)"])
    return 0
