"""The FastAPI application: :func:`create_app` builds it from :class:`~tinct.apps.service.settings.Settings`.

Routes: ``POST /api/jobs``, ``GET /api/jobs/{id}``, ``GET /api/jobs/{id}/events`` (Server-Sent
Events), ``GET /api/jobs/{id}/result``, ``GET /api/jobs/{id}/region_mask/{i}``, ``POST /api/jobs/{id}/cancel``,
``DELETE /api/jobs/{id}``, ``POST /api/preview`` and ``POST /api/suggest`` (colour pins, run in the quick pool),
``GET /api/methods``, ``GET /api/health`` (liveness), ``GET /api/ready`` (readiness), the OpenAPI
schema at ``/api/openapi.json``, and the browser UI at ``/`` (static files, no CDN). The
interactive ``/docs`` page is switched off because it loads its scripts from a CDN.

On start-up the app opens the job store, takes back jobs whose runner is gone (a previous server
and its workers), starts the worker pool and a janitor thread that takes back jobs of runners
that die later (every second) and deletes expired jobs; on shutdown it stops them.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path

from tinct.apps.service.settings import Settings, load_plugins

STATIC_DIR = Path(__file__).resolve().parent / "static"
log = logging.getLogger("tinct.apps.service")


def _janitor(app, stop: threading.Event) -> None:
    """Every second: take back jobs whose runner is gone; every ``interval``: delete expired jobs."""
    settings: Settings = app.state.settings
    store, pool = app.state.store, app.state.pool
    interval = max(1.0, min(60.0, settings.job_ttl_seconds / 4))
    next_expiry = time.monotonic() + interval
    while not stop.wait(1.0):
        try:
            taken = store.reap(pool.instance, settings.max_attempts)
            if taken["requeued"] or taken["failed"]:
                log.warning("jobs of a runner that is gone: %d queued again, %d failed",
                            len(taken["requeued"]), len(taken["failed"]))
                for _ in taken["requeued"]:
                    pool.notify()
        except Exception:  # noqa: BLE001 - keep the janitor alive
            log.exception("taking back orphaned jobs failed")
        if time.monotonic() >= next_expiry:
            next_expiry = time.monotonic() + interval
            try:
                gone = store.expire(settings.job_ttl_seconds)
                if gone:
                    log.info("expired %d jobs", len(gone))
            except Exception:  # noqa: BLE001 - keep the janitor alive
                log.exception("expiring jobs failed")


def configure_logging(level: str = "info") -> None:
    """Log lines of the service with the request id: ``time level [request id] logger: message``."""
    from tinct.apps.service.middleware import RequestIdFilter

    logger = logging.getLogger("tinct.apps.service")
    logger.setLevel(level.upper())
    if not any(getattr(h, "_tinct", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler._tinct = True  # type: ignore[attr-defined]
        handler.addFilter(RequestIdFilter())
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False


def create_app(settings: Settings | None = None):
    """Build the service app.

    Parameters
    ----------
    settings : Settings, optional
        Defaults to ``Settings()`` (data under ``~/.local/share/tinct/apps/service``).

    Returns
    -------
    fastapi.FastAPI
    """
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
    from starlette.exceptions import HTTPException

    from tinct import __version__
    from tinct.apps.service.middleware import LimitsMiddleware
    from tinct.apps.service.routers import guidance, health, jobs, methods
    from tinct.apps.service.services.quick import QuickPool
    from tinct.apps.service.services.store import JobStore
    from tinct.apps.service.services.workers import WorkerPool
    from tinct.errors import TinctError

    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app):
        import tinct.io  # noqa: F401 - warm up what every submission uses, before the first request
        from tinct.registry import load_methods

        load_methods()
        load_plugins(settings.plugins)
        store = JobStore(settings.data_dir)
        instance = secrets.token_hex(8)
        recovered = store.recover(settings.max_attempts, instance)
        if recovered["requeued"] or recovered["failed"]:
            log.warning("after restart: %d interrupted jobs queued again, %d failed",
                        len(recovered["requeued"]), len(recovered["failed"]))
        store.expire(settings.job_ttl_seconds)
        pool = WorkerPool(store, settings, instance)
        quick = QuickPool(settings)  # previews and suggestions: its process starts with the first one
        app.state.store, app.state.pool, app.state.quick = store, pool, quick
        pool.start()
        stop = threading.Event()
        janitor = threading.Thread(target=_janitor, args=(app, stop), name="tinct-janitor", daemon=True)
        janitor.start()
        try:
            yield
        finally:
            stop.set()
            quick.stop()
            pool.stop()
            janitor.join(2)
            store.close()

    app = FastAPI(
        title="tinct", version=__version__, lifespan=lifespan,
        summary="Colorization and colour transfer: every tinct method as a job service.",
        docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.add_middleware(LimitsMiddleware, max_bytes=settings.max_upload_bytes, allowed_hosts=settings.host_names,
                       settings=settings)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 400 and detail.endswith("exceeded maximum size of 1024KB."):
            # the form parser's cap on one text field; name what is likely behind it
            detail = "form: a text field is longer than 1 MiB (hints: at most 10,000 pins, about 600 kB)"
        return JSONResponse({"detail": " ".join(detail.split())}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header"))
        what = str(first.get("msg", "invalid request")).replace("Field required", "missing")
        return JSONResponse({"detail": " ".join(f"{where[:80] or 'request'}: {what[:200]}".split())}, status_code=422)

    @app.exception_handler(TinctError)
    async def tinct_error(request: Request, exc: TinctError):
        return JSONResponse({"detail": " ".join(str(exc).split())}, status_code=400)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        from tinct.apps.service.middleware import REQUEST_ID

        log.error("internal error: %s: %s", type(exc).__name__, exc, exc_info=exc)
        return JSONResponse({"detail": f"internal error (request id {REQUEST_ID.get()})"}, status_code=500)

    app.include_router(health.router)
    app.include_router(methods.router)
    app.include_router(jobs.router)
    app.include_router(guidance.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html",
                            headers={"Cache-Control": "no-cache"})

    return app
