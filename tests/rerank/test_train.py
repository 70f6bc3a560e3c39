"""Training helpers (rerank/train.py): deterministic hold-out and folds of query ids."""

from __future__ import annotations

from ragsearch.rerank.train import folds, holdout


def test_holdout_and_folds_are_deterministic() -> None:
    qids = [str(i) for i in range(1, 101)]
    tr, dev = holdout(qids, 0.2)
    assert (tr, dev) == holdout(list(qids), 0.2)
    assert set(tr).isdisjoint(dev) and len(tr) + len(dev) == 100 and 10 <= len(dev) <= 30
    assert folds(["3", "1", "10", "2"], 2) == [["1", "3"], ["2", "10"]]  # numeric order, alternating
    for few in (["1", "2"], [str(i) for i in range(5)]):  # tiny sets still get a dev and a train query
        tr, dev = holdout(few, 0.2)
        assert tr and dev and sorted(tr + dev) == sorted(few)
