"""The one search entry point: runs any `SearchConfig` over one index and owns every mode's rules.

The API, the CLI, evaluation, answers, benchmarks and the UI all search through `SearchEngine.search`, so a
mode means the same everywhere. The rules it owns:
- `ltr` reranks the fused BM25 + dense candidate union with the configured model (or the promoted one);
- `ltr` with no model at all is refused, with what to run;
- `ltr` whose model cannot be loaded (missing or damaged file) is served as `hybrid` with the same fusion and
  depths, and the result says so in `notices`: a broken model never fails or crashes a search;
- `explain=True` says why each of the top `EXPLAIN_TOP` hits scores what it does (`rerank.explain`): the
  model's parts for ltr, the fusion arithmetic for hybrid, the system's own score for bm25 and dense.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from ragsearch.rerank.errors import ModelUnavailableError
from ragsearch.rerank.explain import (
    EXPLAIN_TOP,
    ExplainingReranker,
    Explanation,
    explain_fusion,
    explain_score,
)
from ragsearch.rerank.protocol import Reranker
from ragsearch.retrieval.embedding import Embedder
from ragsearch.retrieval.errors import InvalidInputError
from ragsearch.retrieval.index import Filters, SearchIndex
from ragsearch.retrieval.searcher import Retriever, check_query
from ragsearch.retrieval.types import Candidate, Vector
from ragsearch.search.config import Mode, SearchConfig

log = structlog.get_logger(__name__)

RerankerSource = Callable[[str | None], Reranker | None]
"""The reranker of an LTR model version (None: the promoted one); None when no model is promoted. Raises
`ModelUnavailableError` when the model exists but cannot be loaded."""


@dataclass(slots=True)
class SearchResult:
    query: str
    config: SearchConfig
    """The configuration that produced `hits` (after a fallback, the one actually served)."""
    hits: list[Candidate]
    timings_ms: dict[str, float] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    """What the caller should know, e.g. that an LTR request was served by hybrid and why."""
    requested_mode: Mode | None = None
    """The mode asked for, when a fallback served another."""
    explanations: dict[str, Explanation] = field(default_factory=dict)
    """Why the top hits score what they do, by hit id (only when asked for, and only the top ones)."""

    @property
    def mode(self) -> str:
        return self.config.mode.value


class SearchEngine:
    """Searches one index with any configuration. Cheap to build; thread-safe when its parts are."""

    def __init__(
        self,
        index: SearchIndex,
        embedder: Embedder,
        rerankers: RerankerSource | None = None,
        weak_similarity: float | None = None,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.rerankers = rerankers
        self.weak_similarity = weak_similarity
        """below this best dense similarity, a result says its evidence is weak (None: never)"""
        self._retriever = Retriever(index, embedder)

    def retriever(self, config: SearchConfig) -> Retriever:
        """The first stage of `config` (fusion, weights, depths, boosts)."""
        r = Retriever(
            self.index,
            self.embedder,
            boosts=config.boosts,
            fusion=config.fusion,
            rrf_k=config.rrf_k,
            dense_weight=config.dense_weight,
            bm25_depth=config.bm25_depth,
            dense_depth=config.dense_depth,
        )
        r.checked = self._retriever.checked
        return r

    def encode(self, queries: Sequence[str]) -> list[Vector]:
        return self._retriever.encode(queries)

    def reranker(self, config: SearchConfig) -> Reranker:
        """The reranker `config` asks for; raises when there is none (ModelUnavailableError when damaged)."""
        if self.rerankers is None:
            raise InvalidInputError("mode ltr is not available here: no model registry is configured")
        reranker = self.rerankers(config.ltr_model)
        if reranker is None:
            raise InvalidInputError(
                "mode ltr needs a trained model: run `ragsearch train`, then promote it (or pick another mode)"
            )
        return reranker

    def search(
        self,
        query: str,
        config: SearchConfig,
        filters: Filters | None = None,
        query_vector: Vector | None = None,
        explain: bool = False,
    ) -> SearchResult:
        check_query(query, config.k)
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        notices: list[str] = []
        requested: Mode | None = None
        served = config
        reranker: Reranker | None = None
        explanations: dict[str, Explanation] = {}
        top = min(config.k, EXPLAIN_TOP) if explain else 0
        if config.mode is Mode.LTR:
            try:
                reranker = self.reranker(config)
            except ModelUnavailableError as exc:
                served = config.replace(mode=Mode.HYBRID, ltr_model=None)
                requested = Mode.LTR
                notices.append(f"served hybrid instead of ltr: {exc}")
                log.warning("search.ltr_fallback", reason=str(exc))
        retriever = self.retriever(served)
        needs_vector = served.mode is not Mode.BM25
        encode_ms = 0.0
        if needs_vector and query_vector is None:
            t_enc = time.perf_counter()
            query_vector = retriever.encode([query])[0]
            encode_ms = (time.perf_counter() - t_enc) * 1e3
            self._retriever.checked = True
        if served.mode is Mode.BM25:
            hits = retriever.bm25(query, served.k, filters)
            explanations = explain_score(hits[:top], "bm25")
        elif served.mode is Mode.DENSE:
            assert query_vector is not None
            hits = retriever.dense(query_vector, served.k, filters)
            explanations = explain_score(hits[:top], "dense")
        elif served.mode is Mode.HYBRID:
            cands = retriever.candidates(query, query_vector, filters, timings, min_depth=served.k)
            hits = cands[: served.k]
            if top:
                explanations = explain_fusion(
                    cands, served.fusion, served.dense_weight, served.rrf_k, [h.id for h in hits[:top]]
                )
        else:
            assert reranker is not None and query_vector is not None
            cands = retriever.candidates(query, query_vector, filters, timings)
            t_rr = time.perf_counter()
            if top and isinstance(reranker, ExplainingReranker):
                ranked, explanations = reranker.rerank_explained(query, cands, query_vector, top)
            else:
                ranked = reranker.rerank(query, cands, query_vector)
            hits = ranked[: served.k]
            timings["rerank_ms"] = (time.perf_counter() - t_rr) * 1e3
        if needs_vector:
            timings["encode_ms"] = encode_ms
            weak = weak_evidence(hits, self.weak_similarity)
            if weak:
                notices.append(weak)
        timings["total_ms"] = (time.perf_counter() - t0) * 1e3
        return SearchResult(query, served, hits, timings, notices, requested, explanations)


WEAK_EVIDENCE = "weak evidence"
"""How the notice of `weak_evidence` begins (front ends look for it)."""


def weak_evidence(hits: Sequence[Candidate], threshold: float | None) -> str | None:
    """A notice when the best dense similarity among `hits` is below `threshold` (the query is probably about
    something the index does not hold), else None. Pure."""
    scores = [h.dense_score for h in hits if h.dense_score is not None]
    if threshold is None or not hits or not scores or max(scores) >= threshold:
        return None
    return (f"{WEAK_EVIDENCE}: the closest passage's similarity to the query is {max(scores):.2f}, below "
            f"{threshold:g}; the index may not hold what you are looking for")  # fmt: skip
