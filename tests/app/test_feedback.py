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


def test_one_current_vote_per_session_and_answer_votes_judge_no_passage(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "fb.sqlite")
    store.add("statins", "p2", "d2", "up", 1, session_id="s1")
    store.add("statins", "p2", "d2", "down", 1, session_id="s1")  # s1 changed its mind: down counts, up not
    store.add("statins", "p3", "d3", "up", 2, session_id="s1")
    store.add("statins", "p3", "d3", "up", 2, session_id="s1")  # a repeat counts once
    store.add("statins", "p3", "d3", "down", 2, session_id="s2")  # another session's vote is its own
    store.add("statins", "p3", "d3", "up", 2)  # without a session id every vote counts, as before
    store.add("statins", "p4", "d4", "up", None, target="answer")  # an answer vote: no passage judgment
    assert store.judgments() == {"statins": {"d2": 0, "d3": 2}}
    assert [r.session_id for r in store.rows()][:2] == ["s1", "s1"]
    store.close()


def test_a_store_from_before_session_ids_opens_and_keeps_its_rows(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL, query TEXT NOT NULL,"
        " passage_id TEXT NOT NULL, doc_id TEXT NOT NULL, rank INTEGER, kind TEXT NOT NULL, target TEXT NOT NULL"
        " DEFAULT 'result');"
        "INSERT INTO feedback(created_at, query, passage_id, doc_id, rank, kind) VALUES (1, 'q', 'p', 'd', 1, 'up');"
    )
    db.commit()
    db.close()
    store = FeedbackStore(path)
    store.add("q", "p", "d", "up", 1, session_id="s")
    assert [(r.kind, r.session_id) for r in store.rows()] == [("up", None), ("up", "s")]
    assert store.judgments() == {"q": {"d": 2}}
    store.close()
