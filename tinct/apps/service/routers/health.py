"""``GET /api/health``: liveness, version, queue counts and limits (no token needed)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from tinct import __version__
from tinct.apps.service.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/api/health", response_model=Health)
def health(request: Request) -> Health:
    settings = request.app.state.settings
    return Health(
        status="ok", version=__version__, workers=settings.workers, executor=settings.executor,
        jobs=request.app.state.store.counts(),
        limits={"max_upload_mb": settings.max_upload_mb, "max_pixels": settings.max_pixels,
                "job_ttl_hours": settings.job_ttl_hours},
        auth=settings.token is not None,
    )
