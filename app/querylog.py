"""A durable log of served searches (no query text beyond its length), for drift monitoring.

Opened on first use and tolerant: when it cannot be written (disk full, unwritable folder) the failure is
logged and counted (`failures`) and the search is served anyway; a server starts without it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.sqlitelog import LazySqlite

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
    latency_ms REAL NOT NULL
);
"""
INSERT = (
    "INSERT INTO queries(created_at, kind, mode, query_chars, query_terms, hits, top_score, top_dense,"
    " top_rerank, latency_ms) VALUES (?,?,?,?,?,?,?,?,?,?)"
)


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


class QueryLog:
    def __init__(self, path: Path) -> None:
        # Telemetry, written once per request: no fsync per insert (WAL + NORMAL survives a crash of the
        # process; a power cut may lose the last entries). Under load the fsyncs cost ~4% of throughput.
        self._db = LazySqlite(path, SCHEMA, synchronous="NORMAL")

    @property
    def failures(self) -> int:
        return self._db.failures

    @property
    def last_error(self) -> str | None:
        return self._db.last_error

    def add(self, q: LoggedQuery) -> bool:
        """Log one query; False (logged and counted) when it could not be written."""
        row = (q.created_at, q.kind, q.mode, q.query_chars, q.query_terms, q.hits, q.top_score, q.top_dense,
               q.top_rerank, q.latency_ms)  # fmt: skip
        _, ok = self._db.run("add", lambda db: db.execute(INSERT, row), None)
        return ok

    def latest(self, n: int, skip: int = 0) -> list[LoggedQuery]:
        """The n most recent entries after skipping the `skip` most recent, oldest first (none when the
        log cannot be read)."""
        none: list[Any] = []
        rows, _ = self._db.run(
            "latest",
            lambda db: db.execute(
                "SELECT created_at, kind, mode, query_chars, query_terms, hits, top_score, top_dense, top_rerank,"
                " latency_ms FROM queries ORDER BY id DESC LIMIT ? OFFSET ?",
                (n, skip),
            ).fetchall(),
            none,
        )
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
