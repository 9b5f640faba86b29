"""Dependencies shared by the routers: the store, the pool, the settings and the bearer token check."""

from __future__ import annotations

import secrets

from fastapi import HTTPException, Request

from tinct.apps.service.services.store import JobStore
from tinct.apps.service.services.workers import WorkerPool
from tinct.apps.service.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> JobStore:
    return request.app.state.store


def get_pool(request: Request) -> WorkerPool:
    return request.app.state.pool


def require_token(request: Request) -> None:
    """With ``--token T``, requests need ``Authorization: Bearer T`` (compared in constant time)."""
    token = request.app.state.settings.token
    if token is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), token.encode()):
        raise HTTPException(401, "authorization: a valid bearer token is required",
                            headers={"WWW-Authenticate": "Bearer"})
