"""One error shape for every status, `{"error": {"type", "message"}}`, and messages safe to show a client.

FastAPI's and Starlette's own errors (an unknown path 404, a wrong method 405, validation 422, a body
parse 400, a body over the limit 413) go through the same handlers as ours. A message never carries the
server's absolute paths (the home folder shows as `<home>`) nor the list of index names.
"""

from __future__ import annotations

import re
from pathlib import Path

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ragsearch.app.api.deps import AuthError
from ragsearch.app.settings import Settings
from ragsearch.rerank.errors import FeatureMismatchError, ModelNotFoundError, ModelUnavailableError
from ragsearch.retrieval.errors import (
    EmbeddingMismatchError,
    IndexCorruptError,
    IndexExistsError,
    IndexLockedError,
    IndexNotFoundError,
    InvalidInputError,
    RagsearchError,
    UnknownNameError,
)

log = structlog.get_logger(__name__)

STATUS: list[tuple[type[Exception], int]] = [
    (IndexNotFoundError, 404),
    (IndexExistsError, 409),
    (IndexLockedError, 409),
    (IndexCorruptError, 503),
    (InvalidInputError, 422),
    (UnknownNameError, 422),
    (EmbeddingMismatchError, 409),
    (ModelNotFoundError, 404),
    (ModelUnavailableError, 503),
    (FeatureMismatchError, 409),
]
KINDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    422: "validation_error",
}
KNOWN_RE = re.compile(r"\s*\((?:known|versions): [^)]*\)")
ABS_PATH_RE = re.compile(r"(?<![\w.:/>])/(?:[\w.@+-]+/)*[\w.@+-]+")


def error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


def public_message(message: str, home: Path) -> str:
    """`message` without absolute paths (the home folder becomes `<home>`, others `<path>`) or name lists."""
    for root in {str(home.resolve()), str(home.absolute())}:
        message = message.replace(root, "<home>")
    message = KNOWN_RE.sub("", message)
    return ABS_PATH_RE.sub("<path>", message)


def validation_message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
        parts.append(f"{loc}: {e.get('msg')}" if loc else str(e.get("msg")))
    return "; ".join(parts)


def install(app: FastAPI, settings: Settings) -> None:
    home = settings.home

    @app.exception_handler(RequestValidationError)
    async def on_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error(422, "validation_error", public_message(validation_message(exc), home))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = KINDS.get(exc.status_code, "http_error")
        response = error(exc.status_code, kind, public_message(str(exc.detail), home))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(AuthError)
    async def on_auth(_: Request, exc: AuthError) -> JSONResponse:
        return error(exc.status, "unauthorized" if exc.status == 401 else "forbidden", exc.message)

    @app.exception_handler(RagsearchError)
    async def on_ragsearch(_: Request, exc: RagsearchError) -> JSONResponse:
        status = next((code for cls, code in STATUS if isinstance(exc, cls)), 503)
        return error(status, type(exc).__name__, public_message(str(exc), home))

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("api.unexpected_error", path=request.url.path, error_type=type(exc).__name__)
        return error(500, "internal_error", "an unexpected error occurred; it was logged")
