"""``tinct serve``: the web service and browser UI for every method (open http://127.0.0.1:8000/).

API tokens come from ``$TINCT_TOKEN`` (one or several, separated by commas or spaces) or a file
(``--token-file``, or ``$TINCT_TOKEN_FILE``; one or more per line), so they never show in ``ps``.
See docs/service.md for cancel, timeouts, caps, quotas, tokens and readiness.
"""

from __future__ import annotations

import sys

from tinct.errors import ParameterError


def add_parser(sub) -> None:
    from tinct.apps.service.settings import Settings, default_data_dir

    d = Settings.__dataclass_fields__
    p = sub.add_parser(
        "serve", help="web service and browser UI for every method", description=__doc__,
        epilog="Example: TINCT_TOKEN_FILE=~/.tinct-tokens tinct serve --port 8000 --data-dir ~/tinct-jobs ; "
               "then open http://127.0.0.1:8000/",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--data-dir", default=None, help=f"jobs database and files (default {default_data_dir()})")
    g = p.add_argument_group("access")
    g.add_argument("--token-file", action="append", default=[], metavar="FILE",
                   help="API tokens, one or more per line ('#' comments); repeatable. Also read: $TINCT_TOKEN "
                        "(tokens separated by commas or spaces) and the file $TINCT_TOKEN_FILE. With any token, "
                        "requests need 'Authorization: Bearer TOKEN' and each job is visible to its own token only")
    g.add_argument("--token", default=None, help="one API token on the command line (visible in ps: prefer "
                                                 "$TINCT_TOKEN or --token-file)")
    g.add_argument("--allow-path-params", action="store_true",
                   help="let web clients set parameters that name server files (weights=...); trusted users only")
    g = p.add_argument_group("workers and jobs")
    g.add_argument("--workers", type=int, default=2, help="jobs run at the same time (default 2)")
    g.add_argument("--executor", choices=("process", "thread"), default="process",
                   help="one worker process per slot (default: isolated, can be stopped) or threads of the server")
    g.add_argument("--job-timeout", type=float, default=d["job_timeout_s"].default, metavar="SECONDS",
                   help="stop a job that runs longer than this and mark it failed (default %(default)g; 0: never)")
    g.add_argument("--job-memory-mb", type=int, default=None, metavar="MB",
                   help="memory each worker process may allocate (default: 3/4 of the memory shared between "
                        "the workers, at least 2048; 0: none)")
    g.add_argument("--max-attempts", type=int, default=d["max_attempts"].default,
                   help="starts a job gets when its worker dies or the server restarts (default %(default)d)")
    g.add_argument("--cap", action="append", default=[], metavar="NAME=VALUE",
                   help="raise or lower the cap on a costly parameter for web clients, e.g. --cap input_size=2048 "
                        "or --cap auto.threads=8 (defaults: input_size 1024, threads = cores per worker, size and "
                        "work_size 1024, segments 5000, samples 1e6, ...); repeatable")
    g = p.add_argument_group("limits and quotas")
    g.add_argument("--max-upload-mb", type=float, default=50.0, help="largest request body in MB (default 50)")
    g.add_argument("--max-pixels", type=int, default=50_000_000, help="largest image, width*height (default 50 MP)")
    g.add_argument("--max-uploads", type=int, default=d["max_uploads"].default,
                   help="uploads received at the same time; others wait up to 10 s, then 503 (default %(default)d)")
    g.add_argument("--max-queued", type=int, default=d["max_queued"].default,
                   help="refuse submissions (503) while this many jobs wait (default %(default)d)")
    g.add_argument("--max-queued-per-client", type=int, default=d["max_queued_per_client"].default,
                   help="refuse submissions (429) from a client with this many jobs queued or running "
                        "(default %(default)d; 0: no limit)")
    g.add_argument("--rate-limit", type=float, default=d["rate_limit"].default, metavar="PER_MINUTE",
                   help="submissions a minute per client, by token or else address (429 beyond; "
                        "default %(default)g; 0: none)")
    g.add_argument("--job-ttl-hours", type=float, default=24.0, help="delete finished jobs after this long (default 24)")
    g.add_argument("--disk-quota-mb", type=float, default=d["disk_quota_mb"].default,
                   help="most the job files may take; submissions beyond it get 507 (default %(default)g; 0: none)")
    g.add_argument("--min-free-mb", type=float, default=d["min_free_mb"].default,
                   help="refuse submissions (507) while the data disk has less free space (default %(default)g)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE (in the server and every worker) to serve the methods it registers; repeatable")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    p.set_defaults(func=run)


def run(args) -> int:
    import os

    from tinct.apps.service.settings import (
        Settings,
        default_data_dir,
        is_loopback,
        merge_tokens,
        parse_cap,
        read_token_file,
        tokens_from_env,
    )

    tokens = merge_tokens(tokens_from_env(os.environ), *(read_token_file(f) for f in args.token_file))
    if args.token is not None:
        print("tinct: warning: --token shows the token to every user of this machine (ps); "
              "prefer $TINCT_TOKEN or --token-file", file=sys.stderr)
        tokens = merge_tokens([args.token], tokens)
    caps = dict(parse_cap(c) for c in args.cap)
    settings = Settings(
        data_dir=args.data_dir or default_data_dir(), host=args.host, port=args.port, tokens=tokens,
        workers=args.workers, executor=args.executor, max_upload_mb=args.max_upload_mb, max_pixels=args.max_pixels,
        job_ttl_hours=args.job_ttl_hours, allow_path_params=args.allow_path_params, job_timeout_s=args.job_timeout,
        job_memory_mb=args.job_memory_mb, max_attempts=args.max_attempts, caps=caps, max_uploads=args.max_uploads,
        max_queued=args.max_queued, max_queued_per_client=args.max_queued_per_client, rate_limit=args.rate_limit,
        disk_quota_mb=args.disk_quota_mb, min_free_mb=args.min_free_mb, plugins=tuple(args.plugin),
    )
    if not is_loopback(args.host) and not tokens:
        print(f"tinct: warning: serving on {args.host} without a token: anyone who can reach it may submit jobs "
              "(set $TINCT_TOKEN or --token-file)", file=sys.stderr)
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        raise ParameterError("serve: needs uvicorn and fastapi: pip install 'tinct[serve]'") from None
    from tinct.apps.service.app import configure_logging, create_app

    configure_logging(args.log_level)
    auth = f", {len(tokens)} API token{'s' if len(tokens) != 1 else ''}" if tokens else ""
    print(f"tinct: serving on http://{args.host}:{args.port}/  (data in {settings.data_dir}{auth})", file=sys.stderr)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=args.log_level,
                timeout_graceful_shutdown=5, access_log=False)
    return 0
