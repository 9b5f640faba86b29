"""Dependencies shared by the routers: the store, the pool, the settings, the token and the job's owner."""

from __future__ import annotations

import hashlib
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


def owner_id(token: str) -> str:
    """What a job records of the token that made it: a SHA-256 prefix, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def token_table(settings: Settings) -> list[tuple[bytes, str]]:
    """(digest of each token, owner id) pairs, compared in constant time."""
    return [(hashlib.sha256(t.encode()).digest(), owner_id(t)) for t in settings.tokens]


def owner_from_header(state, authorization: str) -> str | None:
    """The owner id for an ``Authorization`` header: ``''`` when the server has no tokens, None when refused."""
    settings: Settings = state.settings
    if not settings.auth:
        return ""
    table = getattr(state, "tokens", None)
    if table is None:
        table = state.tokens = token_table(settings)
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return None
    digest = hashlib.sha256(given.strip().encode("utf-8", "replace")).digest()
    found = None
    for known, owner in table:  # every entry is compared: the time does not tell which token matched
        if secrets.compare_digest(digest, known):
            found = owner
    return found


def require_token(request: Request) -> str:
    """With tokens set, requests need ``Authorization: Bearer TOKEN``; returns the owner id ('' without tokens)."""
    owner = owner_from_header(request.app.state, request.headers.get("authorization", ""))
    if owner is None:
        raise HTTPException(401, "authorization: a valid bearer token is required",
                            headers={"WWW-Authenticate": "Bearer"})
    request.state.owner = owner
    return owner


def owner_filter(request: Request) -> str | None:
    """The owner a job must have to be visible to this request (None: any, when the server has no tokens)."""
    if not request.app.state.settings.auth:
        return None
    owner = getattr(request.state, "owner", None)
    return owner if owner is not None else require_token(request)
