from __future__ import annotations

import math

import pytest
from scipy import stats

from ragsearch.eval.agreement import pair_agreement, system_agreement


def test_pair_agreement_by_hand() -> None:
    a = {("q1", "p1"): 3, ("q1", "p2"): 0, ("q2", "p1"): 2, ("q2", "p3"): 1, ("q3", "p9"): 0}
    b = {("q1", "p1"): 3, ("q1", "p2"): 1, ("q2", "p1"): 2, ("q2", "p3"): 0, ("q4", "p4"): 2}
    r = pair_agreement(a, b)
    assert (r.pairs, r.only_a, r.only_b) == (4, 1, 1) and r.exact == 0.5
    # grade >= 2: a = [1, 0, 1, 0], b = [1, 0, 1, 0]: perfect
    assert r.kappa_ge2 == 1.0
    # grade >= 1: a = [1, 0, 1, 1] (sorted pairs: q1p1, q1p2, q2p1, q2p3), b = [1, 1, 1, 0]
    po, pe = 0.5, (3 / 4) * (3 / 4) + (1 / 4) * (1 / 4)
    assert r.kappa_ge1 == pytest.approx((po - pe) / (1 - pe))
    assert -1 <= r.kappa <= r.kappa_linear <= 1


def test_identical_lists_agree_fully_and_degenerate_cases_are_nan() -> None:
    a = {("q", str(i)): i % 4 for i in range(12)}
    r = pair_agreement(a, dict(a))
    assert r.kappa == r.kappa_linear == r.kappa_ge1 == r.kappa_ge2 == 1.0 and r.exact == 1.0
    assert math.isnan(pair_agreement({("q", "p"): 1}, {("x", "p"): 1}).kappa)
    assert math.isnan(pair_agreement({("q", "a"): 2, ("q", "b"): 2}, {("q", "a"): 2, ("q", "b"): 2}).kappa)


def test_system_agreement_is_kendalls_tau_of_the_orderings() -> None:
    a = {"bm25": 0.60, "dense": 0.55, "hybrid": 0.70, "ltr": 0.74}
    b = {"bm25": 0.40, "dense": 0.45, "hybrid": 0.50, "ltr": 0.52}  # bm25 and dense swapped
    r = system_agreement(a, b)
    assert r.tau == pytest.approx(stats.kendalltau([0.6, 0.55, 0.7, 0.74], [0.4, 0.45, 0.5, 0.52]).statistic)
    assert r.tau == pytest.approx(4 / 6)
    assert system_agreement(a, {k: v * 2 for k, v in a.items()}).tau == pytest.approx(1.0)
    assert math.isnan(system_agreement({"x": 1.0}, {"x": 2.0}).tau)


def test_missing_pairs_as_grade_zero() -> None:
    human = {("q", "a"): 1, ("q", "b"): 1}  # a list of relevant rows only (as SciFact's qrels)
    clicks = {("q", "a"): 2, ("q", "b"): 0, ("q", "c"): 0, ("q", "d"): 1}
    assert pair_agreement(human, clicks).pairs == 2
    r = pair_agreement(human, clicks, missing_as_zero=True)
    assert (r.pairs, r.only_a, r.only_b) == (4, 0, 0)
    # >= 1: human [1, 1, 0, 0], clicks [1, 0, 0, 1] -> po 0.5, pe 0.5: kappa 0
    assert r.kappa_ge1 == pytest.approx(0.0)
    # a query only one list judges is not the other's zero: the other never looked at it
    human[("other", "x")] = 1
    assert pair_agreement(human, clicks, missing_as_zero=True).pairs == 4
