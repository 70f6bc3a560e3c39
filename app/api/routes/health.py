from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.api.deps import RuntimeDep
from app.api.schemas import HealthOut
from app.drift import compare_windows
from retrieval.errors import RagsearchError

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=HealthOut, summary="Backend, indexes, models and LLM reachability")
def health(runtime: RuntimeDep) -> HealthOut:
    problems: list[str] = []
    counts: dict[str, int | None] = {}
    try:
        names = runtime.backend.list()
    except (RagsearchError, OSError) as exc:
        names = []
        problems.append(f"backend: {exc}")
    for name in names:
        try:
            counts[name] = runtime.index(name).count()
        except (RagsearchError, OSError) as exc:
            counts[name] = None
            runtime.forget(name)
            problems.append(f"index {name}: {exc}")
    llm: dict[str, object] = {"configured": runtime.llm is not None}
    if runtime.llm is not None:
        llm.update(model=runtime.llm.model, reachable=runtime.llm.ping())
        if not llm["reachable"]:
            problems.append("llm: not reachable")
    return HealthOut(
        status="degraded" if problems else "ok",
        backend=runtime.settings.backend,
        indexes=counts,
        default_index=runtime.settings.index,
        embedding_model=runtime.settings.embedding.model,
        llm=llm,
        problems=problems,
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/drift", summary="Drift of recent queries against the window before them")
def drift(
    runtime: RuntimeDep,
    recent: Annotated[int, Query(ge=10, le=100_000, description="queries in the recent window")] = 500,
    reference: Annotated[int, Query(ge=10, le=100_000, description="queries in the reference window")] = 500,
) -> dict[str, object]:
    log = runtime.querylog
    report = compare_windows(
        log.latest(reference, skip=recent), log.latest(recent), runtime.settings.answer.min_dense_score
    )
    return report.to_dict()
