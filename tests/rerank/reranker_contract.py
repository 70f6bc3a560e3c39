"""The reranker contract, written once against the `Reranker` Protocol (rerank/protocol.py).

Each implementation's test class subclasses `RerankerContract` and supplies:
- `reranker`: the implementation under test;
- `cases`: real first-stage candidate lists (query, candidates, query vector) it is meant to reorder;
- `twins`: a case whose candidates the reranker cannot tell apart except by id (identical passages and
  first-stage scores), to pin down how ties are broken.

What the search engine relies on: the same candidates come back, best first, each with `rerank_score` set
and `score` equal to it (finite), ties broken by id, first-stage fields untouched; the order does not
depend on the order the candidates arrived in; no candidates give an empty list; `training_data()` says
which judgments it learned from (None: none), so evaluation can refuse to measure it on them.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import astuple, dataclass, replace

import pytest

from ragsearch.rerank.protocol import Reranker, TrainingData
from ragsearch.retrieval.types import Candidate, Vector

FIRST_STAGE = ("id", "doc_id", "bm25_score", "bm25_rank", "dense_score", "dense_rank", "fused_score")


@dataclass(frozen=True)
class RerankCase:
    query: str
    candidates: list[Candidate]
    query_vector: Vector


def first_stage(c: Candidate) -> tuple[object, ...]:
    return tuple(getattr(c, f) for f in FIRST_STAGE)


def ranking(out: list[Candidate]) -> list[tuple[str, float]]:
    return [(c.id, c.score) for c in out]


class RerankerContract:
    @pytest.fixture()
    def reranker(self) -> Reranker:
        raise NotImplementedError("each implementation's test class supplies `reranker`")

    @pytest.fixture()
    def cases(self) -> list[RerankCase]:
        raise NotImplementedError("each implementation's test class supplies `cases`")

    @pytest.fixture()
    def twins(self) -> RerankCase:
        raise NotImplementedError("each implementation's test class supplies `twins`")

    def test_is_a_reranker_with_a_name(self, reranker: Reranker) -> None:
        assert isinstance(reranker, Reranker)
        assert isinstance(reranker.name, str) and reranker.name

    def test_returns_the_same_candidates_untouched_but_for_scores(
        self, reranker: Reranker, cases: list[RerankCase]
    ) -> None:
        assert cases and all(len(c.candidates) > 1 for c in cases)
        for case in cases:
            before = [astuple(c) for c in case.candidates]
            out = reranker.rerank(case.query, case.candidates, case.query_vector)
            assert [astuple(c) for c in case.candidates] == before  # the input list is left as it was
            assert sorted(map(first_stage, out), key=str) == sorted(
                map(first_stage, case.candidates), key=str
            )

    def test_scores_are_set_finite_and_best_first_ties_by_id(
        self, reranker: Reranker, cases: list[RerankCase]
    ) -> None:
        for case in cases:
            out = reranker.rerank(case.query, case.candidates, case.query_vector)
            for c in out:
                assert c.rerank_score is not None and math.isfinite(c.rerank_score)
                assert c.score == c.rerank_score
            for a, b in itertools.pairwise(out):
                assert (-a.score, a.id) < (-b.score, b.id)

    def test_reorders_real_candidates(self, reranker: Reranker, cases: list[RerankCase]) -> None:
        """Not the identity: on real candidate lists some come back in another order than fused."""
        moved = [
            [c.id for c in reranker.rerank(k.query, k.candidates, k.query_vector)]
            != [c.id for c in k.candidates]
            for k in cases
        ]
        assert any(moved)

    def test_deterministic_and_independent_of_input_order(
        self, reranker: Reranker, cases: list[RerankCase]
    ) -> None:
        rng = random.Random(3)
        for case in cases:
            expected = ranking(reranker.rerank(case.query, case.candidates, case.query_vector))
            assert ranking(reranker.rerank(case.query, case.candidates, case.query_vector)) == expected
            shuffled = list(case.candidates)
            rng.shuffle(shuffled)
            assert ranking(reranker.rerank(case.query, shuffled, case.query_vector)) == expected
            assert ranking(reranker.rerank(case.query, case.candidates[::-1], case.query_vector)) == expected

    def test_candidates_it_cannot_tell_apart_are_ordered_by_id(
        self, reranker: Reranker, twins: RerankCase
    ) -> None:
        for arrival in (twins.candidates, twins.candidates[::-1]):
            out = reranker.rerank(twins.query, arrival, twins.query_vector)
            assert len({c.score for c in out}) == 1
            assert [c.id for c in out] == sorted(c.id for c in twins.candidates)

    def test_no_candidates_and_one_candidate(self, reranker: Reranker, cases: list[RerankCase]) -> None:
        case = cases[0]
        assert reranker.rerank(case.query, [], case.query_vector) == []
        one = case.candidates[0]
        [out] = reranker.rerank(case.query, [one], case.query_vector)
        assert first_stage(out) == first_stage(one)
        assert (
            out.rerank_score is not None and math.isfinite(out.rerank_score) and out.score == out.rerank_score
        )

    def test_already_reranked_candidates_are_scored_afresh(
        self, reranker: Reranker, cases: list[RerankCase]
    ) -> None:
        """A stale rerank score on the way in does not leak into the result."""
        case = cases[0]
        expected = ranking(reranker.rerank(case.query, case.candidates, case.query_vector))
        stale = [replace(c, rerank_score=99.0, score=99.0) for c in case.candidates]
        assert ranking(reranker.rerank(case.query, stale, case.query_vector)) == expected

    def test_training_data_names_the_judgments(self, reranker: Reranker) -> None:
        data = reranker.training_data()
        if data is not None:
            assert isinstance(data, TrainingData)
            assert isinstance(data.dataset, str) and data.dataset
            assert isinstance(data.splits, frozenset) and data.splits
            assert all(isinstance(s, str) and s for s in data.splits)
            assert reranker.training_data() == data
