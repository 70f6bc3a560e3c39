"""A durable log of served searches (no query text beyond its length), for drift monitoring."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

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
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # Telemetry, written once per request: no fsync per insert (WAL + NORMAL survives a crash of the
        # process; a power cut may lose the last entries). Under load the fsyncs cost ~4% of throughput.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def add(self, q: LoggedQuery) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO queries(created_at, kind, mode, query_chars, query_terms, hits, top_score, top_dense,"
                " top_rerank, latency_ms) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (q.created_at, q.kind, q.mode, q.query_chars, q.query_terms, q.hits, q.top_score, q.top_dense,
                 q.top_rerank, q.latency_ms),
            )  # fmt: skip

    def latest(self, n: int, skip: int = 0) -> list[LoggedQuery]:
        """The n most recent entries after skipping the `skip` most recent, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT created_at, kind, mode, query_chars, query_terms, hits, top_score, top_dense, top_rerank,"
                " latency_ms FROM queries ORDER BY id DESC LIMIT ? OFFSET ?",
                (n, skip),
            ).fetchall()
        return [LoggedQuery(*r) for r in reversed(rows)]

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM queries").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def now() -> float:
    return time.time()
