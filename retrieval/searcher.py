"""First-stage retrieval over one index: BM25, dense, and their fused candidate union.

Which of them a search uses is decided by `search.engine`, from a `SearchConfig`."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from ragsearch.retrieval.embedding import Embedder, check_compatible
from ragsearch.retrieval.errors import InvalidInputError
from ragsearch.retrieval.fusion import get_fusion
from ragsearch.retrieval.index import Filters, SearchIndex
from ragsearch.retrieval.types import Candidate, FieldBoosts, ScoredId, Vector


def check_query(query: str, k: int) -> None:
    """The checks every search mode makes on its input."""
    if not query.strip():
        raise InvalidInputError("the query is empty: type some words to search for")
    if k < 1:
        raise InvalidInputError(f"k must be at least 1, got {k}")


def merge_candidates(
    bm25: Sequence[ScoredId], dense: Sequence[ScoredId], fused: Mapping[str, float] | None = None
) -> list[Candidate]:
    """The union of two result lists as candidates carrying both systems' scores and ranks."""
    by_id: dict[str, Candidate] = {}
    for rank, hit in enumerate(bm25, start=1):
        by_id[hit.id] = Candidate(hit.id, hit.doc_id, bm25_score=hit.score, bm25_rank=rank)
    for rank, hit in enumerate(dense, start=1):
        c = by_id.setdefault(hit.id, Candidate(hit.id, hit.doc_id))
        c.dense_score, c.dense_rank = hit.score, rank
    for c in by_id.values():
        c.fused_score = None if fused is None else fused.get(c.id)
    return list(by_id.values())


def order(cands: list[Candidate]) -> list[Candidate]:
    """Best first by `score`; ties by id so results are deterministic."""
    return sorted(cands, key=lambda c: (-c.score, c.id))


def fused_candidates(
    bm25: Sequence[ScoredId], dense: Sequence[ScoredId], fusion: str, dense_weight: float, rrf_k: float
) -> list[Candidate]:
    """The union of two result lists fused (BM25 weighted 1 - `dense_weight`), best first."""
    fused = get_fusion(fusion)(
        [{h.id: h.score for h in bm25}, {h.id: h.score for h in dense}],
        weights=[1.0 - dense_weight, dense_weight],
        k=rrf_k,
    )
    cands = merge_candidates(bm25, dense, fused)
    for c in cands:
        c.score = c.fused_score or 0.0
    return order(cands)


def bm25_candidates(hits: Sequence[ScoredId]) -> list[Candidate]:
    """BM25 hits as candidates with their scores and ranks."""
    return [
        Candidate(h.id, h.doc_id, bm25_score=h.score, bm25_rank=r, score=h.score)
        for r, h in enumerate(hits, start=1)
    ]


def dense_candidates(hits: Sequence[ScoredId]) -> list[Candidate]:
    """Dense hits as candidates with their cosines and ranks."""
    return [
        Candidate(h.id, h.doc_id, dense_score=h.score, dense_rank=r, score=h.score)
        for r, h in enumerate(hits, start=1)
    ]


class Retriever:
    """BM25, dense and hybrid search over one index, with per-call overrides of the defaults."""

    def __init__(
        self,
        index: SearchIndex,
        embedder: Embedder,
        boosts: FieldBoosts | None = None,
        fusion: str = "minmax",
        rrf_k: float = 60.0,
        dense_weight: float = 0.5,
        bm25_depth: int = 100,
        dense_depth: int = 100,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.boosts = boosts or FieldBoosts()
        get_fusion(fusion)
        self.fusion = fusion
        self.rrf_k = rrf_k
        self.dense_weight = dense_weight
        self.bm25_depth = bm25_depth
        self.dense_depth = dense_depth
        self.checked = False

    def encode(self, queries: Sequence[str]) -> list[Vector]:
        if not self.checked:
            check_compatible(self.index.spec, self.embedder, self.index.name)
            self.checked = True
        return list(self.embedder.embed_queries(list(queries)))

    def candidates(
        self,
        query: str,
        query_vector: Vector | None = None,
        filters: Filters | None = None,
        timings: dict[str, float] | None = None,
        min_depth: int = 0,
    ) -> list[Candidate]:
        """The union of BM25 and dense top lists, fused, each candidate with every first-stage score."""
        t = timings if timings is not None else {}
        t0 = time.perf_counter()
        bm25 = self.index.bm25_search(query, max(self.bm25_depth, min_depth), self.boosts, filters)
        t1 = time.perf_counter()
        if query_vector is None:
            query_vector = self.encode([query])[0]
        t2 = time.perf_counter()
        dense = self.index.vector_search(query_vector, max(self.dense_depth, min_depth), filters)
        t3 = time.perf_counter()
        cands = fused_candidates(bm25, dense, self.fusion, self.dense_weight, self.rrf_k)
        t4 = time.perf_counter()
        t.update(
            bm25_ms=(t1 - t0) * 1e3,
            encode_ms=(t2 - t1) * 1e3,
            dense_ms=(t3 - t2) * 1e3,
            fusion_ms=(t4 - t3) * 1e3,
        )
        return cands

    def bm25(self, query: str, k: int, filters: Filters | None = None) -> list[Candidate]:
        """BM25 alone: the top k with their BM25 scores and ranks."""
        return bm25_candidates(self.index.bm25_search(query, k, self.boosts, filters))

    def dense(self, query_vector: Vector, k: int, filters: Filters | None = None) -> list[Candidate]:
        """Dense (embedding kNN) alone: the top k with their cosines and ranks."""
        return dense_candidates(self.index.vector_search(query_vector, k, filters))
