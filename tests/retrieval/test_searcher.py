"""First-stage retrieval (retrieval/searcher.py): BM25, dense and the fused candidate union over an embedded
index of a real SciFact slice (FAKE hash embedder: the searcher sees only vectors)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragsearch.ingest.pipeline import ingest_records
from ragsearch.ingest.readers import read_source
from ragsearch.retrieval.embedded import EmbeddedBackend
from ragsearch.retrieval.errors import EmbeddingMismatchError, InvalidInputError, UnknownNameError
from ragsearch.retrieval.searcher import Retriever, check_query, merge_candidates, order
from ragsearch.retrieval.types import Candidate, IndexSpec, ScoredId
from tests.fakes import FakeHashEmbedder

EMB = FakeHashEmbedder(dim=128, name="fake-hash-128")
QUERY = "vitamin D deficiency and bone density"


@pytest.fixture(scope="module")
def retriever(scifact_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Retriever]:
    idx = EmbeddedBackend(tmp_path_factory.mktemp("searcher")).create("sf", IndexSpec(EMB.name, EMB.dim))
    ingest_records(read_source(scifact_slice), idx, EMB)
    yield Retriever(idx, EMB, bm25_depth=20, dense_depth=15)
    idx.close()


def test_candidates_are_the_fused_union_of_both_lists(retriever: Retriever) -> None:
    timings: dict[str, float] = {}
    cands = retriever.candidates(QUERY, timings=timings)
    bm25 = [h.id for h in retriever.index.bm25_search(QUERY, 20, retriever.boosts)]
    dense = [h.id for h in retriever.index.vector_search(retriever.encode([QUERY])[0], 15)]
    assert len(bm25) == 20 and len(dense) == 15
    assert sorted(c.id for c in cands) == sorted(set(bm25) | set(dense))
    by_id = {c.id: c for c in cands}
    for rank, pid in enumerate(bm25, start=1):
        assert by_id[pid].bm25_rank == rank
    for rank, pid in enumerate(dense, start=1):
        assert by_id[pid].dense_rank == rank
    for c in cands:
        assert c.fused_score is not None and c.score == c.fused_score and c.rerank_score is None
    for a, b in itertools.pairwise(cands):
        assert (-a.score, a.id) < (-b.score, b.id)
    assert set(timings) == {"bm25_ms", "encode_ms", "dense_ms", "fusion_ms"}
    assert all(v >= 0 for v in timings.values())


def test_min_depth_deepens_both_lists_and_a_given_vector_is_used(retriever: Retriever) -> None:
    vec = retriever.encode([QUERY])[0]
    deep = retriever.candidates(QUERY, vec, min_depth=30)
    assert max(c.bm25_rank or 0 for c in deep) == 30 and max(c.dense_rank or 0 for c in deep) == 30
    other = retriever.encode(["coffee roasting"])[0]
    assert {c.id for c in retriever.candidates(QUERY, other)} != {
        c.id for c in retriever.candidates(QUERY, vec)
    }


def test_bm25_and_dense_alone_carry_their_own_scores(retriever: Retriever) -> None:
    bm25 = retriever.bm25(QUERY, 5)
    assert [c.bm25_rank for c in bm25] == [1, 2, 3, 4, 5]
    assert all(c.score == c.bm25_score and c.dense_score is None for c in bm25)
    dense = retriever.dense(retriever.encode([QUERY])[0], 5)
    assert [c.dense_rank for c in dense] == [1, 2, 3, 4, 5]
    assert all(c.score == c.dense_score and c.bm25_score is None for c in dense)


def test_another_embedding_model_is_refused(retriever: Retriever) -> None:
    wrong = Retriever(retriever.index, FakeHashEmbedder(dim=64, name="fake-hash-64"))
    with pytest.raises(EmbeddingMismatchError, match="RAGSEARCH_EMBEDDING_MODEL=fake-hash-128"):
        wrong.candidates(QUERY)


def test_bad_input_and_unknown_fusion() -> None:
    with pytest.raises(InvalidInputError, match="the query is empty"):
        check_query("   ", 5)
    with pytest.raises(InvalidInputError, match="k must be at least 1"):
        check_query("q", 0)
    with pytest.raises(UnknownNameError):
        Retriever(None, EMB, fusion="borda")  # type: ignore[arg-type]


def test_order_is_best_first_ties_by_id() -> None:
    cands = [Candidate("b", "b", score=1.0), Candidate("c", "c", score=2.0), Candidate("a", "a", score=1.0)]
    assert [c.id for c in order(cands)] == ["c", "a", "b"]


def test_merge_keeps_every_score_and_rank() -> None:
    cands = {
        c.id: c
        for c in merge_candidates(
            [ScoredId("a", "A", 3.0), ScoredId("b", "B", 2.0)],
            [ScoredId("b", "B", 0.9), ScoredId("c", "C", 0.5)],
            {"a": 1.0},
        )
    }
    assert (cands["a"].bm25_rank, cands["a"].dense_rank, cands["a"].fused_score) == (1, None, 1.0)
    assert (cands["b"].bm25_score, cands["b"].dense_score, cands["b"].dense_rank) == (2.0, 0.9, 1)
    assert (cands["c"].bm25_score, cands["c"].dense_rank, cands["c"].doc_id) == (None, 2, "C")
