"""ASGI middleware: request ids, host and origin checks, body limits, admission of uploads, security headers.

Everything here happens *before* a byte of a request body is read, so a refused upload costs the
server neither memory nor disk:

- every request gets an id (the client's ``X-Request-ID`` when it is short and plain, else a new
  one), returned in ``X-Request-ID`` and put on every log line written while it is handled;
- ``Host`` and ``Origin`` checks (DNS rebinding, cross-site posts);
- the body limit (``Content-Length``, then counted while streaming);
- for ``POST /api/jobs`` (and ``/api/preview``, ``/api/suggest``, see :data:`ADMITTED`): the token, the client's rate limit (429), the queue limits (503, and
  429 for one client's share), the disk quota and free-space guard (507) and a cap on uploads
  received at the same time (others wait up to :data:`UPLOAD_WAIT_S`, then 503).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import re
import secrets
import shutil
import time
from urllib.parse import urlsplit

from fastapi import HTTPException

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("tinct_request_id", default="-")
"""The id of the request being handled (``-`` outside one); log records carry it as ``request_id``."""

#: POST routes whose uploads are admitted here, and how they count (:meth:`LimitsMiddleware._admit`).
ADMITTED = {"/api/jobs": "jobs", "/api/preview": "quick", "/api/suggest": "quick"}

_CLIENT_RID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
UPLOAD_WAIT_S = 10.0

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
     b"connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
]

access_log = logging.getLogger("tinct.apps.service.access")
log = logging.getLogger("tinct.apps.service")


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (the request being handled, or ``-``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class _TooLarge(HTTPException):
    """Raised from ``receive``; an HTTPException so that FastAPI's body parsing passes it through as 413."""

    def __init__(self, limit: int):
        super().__init__(413, _message(limit))


