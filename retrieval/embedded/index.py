"""One embedded index: the write order, crash recovery by the writer, how readers notice other processes'
writes, and check/repair. The multi-process rules are stated in the package docstring."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import tantivy
from numpy.typing import NDArray

from ragsearch.retrieval.analysis import build_analyzer, token_hashes
from ragsearch.retrieval.embedded import maintenance
from ragsearch.retrieval.embedded.bm25 import Bm25
from ragsearch.retrieval.embedded.lock import WriteLock
from ragsearch.retrieval.embedded.store import FIRST_VECTOR_FILE, Store
from ragsearch.retrieval.embedded.vectors import Vectors
from ragsearch.retrieval.embedding import Embedder, check_compatible
from ragsearch.retrieval.errors import IndexCorruptError, InvalidInputError, RagsearchError
from ragsearch.retrieval.index import Filters, IndexCheck, RepairReport, check_filters, check_metadata
from ragsearch.retrieval.types import (
    EmbeddedPassage,
    FieldBoosts,
    FieldScores,
    IndexSpec,
    Passage,
    ScoredId,
    Vector,
)
from ragsearch.retrieval.vector_file import VectorFile, normalize_rows

REFRESH_TRIES = 5
T = TypeVar("T")


class EmbeddedIndex:
    """One embedded index. Thread-safe; any number of processes may open it, one writes at a time."""

    def __init__(
        self,
        path: Path,
        name: str,
        create_spec: IndexSpec | None = None,
        vector_index: str = "auto",
        lock_timeout_s: float = 30.0,
    ) -> None:
        self.path = path
        self.name = name
        self.vector_index = vector_index
        self._lock = threading.RLock()  # the view (slots, maps, tantivy reader) and the SQLite connection
        self._writer = threading.Lock()  # one writing thread per instance; the file lock does processes
        self._write_lock = WriteLock(path / "write.lock", name, lock_timeout_s)
        if create_spec is not None:
            with self._write_lock.hold():
                VectorFile.create(path / FIRST_VECTOR_FILE, create_spec.dim)
                Bm25(path / "bm25", create_spec.analyzer, build_analyzer(create_spec.analyzer), create=True)
                self._store = Store(path / "store.sqlite", name, create_spec)
        else:
            self._store = Store(path / "store.sqlite", name)
        spec_json = self._store.get_meta("spec")
        if spec_json is None:
            raise RagsearchError(f"index {name!r} at {path} has no spec: it was never fully created; drop it")
        self.spec = IndexSpec.from_dict(json.loads(spec_json))
        self._analyzer = build_analyzer(self.spec.analyzer)
        self._bm25 = Bm25(path / "bm25", self.spec.analyzer, self._analyzer, create=False)
        self._vectors = Vectors(path, self.spec.dim, vector_index)
        self._generation = -1
        self._version = -1
        self._pending = 0
        self._bm25_problems: list[str] = []
        self._vector_problems: list[str] = []
        with self._lock:
            self._refresh()
        self._recover()

    # ---- properties -------------------------------------------------------------------------
    @property
    def _tantivy(self) -> tantivy.Index:
        """The tantivy index (tests read its document count)."""
        return self._bm25.index

    @property
    def _db(self) -> sqlite3.Connection:
        """The store's connection (tests query it directly)."""
        return self._store.db

    def count(self) -> int:
        self._fresh()
        return len(self._vectors.slot_of)

    # ---- seeing other processes' writes -----------------------------------------------------
    def _fresh(self) -> None:
        """Refresh the view when another connection committed since the last look (one PRAGMA)."""
        with self._lock:
            version = self._store.data_version()
            if version == self._version:
                return
            if self._store.generation() != self._generation:
                self._refresh()
            self._version = version

    def _refresh(self) -> None:
        """Rebuild the view from one read transaction; tantivy is reloaded after it, and the whole is
        retried while the generation moved meanwhile, so the counts compared below belong together."""
        for _ in range(REFRESH_TRIES):
            try:
                snap = self._store.snapshot()
                self._vectors.load(snap.vector_file, snap.rows)
            except FileNotFoundError:  # a compaction replaced the file between the two: read again
                continue
            self._bm25.reload()
            if self._store.generation() == snap.generation:
                break
        self._generation = snap.generation
        self._pending = snap.pending
        self._find_problems()

    def _find_problems(self) -> None:
        n = len(self._vectors.slot_of)
        self._bm25_problems = []
        if n and self._bm25.missing:
            self._bm25_problems = [
                f"the BM25 index ({self._bm25.path.name}/) is missing or empty, {n} passages are stored"
            ]
        elif self._pending == 0 and (docs := self._bm25.num_docs()) != n:
            self._bm25_problems = [f"the BM25 index holds {docs} documents, the store {n} passages"]
        self._vector_problems = self._vectors.problems()

    def _require(self, problems: list[str], what: str) -> None:
        if problems:
            raise IndexCorruptError(
                f"index {self.name!r} is damaged: {'; '.join(problems)}. {what} would return wrong results; "
                f"fix it with `ragsearch indexes repair {self.name}`"
            )

    # ---- writes -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _writing(self, timeout_s: float | None = None) -> Iterator[None]:
        """Hold the write lock (bounded wait), then catch up with what other processes committed: slots,
        vector file, tantivy, and any change log left by a writer that stopped."""
        with self._writer, self._write_lock.hold(timeout_s):
            with self._lock:
                self._store.ensure_same_file()
                if self._store.generation() != self._generation:
                    self._refresh()
                else:  # nothing committed elsewhere; files may still have been lost
                    self._bm25.reload()
                    self._pending = self._store.pending_count()
                    self._find_problems()
            if not self._bm25_problems and not self._vector_problems:
                self._apply_changes()
                for stale in self._vectors.stale_files():
                    stale.unlink(missing_ok=True)
            yield

    def _require_healthy(self) -> None:
        self._require(self._bm25_problems + self._vector_problems, "Writing to it")

    def upsert(self, passages: Sequence[EmbeddedPassage]) -> None:
        if not passages:
            return
        items = list({ep.passage.id: ep for ep in passages}.values())
        matrix = np.stack([np.asarray(ep.vector, dtype=np.float32).reshape(-1) for ep in items])
        if matrix.shape[1] != self.spec.dim:
            raise InvalidInputError(
                f"vectors of dimension {matrix.shape[1]} cannot go into index {self.name!r} "
                f"(built with {self.spec.embedding_model}, dimension {self.spec.dim})"
            )
        if not np.all(np.isfinite(matrix)):
            raise InvalidInputError("vectors contain NaN or infinite values; nothing was written")
        for ep in items:
            check_metadata(ep.passage.id, ep.passage.metadata)
        matrix = normalize_rows(matrix)
        streams = [(ep.passage.id, *self._token_blobs(ep.passage.title, ep.passage.text)) for ep in items]
        with self._writing():
            self._require_healthy()
            file = self._vectors.vector_file
            if not file.exists:  # lost while no passage needed it: nothing to keep
                VectorFile.create(file.path, self.spec.dim)
            try:
                start = file.append(matrix)
            except FileNotFoundError:
                raise IndexCorruptError(f"index {self.name!r}: {file.path} vanished during a write") from None
            rows = [
                (
                    ep.passage.id,
                    ep.passage.doc_id,
                    ep.passage.title,
                    ep.passage.text,
                    json.dumps(ep.passage.metadata, ensure_ascii=False, allow_nan=False),
                    ep.content_hash,
                    start + i,
                )
                for i, ep in enumerate(items)
            ]
            with self._lock:
                self._store.ensure_same_file()
                self._store.put(rows, streams)
                self._generation = self._store.generation_seen
                self._vectors.assign([(r[0], r[1], r[6]) for r in rows])
            self._apply_changes()

    def delete(self, ids: Sequence[str]) -> int:
        with self._writing():
            return self._delete(ids)

    def delete_documents(self, doc_ids: Sequence[str]) -> int:
        wanted = set(doc_ids)
        with self._writing():
            return self._delete([pid for pid, d in self._vectors.doc_of.items() if d in wanted])

    def _delete(self, ids: Sequence[str]) -> int:
        with self._lock:
            present = [i for i in dict.fromkeys(ids) if i in self._vectors.slot_of]
            if not present:
                return 0
            self._require_healthy()
            self._store.ensure_same_file()
            self._store.remove(present)
            self._generation = self._store.generation_seen
            self._vectors.forget(present)
        self._apply_changes()
        return len(present)

    def _apply_changes(self) -> int:
        """Bring tantivy up to date with the change log, then clear the applied entries (a committing
        write, so BM25 readers elsewhere reload). Returns the entries applied."""
        with self._lock:
            pending = self._store.pending()
            if not pending:
                return 0
            ids = list(dict.fromkeys(p[1] for p in pending))
            docs = list(self._store.documents(ids))
        self._bm25.apply(ids, docs)
        with self._lock:
            self._store.clear_changes(pending[-1][0])
            self._generation = self._store.generation_seen
            self._pending = 0
        return len(pending)

    def _token_blobs(self, title: str, text: str) -> tuple[bytes, bytes]:
        def blob(value: str) -> bytes:
            return token_hashes(self._analyzer.analyze(value) if value else []).tobytes()

        return blob(title), blob(text)

    def _recover(self) -> None:
        """On open: finish what a writer that stopped left (change log, token streams), if no one else
        is writing now; otherwise the writer does it. Never touches files without the write lock."""
        with self._lock:
            todo = (self._pending and not self._bm25_problems) or bool(self._store.missing_tokens())
        if not todo:
            return
        with contextlib.suppress(RagsearchError), self._writing(timeout_s=0):
            maintenance.fill_token_streams(self)

    def compact(self) -> int:
        """Write the live vectors into the next generation's file, switch to it in one transaction and
        delete the old one; returns the rows freed. Safe while other processes read the old file."""
        with self._writing():
            self._require_healthy()
            dead = self._vectors.dead_rows()
            if dead == 0:
                return 0
            self._switch_generation({})
            return dead

    def _switch_generation(self, fill: dict[str, NDArray[np.float32]]) -> None:
        """The caller holds the write lock; see `Vectors.write_generation`."""
        old = self._vectors.vector_file.path
        name, mapping = self._vectors.write_generation(fill)
        with self._lock:
            try:
                self._store.move_slots(mapping, name)
            except BaseException:
                (self.path / name).unlink(missing_ok=True)
                raise
            self._refresh()
        old.unlink(missing_ok=True)
        for stale in self._vectors.stale_files():
            stale.unlink(missing_ok=True)

    # ---- check and repair (retrieval/embedded/maintenance.py) ---------------------------------
    def check(self, wait_s: float | None = None) -> IndexCheck:
        """Compare every part with the store, under the write lock (so no write is half done); changes
        nothing. `wait_s` bounds the wait for another process's writer (None: the lock timeout)."""
        with self._writer, self._write_lock.hold(wait_s):
            return maintenance.check(self)

    def repair(self, embedder: Embedder) -> RepairReport:
        """Make every part agree with the store again; see `maintenance.repair`."""
        check_compatible(self.spec, embedder, self.name)
        with self._writer, self._write_lock.hold():
            return maintenance.repair(self, embedder)

    # ---- reads ------------------------------------------------------------------------------
    def _read(self, read: Callable[..., T], *args: Any) -> T:
        """A store read on a fresh view."""
        self._fresh()
        with self._lock:
            return read(*args)

    def content_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        return self._read(self._store.content_hashes, ids)

    def get(self, ids: Sequence[str]) -> list[Passage]:
        return self._read(self._store.get, ids)

    def passage_refs(self) -> list[tuple[str, str]]:
        return self._read(self._store.passage_refs)

    def passage_ids_of(self, doc_ids: Sequence[str]) -> dict[str, list[str]]:
        return self._read(self._store.passage_ids_of, doc_ids)

    def document(self, doc_id: str) -> list[Passage]:
        return self._read(self._store.document, doc_id)

    def vectors(self, ids: Sequence[str]) -> dict[str, Vector]:
        self._fresh()
        with self._lock:
            self._require(self._vector_problems, "Reading vectors")
            return self._vectors.get(list(ids))

    def token_streams(self, ids: Sequence[str]) -> dict[str, tuple[NDArray[np.int64], NDArray[np.int64]]]:
        """{id: (title, text) analyzed token hashes} as stored at write time, for LTR features."""
        self._fresh()
        with self._lock:
            return self._store.token_streams(ids)

    def analyze(self, text: str) -> list[str]:
        """The analyzer's tokens for `text` (what BM25 matches on)."""
        return list(self._analyzer.analyze(text))

    def doc_freqs(self, tokens: Sequence[str]) -> tuple[int, dict[str, int]]:
        """(live passages, {token: passages holding it}) for IDF features; a token's count is the larger
        of its title and text document frequencies (tantivy keeps them per field)."""
        self._fresh()
        self._require(self._bm25_problems, "BM25 statistics")
        return self._bm25.doc_freqs(tokens)

    def bm25_search(
        self, query: str, k: int, boosts: FieldBoosts | None = None, filters: Filters | None = None
    ) -> list[ScoredId]:
        check_filters(filters)
        tokens = self.analyze(query)
        if not tokens or k <= 0:
            return []
        self._fresh()
        self._require(self._bm25_problems, "BM25 search")
        hits = self._bm25.search(tokens, k, boosts or FieldBoosts(), filters)
        doc_of = self._vectors.doc_of
        return [ScoredId(pid, doc_of[pid], s) for pid, s in hits if pid in doc_of]

    def field_scores(
        self, query: str, ids: Sequence[str], boosts: FieldBoosts | None = None
    ) -> dict[str, FieldScores]:
        self._fresh()
        self._require(self._bm25_problems, "BM25 scoring")
        known = [i for i in dict.fromkeys(ids) if i in self._vectors.slot_of]
        return self._bm25.field_scores(self.analyze(query), known, boosts or FieldBoosts())

    def vector_search(self, vector: Vector, k: int, filters: Filters | None = None) -> list[ScoredId]:
        check_filters(filters)
        q = normalize_rows(np.asarray(vector, dtype=np.float32).reshape(1, -1))[0]
        if q.shape[0] != self.spec.dim:
            raise InvalidInputError(
                f"query vector has dimension {q.shape[0]}, index {self.name!r} has {self.spec.dim}"
            )
        self._fresh()
        with self._lock:
            self._require(self._vector_problems, "Dense search")
            mask = None
            if filters:
                mask = np.zeros(len(self._vectors.live), dtype=bool)
                slots = np.asarray(self._store.filter_slots(filters), dtype=np.intp)
                mask[slots[slots < len(mask)]] = True
            doc_of = self._vectors.doc_of
            return [ScoredId(pid, doc_of.get(pid, pid), s) for pid, s in self._vectors.search(q, k, mask)]

    def describe(self) -> dict[str, Any]:
        self._fresh()
        return maintenance.describe(self)

    def close(self) -> None:
        with contextlib.suppress(RagsearchError, OSError), self._writer, self._write_lock.hold(timeout_s=0):
            self._vectors.save_ann()  # derived data: saved only when no one else is writing
        with self._lock:
            self._store.close()

    def __enter__(self) -> EmbeddedIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
