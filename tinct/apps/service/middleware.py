"""ASGI middleware: refuse oversized request bodies while they stream in, and set security headers."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from fastapi import HTTPException

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
     b"connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
]


class _TooLarge(HTTPException):
    """Raised from ``receive``; an HTTPException so that FastAPI's body parsing passes it through as 413."""

    def __init__(self, limit: int):
        super().__init__(413, _message(limit))


class LimitsMiddleware:
    """Reject request bodies over ``max_bytes`` (413) before they are parsed, and add security headers.

    A ``Content-Length`` over the limit is refused before a byte of the body is read; a body sent
    without one (chunked) is counted as it arrives and cut off as soon as it passes the limit,
    so a large upload is never spooled to disk.

    With ``allowed_hosts`` (the default when serving on loopback) a request whose ``Host`` is
    another name is refused (421), which defeats DNS-rebinding pages; and a ``POST``/``DELETE``
    whose ``Origin`` is not the server itself is refused (403): another web site open in the
    user's browser cannot submit or delete jobs.
    """

    def __init__(self, app, max_bytes: int, allowed_hosts: tuple[str, ...] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        host = headers.get(b"host", b"").decode("latin-1")
        if self.allowed_hosts is not None and _hostname(host) not in self.allowed_hosts:
            await _too_large(send_with_headers, f"host: {host!r} is not a name of this server", 421)
            return
        origin = headers.get(b"origin")
        if origin is not None and scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            netloc = urlsplit(origin.decode("latin-1")).netloc
            if netloc != host:
                await _too_large(send_with_headers, "origin: requests from other web sites are refused", 403)
                return
        limit = self.max_bytes
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    await _too_large(send_with_headers, "Content-Length: not a number", 400)
                    return
                if length > limit:
                    await _too_large(send_with_headers, _message(limit))
                    return
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
                await _too_large(send_with_headers, _message(limit))


def _hostname(host: str) -> str:
    """``Host`` header without the port: ``127.0.0.1:8000`` -> ``127.0.0.1``, ``[::1]:80`` -> ``::1``."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _message(limit: int) -> str:
    return f"upload: request body is larger than the limit of {limit / 1048576:g} MB (--max-upload-mb)"


async def _too_large(send, detail: str, status: int = 413) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
