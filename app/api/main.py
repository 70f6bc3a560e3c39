"""The FastAPI app: routes, consistent error bodies, metrics, CORS."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from app.api.deps import AuthError
from app.api.metrics import Metrics
from app.api.routes import answer, documents, feedback, health, models, search
from app.runtime import Runtime
from app.settings import Settings, get_settings
from rerank.errors import FeatureMismatchError, ModelNotFoundError
from retrieval.errors import (
    EmbeddingMismatchError,
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
    (InvalidInputError, 422),
    (UnknownNameError, 422),
    (EmbeddingMismatchError, 409),
    (ModelNotFoundError, 404),
    (FeatureMismatchError, 409),
]


def error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


def validation_message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
        parts.append(f"{loc}: {e.get('msg')}" if loc else str(e.get("msg")))
    return "; ".join(parts)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.runtime.close()

    app = FastAPI(
        title="ragsearch",
        version="0.1.0",
        summary="Search (BM25, dense, hybrid), cited answers, documents and feedback over one index.",
        lifespan=lifespan,
    )
    app.state.runtime = Runtime(settings)
    app.state.metrics = Metrics()
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Content-Type", "X-API-Key"],
        )

    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        t0 = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        app.state.metrics.requests.labels(request.method, path, str(response.status_code)).inc()
        app.state.metrics.latency.labels(request.method, path).observe(time.perf_counter() - t0)
        return response

    @app.exception_handler(RequestValidationError)
    async def on_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error(422, "validation_error", validation_message(exc))

    @app.exception_handler(HTTPException)
    async def on_http(_: Request, exc: HTTPException) -> JSONResponse:
        kinds = {401: "unauthorized", 403: "forbidden", 404: "not_found", 413: "too_large"}
        return error(exc.status_code, kinds.get(exc.status_code, "http_error"), str(exc.detail))

    @app.exception_handler(AuthError)
    async def on_auth(_: Request, exc: AuthError) -> JSONResponse:
        return error(exc.status, "unauthorized" if exc.status == 401 else "forbidden", exc.message)

    @app.exception_handler(RagsearchError)
    async def on_ragsearch(_: Request, exc: RagsearchError) -> JSONResponse:
        status = next((code for cls, code in STATUS if isinstance(exc, cls)), 503)
        return error(status, type(exc).__name__, str(exc))

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("api.unexpected_error", path=request.url.path, error_type=type(exc).__name__)
        return error(500, "internal_error", "an unexpected error occurred; it was logged")

    for module in (search, answer, documents, feedback, models, health):
        app.include_router(module.router)
    return app
