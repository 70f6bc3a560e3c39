"""A durable log of served searches (no query text beyond its length), for drift monitoring: each entry
names its index and mode, so drift compares like with like.

Opened on first use and tolerant: when it cannot be written (disk full, unwritable folder) the failure is
logged and counted (`failures`) and the search is served anyway; a server starts without it.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragsearch.app.sqlitelog import LazySqlite

SCHEMA = """
CREATE TABLE IF NOT EXISTS queries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    kind TEXT NOT NULL,
    mode TEXT NOT NULL,
    query_chars INTEGER NOT NULL,
    query_terms INTEGER NOT NULL,
    hits INTEGER NOT NULL,
    top_score REAL,
    top_dense REAL,
    top_rerank REAL,
    latency_ms REAL NOT NULL,
    index_name TEXT NOT NULL DEFAULT ''
);
"""
COLUMNS = (
    "created_at, kind, mode, query_chars, query_terms, hits, top_score, top_dense, top_rerank, latency_ms,"
    " index_name"
)
INSERT = f"INSERT INTO queries({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"


def add_index_column(db: sqlite3.Connection) -> None:
    """Logs written before entries named their index get the column; their old entries have index ''."""
    if "index_name" not in {row[1] for row in db.execute("PRAGMA table_info(queries)")}:
        db.execute("ALTER TABLE queries ADD COLUMN index_name TEXT NOT NULL DEFAULT ''")


@dataclass(frozen=True, slots=True)
class LoggedQuery:
    created_at: float
    kind: str
    mode: str
    query_chars: int
    query_terms: int
    hits: int
    top_score: float | None
    top_dense: float | None
    top_rerank: float | None
    latency_ms: float
    index: str = ""


class QueryLog:
    def __init__(self, path: Path) -> None:
        # Telemetry, written once per request: no fsync per insert (WAL + NORMAL survives a crash of the
        # process; a power cut may lose the last entries). Under load the fsyncs cost ~4% of throughput.
        self._db = LazySqlite(path, SCHEMA, synchronous="NORMAL", migrate=add_index_column)

    @property
    def failures(self) -> int:
        return self._db.failures

    @property
    def last_error(self) -> str | None:
        return self._db.last_error

    def add(self, q: LoggedQuery) -> bool:
        """Log one query; False (logged and counted) when it could not be written."""
        row = (q.created_at, q.kind, q.mode, q.query_chars, q.query_terms, q.hits, q.top_score, q.top_dense,
               q.top_rerank, q.latency_ms, q.index)  # fmt: skip
        _, ok = self._db.run("add", lambda db: db.execute(INSERT, row), None)
        return ok

    def latest(
        self, n: int, skip: int = 0, index: str | None = None, mode: str | None = None
    ) -> list[LoggedQuery]:
        """The n most recent entries (of one index and/or mode when given) after skipping the `skip` most
        recent, oldest first (none when the log cannot be read)."""
        where = " AND ".join(c for c, v in (("index_name = ?", index), ("mode = ?", mode)) if v is not None)
        args = [v for v in (index, mode) if v is not None]
        sql = f"SELECT {COLUMNS} FROM queries {'WHERE ' + where if where else ''} ORDER BY id DESC LIMIT ? OFFSET ?"
        none: list[Any] = []
        rows, _ = self._db.run("latest", lambda db: db.execute(sql, (*args, n, skip)).fetchall(), none)
        return [LoggedQuery(*r) for r in reversed(rows)]

    def count(self) -> int:
        n, _ = self._db.run(
            "count", lambda db: int(db.execute("SELECT count(*) FROM queries").fetchone()[0]), 0
        )
        return n

    def close(self) -> None:
        self._db.close()


def now() -> float:
    return time.time()
