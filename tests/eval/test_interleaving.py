from __future__ import annotations

import math
import random

import pytest
from scipy.special import betaln

from ragsearch.eval.interleaving import credit, sequential_test, team_draft


@pytest.mark.parametrize("seed", range(30))
def test_team_draft_properties(seed: int) -> None:
    rng = random.Random(seed)
    pool = [f"d{i}" for i in range(15)]
    a = rng.sample(pool, 10)
    b = rng.sample(pool, 10)
    ids, sources = team_draft(a, b, 10, random.Random(seed))
    assert len(ids) == len(set(ids)) == 10 and len(sources) == 10
    for team, ranking in (("a", a), ("b", b)):
        mine = [d for d, s in zip(ids, sources, strict=True) if s == team]
        assert mine == [d for d in ranking if d in mine]  # each ranker's results in its own order
        # a captain picks its best result not yet taken: everything it ranked above a pick is already in
        for d in mine:
            above = ranking[: ranking.index(d)]
            assert set(above) <= set(ids[: ids.index(d)])
    for n in range(1, 11):  # team sizes differ by at most one at every prefix
        assert abs(sources[:n].count("a") - sources[:n].count("b")) <= 1


def test_team_draft_identical_rankings_and_short_lists() -> None:
    ids, sources = team_draft(["x", "y", "z"], ["x", "y", "z"], 3, random.Random(0))
    assert ids == ["x", "y", "z"]
    ids, sources = team_draft(["x"], ["y", "z", "w"], 4, random.Random(1))
    assert sorted(ids) == ["w", "x", "y", "z"] and sources.count("a") == 1


def test_credit_on_hand_made_click_patterns() -> None:
    sources = ["a", "b", "b", "a", "a", "b"]
    assert credit(sources, {0}) == "a"
    assert credit(sources, {1, 2, 3}) == "b"
    assert credit(sources, {0, 1}) == "tie"
    assert credit(sources, set()) == "tie"
    assert credit(sources, {0, 3, 5}) == "a"
    assert credit(sources, {9}) == "tie"  # a position that was not shown counts for nobody


def test_sequential_boundary_on_known_sequences() -> None:
    # the uniform prior (s = 1), where the ratio has a closed form
    r = sequential_test(10, 0, 3, alpha=0.05, prior_strength=1)  # B(11, 1) * 2^10 = 1024 / 11 = 93 > 20
    assert r.log_lr == pytest.approx(math.log(1024 / 11)) and r.decided and r.winner == "b"
    assert sequential_test(0, 10, 0, prior_strength=1).winner == "a"
    r = sequential_test(6, 1, 0, prior_strength=1)  # B(7, 2) * 2^7 = 128 / 56 = 2.3 < 20
    assert r.log_lr == pytest.approx(betaln(7, 2) + 7 * math.log(2)) and not r.decided and r.winner is None
    assert not sequential_test(50, 50, 10).decided and not sequential_test(0, 0, 5).decided
    # the smallest clean sweep that decides at alpha 0.05: 2^n / (n + 1) >= 20
    n = next(n for n in range(1, 20) if sequential_test(n, 0, 0, prior_strength=1).decided)
    assert n == 8 and 2**8 / 9 >= 20 > 2**7 / 8
    # Beta(s, s): the ratio is B(w + s, l + s) / B(s, s) * 2^n; a strong prior needs more sweeps but decides a
    # 55% win rate sooner than the uniform one
    r = sequential_test(3, 1, 0, prior_strength=30)
    assert r.log_lr == pytest.approx(betaln(33, 31) - betaln(30, 30) + 4 * math.log(2))
    assert next(n for n in range(1, 40) if sequential_test(n, 0, 0).decided) > 8
    assert sequential_test(550, 450, 0).decided and not sequential_test(550, 450, 0, prior_strength=1).decided


@pytest.mark.parametrize("prior_strength", [1.0, 30.0])
def test_sequential_test_keeps_its_error_rate_under_continuous_monitoring(prior_strength: float) -> None:
    """A/A: fair coins, the test looked at after every impression up to 2,000; decisions <= alpha."""
    rng = random.Random(7)
    runs, false = 300, 0
    for _ in range(runs):
        w = l = 0  # noqa: E741
        for _ in range(2000):
            if rng.random() < 0.5:
                w += 1
            else:
                l += 1  # noqa: E741
            if sequential_test(w, l, 0, prior_strength=prior_strength).decided:
                false += 1
                break
    assert false / runs <= 0.05
