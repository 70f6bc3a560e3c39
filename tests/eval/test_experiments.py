"""The unjudged rate, worked by hand, and experiment results on disk."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ragsearch.eval.experiments import ExperimentStore, new_id, unjudged_per_query, unjudged_rate
from ragsearch.retrieval.errors import InvalidInputError

QRELS = {"q1": {"d1": 1, "d2": 0, "d3": 2}, "q2": {"d9": 1}, "q3": {"d1": 1}}


def test_unjudged_rate_by_hand() -> None:
    run = {
        # top 4 by score: d1 (judged 1), d4 (none), d2 (judged 0: a judgment), d5 (none) -> 2 of 4
        "q1": {"d4": 0.9, "d1": 1.0, "d5": 0.1, "d2": 0.5},
        # d9 judged, d8 not -> 1 of 2 (a query with fewer hits than the depth counts its hits)
        "q2": {"d8": 2.0, "d9": 1.0},
        # q3 retrieved nothing: left out of the average, not counted as 0 or 1
        "unjudged-query": {"d1": 1.0},  # a query the list does not judge is not counted
    }
    assert unjudged_per_query(run, QRELS, depth=4) == {"q1": 0.5, "q2": 0.5}
    assert unjudged_rate(run, QRELS, depth=4) == 0.5
    # at depth 2 only q1's d1 (judged) and d4 (not) count: 1/2; q2 1/2
    assert unjudged_rate(run, QRELS, depth=2) == 0.5
    # at depth 1: q1's best d1 is judged (0), q2's best d8 is not (1) -> mean 0.5; drop q2 -> 0
    assert unjudged_per_query(run, QRELS, depth=1) == {"q1": 0.0, "q2": 1.0}
    assert unjudged_rate({"q1": run["q1"]}, QRELS, depth=1) == 0.0
    assert unjudged_rate({}, QRELS) == 0.0


def test_unjudged_rate_counts_every_hole_in_a_pooled_list() -> None:
    run = {
        "q1": {f"x{i}": float(10 - i) for i in range(10)},
        "q2": {"d9": 3.0, **{f"y{i}": 1.0 / (i + 1) for i in range(9)}},
    }
    assert unjudged_per_query(run, QRELS) == {"q1": 1.0, "q2": pytest.approx(0.9)}
    assert unjudged_rate(run, QRELS) == pytest.approx(0.95)


def test_results_are_saved_whole_under_their_index_and_id(tmp_path: Path) -> None:
    store = ExperimentStore(tmp_path)
    first = new_id(datetime(2026, 12, 6, 1, 25, tzinfo=UTC))
    assert first.startswith("20261206T012500Z-") and first != new_id(datetime(2026, 12, 6, 1, 25, tzinfo=UTC))
    path = store.save("sf", {"id": first, "systems": {"bm25": {"nDCG@10": 0.5}}})
    assert path == tmp_path / "experiments" / "sf" / first / "result.json"
    assert json.loads(path.read_text())["systems"]["bm25"]["nDCG@10"] == 0.5
    assert store.ids("sf") == [first] and store.ids("other") == []
    assert store.load("sf", first)["id"] == first
    assert [p.name for p in (tmp_path / "experiments" / "sf").iterdir()] == [first]  # no temporary left
    with pytest.raises(InvalidInputError, match="exists already"):
        store.save("sf", {"id": first})
    assert [p.name for p in (tmp_path / "experiments" / "sf").iterdir()] == [first]
    assert store.load("sf", first)["systems"]  # the first result is kept
