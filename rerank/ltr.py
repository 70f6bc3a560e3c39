"""The learned reranker: LambdaMART over logged features of the first-stage candidate union."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ragsearch.rerank.extract import FeatureLogger
from ragsearch.rerank.protocol import TrainingData
from ragsearch.rerank.registry import LoadedModel
from ragsearch.retrieval.searcher import order
from ragsearch.retrieval.types import Candidate, Vector


class LtrReranker:
    """Scores candidates with a registered LightGBM model; features come from `FeatureLogger`."""

    def __init__(self, model: LoadedModel, logger: FeatureLogger) -> None:
        self.model = model
        self.logger = logger

    @property
    def name(self) -> str:
        return f"ltr:{self.model.manifest.version}"

    def training_data(self) -> TrainingData:
        m = self.model.manifest
        return TrainingData(m.dataset, frozenset(m.trained_on), m.trained_queries)

    def rerank(self, query: str, candidates: Sequence[Candidate], query_vector: Vector) -> list[Candidate]:
        if not candidates:
            return []
        fused = np.fromiter(
            (c.fused_score or 0.0 for c in candidates), dtype=np.float64, count=len(candidates)
        )
        scores = self.model.predict(self.logger.features(query, candidates, query_vector), fused)
        return order([rescored(c, float(s)) for c, s in zip(candidates, scores.tolist(), strict=True)])


def rescored(c: Candidate, score: float) -> Candidate:
    """`c` with its rerank score as its score (spelled out: `dataclasses.replace` costs ~5 us a candidate)."""
    return Candidate(
        id=c.id,
        doc_id=c.doc_id,
        bm25_score=c.bm25_score,
        bm25_rank=c.bm25_rank,
        dense_score=c.dense_score,
        dense_rank=c.dense_rank,
        fused_score=c.fused_score,
        rerank_score=score,
        score=score,
    )
