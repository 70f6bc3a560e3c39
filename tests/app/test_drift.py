from __future__ import annotations

import math

import numpy as np
import pytest

from ragsearch.app.drift import compare_windows, psi, two_proportion_p
from ragsearch.app.querylog import LoggedQuery, QueryLog


def test_psi_by_hand() -> None:
    ref = list(range(100))
    assert psi(ref, ref) == pytest.approx(0.0, abs=1e-9)
    # all current mass in the top decile: (1 - .1) ln(1/.1) + 9 * (1e-4 - .1) ln(1e-4/.1)
    expected = 0.9 * math.log(10) + 9 * (1e-4 - 0.1) * math.log(1e-4 / 0.1)
    assert psi(ref, [95.0] * 50) == pytest.approx(expected, rel=1e-6)


def test_two_proportion() -> None:
    assert two_proportion_p(50, 100, 50, 100) == pytest.approx(1.0)
    assert two_proportion_p(5, 100, 40, 100) < 1e-6


def q(terms: int, dense: float, hits: int = 10, index: str = "", mode: str = "hybrid") -> LoggedQuery:
    return LoggedQuery(0.0, "search", mode, terms * 6, terms, hits, dense, dense, None, 10.0, index=index)


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


def test_each_index_and_mode_is_compared_with_itself(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two indexes with steady but different traffic, interleaved: mixed together, a change in their
    proportions looks like drift; per index (and per mode) there is none."""
    rng = np.random.default_rng(1)
    log = QueryLog(tmp_path / "q.sqlite")

    def claims() -> LoggedQuery:
        return q(int(rng.integers(8, 20)), float(rng.normal(0.6, 0.08)), index="scifact", mode="ltr")

    def keywords() -> LoggedQuery:
        return q(int(rng.integers(2, 5)), float(rng.normal(0.3, 0.05)), index="docs", mode="bm25")

    for i in range(600):  # reference window: mostly scifact; recent window: mostly docs
        log.add(claims() if (i % 10 < 8) == (i < 300) else keywords())
    mixed = compare_windows(log.latest(300, skip=300), log.latest(300), answer_threshold=0.3)
    assert mixed.drifted
    for index, mode in (("scifact", None), ("docs", None), (None, "ltr"), ("docs", "bm25")):
        recent = log.latest(100, index=index, mode=mode)
        assert {(r.index, r.mode) for r in recent} <= {("scifact", "ltr"), ("docs", "bm25")}
        assert len({r.index for r in recent}) == 1
        alone = compare_windows(
            log.latest(100, skip=100, index=index, mode=mode), recent, answer_threshold=0.3
        )
        assert not alone.drifted, (index, mode, alone.to_dict())
    log.close()


def test_a_log_from_before_the_index_column_is_migrated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    path = tmp_path / "q.sqlite"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE queries (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL, kind TEXT NOT NULL,"
        " mode TEXT NOT NULL, query_chars INTEGER NOT NULL, query_terms INTEGER NOT NULL, hits INTEGER NOT NULL,"
        " top_score REAL, top_dense REAL, top_rerank REAL, latency_ms REAL NOT NULL)"
    )
    old.execute("INSERT INTO queries VALUES (NULL, 1.0, 'search', 'bm25', 6, 1, 3, 1.0, NULL, NULL, 2.0)")
    old.commit()
    old.close()
    log = QueryLog(path)
    assert log.add(q(3, 0.5, index="kb"))
    rows = log.latest(10)
    assert [(r.index, r.mode) for r in rows] == [("", "bm25"), ("kb", "hybrid")]
    assert [r.index for r in log.latest(10, index="kb")] == ["kb"]
    assert log.failures == 0
    log.close()
