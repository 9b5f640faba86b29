"""``GET /api/health`` (liveness) and ``GET /api/ready`` (readiness); neither needs a token.

``/api/health`` answers 200 whenever the server process answers at all: restart it when it does
not. ``/api/ready`` answers 200 only while a submission would be accepted and run (worker
processes started, queue not full, disk space within the quota and the free-space guard) and 503
with the reasons otherwise: route no new work to it then.
"""

from __future__ import annotations

import shutil

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tinct import __version__
from tinct.apps.service.schemas import Health, Ready

router = APIRouter(tags=["health"])


@router.get("/api/health", response_model=Health)
def health(request: Request) -> Health:
    settings = request.app.state.settings
    return Health(
        status="ok", version=__version__, workers=settings.workers, executor=settings.executor,
        jobs=request.app.state.store.counts(),
        limits={"max_upload_mb": settings.max_upload_mb, "max_pixels": settings.max_pixels,
                "job_ttl_hours": settings.job_ttl_hours, "job_timeout_s": settings.job_timeout_s,
                "max_queued": settings.max_queued, "rate_limit": settings.rate_limit},
        auth=settings.auth,
    )


@router.get("/api/ready", response_model=Ready, responses={503: {"model": Ready}})
def ready(request: Request):
    state = request.app.state
    settings, store, pool = state.settings, state.store, state.pool
    status = pool.status()
    reasons = []
    if status["stopping"]:
        reasons.append("shutting down")
    if status["ready"] == 0:
        reasons.append("no worker process is ready yet")
    counts = store.counts()
    if counts["queued"] >= settings.max_queued:
        reasons.append(f"queue full: {counts['queued']} jobs waiting (--max-queued)")
    try:
        free_mb = shutil.disk_usage(store.data_dir).free / 1048576
    except OSError:
        free_mb = None
    if free_mb is not None and settings.min_free_mb > 0 and free_mb < settings.min_free_mb:
        reasons.append(f"disk: {free_mb:.0f} MB free, under --min-free-mb {settings.min_free_mb:g}")
    used_mb = store.bytes_used() / 1048576
    if settings.disk_quota_mb > 0 and used_mb >= settings.disk_quota_mb:
        reasons.append(f"disk quota: jobs take {used_mb:.2f} MB of {settings.disk_quota_mb:g} MB (--disk-quota-mb)")
    body = Ready(ready=not reasons, reasons=reasons, workers_ready=status["ready"], workers=status["slots"],
                 queued=counts["queued"], free_mb=None if free_mb is None else round(free_mb, 1),
                 used_mb=round(used_mb, 3))
    return JSONResponse(body.model_dump(), status_code=200 if not reasons else 503,
                        headers={"Cache-Control": "no-store"})
