"""List-normalised features do not move when a first-stage score is rescaled (real SciFact slice)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ragsearch.eval.data import load_split
from ragsearch.rerank.extract import FeatureLogger
from ragsearch.rerank.features import ALL_FEATURE_NAMES, LIST_FEATURES, CandidateView, feature_matrix
from ragsearch.retrieval.searcher import Retriever, fused_candidates
from ragsearch.retrieval.types import FieldScores, ScoredId


def times(x: float | None, k: float, shift: float = 0.0) -> float | None:
    return None if x is None else k * x + shift


def test_list_features_are_invariant_to_rescaled_first_stage_scores(
    ltr_env: tuple[Retriever, Path], scifact_ltr_slice: Path
) -> None:
    """BM25 scores x3 (field scores and the BM25 list, fused again by min-max fusion) and cosines
    0.5 x + 0.2: every list-normalised feature is unchanged, while the raw ones did move."""
    retriever, _ = ltr_env
    logger = FeatureLogger(retriever.index)
    split = load_split(scifact_ltr_slice, "test")
    list_cols = [ALL_FEATURE_NAMES.index(n) for n in LIST_FEATURES]
    raw = ALL_FEATURE_NAMES.index("bm25_best_fields")
    qids = list(split.queries)[:8]
    for qid, vec in zip(qids, retriever.encode([split.queries[q] for q in qids]), strict=True):
        text = split.queries[qid]
        cands = retriever.candidates(text, vec)
        # the first stage again, its BM25 scores tripled and its cosines squeezed, fused as served
        by_bm25 = sorted((c for c in cands if c.bm25_rank is not None), key=lambda c: c.bm25_rank or 0)
        by_dense = sorted((c for c in cands if c.dense_rank is not None), key=lambda c: c.dense_rank or 0)
        bm25 = [ScoredId(c.id, c.doc_id, 3 * (c.bm25_score or 0.0)) for c in by_bm25]
        dense = [ScoredId(c.id, c.doc_id, 0.5 * (c.dense_score or 0.0) + 0.2) for c in by_dense]
        moved = {
            c.id: c
            for c in fused_candidates(bm25, dense, retriever.fusion, retriever.dense_weight, retriever.rrf_k)
        }
        assert all(moved[c.id].fused_score == pytest.approx(c.fused_score) for c in cands)
        qv = logger.query_view(text)
        title, body = logger.matches(qv, [c.id for c in cands])
        views = logger.candidate_views(text, cands, vec)
        scaled = [
            CandidateView(
                moved[v.candidate.id],
                FieldScores(*(times(x, 3.0) for x in (v.field_scores.title, v.field_scores.text, v.field_scores.best_fields))),
                times(v.dense_cosine, 0.5, 0.2),
            )
            for v in views
        ]  # fmt: skip
        before = feature_matrix(qv, views, title, body, ALL_FEATURE_NAMES).astype(np.float64)
        after = feature_matrix(qv, scaled, title, body, ALL_FEATURE_NAMES).astype(np.float64)
        assert before.shape[1] == len(ALL_FEATURE_NAMES) and len(list_cols) == 12
        np.testing.assert_allclose(after[:, list_cols], before[:, list_cols], rtol=1e-5, atol=1e-5)
        assert np.nanmax(before[:, raw]) > 0
        np.testing.assert_allclose(after[:, raw], 3 * before[:, raw], rtol=1e-5)
