"""The position-based click model recovers known examination and attractiveness from simulated sessions
(SIMULATED clicks: a seeded user with stated probabilities, here to check the estimator)."""

from __future__ import annotations

import random

import pytest

from ragsearch.eval.click_models import NO_PRIOR, Session, ctr, estimate, grade, graded, pbm
from ragsearch.retrieval.errors import InvalidInputError, UnknownNameError

THETA = (1.0, 0.7, 0.5, 0.35, 0.25)  # examination by rank
ALPHA = {"a": 0.9, "b": 0.6, "c": 0.3, "d": 0.1, "e": 0.05}  # attractiveness of each passage


def simulate(n: int, seed: int) -> list[Session]:
    """Each session shows the five passages in a random order (so every passage is seen at every rank)."""
    rng = random.Random(seed)
    sessions = []
    for _ in range(n):
        shown = list(ALPHA)
        rng.shuffle(shown)
        clicked = {p for r, p in enumerate(shown) if rng.random() < THETA[r] and rng.random() < ALPHA[p]}
        sessions.append(Session("q", tuple(shown), frozenset(clicked)))
    return sessions


def test_pbm_recovers_examination_and_attractiveness() -> None:
    est = pbm(simulate(20_000, seed=1))
    # theta is identified up to a common scale with alpha; rank 1 is examined always here, so compare ratios
    theta = [t / est.examination[0] for t in est.examination]
    assert theta == pytest.approx(THETA, abs=0.04)
    alpha = {p: a * est.examination[0] for (_, p), a in est.attractiveness.items()}
    assert alpha == pytest.approx(ALPHA, abs=0.04)
    assert est.impressions[("q", "a")] == 20_000 and est.iterations > 1


def test_ctr_is_biased_by_position_where_the_click_model_is_not() -> None:
    """Always shown in one order, a worse passage at rank 1 out-clicks a better one at rank 4 in raw CTR."""
    rng = random.Random(3)
    order = ("c", "d", "e", "b", "a")  # a (0.9) shown last, c (0.3) first
    sessions = []
    for _ in range(5000):
        shown = order if rng.random() < 0.8 else tuple(reversed(order))  # mostly one order, sometimes flipped
        clicked = {p for r, p in enumerate(shown) if rng.random() < THETA[r] and rng.random() < ALPHA[p]}
        sessions.append(Session("q", shown, frozenset(clicked)))
    raw, model = ctr(sessions).attractiveness, pbm(sessions).attractiveness
    assert raw[("q", "c")] > raw[("q", "b")]  # position bias: c (0.3) looks better than b (0.6)
    assert model[("q", "b")] > model[("q", "c")]  # corrected
    assert model[("q", "a")] == max(model.values())


def test_grades_and_minimum_impressions() -> None:
    assert [grade(p) for p in (0.9, 0.75, 0.6, 0.3, 0.2)] == [3, 3, 2, 1, 0]
    sessions = [*simulate(200, seed=2), Session("rare", ("x",), frozenset({"x"}))]
    labels = graded(estimate(sessions, "pbm"), min_impressions=5)
    assert "rare" not in labels and set(labels["q"]) == set(ALPHA)
    assert labels["q"]["a"] > labels["q"]["e"]
    with pytest.raises(UnknownNameError):
        estimate(sessions, "cascade")


def test_prior_shrinks_rarely_seen_pairs_and_leaves_well_seen_ones() -> None:
    """A passage shown 3 times at rank 5 (examined about 1 time in 4) and clicked once: maximum likelihood
    puts its attractiveness near 1 (grade 3, the over-grading seen in bench/click_study); the default Beta
    prior (1, 4) pulls it toward its mean 0.2, while passages shown thousands of times barely move."""
    seen = simulate(5000, seed=4)
    rare = [
        Session("q", ("a", "b", "c", "d", "rare"), frozenset({"rare"} if i == 0 else ())) for i in range(3)
    ]
    ml, map_ = pbm([*seen, *rare], prior=NO_PRIOR), pbm([*seen, *rare])
    assert map_.prior == (1.0, 4.0)
    assert grade(ml.attractiveness[("q", "rare")]) == 3
    assert 0.2 < map_.attractiveness[("q", "rare")] < 0.4 and grade(map_.attractiveness[("q", "rare")]) == 1
    # alpha and theta are identified up to a common scale: compare alpha * theta_1, and theta's ratios
    for p in ALPHA:
        a_ml, a_map = (
            ml.attractiveness[("q", p)] * ml.examination[0],
            map_.attractiveness[("q", p)] * map_.examination[0],
        )
        assert a_map == pytest.approx(a_ml, abs=0.01)
    ratios = [[t / e.examination[0] for t in e.examination] for e in (ml, map_)]
    assert ratios[1] == pytest.approx(ratios[0], abs=0.01)
    # CTR: raw by default, the same pseudo-counts when asked: (1 click + 1) / (3 shown + 5)
    assert ctr(rare).attractiveness[("q", "rare")] == pytest.approx(1 / 3)
    assert estimate(rare, "ctr", (1.0, 4.0)).attractiveness[("q", "rare")] == pytest.approx(0.25)
    with pytest.raises(InvalidInputError):
        pbm(rare, prior=(-1.0, 4.0))
