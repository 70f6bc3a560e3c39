from __future__ import annotations

import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from ragsearch.app.api.deps import ReadAuth, RuntimeDep
from ragsearch.app.api.schemas import ErrorResponse, SearchHit, SearchResponse
from ragsearch.app.online import Experiment, merge_hits
from ragsearch.app.querylog import LoggedQuery, now
from ragsearch.app.runtime import Runtime
from ragsearch.app.services import request_config
from ragsearch.retrieval.errors import InvalidInputError
from ragsearch.retrieval.index import Filters, parse_filters
from ragsearch.retrieval.types import Candidate
from ragsearch.search.config import MODES
from ragsearch.search.snippets import highlights, snippet

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
    explain: Annotated[
        bool, Query(description="say why each of the top 10 hits scores what it does (`explanation`)")
    ] = False,
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
    result = runtime.engine(index).search(q, ranking, filters=filters, explain=explain)
    hits = result.hits[offset:]
    metrics = request.app.state.metrics
    sources = None
    # Every search with a session id counts toward the experiment's share; only a plain first page is interleaved
    # (and never an explained list: it is the served configuration's own).
    exp = runtime.online_experiment(idx.name, session_id)
    if exp is not None and not (
        config is None and mode is None and model is None and offset == 0 and not explain
    ):
        exp = None
    if exp is not None:
        merged = interleave(runtime, exp, q, k, filters, hits)
        if merged is None:
            metrics.online_stops.labels(idx.name).inc()
        else:
            hits, sources = merged
            config_name = exp.tag
            metrics.online_impressions.labels(idx.name).inc()
    passages = {p.id: p for p in idx.get([h.id for h in hits])}
    for stage, ms in result.timings_ms.items():
        metrics.search_stage.labels(stage.removesuffix("_ms")).observe(ms / 1e3)
    out = []
    analyzer = idx.spec.analyzer
    for rank, h in enumerate(hits, start=offset + 1):
        p = passages.get(h.id)
        if p is None:
            continue
        snip = snippet(p.text, q, SNIPPET_CHARS, analyzer)
        out.append(SearchHit(rank=rank, title=p.title, text=p.text, snippet=snip,
                             snippet_highlights=highlights(snip, q, analyzer),
                             title_highlights=highlights(p.title, q, analyzer), metadata=p.metadata, **h.to_dict(),
                             explanation=result.explanations.get(h.id)))  # fmt: skip
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
        kept = [i for i, h in enumerate(hits) if h.id in passages]
        impression_id = runtime.impressions.log(
            q, idx.name, config_name, result.config.model_dump(mode="json"), offset + 1,
            [hits[i].id for i in kept], [hits[i].doc_id for i in kept], session_id,
            sources=None if sources is None else [sources[i] for i in kept],
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


WARM_UP_SEARCHES = 3
SNIPPET_CHARS = 300
"""About how long a hit's query-centred snippet is."""
"""A serving process's first candidate searches are not held to the latency budget (models load then)."""


def interleave(
    runtime: Runtime, exp: Experiment, q: str, k: int, filters: Filters | None, served: list[Candidate]
) -> tuple[list[Candidate], list[str]] | None:
    """The served hits team-drafted with the candidate's; None (and the experiment stopped, with the reason)
    when the candidate fails, falls back to another mode, or is slower than the latency budget."""
    t0 = time.perf_counter()
    try:
        candidate = runtime.engine(exp.index).search(q, exp.config("b").replace(k=k), filters=filters)
    except Exception as exc:
        runtime.stop_online(exp, f"the candidate failed: {type(exc).__name__}: {exc}")
        return None
    ms = (time.perf_counter() - t0) * 1e3
    if candidate.requested_mode is not None:
        runtime.stop_online(
            exp, f"the candidate could not be served as configured: {'; '.join(candidate.notices)}"
        )
        return None
    budget = runtime.settings.online.max_candidate_latency_ms
    warm = (
        runtime.count_candidate_search(exp.id) > WARM_UP_SEARCHES
    )  # a cold start (model loads) is not the candidate's speed
    if warm and ms > budget:
        runtime.stop_online(exp, f"the candidate took {ms:.0f} ms, over the budget of {budget:g} ms")
        return None
    return merge_hits(served, candidate.hits, k, uuid.uuid4().hex)
