"""A SQLite file opened on first use, whose write failures (disk full, read-only or missing folder, a
damaged file) are logged and counted instead of raised, so telemetry never fails or blocks serving."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import structlog

log = structlog.get_logger(__name__)
T = TypeVar("T")


class LazySqlite:
    def __init__(
        self,
        path: Path,
        schema: str,
        synchronous: str = "FULL",
        migrate: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        self.path = path
        self._schema = schema
        self._migrate = migrate
        """run after the schema on each open: brings a file written by an earlier version up to date"""
        self._synchronous = synchronous
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self.failures = 0
        """Operations that failed since start (each is logged)."""
        self.last_error: str | None = None

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(f"PRAGMA synchronous={self._synchronous}")
                db.executescript(self._schema)
                if self._migrate is not None:
                    self._migrate(db)
            except sqlite3.Error:
                db.close()
                raise
            self._db = db
        return self._db

    def run(self, what: str, op: Callable[[sqlite3.Connection], T], default: T) -> tuple[T, bool]:
        """`op` on the open database -> (its result, True); on failure logs it, counts it and returns
        (`default`, False). The next call tries to open the file again."""
        with self._lock:
            try:
                return op(self._open()), True
            except (sqlite3.Error, OSError) as exc:
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("sqlite_log.failed", file=self.path.name, op=what, error=self.last_error)
                if self._db is not None and isinstance(exc, sqlite3.DatabaseError):
                    self._db.close()
                    self._db = None
                return default, False

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
