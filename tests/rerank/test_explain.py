"""Why a result ranks where it does (rerank/explain.py): feature families, and explanations whose parts sum to
the served score, for a real LightGBM model on a real SciFact slice (tests/rerank/conftest.py's `ltr_first`)
and for every fusion."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragsearch.eval.data import load_split
from ragsearch.rerank.build import TrainOutcome
from ragsearch.rerank.explain import BASE, FAMILIES, FAMILY_RULES, OTHER, PRIOR, explain_fusion, family
from ragsearch.rerank.extract import FeatureLogger
from ragsearch.rerank.features import FEATURE_NAMES
from ragsearch.rerank.ltr import LtrReranker
from ragsearch.rerank.registry import ModelRegistry
from ragsearch.retrieval.searcher import Retriever


def test_every_feature_has_a_family_by_its_name() -> None:
    assert {n: family(n) for n in FEATURE_NAMES if family(n) == OTHER} == {}
    assert set(FAMILIES) == {name for name, _ in FAMILY_RULES} | {OTHER}  # every family is shown
    assert family("bm25_rank") == family("fused_score") == "first-stage agreement"
    assert family("query_len") == "lengths" and family("query_idf_max") == "query"
    # a feature added later lands in a family by its name, or in `other`, never nowhere
    assert family("bm25_best_fields_qnorm") == "lexical match"
    assert family("dense_cosine_z") == "semantic similarity"
    assert family("mystery") == OTHER


def test_ltr_explanations_sum_to_the_served_score(
    ltr_env: tuple[Retriever, Path], ltr_first: TrainOutcome, scifact_ltr_slice: Path
) -> None:
    retriever, home = ltr_env
    model = ModelRegistry(home).load(ltr_first.manifest.version)
    assert model.manifest.best_iteration > 0 and model.trees.name == "compiled"
    weight = float(model.manifest.params["prior_weight"])
    reranker = LtrReranker(model, FeatureLogger(retriever.index))
    test = load_split(scifact_ltr_slice, "test")
    for q in list(test.queries.values())[:5]:
        vec = retriever.encode([q])[0]
        cands = retriever.candidates(q, vec)
        hits, why = reranker.rerank_explained(q, cands, vec, 10)
        assert [h.id for h in hits] == [h.id for h in reranker.rerank(q, cands, vec)]
        assert list(why) == [h.id for h in hits[:10]]
        for h in hits[:10]:
            e = why[h.id]
            # served by the compiled trees, explained by LightGBM's TreeSHAP: the same score to 1e-6
            assert e.method == "ltr" and e.score == h.score and abs(e.total - h.score) < 1e-6
            assert e.parts[0].name == PRIOR and e.parts[0].contribution == weight * (h.fused_score or 0.0)
            assert e.parts[-1].name == BASE
            families = {p.name: p.contribution for p in e.parts[1:-1]}
            assert sum(families.values()) == pytest.approx(sum(f.contribution for f in e.features), abs=1e-9)
            assert {f.name for f in e.features} == set(FEATURE_NAMES)
        assert any(f.contribution != 0 for e in why.values() for f in e.features)


@pytest.mark.parametrize("fusion", ["minmax", "rrf", "zscore"])
def test_fusion_explanations_sum_to_the_fused_score(ltr_env: tuple[Retriever, Path], fusion: str) -> None:
    index, embedder = ltr_env[0].index, ltr_env[0].embedder
    retriever = Retriever(index, embedder, fusion=fusion, dense_weight=0.3, bm25_depth=20, dense_depth=30)
    q = "vitamin D deficiency and bone fractures"
    cands = retriever.candidates(q)
    why = explain_fusion(cands, fusion, 0.3, retriever.rrf_k, [c.id for c in cands])
    for c in cands:
        e = why[c.id]
        bm25, dense = e.parts
        assert e.score == c.fused_score and abs(e.total - e.score) < 1e-12
        assert (bm25.weight, dense.weight) == (pytest.approx(0.7), 0.3)
        assert bm25.raw == c.bm25_score and dense.raw == c.dense_score
    if fusion == "minmax":  # each list's best scores 1 before weighting, its worst 0
        best = max((c for c in cands if c.bm25_score is not None), key=lambda c: c.bm25_score or 0.0)
        assert why[best.id].parts[0].normalized == 1.0
