"""The learned reranker: LambdaMART over logged features of the first-stage candidate union."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from ragsearch.rerank.explain import Explanation, explain_ltr, tree_contributions
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
        parts = tuple(
            TrainingData(s["dataset"], frozenset({s["split"]}), frozenset(s["seen_queries"]))
            for s in m.sources or []
        )
        return TrainingData(m.dataset, frozenset(m.trained_on), m.trained_queries, parts)

    def rerank(self, query: str, candidates: Sequence[Candidate], query_vector: Vector) -> list[Candidate]:
        return self.rerank_explained(query, candidates, query_vector, 0)[0]

    def rerank_explained(
        self, query: str, candidates: Sequence[Candidate], query_vector: Vector, top: int
    ) -> tuple[list[Candidate], dict[str, Explanation]]:
        """`rerank`, and why the first `top` results score what they do (TreeSHAP on their feature rows,
        the same rows that scored them)."""
        if not candidates:
            return [], {}
        fused = np.fromiter(
            (c.fused_score or 0.0 for c in candidates), dtype=np.float64, count=len(candidates)
        )
        features = self.logger.features(query, candidates, query_vector)
        scores = self.model.predict(features, fused)
        hits = order([rescored(c, float(s)) for c, s in zip(candidates, scores.tolist(), strict=True)])
        return hits, self.explain(candidates, features, fused, hits[: max(top, 0)])

    def explain(
        self,
        candidates: Sequence[Candidate],
        features: NDArray[np.float32],
        fused: NDArray[np.float64],
        hits: Sequence[Candidate],
    ) -> dict[str, Explanation]:
        """Why `hits` (reranked from `candidates`, whose feature rows and fused scores are `features` and
        `fused`) score what they do: TreeSHAP on their own rows."""
        if not hits:
            return {}
        row = {c.id: i for i, c in enumerate(candidates)}
        rows = [row[h.id] for h in hits]
        m = self.model.manifest
        explained = explain_ltr(
            tree_contributions(self.model.booster, features[rows], m.best_iteration),
            features[rows],
            m.feature_names,
            fused[rows],
            float(m.params.get("prior_weight", 0.0)),
            [h.score for h in hits],
            f"model {m.version}: {m.params.get('prior_weight', 0.0):g} x fused score + {m.best_iteration} trees "
            "(TreeSHAP contributions by feature family + the trees' base value)",
        )
        return {h.id: e for h, e in zip(hits, explained, strict=True)}


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
