"""The FastAPI app: routes, consistent error bodies, metrics, CORS."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import structlog
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware

from ragsearch import __version__
from ragsearch.app.api import errors
from ragsearch.app.api.guard import Guard
from ragsearch.app.api.metrics import Metrics
from ragsearch.app.api.routes import answer, documents, feedback, health, models, search, serving
from ragsearch.app.priority import lower_thread_priority
from ragsearch.app.runtime import Runtime
from ragsearch.app.settings import Settings, get_settings

log = structlog.get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.writer.shutdown(wait=True)
        app.state.runtime.close()

    app = FastAPI(
        title="ragsearch",
        version=__version__,
        summary="Search (BM25, dense, hybrid), cited answers, documents and feedback over one index.",
        lifespan=lifespan,
    )
    app.state.runtime = Runtime(settings)
    app.state.metrics = Metrics()
    # writes through the API (embedding, index writes) run one at a time on a thread of lower priority, so a
    # search that arrives meanwhile gets the CPU first; they are serialized by the index's write lock anyway
    app.state.writer = ThreadPoolExecutor(
        1, "ragsearch-writer", initializer=lower_thread_priority, initargs=(settings.api.write_nice,)
    )
    # the key and the declared body size are checked before anything reads the body (inside CORS and the
    # metrics, so refusals carry CORS headers and are counted)
    modules = (search, answer, documents, feedback, models, health, serving)
    app.add_middleware(Guard, settings=settings, routes=[r for m in modules for r in m.router.routes])
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

    errors.install(app, settings)
    for module in modules:
        app.include_router(module.router)
    return app


MAX_HEAD_BYTES = 2 * 1024 * 1024
"""The largest request line + headers the server reads. It covers the longest URL the schema allows (q up
to 100,000 characters, 12 bytes each when percent-encoded) so that such a request gets the app's own error;
uvicorn's default (16 KiB) closed the connection mid-request instead (a reset, seen by the client as a
broken connection rather than an answer)."""


def server_config(app: FastAPI, host: str, port: int, log_level: str) -> uvicorn.Config:
    """How `ragsearch serve` (and every test server) runs the app under uvicorn."""
    return uvicorn.Config(
        app, host=host, port=port, log_level=log_level, h11_max_incomplete_event_size=MAX_HEAD_BYTES
    )
