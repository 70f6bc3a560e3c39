"""The SQLite store of an embedded index: the source of truth that the BM25 index and the vector file
are derived from.

Tables: `meta` (spec, the current vector file, the `generation` write counter), `passages` (id, document
id, title, text, metadata, content hash, vector slot), `tokens` (each passage's analyzed tokens as
hashes, read by LTR features) and `changes` (ids written since the BM25 index was last brought up to date).
Every committing write goes through `write()`, which increments `generation` in the same transaction, so
another process notices the commit with one cheap check.

Reading needs no free space: on a full disk SQLite cannot create the WAL index (`-shm`) even to read, so a
store whose WAL is empty is then opened immutable (read-only, the file as it is; writes raise
`BackendUnavailableError`) and tries the normal open again every `READ_ONLY_RETRY_S` while it is used.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from numpy.typing import NDArray

from ragsearch.retrieval.errors import BackendUnavailableError, IndexCorruptError
from ragsearch.retrieval.index import Filters, document_order
from ragsearch.retrieval.types import IndexSpec, Passage

SQL_CHUNK = 900
FIRST_VECTOR_FILE = "vectors-0.f32"
READ_ONLY_RETRY_S = 5.0
"""How often a store opened read-only on a full disk tries the normal open again."""

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS passages (
    id TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL,
    hash TEXT NOT NULL,
    slot INTEGER NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS passages_doc ON passages(doc_id);
CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL);
"""
TOKENS_SQL = (
    "CREATE TABLE IF NOT EXISTS tokens (id TEXT PRIMARY KEY, title BLOB NOT NULL, text BLOB NOT NULL)"
)
"""Each passage's analyzed title and text as int64 token hashes (`retrieval.analysis.token_hash`), in order:
a forward index that LTR features read instead of re-analyzing candidate text on every query."""

Row = tuple[int, str, str]
"""(slot, passage id, document id) of one stored passage."""


def chunks(items: Sequence[str], size: int = SQL_CHUNK) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def marks(chunk: Sequence[Any]) -> str:
    return ",".join("?" * len(chunk))


@dataclass(frozen=True)
class Snapshot:
    """What one read transaction saw: the committed state another process's writes are measured against."""

    generation: int
    vector_file: str
    rows: list[Row]
    pending: int


