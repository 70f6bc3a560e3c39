"""Feedback rows become graded judgments, exported in BEIR layout and merged into training judgments."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragsearch.app.feedback import FeedbackStore, export_beir, label, query_id
from ragsearch.eval.data import load_extra_judgments, load_split, merge_splits
from ragsearch.retrieval.errors import InvalidInputError


def test_labels() -> None:
    assert (label(2, 1, 0), label(0, 1, 5), label(0, 0, 3), label(1, 1, 0), label(0, 0, 0)) == (
        2,
        0,
        1,
        None,
        None,
    )


def test_export_and_merge_into_training(tmp_path: Path, shared_data: Path) -> None:
    store = FeedbackStore(tmp_path / "fb.sqlite")
    store.add("vitamin d and bones", "p1", "d1", "up", 1)
    store.add("vitamin d and bones", "p1", "d1", "click", 1)
    store.add("vitamin d and bones", "p7", "d7", "down", 3)
    store.add(" vitamin d and bones ", "p9", "d9", "click", 2)  # same query, spaces trimmed
    store.add("statins", "p2", "d2", "up", 1)
    store.add("statins", "p2", "d2", "down", 1)  # a tie says nothing
    assert store.judgments() == {"vitamin d and bones": {"d1": 2, "d7": 0, "d9": 1}}
    assert export_beir(store.judgments(), tmp_path / "fb") == (1, 3)
    extra = load_extra_judgments(tmp_path / "fb" / "qrels" / "feedback.tsv")
    qid = query_id("vitamin d and bones")
    assert extra.queries == {qid: "vitamin d and bones"} and extra.qrels == {qid: {"d1": 2, "d7": 0, "d9": 1}}
    train = load_split(shared_data / "scifact", "train")
    merged = merge_splits(train, extra)
    assert len(merged.queries) == len(train.queries) + 1 and merged.qrels[qid]["d1"] == 2
    assert merged.split == "train+feedback"
    with pytest.raises(InvalidInputError, match="reuse query ids"):
        merge_splits(merged, extra)
    store.close()
