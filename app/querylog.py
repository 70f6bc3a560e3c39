"""A durable log of served searches, for drift monitoring: each entry names its index and mode, so drift
compares like with like. By default it keeps no query text beyond its length (privacy); a log opened with
`store_text` (setting `querylog.store_text`, RAGSEARCH_QUERYLOG_STORE_TEXT) also keeps each query's text,
which `ragsearch query-sets create --from-log` samples query sets from.

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
from ragsearch.retrieval.errors import BackendUnavailableError

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
    index_name TEXT NOT NULL DEFAULT '',
    query_text TEXT
);
"""
COLUMNS = (
    "created_at, kind, mode, query_chars, query_terms, hits, top_score, top_dense, top_rerank, latency_ms,"
    " index_name"
)
"""What `latest` reads (drift needs no text)."""
INSERT = f"INSERT INTO queries({COLUMNS}, query_text) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"


def add_columns(db: sqlite3.Connection) -> None:
    """Brings a log written by an earlier version up to date: logs from before entries named their index
    get the column (old entries have index ''), logs from before query texts get a `query_text` column
    (old entries have none: NULL)."""
    have = {row[1] for row in db.execute("PRAGMA table_info(queries)")}
    if "index_name" not in have:
        db.execute("ALTER TABLE queries ADD COLUMN index_name TEXT NOT NULL DEFAULT ''")
    if "query_text" not in have:
        db.execute("ALTER TABLE queries ADD COLUMN query_text TEXT")


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
    text: str | None = None
    """the query's text: stored only by a log opened with `store_text`"""


class QueryLog:
    def __init__(self, path: Path, store_text: bool = False) -> None:
        # Telemetry, written once per request: no fsync per insert (WAL + NORMAL survives a crash of the
        # process; a power cut may lose the last entries). Under load the fsyncs cost ~4% of throughput.
        self._db = LazySqlite(path, SCHEMA, synchronous="NORMAL", migrate=add_columns)
        self.store_text = store_text
        """keep each entry's text (else it is dropped here, whatever the caller passed)"""

    @property
    def failures(self) -> int:
        return self._db.failures

    @property
    def last_error(self) -> str | None:
        return self._db.last_error

    def add(self, q: LoggedQuery) -> bool:
        """Log one query; False (logged and counted) when it could not be written."""
        row = (q.created_at, q.kind, q.mode, q.query_chars, q.query_terms, q.hits, q.top_score, q.top_dense,
               q.top_rerank, q.latency_ms, q.index, q.text if self.store_text else None)  # fmt: skip
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

    def texts(self, index: str | None = None, since: float | None = None) -> list[str]:
        """The stored query texts (of one index, and logged at or after `since` when given), oldest first;
        entries without text (logged with `store_text` off, or before texts were stored) are left out.
        Raises BackendUnavailableError when the log cannot be read."""
        where = " AND ".join(
            ["query_text IS NOT NULL"]
            + [c for c, v in (("index_name = ?", index), ("created_at >= ?", since)) if v is not None]
        )
        args = [v for v in (index, since) if v is not None]
        sql = f"SELECT query_text FROM queries WHERE {where} ORDER BY id"
        none: list[Any] = []
        rows, ok = self._db.run("texts", lambda db: db.execute(sql, args).fetchall(), none)
        if not ok:
            raise BackendUnavailableError(f"cannot read the query log {self._db.path}: {self.last_error}")
        return [r[0] for r in rows]

    def count(self, index: str | None = None) -> int:
        sql, args = ("SELECT count(*) FROM queries", ()) if index is None else (
            "SELECT count(*) FROM queries WHERE index_name = ?", (index,))  # fmt: skip
        n, _ = self._db.run("count", lambda db: int(db.execute(sql, args).fetchone()[0]), 0)
        return n

    def close(self) -> None:
        self._db.close()


def now() -> float:
    return time.time()