class Store:
    """One connection to `store.sqlite`. Not thread-safe by itself: the index serialises access."""

    def __init__(self, path: Path, name: str, create_spec: IndexSpec | None = None) -> None:
        self.path = path
        self.name = name
        self._connect(create=create_spec is not None)
        if create_spec is not None:
            with self.write():
                for statement in SCHEMA_SQL.split(";"):
                    self.db.execute(statement)
                self.db.execute(TOKENS_SQL)
                self.set_meta("spec", json.dumps(create_spec.to_dict()))
                self.set_meta("vector_file", FIRST_VECTOR_FILE)
                self.set_meta("created_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        self.generation_seen = self.generation()

    def _connect(self, create: bool) -> None:
        # mode=rw: opening never creates a missing store (a write would otherwise start a new, empty one)
        self.db = self._open("rwc" if create else "rw")
        self.read_only = False
        self._identity = _identity(self.path)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            if create or not self._can_read_immutable(exc):
                raise
            self.db.close()
            self.db = self._open("ro", immutable=True)
            self.read_only, self._retry_at = True, time.monotonic() + READ_ONLY_RETRY_S
        self.db.execute("PRAGMA synchronous=FULL")

    def _open(self, mode: str, immutable: bool = False) -> sqlite3.Connection:
        uri = f"file:{quote(str(self.path))}?mode={mode}" + ("&immutable=1" if immutable else "")
        try:
            return sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        except sqlite3.OperationalError:
            raise IndexCorruptError(f"index {self.name!r}: {self.path} cannot be opened (missing?)") from None

    def _can_read_immutable(self, exc: sqlite3.OperationalError) -> bool:
        """A full disk (or a read-only one): SQLite cannot size the WAL index (`-shm`) a reader needs. The
        file alone holds every commit when the WAL is empty (no other process has it open, no crash left
        frames); then it is read as immutable. With frames in the WAL, reading the file alone would miss
        committed writes: refused with a clear error instead."""
        if exc.sqlite_errorcode & 0xFF not in (
            sqlite3.SQLITE_IOERR,
            sqlite3.SQLITE_FULL,
            sqlite3.SQLITE_READONLY,
        ):
            return False
        wal = self.path.with_name(self.path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise BackendUnavailableError(
                f"index {self.name!r} cannot be opened: its store needs to write its WAL index and cannot "
                f"({exc.sqlite_errorname}: the disk is full?), and its WAL holds commits; free disk space"
            ) from None
        return True

    def _writable_again(self) -> None:
        """While read-only, try the normal (shared, writable) open again every few seconds: once there is
        space, other processes' commits are seen again and writes work."""
        if not self.read_only or time.monotonic() < self._retry_at:
            return
        self._retry_at = time.monotonic() + READ_ONLY_RETRY_S
        try:
            db = self._open("rw")
        except IndexCorruptError:
            return
        try:
            db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:
            db.close()
            return
        db.execute("PRAGMA synchronous=FULL")
        self.db.close()
        self.db, self.read_only = db, False

    # ---- identity -----------------------------------------------------------------------------
    def replaced(self) -> str | None:
        """Why the file at `path` is no longer the one this connection has open, or None."""
        now = _identity(self.path)
        if now is None:
            return f"{self.path.name} was deleted while this process had it open"
        if now != self._identity:
            return f"{self.path.name} was replaced by another file while this process had it open"
        return None

    def ensure_same_file(self) -> None:
        why = self.replaced()
        if why is not None:
            raise IndexCorruptError(
                f"index {self.name!r}: {why}; nothing was written. If it was deleted, run "
                f"`ragsearch indexes repair {self.name}` in a process that still has it open (it writes it back); "
                "if it was replaced on purpose, reopen the index"
            )

    def restore(self) -> None:
        """Write this connection's copy back to `path` (deleted under us), then reopen it."""
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        tmp = self.path.with_name(self.path.name + ".restore")
        tmp.unlink(missing_ok=True)
        dest = sqlite3.connect(tmp)
        with dest:
            self.db.backup(dest)
        dest.close()
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        self.db.close()
        os.link(tmp, self.path)  # fails, rather than overwrite, if a file appeared there meanwhile
        tmp.unlink()
        self._connect(create=False)

    # ---- meta, generation, transactions -------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    def data_version(self) -> int:
        """Changes whenever another connection commits (SQLite's own counter; a few microseconds)."""
        self._writable_again()
        return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One committing transaction that also increments `generation`; sets `generation_seen`."""
        self._writable_again()
        if self.read_only:
            raise BackendUnavailableError(
                f"index {self.name!r} is open read-only: the disk was full when it was opened; nothing was "
                "written. Free disk space and try again"
            )
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
            self.db.execute(
                "INSERT INTO meta(key, value) VALUES ('generation', '1') ON CONFLICT(key) "
                "DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
            )
            generation = self.generation()
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.generation_seen = generation

    def snapshot(self) -> Snapshot:
        self.db.execute("BEGIN")
        try:
            generation = self.generation()
            vector_file = self.get_meta("vector_file") or FIRST_VECTOR_FILE
            rows = [
                (int(s), str(i), str(d))
                for s, i, d in self.db.execute("SELECT slot, id, doc_id FROM passages")
            ]
            pending = self.pending_count()
        finally:
            self.db.execute("COMMIT")
        return Snapshot(generation, vector_file, rows, pending)

    # ---- passages -------------------------------------------------------------------------------
    def put(self, rows: list[tuple[Any, ...]], streams: list[tuple[str, bytes, bytes]]) -> None:
        """Insert or replace passages (id, doc_id, title, text, metadata, hash, slot) and log them."""
        with self.write() as db:
            db.executemany(
                "INSERT INTO passages(id, doc_id, title, text, metadata, hash, slot) VALUES (?,?,?,?,?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET doc_id=excluded.doc_id, title=excluded.title, "
                "text=excluded.text, metadata=excluded.metadata, hash=excluded.hash, slot=excluded.slot",
                rows,
            )
            db.executemany("INSERT OR REPLACE INTO tokens(id, title, text) VALUES (?,?,?)", streams)
            db.executemany("INSERT INTO changes(id) VALUES (?)", [(r[0],) for r in rows])

    def remove(self, ids: Sequence[str]) -> None:
        with self.write() as db:
            for chunk in chunks(ids):
                db.execute(f"DELETE FROM passages WHERE id IN ({marks(chunk)})", list(chunk))
                db.execute(f"DELETE FROM tokens WHERE id IN ({marks(chunk)})", list(chunk))
            db.executemany("INSERT INTO changes(id) VALUES (?)", [(i,) for i in ids])

    def move_slots(self, mapping: list[tuple[int, str]], vector_file: str) -> None:
        """Give passages new slots in a new vector file, in one transaction."""
        with self.write() as db:
            db.execute("UPDATE passages SET slot = -slot - 1")
            db.executemany("UPDATE passages SET slot=? WHERE id=?", mapping)
            self.set_meta("vector_file", vector_file)

    def pending(self) -> list[tuple[int, str]]:
        return [(int(s), str(i)) for s, i in self.db.execute("SELECT seq, id FROM changes ORDER BY seq")]

    def pending_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM changes").fetchone()[0])

    def clear_changes(self, max_seq: int) -> None:
        with self.write() as db:
            db.execute("DELETE FROM changes WHERE seq <= ?", (max_seq,))

    def documents(self, ids: Sequence[str] | None = None) -> Iterator[tuple[str, str, str, str, str]]:
        """(id, doc_id, title, text, metadata JSON) of the given passages, or of all."""
        sql = "SELECT id, doc_id, title, text, metadata FROM passages"
        if ids is None:
            yield from self.db.execute(sql).fetchall()
            return
        for chunk in chunks(list(dict.fromkeys(ids))):
            yield from self.db.execute(f"{sql} WHERE id IN ({marks(chunk)})", list(chunk)).fetchall()

    def get(self, ids: Sequence[str]) -> list[Passage]:
        found = {
            pid: Passage(id=pid, doc_id=doc_id, title=title, text=text, metadata=json.loads(meta))
            for pid, doc_id, title, text, meta in self.documents(ids)
        }
        return [found[i] for i in ids if i in found]

    def content_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for chunk in chunks(list(ids)):
            out.update(
                self.db.execute(f"SELECT id, hash FROM passages WHERE id IN ({marks(chunk)})", list(chunk))
            )
        return out

    def passage_refs(self) -> list[tuple[str, str]]:
        return [(pid, doc_id) for pid, doc_id in self.db.execute("SELECT id, doc_id FROM passages")]

    def document(self, doc_id: str) -> list[Passage]:
        """The passages of one document in `document_order` (one lookup on the `passages_doc` index)."""
        sql = "SELECT id, doc_id, title, text, metadata FROM passages WHERE doc_id = ?"
        return document_order(
            [
                Passage(id=pid, doc_id=d, title=title, text=text, metadata=json.loads(meta))
                for pid, d, title, text, meta in self.db.execute(sql, (doc_id,))
            ]
        )

    def passage_ids_of(self, doc_ids: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for chunk in chunks(list(dict.fromkeys(doc_ids))):
            sql = f"SELECT id, doc_id FROM passages WHERE doc_id IN ({marks(chunk)}) ORDER BY id"
            for pid, doc_id in self.db.execute(sql, list(chunk)):
                out.setdefault(doc_id, []).append(pid)
        return out

    def filter_slots(self, filters: Filters) -> list[int]:
        """Slots of passages whose metadata matches every filter. A row stored with invalid JSON (NaN, from
        before upserts refused it) matches nothing instead of failing the whole query."""
        clauses = " AND ".join(
            "(CASE WHEN json_valid(metadata) THEN json_extract(metadata, ?) END) = ?" for _ in filters
        )
        params: list[Any] = []
        for key, value in filters.items():
            params += [f'$."{key}"', int(value) if isinstance(value, bool) else value]
        return [int(r[0]) for r in self.db.execute(f"SELECT slot FROM passages WHERE {clauses}", params)]

    # ---- token streams --------------------------------------------------------------------------
    def has_tokens(self) -> bool:
        sql = "SELECT 1 FROM sqlite_master WHERE type='table' AND name='tokens'"
        return self.db.execute(sql).fetchone() is not None

    def missing_tokens(self) -> list[tuple[str, str, str]]:
        """(id, title, text) of passages without token streams (written before the index kept them)."""
        if not self.has_tokens():
            return [
                (str(i), str(t), str(x))
                for i, t, x in self.db.execute("SELECT id, title, text FROM passages")
            ]
        sql = "SELECT p.id, p.title, p.text FROM passages p LEFT JOIN tokens t ON t.id = p.id WHERE t.id IS NULL"
        return [(str(i), str(t), str(x)) for i, t, x in self.db.execute(sql)]

    def put_tokens(self, streams: list[tuple[str, bytes, bytes]]) -> None:
        with self.write() as db:
            db.execute(TOKENS_SQL)
            db.executemany("INSERT OR REPLACE INTO tokens(id, title, text) VALUES (?,?,?)", streams)

    def token_streams(self, ids: Sequence[str]) -> dict[str, tuple[NDArray[np.int64], NDArray[np.int64]]]:
        out: dict[str, tuple[NDArray[np.int64], NDArray[np.int64]]] = {}
        if (
            not self.has_tokens()
        ):  # an index from before token streams, opened while another process writes it
            return out
        for chunk in chunks(list(dict.fromkeys(ids))):
            sql = f"SELECT id, title, text FROM tokens WHERE id IN ({marks(chunk)})"
            for pid, title, text in self.db.execute(sql, list(chunk)):
                out[pid] = (np.frombuffer(title, dtype=np.int64), np.frombuffer(text, dtype=np.int64))
        return out

    def close(self) -> None:
        self.db.close()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino
