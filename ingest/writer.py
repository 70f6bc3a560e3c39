"""Write whole documents so that a crash at any moment leaves nothing a re-run cannot repair.

Protocol used: `get`, `vectors`, `delete_documents`, `upsert` (no backend-specific call).

The first passage of a document (`<doc_id>#0`) is its *marker*: its metadata holds the document hash and
passage count, and it is written last, in an upsert call after every other passage of the document. So
"the marker is there with this hash" means "the whole document is there, in this version". Writing a
document:

1. delete every stored passage of the document (`delete_documents`): the old version, or what a crashed
   run left half-written; vectors of stored passages whose text recurs in the new version are kept in
   memory first, so an edited document re-embeds only its changed passages;
2. upsert the other passages, in batches shared with other documents;
3. upsert the marker, in a later upsert call than every other passage of the document (it rides with the
   next batch, so this costs no extra write).

A crash before 3 leaves no marker, so the next run redoes the document from 1; a crash after 3 leaves the
document complete. Either way: no duplicates (ids follow from document and position), no orphans (step 1
removes every passage of the document id, however many the older version had).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ragsearch.retrieval.embedding import Embedder, passage_text
from ragsearch.retrieval.index import SearchIndex
from ragsearch.retrieval.types import EmbeddedPassage, Passage, Vector

MARKER_HASH_KEY = "doc_hash"
MARKER_COUNT_KEY = "passages"


def is_complete(marker: Passage | None, doc_hash: str) -> bool:
    return marker is not None and marker.metadata.get(MARKER_HASH_KEY) == doc_hash


@dataclass(slots=True)
class _Doc:
    doc_id: str
    ids: list[str]
    hashes: dict[str, str]
    texts: dict[str, str]
    existed: bool
    old_ids: tuple[str, ...] = ()
    share: float = 0.0
    cleared: bool = False
    reuse: dict[str, Vector] = field(default_factory=dict)


@dataclass(slots=True)
class WriterStats:
    added: int = 0
    updated: int = 0
    removed: int = 0
    passages: int = 0
    embedded: int = 0
    reused: int = 0
    embed_seconds: float = 0.0
    write_seconds: float = 0.0


class DocumentWriter:
    """Batches passages of many documents into embedding calls and writes them marker-last."""

    def __init__(
        self,
        index: SearchIndex,
        embedder: Embedder,
        batch_size: int = 1024,
        on_progress: Callable[[int, float], None] | None = None,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.batch_size = batch_size
        self.on_progress = on_progress
        """Called with the number of passages just embedded (or given a kept vector) and their share of
        their documents' `weight` (e.g. bytes), for progress and ETA."""
        self.stats = WriterStats()
        self._queue: list[Passage] = []
        self._docs: dict[str, _Doc] = {}
        self._held: list[EmbeddedPassage] = []

    def add(
        self,
        doc_id: str,
        passages: list[Passage],
        doc_hash: str,
        existed: bool,
        weight: float = 0.0,
        old_ids: Sequence[str] = (),
    ) -> None:
        """Queue a whole document (at least one passage) for writing; writes full batches as they fill.

        `old_ids` names the stored version's passages beyond the new ones (from its marker), so their
        vectors can be reused when their text moved to another position."""
        if not passages:
            raise ValueError("a document needs at least one passage; use remove() for an empty one")
        if doc_id in self._docs:
            raise ValueError(f"document {doc_id!r} was added twice in one run")
        first = passages[0]
        marker = dataclasses.replace(
            first, metadata={**first.metadata, MARKER_HASH_KEY: doc_hash, MARKER_COUNT_KEY: len(passages)}
        )
        ordered = [*passages[1:], marker]
        self._docs[doc_id] = _Doc(
            doc_id,
            [p.id for p in ordered],
            {p.id: p.content_hash() for p in ordered},
            {p.id: passage_text(p.title, p.text) for p in ordered},
            existed,
            old_ids=tuple(old_ids),
            share=weight / len(passages),
        )
        self._queue.extend(ordered)
        while len(self._queue) >= self.batch_size:
            self._flush(self.batch_size)

    def remove(self, doc_id: str) -> int:
        """Delete every passage of a document that has none now (e.g. the file became empty)."""
        n = self.index.delete_documents([doc_id])
        if n:
            self.stats.removed += 1
        return n

    def finish(self) -> None:
        while self._queue:
            self._flush(self.batch_size)
        self._write(self._held)
        self._held = []

    def _write(self, passages: list[EmbeddedPassage]) -> None:
        if not passages:
            return
        self.index.upsert(passages)
        for ep in passages:
            if ep.passage.id == self._docs[ep.passage.doc_id].ids[-1]:
                doc = self._docs.pop(ep.passage.doc_id)
                if doc.existed:
                    self.stats.updated += 1
                else:
                    self.stats.added += 1

    def _progress_of(self, todo: list[Passage]) -> Callable[[int], None] | None:
        """An embedder progress callback that also reports the weight of the passages just embedded."""
        report = self.on_progress
        if report is None:
            return None
        shares = [self._docs[p.doc_id].share for p in todo]
        done = 0

        def progress(n: int) -> None:
            nonlocal done
            report(n, sum(shares[done : done + n]))
            done += n

        return progress

    def _clear(self, docs: list[_Doc]) -> None:
        """Keep the vectors of stored passages whose embedded text recurs in the new version (wherever
        it moved), then delete everything stored under these documents."""
        candidates = list(dict.fromkeys(pid for d in docs for pid in (*d.ids, *d.old_ids)))
        stored_id = {(p.doc_id, passage_text(p.title, p.text)): p.id for p in self.index.get(candidates)}
        wanted = {
            pid: stored_id[(d.doc_id, d.texts[pid])]
            for d in docs
            for pid in d.ids
            if (d.doc_id, d.texts[pid]) in stored_id
        }
        kept = self.index.vectors(list(set(wanted.values()))) if wanted else {}
        for d in docs:
            d.reuse = {pid: kept[wanted[pid]] for pid in d.ids if pid in wanted and wanted[pid] in kept}
        self.index.delete_documents([d.doc_id for d in docs])
        for d in docs:
            d.cleared = True

    def _flush(self, n: int) -> None:
        items, self._queue = self._queue[:n], self._queue[n:]
        t0 = time.perf_counter()
        docs = list({self._docs[p.doc_id].doc_id: self._docs[p.doc_id] for p in items}.values())
        fresh = [d for d in docs if not d.cleared]
        if fresh:
            self._clear(fresh)
        vectors: dict[str, Vector] = {}
        todo: list[Passage] = []
        kept_share = 0.0
        for p in items:
            doc = self._docs[p.doc_id]
            v = doc.reuse.pop(p.id, None)
            if v is None:
                todo.append(p)
            else:
                vectors[p.id] = v
                kept_share += doc.share
        t1 = time.perf_counter()
        if todo:
            embedded = self.embedder.embed_documents(
                [passage_text(p.title, p.text) for p in todo], progress=self._progress_of(todo)
            )
            vectors.update(zip([p.id for p in todo], embedded, strict=True))
        t2 = time.perf_counter()
        markers = {p.id for p in items if p.id == self._docs[p.doc_id].ids[-1]}

        def with_vector(p: Passage) -> EmbeddedPassage:
            return EmbeddedPassage(p, vectors[p.id], self._docs[p.doc_id].hashes[p.id])

        # Markers of documents fully written by earlier calls go out with this call's other passages; this
        # batch's markers wait for the next call, so a marker never shares a write with its own document.
        self._write([with_vector(p) for p in items if p.id not in markers] + self._held)
        self._held = [with_vector(p) for p in items if p.id in markers]
        t3 = time.perf_counter()
        self.stats.passages += len(items)
        self.stats.embedded += len(todo)
        self.stats.reused += len(items) - len(todo)
        self.stats.embed_seconds += t2 - t1
        self.stats.write_seconds += (t1 - t0) + (t3 - t2)
        if self.on_progress and len(items) > len(todo):
            self.on_progress(len(items) - len(todo), kept_share)
