"""The SIMULATED noisy judge of bench/noisy_judge_study: what "a random grade with probability p" means."""

from __future__ import annotations

from bench.noisy_judge_study import noisy_grades


def test_noisy_judge_grades_the_pool_and_changes_a_stated_share() -> None:
    clean = {f"q{i}": {f"d{i}": 1} for i in range(2000)}
    pool = {f"q{i}": {f"d{i}", f"x{i}", f"y{i}"} for i in range(2000)}  # two unjudged pooled pairs a query
    assert noisy_grades(clean, pool, 0.0, 1, "s") == {
        **{(q, d): 1 for q, ds in clean.items() for d in ds},
        **{(q, d): 0 for q, ds in pool.items() for d in ds if d not in clean[q]},
    }
    noisy = noisy_grades(clean, pool, 0.5, 1, "s")
    assert noisy == noisy_grades(clean, pool, 0.5, 1, "s") != noisy_grades(clean, pool, 0.5, 1, "t")
    # a replaced grade is uniform over 0..max, so a grade changes with probability p * max / (max + 1)
    lost = sum(noisy[(q, f"d{q[1:]}")] == 0 for q in clean) / 2000
    false_pos = sum(noisy[(q, d)] == 1 for q in pool for d in pool[q] if d[0] != "d") / 4000
    assert abs(lost - 0.25) < 0.04 and abs(false_pos - 0.25) < 0.03
    max_two = noisy_grades(clean, pool, 1.0, 2, "s")
    assert set(max_two.values()) == {0, 1, 2}
