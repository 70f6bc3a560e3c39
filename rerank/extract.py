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

from ragsearch.rerank.features import (
    FEATURE_NAMES,
    CandidateView,
    FieldMatches,
    Ints,
    QueryView,
    feature_matrix,
    idf,
)
from ragsearch.retrieval.analysis import build_analyzer, token_hashes
from ragsearch.retrieval.index import SearchIndex
from ragsearch.retrieval.types import Candidate, FieldBoosts, FieldScores, Vector

NO_SCORES = FieldScores(title=None, text=None, best_fields=None)


@runtime_checkable
class TermStatistics(Protocol):
    """An index that can tell how many documents it holds and how many contain each token."""

    def doc_freqs(self, tokens: Sequence[str]) -> tuple[int, dict[str, int]]:
        """(number of passages, {token: passages containing it in title or text})."""
        ...


@runtime_checkable
class TokenStreams(Protocol):
    """An index that stored each passage's analyzed tokens (hashed with `retrieval.analysis.token_hash`)."""

    def token_streams(self, ids: Sequence[str]) -> dict[str, tuple[Ints, Ints]]:
        """{passage id: (title token hashes, text token hashes)} for the ids it holds streams of."""
        ...


class FeatureLogger:
    """Computes the feature matrix of (query, candidates) against one index.

    IDF features need an index implementing `TermStatistics`; on any other backend they are NaN. Token
    positions come from the index when it implements `TokenStreams`; otherwise (or for passages stored
    before it did) the passage text is fetched and analyzed here, with the same analyzer.
    """

    def __init__(
        self, index: SearchIndex, boosts: FieldBoosts | None = None, cache_size: int = 20_000
    ) -> None:
        self.index = index
        self.boosts = boosts or FieldBoosts()
        analyzer = build_analyzer(index.spec.analyzer)

        @lru_cache(maxsize=cache_size)
        def analyze(text: str) -> Ints:
            return token_hashes(analyzer.analyze(text)) if text else np.zeros(0, dtype=np.int64)

        self.analyze = analyze
        self.analyze_query = lambda text: tuple(analyzer.analyze(text)) if text else ()

    def query_view(self, query: str) -> QueryView:
        tokens = self.analyze_query(query)
        idfs: dict[str, float] = {}
        if tokens and isinstance(self.index, TermStatistics):
            n, dfs = self.index.doc_freqs(sorted(set(tokens)))
            idfs = {t: idf(n, df) for t, df in dfs.items()}
        return QueryView(tokens=tokens, idf=idfs)

    def streams(self, ids: Sequence[str]) -> dict[str, tuple[Ints, Ints]]:
        have = self.index.token_streams(ids) if isinstance(self.index, TokenStreams) else {}
        missing = [i for i in ids if i not in have]
        for p in self.index.get(missing) if missing else []:
            have[p.id] = (self.analyze(p.title), self.analyze(p.text))
        return have

    def candidate_views(
        self, query: str, cands: Sequence[Candidate], query_vector: Vector
    ) -> list[CandidateView]:
        ids = [c.id for c in cands]
        scores = self.index.field_scores(query, ids, self.boosts)
        vectors = self.index.vectors(ids)
        q = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(q))
        q = q / norm if norm > 0 else q
        return [
            CandidateView(
                candidate=c,
                field_scores=scores.get(c.id, NO_SCORES),
                dense_cosine=None if (v := vectors.get(c.id)) is None else float(np.dot(q, v)),
            )
            for c in cands
        ]

    def features(
        self,
        query: str,
        cands: Sequence[Candidate],
        query_vector: Vector,
        names: Sequence[str] = FEATURE_NAMES,
    ) -> NDArray[np.float32]:
        """One row per candidate, columns in `names` order (default `rerank.features.FEATURE_NAMES`)."""
        qv = self.query_view(query)
        title, text = self.matches(qv, [c.id for c in cands])
        return feature_matrix(qv, self.candidate_views(query, cands, query_vector), title, text, names)

    def matches(self, qv: QueryView, ids: Sequence[str]) -> tuple[FieldMatches, FieldMatches]:
        """Where the query's tokens occur in the title and the text of each passage of `ids`."""
        terms = token_hashes(qv.terms)
        streams = self.streams(ids)
        empty = np.zeros(0, dtype=np.int64)
        title = FieldMatches.find([streams.get(i, (empty, empty))[0] for i in ids], terms)
        text = FieldMatches.find([streams.get(i, (empty, empty))[1] for i in ids], terms)
        return title, text
