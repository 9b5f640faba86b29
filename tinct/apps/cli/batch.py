"""``tinct batch IN_DIR OUT_DIR --method NAME``: one method over a whole folder, on a Dask cluster.

Runs on a local cluster (worker processes on this machine) unless ``--scheduler``
names a running Dask scheduler. Outputs that already exist are skipped, so an
interrupted batch is finished by running the same command again; every file is
written atomically; a bad file is reported and never stops the others.

To use several machines: start ``dask scheduler`` on one (it prints its address,
e.g. tcp://10.0.0.5:8786), ``dask worker tcp://10.0.0.5:8786 --nthreads 1`` on each
machine with tinct installed and the folders reachable at the same paths, then
``tinct batch IN OUT --scheduler tcp://10.0.0.5:8786``.
"""

from __future__ import annotations

import sys

from tinct.apps.cli._common import add_command, add_method_options, emit, pixel_count
from tinct.io.files import parse_suffix


def add_parser(sub) -> None:
    p = add_command(sub, "batch", "run a method over a folder of images or videos on a Dask cluster", __doc__,
                    "tinct batch scans/ out/ --method auto --workers 4",
                    "tinct batch photos/ out/ --method reinhard --reference sunset.jpg --scheduler tcp://10.0.0.5:8786")
    p.add_argument("inputs", nargs="+", metavar="IN", help="input folder(s) or files")
    p.add_argument("output", metavar="OUT_DIR", help="output folder (sub-folders are mirrored)")
    p.add_argument("-r", "--reference", default=None, help="reference image (transfer and exemplar methods)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: a local cluster)")
    p.add_argument("--workers", type=int, default=None,
                   help="local cluster: worker processes (default: CPUs / threads, so workers x threads = cores)")
    p.add_argument("--threads", type=int, default=1, help="local cluster: threads per worker (default 1)")
    p.add_argument("--format", default=None, help="output image format (png, jpg, ...); default: the input's")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="Python module to import first (on every worker) that registers extra methods; repeatable")
    p.add_argument("--consistency", default="flow", choices=("none", "flow", "keyframes"),
                   help="videos: temporal consistency (see `tinct video --help`)")
    p.add_argument("--progress", action="store_true", help="show a progress bar even when not on a terminal")
    add_method_options(p, "colorize")
    p.set_defaults(func=run)


def run(args) -> int:
    from tinct.registry import require_extra

    require_extra("batch", "tinct batch")
    from tinct.apps.batch import run_batch
    from tinct.registry import get_method, load_plugin

    for module in args.plugin:
        load_plugin(module)
    method = get_method(args.method or "auto")
    params = method.parse(args.param)
    summary = run_batch(args.inputs, args.output, method.name, params, reference=args.reference, post=args.post,
                        scheduler=args.scheduler, workers=args.workers, threads=args.threads,
                        overwrite=args.overwrite, max_pixels=pixel_count(args.max_pixels) if args.max_pixels else None,
                        suffix=parse_suffix(args.format, "--format"),
                        plugins=tuple(args.plugin), video={"consistency": args.consistency},
                        progress=args.progress or sys.stderr.isatty())
    for f in summary["failed"]:
        print(f"tinct: error: {f['error']}", file=sys.stderr)
    lines = [f"{len(summary['written'])} written, {len(summary['skipped'])} skipped (already done), "
             f"{len(summary['failed'])} failed in {summary['seconds']:.1f} s "
             f"({summary['files_per_second']} files/s)"]
    emit(args, summary, lines)
    return 2 if summary["failed"] else 0
