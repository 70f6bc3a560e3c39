"""User feedback (votes and clicks) stored durably in SQLite, exportable as graded judgments (qrels)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ragsearch.app.sqlitelog import LazySqlite
from ragsearch.retrieval.errors import BackendUnavailableError

Kind = Literal["up", "down", "click"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    query TEXT NOT NULL,
    passage_id TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    rank INTEGER,
    kind TEXT NOT NULL CHECK (kind IN ('up', 'down', 'click')),
    target TEXT NOT NULL DEFAULT 'result' CHECK (target IN ('result', 'answer')),
    session_id TEXT
);
"""


def add_session_column(db: sqlite3.Connection) -> None:
    """Stores written before votes carried a session id get the column (their rows have none: NULL)."""
    if "session_id" not in {row[1] for row in db.execute("PRAGMA table_info(feedback)")}:
        db.execute("ALTER TABLE feedback ADD COLUMN session_id TEXT")


@dataclass(frozen=True, slots=True)
class FeedbackRow:
    id: int
    created_at: float
    query: str
    passage_id: str
    doc_id: str
    rank: int | None
    kind: str
    target: str
    session_id: str | None = None


def label(up: int, down: int, clicks: int) -> int | None:
    """Graded label from counts: votes decide (net up -> 2, net down -> 0); clicks alone -> 1; nothing -> None."""
    if up > down:
        return 2
    if down > up:
        return 0
    if clicks:
        return 1
    return None


class FeedbackStore:
    """Opened on first use; a write that fails (disk full, unwritable folder) is logged and counted and
    raises `BackendUnavailableError` (the API answers 503), never an unexplained error."""

    def __init__(self, path: Path) -> None:
        self._db = LazySqlite(path, SCHEMA, migrate=add_session_column)

    @property
    def failures(self) -> int:
        return self._db.failures

    @property
    def last_error(self) -> str | None:
        return self._db.last_error

    def add(
        self,
        query: str,
        passage_id: str,
        doc_id: str,
        kind: Kind,
        rank: int | None = None,
        target: str = "result",
        session_id: str | None = None,
    ) -> int:
        row, ok = self._db.run(
            "add",
            lambda db: int(
                db.execute(
                    "INSERT INTO feedback(created_at, query, passage_id, doc_id, rank, kind, target, session_id) "
                    "VALUES (?,?,?,?,?,?,?,?)",
                    (time.time(), query, passage_id, doc_id, rank, kind, target, session_id),
                ).lastrowid
                or 0
            ),
            0,
        )
        if not ok:
            raise BackendUnavailableError(
                "the feedback could not be stored (the server's storage is failing: full disk or unwritable "
                "home); it was logged, try again later"
            )
        return row

    def rows(self) -> list[FeedbackRow]:
        none: list[FeedbackRow] = []
        rows, ok = self._db.run(
            "rows",
            lambda db: [
                FeedbackRow(*r)
                for r in db.execute(
                    "SELECT id, created_at, query, passage_id, doc_id, rank, kind, target, session_id FROM feedback ORDER BY id"
                )
            ],
            none,
        )
        if not ok:
            raise BackendUnavailableError(f"the feedback store cannot be read ({self._db.last_error})")
        return rows

    def judgments(self) -> dict[str, dict[str, int]]:
        """{query text: {doc id: grade}} from the feedback on results, aggregated per (query, document). A vote
        on an answer is not a judgment of any one passage and is left out; of the votes one session gave one
        (query, passage), only the latest counts (a changed mind replaces the earlier vote)."""
        rows = [r for r in self.rows() if r.target == "result"]
        latest = {
            (r.session_id, r.query.strip(), r.passage_id): r.id
            for r in rows
            if r.session_id and r.kind != "click"
        }
        counts: dict[tuple[str, str], list[int]] = {}
        for r in rows:
            if (
                r.session_id
                and r.kind != "click"
                and latest[(r.session_id, r.query.strip(), r.passage_id)] != r.id
            ):
                continue
            c = counts.setdefault((r.query.strip(), r.doc_id), [0, 0, 0])
            c[("up", "down", "click").index(r.kind)] += 1
        out: dict[str, dict[str, int]] = {}
        for (query, doc), (up, down, clicks) in counts.items():
            grade = label(up, down, clicks)
            if grade is not None:
                out.setdefault(query, {})[doc] = grade
        return out

    def close(self) -> None:
        self._db.close()


def query_id(query: str) -> str:
    return "fb-" + hashlib.sha1(query.strip().encode("utf-8")).hexdigest()[:12]


def export_beir(judgments: dict[str, dict[str, int]], out_dir: Path) -> tuple[int, int]:
    """queries.jsonl + qrels/feedback.tsv (BEIR layout); returns (queries, judgments) written."""
    (out_dir / "qrels").mkdir(parents=True, exist_ok=True)
    with open(out_dir / "queries.jsonl", "w", encoding="utf-8") as f:
        for query in sorted(judgments):
            f.write(json.dumps({"_id": query_id(query), "text": query}, ensure_ascii=False) + "\n")
    n = 0
    with open(out_dir / "qrels" / "feedback.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for query in sorted(judgments):
            for doc, grade in sorted(judgments[query].items()):
                f.write(f"{query_id(query)}\t{doc}\t{grade}\n")
                n += 1
    return len(judgments), n
