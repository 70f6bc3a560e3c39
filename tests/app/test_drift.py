from __future__ import annotations

import math

import numpy as np
import pytest

from app.drift import compare_windows, psi, two_proportion_p
from app.querylog import LoggedQuery, QueryLog


def test_psi_by_hand() -> None:
    ref = list(range(100))
    assert psi(ref, ref) == pytest.approx(0.0, abs=1e-9)
    # all current mass in the top decile: (1 - .1) ln(1/.1) + 9 * (1e-4 - .1) ln(1e-4/.1)
    expected = 0.9 * math.log(10) + 9 * (1e-4 - 0.1) * math.log(1e-4 / 0.1)
    assert psi(ref, [95.0] * 50) == pytest.approx(expected, rel=1e-6)


def test_two_proportion() -> None:
    assert two_proportion_p(50, 100, 50, 100) == pytest.approx(1.0)
    assert two_proportion_p(5, 100, 40, 100) < 1e-6


def q(terms: int, dense: float, hits: int = 10) -> LoggedQuery:
    return LoggedQuery(0.0, "search", "hybrid", terms * 6, terms, hits, dense, dense, None, 10.0)


def test_windows_flag_a_real_shift_and_not_noise(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    log = QueryLog(tmp_path / "q.sqlite")
    for _ in range(300):  # in-domain traffic: long claims, high cosine
        log.add(q(int(rng.integers(8, 20)), float(rng.normal(0.6, 0.08))))
    for _ in range(300):  # same distribution again
        log.add(q(int(rng.integers(8, 20)), float(rng.normal(0.6, 0.08))))
    calm = compare_windows(log.latest(300, skip=300), log.latest(300), answer_threshold=0.3)
    assert not calm.drifted, calm.to_dict()
    for _ in range(300):  # off-topic traffic: short queries, low cosine, some empty results
        log.add(q(int(rng.integers(2, 5)), float(rng.normal(0.2, 0.05)), hits=int(rng.integers(0, 2)) * 10))
    shifted = compare_windows(log.latest(300, skip=300), log.latest(300), answer_threshold=0.3)
    flagged = {s.signal for s in shifted.signals if s.drifted}
    assert {"query_terms", "top_dense", "no_result_rate", "below_answer_threshold"} <= flagged
    log.close()
