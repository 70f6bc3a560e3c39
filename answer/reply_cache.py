"""A durable cache of LLM replies by key (SQLite, one commit per reply), shared by the LLM judge and query
generation: a rerun, or a run killed at any moment and started again, asks nothing twice. A reply that could
not be parsed is kept too (its first value column NULL), so it is not asked again unless `forget_unparsed`
clears it for a deliberate retry."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import astuple
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=tuple[str, ...])
V = TypeVar("V")


class ReplyCache(Generic[K, V]):
    """Rows of `table` (created by `schema`): the key columns, the value columns (the fields of the value
    dataclass, in order), then a time stamp."""

    def __init__(self, path: Path, schema: str, table: str, key_columns: Sequence[str],
                 value_columns: Sequence[str], value: Callable[..., V]) -> None:  # fmt: skip
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._table, self._keys, self._values, self._value = (
            table,
            tuple(key_columns),
            tuple(value_columns),
            value,
        )
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute(schema)

    def get_many(self, keys: Iterable[K]) -> dict[K, V]:
        sql = (f"SELECT {', '.join(self._values)} FROM {self._table} WHERE "
               + " AND ".join(f"{c}=?" for c in self._keys))  # fmt: skip
        found: dict[K, V] = {}
        with self._lock:
            for key in keys:
                row = self._db.execute(sql, key).fetchone()
                if row is not None:
                    found[key] = self._value(*row)
        return found

    def put(self, key: K, value: Any) -> None:
        """Store one reply, committed at once (autocommit)."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        row = (*key, *astuple(value), now)
        with self._lock:
            self._db.execute(f"INSERT OR REPLACE INTO {self._table} VALUES ({','.join('?' * len(row))})", row)

    def forget_unparsed(self, model: str, prompt_version: str) -> int:
        """Drop the unparseable replies of one model and prompt version; how many went."""
        with self._lock:
            cur = self._db.execute(
                f"DELETE FROM {self._table} WHERE {self._values[0]} IS NULL AND model=? AND prompt_version=?",
                (model, prompt_version),
            )
        return cur.rowcount

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute(f"SELECT COUNT(*) FROM {self._table}").fetchone()[0])

    def close(self) -> None:
        self._db.close()
