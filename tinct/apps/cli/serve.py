"""``tinct serve``: the web service and browser UI for every method (open http://127.0.0.1:8000/)."""

from __future__ import annotations

import sys

from tinct.errors import ParameterError


def add_parser(sub) -> None:
    from tinct.apps.service.settings import default_data_dir

    p = sub.add_parser(
        "serve", help="web service and browser UI for every method", description=__doc__,
        epilog="Example: tinct serve --port 8000 --data-dir ~/tinct-jobs ; then open http://127.0.0.1:8000/",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--data-dir", default=None, help=f"jobs database and files (default {default_data_dir()})")
    p.add_argument("--token", default=None,
                   help="require 'Authorization: Bearer TOKEN' on the API (default: $TINCT_TOKEN if set, else none)")
    p.add_argument("--workers", type=int, default=2, help="jobs run at the same time (default 2)")
    p.add_argument("--executor", choices=("process", "thread"), default="process",
                   help="run methods in worker processes (default, isolated) or threads")
    p.add_argument("--max-upload-mb", type=float, default=50.0, help="largest request body in MB (default 50)")
    p.add_argument("--max-pixels", type=int, default=50_000_000, help="largest image, width*height (default 50 MP)")
    p.add_argument("--job-ttl-hours", type=float, default=24.0, help="delete finished jobs after this long (default 24)")
    p.add_argument("--allow-path-params", action="store_true",
                   help="let web clients set parameters that name server files (weights=...); trusted users only")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    p.set_defaults(func=run)


def run(args) -> int:
    import os

    from tinct.apps.service.settings import Settings, default_data_dir, is_loopback

    token = args.token if args.token is not None else (os.environ.get("TINCT_TOKEN") or None)
    settings = Settings(
        data_dir=args.data_dir or default_data_dir(), host=args.host, port=args.port, token=token,
        workers=args.workers, executor=args.executor, max_upload_mb=args.max_upload_mb, max_pixels=args.max_pixels,
        job_ttl_hours=args.job_ttl_hours, allow_path_params=args.allow_path_params,
    )
    if not is_loopback(args.host) and token is None:
        print(f"tinct: warning: serving on {args.host} without --token: anyone who can reach it may submit jobs",
              file=sys.stderr)
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        raise ParameterError("serve: needs uvicorn and fastapi: pip install 'tinct[serve]'") from None
    from tinct.apps.service.app import create_app

    print(f"tinct: serving on http://{args.host}:{args.port}/  (data in {settings.data_dir})", file=sys.stderr)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=args.log_level,
                timeout_graceful_shutdown=5)
    return 0
