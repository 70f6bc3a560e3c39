"""The embedded backend: a real, persistent, incremental engine that runs in-process with no services.

Layout of one index under `<home>/indexes/<name>/`:
- `store.sqlite`: the source of truth. Passages (id, document id, title, text, metadata, content hash,
  vector slot), each passage's analyzed tokens as hashes (`tokens`, read by LTR features), the index spec,
  and a change log of ids not yet applied to the BM25 index.
- `vectors-<generation>.f32`: append-only float32 rows (unit length), memory-mapped and searched exactly.
- `bm25/`: a tantivy index over title and text (Lucene-style BM25, k1=1.2, b=0.75), derived from the store.
- `ann-<generation>.faiss` / `.usearch`: an IVF or HNSW index over the vectors when configured (or `auto`
  on a large index), derived from the vector file and rebuilt from it when missing.

Crash safety. A write appends vectors (fsync), then commits passages, tokens and change-log rows in one SQLite
transaction, then applies the change log to tantivy and clears it. A crash before the SQLite commit leaves
only vector rows past the last committed slot, which opening truncates; a crash after it leaves change-log
rows, which opening replays (delete-by-id then add is idempotent). So once reopened, every stored passage
is searchable by both BM25 and vector, and nothing deleted is found by either.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import structlog
import tantivy
from numpy.typing import NDArray

from retrieval.analysis import analyzer_name, build_analyzer, token_hashes
from retrieval.ann import ApproximateVectors, HnswVectors, IvfVectors
from retrieval.errors import (
    IndexExistsError,
    IndexLockedError,
    IndexNotFoundError,
    InvalidInputError,
    RagsearchError,
)
from retrieval.index import Filters
from retrieval.scoring import BM25_K1, best_fields_score
from retrieval.types import EmbeddedPassage, FieldBoosts, FieldScores, IndexSpec, Passage, ScoredId, Vector
from retrieval.vector_file import VectorFile, cosine_scores, normalize_rows, top_k

log = structlog.get_logger(__name__)

VECTOR_INDEXES = ("auto", "exact", "hnsw", "ivf")
AUTO_ANN_ROWS = 100_000
"""`auto` switches from exact search to IVF at this many passages (exact costs ~0.13 ms per 1k rows here)."""
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
SQL_CHUNK = 900
WRITER_HEAP = 64_000_000

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


def validate_index_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise InvalidInputError(
            f"invalid index name {name!r}: use 1-64 characters from a-z, 0-9, '_' and '-', starting with a letter or digit"
        )
    return name


def _chunks(items: Sequence[str], size: int = SQL_CHUNK) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class EmbeddedBackend:
    """Indexes stored as folders under `<home>/indexes/`."""

    def __init__(self, home: Path, vector_index: str = "exact") -> None:
        self.root = Path(home) / "indexes"
        if vector_index not in VECTOR_INDEXES:
            raise InvalidInputError(
                f"unknown vector index {vector_index!r}: valid choices are {', '.join(VECTOR_INDEXES)}"
            )
        self.vector_index = vector_index

    def _dir(self, name: str) -> Path:
        return self.root / validate_index_name(name)

    def exists(self, name: str) -> bool:
        return (self._dir(name) / "store.sqlite").exists()

    def list(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "store.sqlite").exists())

    def create(self, name: str, spec: IndexSpec) -> EmbeddedIndex:
        if self.exists(name):
            raise IndexExistsError(f"index {name!r} already exists under {self.root}")
        path = self._dir(name)
        path.mkdir(parents=True, exist_ok=True)
        return EmbeddedIndex(path, name, create_spec=spec, vector_index=self.vector_index)

    def open(self, name: str) -> EmbeddedIndex:
        if not self.exists(name):
            known = ", ".join(self.list()) or "none"
            raise IndexNotFoundError(
                f"index {name!r} does not exist under {self.root} (known: {known}); create it with `ragsearch ingest PATH --index {name}`"
            )
        return EmbeddedIndex(self._dir(name), name, vector_index=self.vector_index)

    def drop(self, name: str) -> None:
        if not self.exists(name):
            raise IndexNotFoundError(f"index {name!r} does not exist under {self.root}")
        shutil.rmtree(self._dir(name))

    def describe(self, name: str) -> dict[str, Any]:
        index = self.open(name)
        try:
            return index.describe()
        finally:
            index.close()


class EmbeddedIndex:
    """One embedded index. Thread-safe; one writing process at a time (a lock file enforces it)."""

    def __init__(
        self, path: Path, name: str, create_spec: IndexSpec | None = None, vector_index: str = "auto"
    ) -> None:
        self.path = path
        self._name = name
        self.vector_index = vector_index
        self._ann: ApproximateVectors | None = None
        self._ann_dirty = True
        self._has_tokens = False
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path / "store.sqlite", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        if create_spec is not None:
            with self._write_lock():
                self._db.executescript(SCHEMA_SQL)
                self._db.execute(TOKENS_SQL)
                self._set_meta("spec", json.dumps(create_spec.to_dict()))
                self._set_meta("vector_file", "vectors-0.f32")
                self._set_meta("created_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        spec_json = self._get_meta("spec")
        if spec_json is None:
            raise RagsearchError(f"index {name!r} at {path} has no spec: it was never fully created; drop it")
        self._spec = IndexSpec.from_dict(json.loads(spec_json))
        self._analyzer = build_analyzer(self._spec.analyzer)
        self._tantivy = self._open_tantivy()
        try:
            with self._write_lock():
                self._open_vectors(recover=True)
                self._apply_changes()
                self._fill_token_streams()
        except IndexLockedError:
            # Another process is writing: it finishes its own work; read what is committed.
            self._open_vectors(recover=False)

    def _open_vectors(self, recover: bool) -> None:
        vector_file = self._get_meta("vector_file") or "vectors-0.f32"
        self._vectors = VectorFile(self.path / vector_file, self._spec.dim)
        if recover:
            for stale in self.path.glob("vectors-*.f32"):
                if stale.name != vector_file:
                    stale.unlink()
            keep = vector_file.removesuffix(".f32")
            for stale in self.path.glob("ann-*"):
                if not stale.name.startswith(f"ann-{keep}."):
                    stale.unlink()
        self._load_slots(truncate=recover)

    # ---- properties -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def spec(self) -> IndexSpec:
        return self._spec

    def count(self) -> int:
        return len(self._slot_of)

    # ---- set-up -----------------------------------------------------------------------------
    def _open_tantivy(self) -> tantivy.Index:
        tok = analyzer_name(self._spec.analyzer)
        sb = tantivy.SchemaBuilder()
        sb.add_text_field("id", stored=True, tokenizer_name="raw")
        sb.add_text_field("doc_id", stored=False, tokenizer_name="raw")
        sb.add_text_field("title", stored=False, tokenizer_name=tok, index_option="position")
        sb.add_text_field("text", stored=False, tokenizer_name=tok, index_option="position")
        sb.add_json_field("meta", stored=False, tokenizer_name="raw")
        self._schema = sb.build()
        bm25_dir = self.path / "bm25"
        bm25_dir.mkdir(exist_ok=True)
        index = tantivy.Index(self._schema, path=str(bm25_dir), reuse=True)
        index.register_tokenizer(tok, self._analyzer)
        return index

    def _load_slots(self, truncate: bool = True) -> None:
        rows = self._db.execute("SELECT slot, id, doc_id FROM passages").fetchall()
        committed_rows = max((r[0] for r in rows), default=-1) + 1
        if truncate:
            self._vectors.truncate(committed_rows)
        n = max(self._vectors.rows, committed_rows)
        self._live = np.zeros(n, dtype=bool)
        self._slot_ids: list[str | None] = [None] * n
        self._slot_of: dict[str, int] = {}
        self._doc_of: dict[str, str] = {}
        for slot, pid, doc_id in rows:
            self._live[slot] = True
            self._slot_ids[slot] = pid
            self._slot_of[pid] = slot
            self._doc_of[pid] = doc_id
        self._ann_dirty = True

    # ---- meta -------------------------------------------------------------------------------
    def _get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
        with self._lock, open(self.path / "write.lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise IndexLockedError(
                    f"index {self._name!r} is being written by another process; wait for it to finish"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # ---- writes -----------------------------------------------------------------------------
    def upsert(self, passages: Sequence[EmbeddedPassage]) -> None:
        if not passages:
            return
        latest: dict[str, EmbeddedPassage] = {}
        for ep in passages:
            latest[ep.passage.id] = ep
        items = list(latest.values())
        matrix = np.stack([np.asarray(ep.vector, dtype=np.float32).reshape(-1) for ep in items])
        if matrix.shape[1] != self._spec.dim:
            raise InvalidInputError(
                f"vectors of dimension {matrix.shape[1]} cannot go into index {self._name!r} "
                f"(built with {self._spec.embedding_model}, dimension {self._spec.dim})"
            )
        if not np.all(np.isfinite(matrix)):
            raise InvalidInputError("vectors contain NaN or infinite values; nothing was written")
        matrix = normalize_rows(matrix)
        streams = [(ep.passage.id, *self._token_blobs(ep.passage.title, ep.passage.text)) for ep in items]
        with self._write_lock():
            start = self._vectors.append(matrix)
            rows = [
                (
                    ep.passage.id,
                    ep.passage.document_id,
                    ep.passage.title,
                    ep.passage.text,
                    json.dumps(ep.passage.metadata, ensure_ascii=False),
                    ep.content_hash,
                    start + i,
                )
                for i, ep in enumerate(items)
            ]
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO passages(id, doc_id, title, text, metadata, hash, slot) VALUES (?,?,?,?,?,?,?) "
                    "ON CONFLICT(id) DO UPDATE SET doc_id=excluded.doc_id, title=excluded.title, "
                    "text=excluded.text, metadata=excluded.metadata, hash=excluded.hash, slot=excluded.slot",
                    rows,
                )
                self._db.executemany("INSERT OR REPLACE INTO tokens(id, title, text) VALUES (?,?,?)", streams)
                self._db.executemany("INSERT INTO changes(id) VALUES (?)", [(r[0],) for r in rows])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            grow = self._vectors.rows - len(self._live)
            self._live = np.concatenate([self._live, np.zeros(grow, dtype=bool)])
            self._slot_ids.extend([None] * grow)
            for pid, doc_id, *_rest, slot in rows:
                old = self._slot_of.get(pid)
                if old is not None:
                    self._live[old] = False
                    self._slot_ids[old] = None
                self._live[slot] = True
                self._slot_ids[slot] = pid
                self._slot_of[pid] = slot
                self._doc_of[pid] = doc_id
            self._ann_dirty = True
            self._apply_changes()

    def delete(self, ids: Sequence[str]) -> int:
        present = [i for i in dict.fromkeys(ids) if i in self._slot_of]
        if not present:
            return 0
        with self._write_lock():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for chunk in _chunks(present):
                    marks = ",".join("?" * len(chunk))
                    self._db.execute(f"DELETE FROM passages WHERE id IN ({marks})", list(chunk))
                    self._db.execute(f"DELETE FROM tokens WHERE id IN ({marks})", list(chunk))
                self._db.executemany("INSERT INTO changes(id) VALUES (?)", [(i,) for i in present])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            for pid in present:
                slot = self._slot_of.pop(pid)
                self._doc_of.pop(pid, None)
                self._live[slot] = False
                self._slot_ids[slot] = None
            self._ann_dirty = True
            self._apply_changes()
        return len(present)

    def delete_documents(self, doc_ids: Sequence[str]) -> int:
        wanted = set(doc_ids)
        return self.delete([pid for pid, d in self._doc_of.items() if d in wanted])

    def passage_ids_of(self, doc_ids: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for chunk in _chunks(list(dict.fromkeys(doc_ids))):
            marks = ",".join("?" * len(chunk))
            for pid, doc_id in self._db.execute(
                f"SELECT id, doc_id FROM passages WHERE doc_id IN ({marks}) ORDER BY id", list(chunk)
            ):
                out.setdefault(doc_id, []).append(pid)
        return out

    def _apply_changes(self) -> None:
        """Bring tantivy up to date with the change log, then clear the applied entries."""
        pending = self._db.execute("SELECT seq, id FROM changes ORDER BY seq").fetchall()
        if not pending:
            return
        max_seq = pending[-1][0]
        ids = list(dict.fromkeys(p[1] for p in pending))
        writer = self._tantivy.writer(WRITER_HEAP, 1)
        try:
            for pid in ids:
                writer.delete_documents_by_term("id", pid)
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                for pid, doc_id, title, text, metadata in self._db.execute(
                    f"SELECT id, doc_id, title, text, metadata FROM passages WHERE id IN ({marks})",
                    list(chunk),
                ):
                    doc = tantivy.Document(id=pid, doc_id=doc_id, title=title, text=text)
                    meta = json.loads(metadata)
                    if meta:
                        doc.add_json("meta", {k: v for k, v in meta.items() if _is_scalar(v)})
                    writer.add_document(doc)
            writer.commit()
            writer.wait_merging_threads()
        except BaseException:
            with contextlib.suppress(Exception):
                writer.rollback()
            raise
        self._db.execute("DELETE FROM changes WHERE seq <= ?", (max_seq,))
        self._tantivy.reload()

    def _token_blobs(self, title: str, text: str) -> tuple[bytes, bytes]:
        def blob(value: str) -> bytes:
            return token_hashes(self._analyzer.analyze(value) if value else []).tobytes()

        return blob(title), blob(text)

    def _fill_token_streams(self) -> None:
        """Store the token streams of passages written before the index kept them (a one-time upgrade)."""
        self._db.execute(TOKENS_SQL)
        missing = self._db.execute(
            "SELECT p.id, p.title, p.text FROM passages p LEFT JOIN tokens t ON t.id = p.id WHERE t.id IS NULL"
        ).fetchall()
        if not missing:
            return
        log.info("index.token_streams.backfill", index=self._name, passages=len(missing))
        rows = [(pid, *self._token_blobs(title, text)) for pid, title, text in missing]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany("INSERT OR REPLACE INTO tokens(id, title, text) VALUES (?,?,?)", rows)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def compact(self) -> int:
        """Rewrite the vector file without the rows of replaced or deleted passages; returns rows freed."""
        with self._write_lock():
            dead = len(self._live) - int(self._live.sum())
            if dead == 0:
                return 0
            gen = int((self._get_meta("vector_file") or "vectors-0.f32").split("-")[1].split(".")[0]) + 1
            new_name = f"vectors-{gen}.f32"
            new_file = VectorFile(self.path / new_name, self._spec.dim)
            new_file.truncate(0)
            live_slots = np.flatnonzero(self._live)
            for i in range(0, len(live_slots), 65536):
                new_file.append(np.asarray(self._vectors.matrix[live_slots[i : i + 65536]]))
            mapping = [(int(new), self._slot_ids[int(old)]) for new, old in enumerate(live_slots)]
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("UPDATE passages SET slot = -slot - 1")
                self._db.executemany("UPDATE passages SET slot=? WHERE id=?", mapping)
                self._set_meta("vector_file", new_name)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                (self.path / new_name).unlink(missing_ok=True)
                raise
            old_path = self._vectors.path
            self._vectors = new_file
            old_path.unlink(missing_ok=True)
            self._ann = None
            for stale in self.path.glob("ann-*"):
                stale.unlink()
            self._load_slots()
            return dead

    # ---- reads ------------------------------------------------------------------------------
    def content_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            out.update(self._db.execute(f"SELECT id, hash FROM passages WHERE id IN ({marks})", list(chunk)))
        return out

    def get(self, ids: Sequence[str]) -> list[Passage]:
        found: dict[str, Passage] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            for pid, doc_id, title, text, metadata in self._db.execute(
                f"SELECT id, doc_id, title, text, metadata FROM passages WHERE id IN ({marks})", list(chunk)
            ):
                found[pid] = Passage(
                    id=pid, doc_id=doc_id, title=title, text=text, metadata=json.loads(metadata)
                )
        return [found[i] for i in ids if i in found]

    def vectors(self, ids: Sequence[str]) -> dict[str, Vector]:
        with self._lock:
            pairs = [(i, self._slot_of[i]) for i in ids if i in self._slot_of]
            return dict(zip([p[0] for p in pairs], self._vectors.get([p[1] for p in pairs]), strict=True))

    def token_streams(self, ids: Sequence[str]) -> dict[str, tuple[NDArray[np.int64], NDArray[np.int64]]]:
        """{id: (title, text) analyzed token hashes} as stored at write time, for LTR features."""
        out: dict[str, tuple[NDArray[np.int64], NDArray[np.int64]]] = {}
        if not self._has_tokens:  # an index from before token streams, opened while another process writes it
            self._has_tokens = (
                self._db.execute(
                    "SELECT 1 FROM sqlite_master WHERE type='table' AND name='tokens'"
                ).fetchone()
                is not None
            )
            if not self._has_tokens:
                return out
        for chunk in _chunks(list(dict.fromkeys(ids))):
            marks = ",".join("?" * len(chunk))
            for pid, title, text in self._db.execute(
                f"SELECT id, title, text FROM tokens WHERE id IN ({marks})", list(chunk)
            ):
                out[pid] = (np.frombuffer(title, dtype=np.int64), np.frombuffer(text, dtype=np.int64))
        return out

    def analyze(self, text: str) -> list[str]:
        """The analyzer's tokens for `text` (what BM25 matches on)."""
        return list(self._analyzer.analyze(text))

    def doc_freqs(self, tokens: Sequence[str]) -> tuple[int, dict[str, int]]:
        """(live passages, {token: passages holding it}) for IDF features; a token's count is the larger
        of its title and text document frequencies (tantivy keeps them per field)."""
        searcher = self._tantivy.searcher()
        return searcher.num_docs, {
            t: max(searcher.doc_freq("title", t), searcher.doc_freq("text", t)) for t in tokens
        }

    def _field_query(self, field: str, tokens: list[str]) -> tantivy.Query:
        return tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Should, tantivy.Query.term_query(self._schema, field, t, index_option="freq"))
                for t in tokens
            ]
        )

    def _filter_clauses(self, filters: Filters | None) -> list[tuple[tantivy.Occur, tantivy.Query]]:
        clauses = []
        for key, value in (filters or {}).items():
            term = tantivy.Query.term_query(self._schema, f"meta.{key}", value)
            clauses.append((tantivy.Occur.Must, tantivy.Query.const_score_query(term, 0.0)))
        return clauses

    def _search(self, query: tantivy.Query, limit: int) -> list[tuple[str, float]]:
        searcher = self._tantivy.searcher()
        result = searcher.search(query, limit, count=False)
        return [(searcher.doc(addr)["id"][0], score / (1.0 + BM25_K1)) for score, addr in result.hits]

    def bm25_search(
        self, query: str, k: int, boosts: FieldBoosts | None = None, filters: Filters | None = None
    ) -> list[ScoredId]:
        b = boosts or FieldBoosts()
        tokens = self.analyze(query)
        if not tokens or k <= 0:
            return []
        dismax = tantivy.Query.disjunction_max_query(
            [
                tantivy.Query.boost_query(self._field_query("title", tokens), b.title),
                tantivy.Query.boost_query(self._field_query("text", tokens), b.text),
            ],
            tie_breaker=b.tie_breaker,
        )
        clauses = self._filter_clauses(filters)
        q = tantivy.Query.boolean_query([(tantivy.Occur.Must, dismax), *clauses]) if clauses else dismax
        hits = self._search(q, k)
        return [ScoredId(pid, self._doc_of.get(pid, pid), s) for pid, s in hits]

    def field_scores(
        self, query: str, ids: Sequence[str], boosts: FieldBoosts | None = None
    ) -> dict[str, FieldScores]:
        b = boosts or FieldBoosts()
        ids = [i for i in dict.fromkeys(ids) if i in self._slot_of]
        tokens = self.analyze(query)
        per_field: dict[str, dict[str, float]] = {"title": {}, "text": {}}
        if tokens and ids:
            only = tantivy.Query.const_score_query(tantivy.Query.term_set_query(self._schema, "id", ids), 0.0)
            for field in per_field:
                q = tantivy.Query.boolean_query(
                    [(tantivy.Occur.Must, self._field_query(field, tokens)), (tantivy.Occur.Must, only)]
                )
                per_field[field] = dict(self._search(q, len(ids)))
        out = {}
        for pid in ids:
            title = per_field["title"].get(pid)
            text = per_field["text"].get(pid)
            out[pid] = FieldScores(title=title, text=text, best_fields=best_fields_score(title, text, b))
        return out

    def vector_search(self, vector: Vector, k: int, filters: Filters | None = None) -> list[ScoredId]:
        q = normalize_rows(np.asarray(vector, dtype=np.float32).reshape(1, -1))[0]
        if q.shape[0] != self._spec.dim:
            raise InvalidInputError(
                f"query vector has dimension {q.shape[0]}, index {self._name!r} has {self._spec.dim}"
            )
        ann = self._ann_index()
        if ann is not None:
            with self._lock:
                mask = None if not filters else self._live & self._filter_mask(filters)
                hits = ann.search(q, k, mask)
                return [
                    ScoredId(pid, self._doc_of.get(pid, pid), score)
                    for slot, score in hits
                    if (pid := self._slot_ids[slot]) is not None
                ]
        with self._lock:
            matrix = self._vectors.matrix
            mask = self._live if not filters else self._live & self._filter_mask(filters)
            slot_ids = self._slot_ids
        n = min(len(mask), matrix.shape[0])
        if k <= 0 or n == 0:
            return []
        scores = np.where(mask[:n], cosine_scores(matrix[:n], q), -np.inf).astype(np.float32)
        out = []
        for slot in top_k(scores, k):
            pid = slot_ids[int(slot)]
            if pid is not None:
                out.append(ScoredId(pid, self._doc_of.get(pid, pid), float(scores[slot])))
        return out

    def _ann_index(self) -> ApproximateVectors | None:
        """The approximate index when configured (IVF when `auto` and the index is large), synced with the
        store; None for exact search."""
        kind = self.vector_index
        if kind == "auto":
            kind = "ivf" if self.count() >= AUTO_ANN_ROWS else "exact"
        if kind == "exact":
            return None
        with self._lock:
            if self._ann is None:
                gen = (self._get_meta("vector_file") or "vectors-0.f32").removesuffix(".f32")
                if kind == "hnsw":
                    self._ann = HnswVectors(self.path / f"ann-{gen}.usearch", self._spec.dim)
                else:
                    self._ann = IvfVectors(self.path / f"ann-{gen}.faiss", self._spec.dim)
            if self._ann_dirty or len(self._ann) == 0:
                self._ann.sync(self._vectors.matrix, self._live)
                self._ann_dirty = False
            return self._ann

    def _filter_mask(self, filters: Filters) -> np.ndarray:
        clauses = " AND ".join("json_extract(metadata, ?) = ?" for _ in filters)
        params: list[Any] = []
        for key, value in filters.items():
            params += [f'$."{key}"', int(value) if isinstance(value, bool) else value]
        mask = np.zeros(len(self._live), dtype=bool)
        slots = [r[0] for r in self._db.execute(f"SELECT slot FROM passages WHERE {clauses}", params)]
        mask[slots] = True
        return mask

    def describe(self) -> dict[str, Any]:
        size = sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
        return {
            "name": self._name,
            "backend": "embedded",
            "path": str(self.path),
            "passages": self.count(),
            "documents": len(set(self._doc_of.values())),
            "embedding_model": self._spec.embedding_model,
            "dim": self._spec.dim,
            "analyzer": self._spec.analyzer.to_dict(),
            "vector_rows": self._vectors.rows,
            "dead_vector_rows": int(len(self._live) - self._live.sum()),
            "created_at": self._get_meta("created_at"),
            "bytes_on_disk": size,
        }

    def close(self) -> None:
        with self._lock:
            if self._ann is not None:
                with contextlib.suppress(OSError):
                    self._ann.save()
            self._db.close()

    def __enter__(self) -> EmbeddedIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_scalar(v: object) -> bool:
    return isinstance(v, str | int | float | bool)
