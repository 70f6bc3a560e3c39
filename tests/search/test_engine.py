"""The one search entry point over a real index (SciFact slice, real model): every mode, the ltr rules."""

from __future__ import annotations

import pytest

from ragsearch.rerank.errors import ModelUnavailableError
from ragsearch.rerank.protocol import Reranker
from ragsearch.retrieval.errors import InvalidInputError
from ragsearch.retrieval.searcher import Retriever
from ragsearch.search.config import Mode, SearchConfig
from ragsearch.search.engine import SearchEngine

pytestmark = pytest.mark.slow
QUERY = "Vitamin D deficiency is associated with bone disease"


@pytest.fixture()
def engine(scifact_index, real_embedder) -> SearchEngine:  # type: ignore[no-untyped-def]
    return SearchEngine(scifact_index, real_embedder)


@pytest.mark.parametrize("mode", [Mode.BM25, Mode.DENSE, Mode.HYBRID])
def test_first_stage_modes_rank_by_their_own_score(engine: SearchEngine, mode: Mode) -> None:
    r = engine.search(QUERY, SearchConfig(mode=mode, k=7))
    assert r.mode == mode.value and len(r.hits) == 7 and r.notices == []
    assert [h.score for h in r.hits] == sorted((h.score for h in r.hits), reverse=True)
    own = {Mode.BM25: "bm25_score", Mode.DENSE: "dense_score", Mode.HYBRID: "fused_score"}[mode]
    assert all(getattr(h, own) == pytest.approx(h.score) for h in r.hits)
    assert "total_ms" in r.timings_ms


def test_hybrid_is_the_fused_candidate_union_of_the_configured_depths(
    engine: SearchEngine, scifact_index, real_embedder
) -> None:  # type: ignore[no-untyped-def]
    config = SearchConfig(k=10, dense_weight=0.3, bm25_depth=40, dense_depth=20, fusion="rrf")
    expected = Retriever(
        scifact_index, real_embedder, fusion="rrf", dense_weight=0.3, bm25_depth=40, dense_depth=20
    ).candidates(QUERY)[:10]
    assert [h.id for h in engine.search(QUERY, config).hits] == [h.id for h in expected]


def test_ltr_without_a_model_is_refused_with_what_to_run(
    engine: SearchEngine, scifact_index, real_embedder
) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInputError, match="no model registry"):
        engine.search(QUERY, SearchConfig(mode=Mode.LTR))
    nothing_promoted = SearchEngine(scifact_index, real_embedder, lambda version: None)
    with pytest.raises(InvalidInputError, match="needs a trained model"):
        nothing_promoted.search(QUERY, SearchConfig(mode=Mode.LTR))


def test_a_model_that_cannot_be_loaded_is_served_as_hybrid_and_said(scifact_index, real_embedder) -> None:  # type: ignore[no-untyped-def]
    def broken(version: str | None) -> Reranker | None:
        raise ModelUnavailableError("model v0001 failed its digest check")

    engine = SearchEngine(scifact_index, real_embedder, broken)
    r = engine.search(QUERY, SearchConfig(mode=Mode.LTR, k=5))
    hybrid = engine.search(QUERY, SearchConfig(k=5))
    assert r.mode == "hybrid" and r.requested_mode is Mode.LTR
    assert r.notices and "digest" in r.notices[0]
    assert [h.id for h in r.hits] == [h.id for h in hybrid.hits]


def test_filters_apply_in_every_mode(engine: SearchEngine) -> None:
    for mode in (Mode.BM25, Mode.DENSE, Mode.HYBRID):
        assert engine.search(QUERY, SearchConfig(mode=mode), filters={"nope": "x"}).hits == []


def test_a_query_the_index_does_not_hold_says_its_evidence_is_weak(scifact_index, real_embedder) -> None:  # type: ignore[no-untyped-def]
    from ragsearch.search.engine import WEAK_EVIDENCE

    engine = SearchEngine(scifact_index, real_embedder, weak_similarity=0.3)
    for q in ("zzqxv wqjjk", "kitchen recipe for lasagna"):
        result = engine.search(q, SearchConfig(mode=Mode.HYBRID, k=10))
        assert len(result.hits) == 10 and any(n.startswith(WEAK_EVIDENCE) for n in result.notices), q
    on_topic = engine.search("vitamin D deficiency and bone fractures", SearchConfig(mode=Mode.HYBRID, k=10))
    assert not any(n.startswith(WEAK_EVIDENCE) for n in on_topic.notices)
    bm25 = engine.search("zzqxv wqjjk", SearchConfig(mode=Mode.BM25, k=10))  # no dense score: nothing to say
    assert bm25.notices == []
