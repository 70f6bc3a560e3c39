"""Feature logging: gathers what the pure feature functions need from an index, for training and serving.

One code path: `FeatureLogger.features` is what `rerank.dataset` calls to build a training matrix and what
`rerank.ltr.LtrReranker` calls for every live query.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from rerank.features import CandidateView, QueryView, feature_matrix, idf
from retrieval.analysis import build_analyzer
from retrieval.index import SearchIndex
from retrieval.types import Candidate, FieldBoosts, FieldScores, Vector

NO_SCORES = FieldScores(title=None, text=None, best_fields=None)


@runtime_checkable
class TermStatistics(Protocol):
    """An index that can tell how many documents it holds and how many contain each token."""

    def doc_freqs(self, tokens: Sequence[str]) -> tuple[int, dict[str, int]]:
        """(number of passages, {token: passages containing it in title or text})."""
        ...


class FeatureLogger:
    """Computes the feature matrix of (query, candidates) against one index.

    IDF features need an index implementing `TermStatistics`; on any other backend they are NaN.
    """

    def __init__(
        self, index: SearchIndex, boosts: FieldBoosts | None = None, cache_size: int = 20_000
    ) -> None:
        self.index = index
        self.boosts = boosts or FieldBoosts()
        analyzer = build_analyzer(index.spec.analyzer)

        @lru_cache(maxsize=cache_size)
        def analyze(text: str) -> tuple[str, ...]:
            return tuple(analyzer.analyze(text)) if text else ()

        self.analyze = analyze

    def query_view(self, query: str) -> QueryView:
        tokens = self.analyze(query)
        idfs: dict[str, float] = {}
        if tokens and isinstance(self.index, TermStatistics):
            n, dfs = self.index.doc_freqs(sorted(set(tokens)))
            idfs = {t: idf(n, df) for t, df in dfs.items()}
        return QueryView(tokens=tokens, idf=idfs)

    def candidate_views(
        self, query: str, cands: Sequence[Candidate], query_vector: Vector
    ) -> list[CandidateView]:
        ids = [c.id for c in cands]
        passages = {p.id: p for p in self.index.get(ids)}
        scores = self.index.field_scores(query, ids, self.boosts)
        vectors = self.index.vectors(ids)
        q = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(q))
        q = q / norm if norm > 0 else q
        views = []
        for c in cands:
            p = passages.get(c.id)
            v = vectors.get(c.id)
            views.append(
                CandidateView(
                    candidate=c,
                    field_scores=scores.get(c.id, NO_SCORES),
                    dense_cosine=None if v is None else float(np.dot(q, v)),
                    title_tokens=self.analyze(p.title) if p else (),
                    text_tokens=self.analyze(p.text) if p else (),
                )
            )
        return views

    def features(self, query: str, cands: Sequence[Candidate], query_vector: Vector) -> NDArray[np.float32]:
        """One row per candidate, columns in `rerank.features.FEATURE_NAMES` order."""
        return feature_matrix(self.query_view(query), self.candidate_views(query, cands, query_vector))
