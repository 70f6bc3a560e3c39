"""Which documents an index holds and where they came from, so `--prune` can find removed files.

A small SQLite file per index, kept by the ingest layer so it works the same for every backend. A row is
written before the document's passages are, so the manifest never misses a document the index holds (a
row whose document never made it is harmless: pruning it deletes nothing). The index stays the truth for
whether a document is complete (see `ingest.writer`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

SQL_CHUNK = 900

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    root TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_root ON documents(root);
"""


class Manifest:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def register(self, rows: Iterable[tuple[str, Path, Path]]) -> None:
        """Record (doc_id, root, source) durably; a document seen under a new root moves there."""
        data = [(d, str(r), str(s)) for d, r, s in rows]
        if not data:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "INSERT INTO documents(doc_id, root, source) VALUES (?,?,?) "
                "ON CONFLICT(doc_id) DO UPDATE SET root=excluded.root, source=excluded.source",
                data,
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def documents_under(self, root: Path) -> dict[str, str]:
        """doc_id -> source of the documents last ingested from `root`."""
        rows = self._db.execute("SELECT doc_id, source FROM documents WHERE root=?", (str(root),))
        return dict(rows.fetchall())

    def sources(self, doc_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """doc_id -> (root, source) of those of `doc_ids` the manifest knows."""
        ids, found = list(doc_ids), {}
        for i in range(0, len(ids), SQL_CHUNK):
            chunk = ids[i : i + SQL_CHUNK]
            rows = self._db.execute(
                f"SELECT doc_id, root, source FROM documents WHERE doc_id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            found.update({d: (r, s) for d, r, s in rows.fetchall()})
        return found

    def remove(self, doc_ids: Sequence[str]) -> None:
        ids = list(doc_ids)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for i in range(0, len(ids), SQL_CHUNK):
                chunk = ids[i : i + SQL_CHUNK]
                self._db.execute(
                    f"DELETE FROM documents WHERE doc_id IN ({','.join('?' * len(chunk))})", chunk
                )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM documents").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
