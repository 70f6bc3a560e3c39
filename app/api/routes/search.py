from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request

from ragsearch.app.api.deps import ReadAuth, RuntimeDep
from ragsearch.app.api.schemas import ErrorResponse, SearchHit, SearchResponse
from ragsearch.app.querylog import LoggedQuery, now
from ragsearch.app.services import request_config
from ragsearch.retrieval.errors import InvalidInputError
from ragsearch.retrieval.index import parse_filters
from ragsearch.search.config import MODES

router = APIRouter(tags=["search"])


@router.get(
    "/search",
    response_model=SearchResponse,
    dependencies=[ReadAuth],
    responses={400: {"model": ErrorResponse}, 404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
    summary="Search passages",
)
def search(
    request: Request,
    runtime: RuntimeDep,
    q: Annotated[str, Query(min_length=1, max_length=100_000, description="the query text")],
    k: Annotated[int, Query(ge=1, le=1000, description="how many hits")] = 10,
    offset: Annotated[int, Query(ge=0, le=10_000, description="hits to skip (paging)")] = 0,
    mode: Annotated[
        str | None,
        Query(
            description=f"one of {', '.join(MODES)} on top of the configuration (default: the configuration's)"
        ),
    ] = None,
    config: Annotated[
        str | None,
        Query(max_length=64, description="a configuration stored for the index (default: the one it serves)"),
    ] = None,
    model: Annotated[
        str | None, Query(max_length=32, description="LTR model version (default: promoted)")
    ] = None,
    index: Annotated[
        str | None, Query(max_length=64, description="index name (default: the server's)")
    ] = None,
    session_id: Annotated[
        str | None,
        Query(
            max_length=128,
            description="an anonymous session id chosen by the client (events and experiments)",
        ),
    ] = None,
    filter: Annotated[
        list[str], Query(description="metadata equality filters, key:value; all must hold")
    ] = [],  # noqa: B006
) -> SearchResponse:
    api = runtime.settings.api
    if len(q) > api.max_query_chars:
        raise InvalidInputError(f"q has {len(q)} characters; the limit is {api.max_query_chars}")
    if k + offset > api.max_k:
        raise InvalidInputError(f"k + offset is {k + offset}; the limit is {api.max_k}")
    config_name, base = runtime.config(index, config)
    ranking = request_config(base, mode, model, k=k + offset)
    t0 = time.perf_counter()
    idx = runtime.index(index)
    filters = parse_filters(filter) or None
    result = runtime.engine(index).search(q, ranking, filters=filters)
    hits = result.hits[offset:]
    passages = {p.id: p for p in idx.get([h.id for h in hits])}
    metrics = request.app.state.metrics
    for stage, ms in result.timings_ms.items():
        metrics.search_stage.labels(stage.removesuffix("_ms")).observe(ms / 1e3)
    out = []
    for rank, h in enumerate(hits, start=offset + 1):
        p = passages.get(h.id)
        if p is None:
            continue
        out.append(SearchHit(rank=rank, title=p.title, text=p.text, metadata=p.metadata, **h.to_dict()))
    took = (time.perf_counter() - t0) * 1e3
    dense = [h.dense_score for h in hits if h.dense_score is not None]
    logged = runtime.querylog.add(
        LoggedQuery(now(), "search", result.mode, len(q), len(q.split()), len(out), hits[0].score if hits else None,
                    max(dense) if dense else None, hits[0].rerank_score if hits else None, took, idx.name, q)
    )  # fmt: skip
    if not logged:
        metrics.log_write_failures.labels("querylog").inc()
    impression_id = None
    if runtime.impressions is not None:
        shown = [h for h in hits if h.id in passages]
        impression_id = runtime.impressions.log(
            q, idx.name, config_name, result.config.model_dump(mode="json"), offset + 1,
            [h.id for h in shown], [h.doc_id for h in shown], session_id,
        )  # fmt: skip
        if impression_id is None:
            metrics.log_write_failures.labels("impressions").inc()
    return SearchResponse(
        query=q,
        mode=result.mode,
        index=idx.name,
        took_ms=took,
        timings_ms=result.timings_ms,
        hits=out,
        notices=result.notices,
        config=result.config.model_dump(mode="json"),
        config_name=config_name,
        impression_id=impression_id,
    )
