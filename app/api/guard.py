"""A pure ASGI guard in front of the app: the API key and the body size are checked before any body byte
is read.

FastAPI reads and parses a request body before it runs a route's dependencies, so without this a client
with no key could make the server buffer a large body only to be told 401. The guard finds the route a
request is for; when the route needs the key (write endpoints, and read endpoints under `protect_reads`)
it checks the `X-API-Key` header first and answers 401/403 without reading the body. A `Content-Length`
over `RAGSEARCH_API_MAX_BODY_BYTES` is refused with 413 before reading too; bodies without a length are
counted while they stream by Starlette's `RequestBodyLimitMiddleware` (FastAPI's `max_body_size`), which
stops at the limit with 413. When the client disconnects mid-upload the body reader stops (Starlette's
`ClientDisconnect`): nothing more is read or kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.deps import AuthError, check_key, require_read_key, require_write_key
from app.settings import Settings


def error_response(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


def key_rule(route: APIRoute) -> Callable[..., None] | None:
    """The key dependency a route declares (write or read), or None."""
    for dep in route.dependencies:
        if dep.dependency in (require_write_key, require_read_key):
            return dep.dependency
    return None


class Guard:
    def __init__(self, app: ASGIApp, settings: Settings, routes: Callable[[], list[Any]]) -> None:
        self.app = app
        self.settings = settings
        self.routes = routes

    def needs_key(self, scope: Scope) -> bool:
        for route in self.routes():
            if not isinstance(route, APIRoute):
                continue
            match, _ = route.matches(scope)
            if match is Match.FULL:
                rule = key_rule(route)
                return rule is require_write_key or (
                    rule is require_read_key and self.settings.api.protect_reads
                )
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if self.needs_key(scope):
            try:
                check_key(self.settings, headers.get("x-api-key"))
            except AuthError as exc:
                kind = "unauthorized" if exc.status == 401 else "forbidden"
                await error_response(exc.status, kind, exc.message)(scope, receive, send)
                return
        limit = self.settings.api.max_body_bytes
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            message = f"the request body is {int(length)} bytes; the limit is {limit} (RAGSEARCH_API_MAX_BODY_BYTES)"
            await error_response(413, "too_large", message)(scope, receive, send)
            return
        await self.app(scope, receive, send)
