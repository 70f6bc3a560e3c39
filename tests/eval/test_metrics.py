from __future__ import annotations

import math
from pathlib import Path

import pytest

from ragsearch.eval.data import load_split, read_qrels
from ragsearch.eval.metrics import evaluate, paired_ttest
from ragsearch.eval.runs import distinct_scores, read_trec, to_run, write_trec
from ragsearch.retrieval.errors import InvalidInputError, UnknownNameError


def test_metrics_by_hand() -> None:
    qrels = {"q1": {"d1": 1, "d2": 2}, "q2": {"d9": 1}}
    run = to_run({"q1": [("d3", 3.0), ("d2", 2.0), ("d1", 1.0)], "q2": [("d5", 1.0)]})
    ev = evaluate(qrels, run)
    # trec_eval (and so BEIR) uses the relevance grade itself as the gain
    dcg = 2 / math.log2(3) + 1 / math.log2(4)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert ev.per_query["nDCG@10"]["q1"] == pytest.approx(dcg / idcg)
    assert ev.per_query["RR@10"] == {"q1": 0.5, "q2": 0.0}
    assert ev.means["R@100"] == pytest.approx(0.5)


def test_unretrieved_queries_count_as_zero() -> None:
    ev = evaluate({"q1": {"d1": 1}, "q2": {"d2": 1}}, {"q1": {"d1": 1.0}})
    assert ev.means["nDCG@10"] == pytest.approx(0.5)


def test_unknown_measure() -> None:
    with pytest.raises(UnknownNameError):
        evaluate({"q": {"d": 1}}, {}, ["nDGC@10"])


def test_ties_become_distinct_and_keep_order(tmp_path: Path) -> None:
    assert distinct_scores([2.0, 2.0, 2.0, 1.0]) == sorted(
        distinct_scores([2.0, 2.0, 2.0, 1.0]), reverse=True
    )
    assert len(set(distinct_scores([2.0, 2.0, 2.0]))) == 3
    run = to_run({"q": [("z", 1.0), ("a", 1.0), ("z", 0.5)]})
    write_trec(run, tmp_path / "r.trec", "t")
    back = read_trec(tmp_path / "r.trec")
    assert back == run
    assert sorted(back["q"], key=lambda d: -back["q"][d]) == ["z", "a"]


def test_paired_ttest() -> None:
    a = {str(i): 0.5 for i in range(20)}
    b = {str(i): 0.5 + (0.1 if i % 2 else 0.12) for i in range(20)}
    assert paired_ttest(a, b) < 0.001
    assert paired_ttest(a, a) == 1.0


def test_load_split(shared_data: Path) -> None:
    sp = load_split(shared_data / "scifact", "test")
    assert len(sp.queries) == 300 and sum(len(v) for v in sp.qrels.values()) == 339
    with pytest.raises(InvalidInputError, match="splits: test, train"):
        load_split(shared_data / "scifact", "dev")
    assert read_qrels(shared_data / "cranfield" / "qrels" / "fold1.tsv")