class RateLimiter:
    """Token buckets per client: ``per_minute`` sustained, bursts of half a minute's worth (at least 10)."""

    def __init__(self, per_minute: float, max_clients: int = 10_000):
        self.rate = per_minute / 60.0
        self.capacity = max(10.0, per_minute / 2.0)
        self.max_clients = max_clients
        self.buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, now: float | None = None) -> float:
        """Take one token for ``key``: 0.0 if allowed, else the seconds until one is available."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        tokens, last = self.buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self.buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        if key not in self.buckets and len(self.buckets) >= self.max_clients:
            full = [k for k, (t, seen) in self.buckets.items() if t + (now - seen) * self.rate >= self.capacity]
            for k in full or list(self.buckets)[: len(self.buckets) // 2]:
                del self.buckets[k]
        self.buckets[key] = (tokens - 1.0, now)
        return 0.0


class Refused(Exception):
    def __init__(self, status: int, detail: str, headers: dict | None = None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


class LimitsMiddleware:
    """Request ids, host/origin checks, body limits and upload admission (see the module docstring).

    A ``Content-Length`` over the limit is refused before a byte of the body is read; a body sent
    without one (chunked) is counted as it arrives and cut off as soon as it passes the limit,
    so a large upload is never spooled to disk.

    With ``allowed_hosts`` (the default when serving on loopback) a request whose ``Host`` is
    another name is refused (421), which defeats DNS-rebinding pages; and a ``POST``/``DELETE``
    whose ``Origin`` is not the server itself is refused (403): another web site open in the
    user's browser cannot submit or delete jobs.
    """

    def __init__(self, app, max_bytes: int, allowed_hosts: tuple[str, ...] | None = None, settings=None):
        self.app = app
        self.max_bytes = max_bytes
        self.allowed_hosts = allowed_hosts
        self.settings = settings
        self.limiter = RateLimiter(settings.rate_limit if settings is not None else 0.0)
        # upload slots per kind: a preview holds its slot while it waits in the quick pool, so previews get
        # slots of their own and never keep a submission's upload waiting
        self._uploads: dict[str, asyncio.Semaphore] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = given if _CLIENT_RID.match(given) else secrets.token_hex(8)
        context_token = REQUEST_ID.set(rid)
        started = False
        status = [0]
        t0 = time.perf_counter()

        async def send_with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                status[0] = message["status"]
                out = list(message.get("headers", []))
                present = {k.lower() for k, _ in out}
                out += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                out.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": out}
            await send(message)

        release = None
        try:
            refusal = self._check_headers(scope, headers)
            admitted = ADMITTED.get(scope["path"].rstrip("/")) if scope["method"] == "POST" else None
            if refusal is None and admitted is not None:
                try:
                    release = await self._admit(scope, headers, admitted)
                except Refused as exc:
                    refusal = exc
            if refusal is not None:
                await _answer(send_with_headers, refusal.detail, refusal.status, refusal.headers)
                return
            limit = self.max_bytes
            received = 0

            async def counted_receive():
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise _TooLarge(limit)
                return message

            try:
                await self.app(scope, counted_receive, send_with_headers)
            except _TooLarge:
                if not started:
                    await _answer(send_with_headers, _message(limit))
        finally:
            if release is not None:
                release()
            path = scope.get("path", "")
            if path.startswith("/api/"):
                access_log.info("%s %s %d %.1f ms", scope["method"], path[:200], status[0],
                                (time.perf_counter() - t0) * 1000)
            REQUEST_ID.reset(context_token)

    # ------------------------------------------------------------------ checks before the body
    def _check_headers(self, scope, headers) -> Refused | None:
        host = headers.get(b"host", b"").decode("latin-1")
        if self.allowed_hosts is not None and _hostname(host) not in self.allowed_hosts:
            return Refused(421, f"host: {host[:100]!r} is not a name of this server")
        origin = headers.get(b"origin")
        if origin is not None and scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            netloc = urlsplit(origin.decode("latin-1")).netloc
            if netloc != host:
                return Refused(403, "origin: requests from other web sites are refused")
        lengths = [v for k, v in scope.get("headers", []) if k.lower() == b"content-length"]
        if len(set(lengths)) > 1:
            return Refused(400, "Content-Length: given more than once")
        if lengths:
            text = lengths[0].decode("latin-1").strip()
            if not text.isdigit() or len(text) > 18:
                return Refused(400, "Content-Length: not a number")
            if int(text) > self.max_bytes:
                return Refused(413, _message(self.max_bytes))
        return None

    async def _admit(self, scope, headers, kind: str = "jobs"):
        """Admission of an upload; returns the function that releases its upload slot.

        ``kind`` ``jobs``: a submission; ``quick``: a preview or suggestion, rate-limited in a bucket of its
        own (so that moving pins does not use up a client's submissions) and not counted against the queue.
        """
        settings = self.settings
        state = scope["app"].state
        if settings is None or not hasattr(state, "store"):
            return None
        from tinct.apps.service.deps import owner_from_header

        owner = owner_from_header(state, headers.get(b"authorization", b"").decode("latin-1"))
        if owner is None:
            raise Refused(401, "authorization: a valid bearer token is required", {"WWW-Authenticate": "Bearer"})
        client = (scope.get("client") or ("?", 0))[0]
        key = f"token:{owner}" if owner else f"addr:{client}"
        wait = self.limiter.take(key if kind == "jobs" else f"{kind}:{key}")
        if wait > 0:
            what = "submissions" if kind == "jobs" else "previews and suggestions"
            raise Refused(429, f"rate limit: more than {settings.rate_limit:g} {what} a minute from this "
                               f"client (--rate-limit); try again in {wait:.0f} s",
                          {"Retry-After": str(max(1, int(wait + 0.999)))})
        length = int(headers.get(b"content-length", b"0").decode("latin-1").strip() or 0)
        from starlette.concurrency import run_in_threadpool

        await run_in_threadpool(_store_checks, state.store, settings, owner or key, length, kind == "jobs")
        slots = self._uploads.get(kind)
        if slots is None:
            slots = self._uploads[kind] = asyncio.Semaphore(settings.max_uploads)
        try:
            await asyncio.wait_for(slots.acquire(), UPLOAD_WAIT_S)
        except TimeoutError:
            raise Refused(503, f"uploads: {settings.max_uploads} uploads are being received already "
                               "(--max-uploads); try again shortly", {"Retry-After": "2"}) from None
        return slots.release


def _store_checks(store, settings, owner: str, length: int, queue: bool = True) -> None:
    """Queue limits (with ``queue``) and disk space, before an upload is received."""
    counts = store.counts() if queue else {"queued": 0}
    if queue and counts["queued"] >= settings.max_queued:
        raise Refused(503, f"queue: {counts['queued']} jobs are waiting (--max-queued); try again later",
                      {"Retry-After": "10"})
    if queue and settings.max_queued_per_client and store.active_of(owner) >= settings.max_queued_per_client:
        raise Refused(429, f"queue: this client has {settings.max_queued_per_client} jobs queued or running "
                           "(--max-queued-per-client); wait for some to finish", {"Retry-After": "5"})
    if settings.min_free_mb > 0:
        try:
            free = shutil.disk_usage(store.data_dir).free
        except OSError:
            free = None
        if free is not None and free - length < settings.min_free_mb * 1048576:
            raise Refused(507, f"storage: the data disk has {_mb(free)} MB free, under the "
                               f"{settings.min_free_mb:g} MB the server keeps free (--min-free-mb); try again later")
    if settings.disk_quota_mb > 0:
        used = store.bytes_used()
        if used + length > settings.disk_quota_mb * 1048576:
            raise Refused(507, f"storage: the jobs take {_mb(used)} MB of the {settings.disk_quota_mb:g} MB "
                               "quota (--disk-quota-mb); try again when older jobs have expired")


def _mb(n: float) -> str:
    mb = n / 1048576
    return f"{mb:.0f}" if mb >= 10 else f"{mb:.2f}"


def _hostname(host: str) -> str:
    """``Host`` header without the port: ``127.0.0.1:8000`` -> ``127.0.0.1``, ``[::1]:80`` -> ``::1``."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _message(limit: int) -> str:
    return f"upload: request body is larger than the limit of {limit / 1048576:g} MB (--max-upload-mb)"


async def _answer(send, detail: str, status: int = 413, headers: dict | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    extra = [(k.lower().encode(), str(v).encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *extra]})
    await send({"type": "http.response.body", "body": body})


ServiceMiddleware = LimitsMiddleware
