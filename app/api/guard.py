"""A pure ASGI guard in front of the app: the API key and the body size are checked before any body byte
is read.

FastAPI reads and parses a request body before it runs a route's dependencies, so without this a client
with no key could make the server buffer a large body only to be told 401. The guard finds the route a
request is for; when the route needs the key (write endpoints, and read endpoints under `protect_reads`)
it checks the `X-API-Key` header first and answers 401/403 without reading the body. A `Content-Length`
over `RAGSEARCH_API_MAX_BODY_BYTES` is refused with 413 before reading too, and every body is counted
while it streams: past the limit the read fails with `BodyTooLarge` (an HTTP 413, in the API's error
shape). (Starlette's own `RequestBodyLimitMiddleware` answers in plain text, so it is not used.) When the
client disconnects mid-upload the body reader stops (Starlette's `ClientDisconnect`): nothing more is
read or kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragsearch.app.api.deps import AuthError, check_key, require_read_key, require_write_key
from ragsearch.app.settings import Settings


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes (RAGSEARCH_API_MAX_BODY_BYTES)")


def error_response(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


def key_rule(route: APIRoute) -> Callable[..., None] | None:
    """The key dependency a route declares (write or read), or None."""
    for dep in route.dependencies:
        if dep.dependency in (require_write_key, require_read_key):
            return dep.dependency
    return None


class Guard:
    def __init__(self, app: ASGIApp, settings: Settings, routes: list[Any]) -> None:
        self.app = app
        self.settings = settings
        self.routes = routes

    def needs_key(self, scope: Scope) -> bool:
        for route in self.routes:  # the routers' own routes (FastAPI nests included routers)
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
        read = 0
        started = exceeded = replaced = False

        async def counted_receive() -> Message:
            nonlocal read, exceeded
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > limit:
                    exceeded = True
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            # a body parser that wraps BodyTooLarge (multipart: "error parsing the body", 400) is answered 413
            nonlocal started, replaced
            if exceeded and (replaced or not started):
                if not replaced:
                    started = replaced = True
                    await error_response(413, "too_large", str(BodyTooLarge(limit).detail))(
                        scope, receive, send
                    )
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge as exc:  # raised where no handler turned it into a response
            if started:
                raise
            await error_response(413, "too_large", str(exc.detail))(scope, receive, send)
