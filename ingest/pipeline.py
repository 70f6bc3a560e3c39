"""Batch ingestion: skip unchanged passages by content hash, embed the rest, upsert them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import structlog

from ragsearch.ingest.readers import ReadError, Record
from ragsearch.retrieval.embedding import Embedder, check_compatible, passage_text
from ragsearch.retrieval.index import SearchIndex
from ragsearch.retrieval.types import EmbeddedPassage, Passage

log = structlog.get_logger(__name__)

ProgressFn = Callable[[int], None]
"""Called with the number of records just handled (written, skipped or failed)."""


@dataclass(slots=True)
class IngestReport:
    """Counts of documents (a JSONL record is a document) and what happened to the rest, with reasons."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: list[ReadError] = field(default_factory=list)
    embedded: int = 0
    seconds: float = 0.0
    skipped: list[ReadError] = field(default_factory=list)
    """Read without error but nothing to index (an empty file, a record without title and text): not a
    failure."""
    warnings: list[ReadError] = field(default_factory=list)
    """Ingested, with something worth knowing (e.g. not UTF-8, a wrong extension)."""
    removed: int = 0
    """Documents deleted because they are empty now or (with --prune) their file is gone."""
    passages: int = 0
    """Passages written (embedded or with a reused vector)."""
    ignored: int = 0
    """Files under the given folders left out by extension, globs or being hidden."""
    encodings: dict[str, int] = field(default_factory=dict)
    """Documents read per text encoding (`utf-8`, `cp1251`, ...): the detected one where not UTF-8."""

    @property
    def passages_per_second(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": [str(e) for e in self.failed],
            "embedded": self.embedded,
            "skipped": [str(e) for e in self.skipped],
            "warnings": [str(e) for e in self.warnings],
            "removed": self.removed,
            "passages": self.passages,
            "ignored": self.ignored,
            "encodings": dict(self.encodings),
            "seconds": round(self.seconds, 3),
            "passages_per_second": round(self.passages_per_second, 1),
        }


def ingest_records(
    records: Iterable[Record],
    index: SearchIndex,
    embedder: Embedder,
    batch_size: int = 256,
    progress: ProgressFn | None = None,
) -> IngestReport:
    """Write passages to `index`; a record equal to the stored one (same content hash) is skipped."""
    check_compatible(index.spec, embedder, index.name)
    report = IngestReport()
    start = time.perf_counter()
    batch: dict[str, Passage] = {}

    def flush() -> None:
        if not batch:
            return
        passages = list(batch.values())
        hashes = {p.id: p.content_hash() for p in passages}
        stored = index.content_hashes(list(hashes))
        todo = [p for p in passages if stored.get(p.id) != hashes[p.id]]
        report.unchanged += len(passages) - len(todo)
        if todo:
            vectors = embedder.embed_documents([passage_text(p.title, p.text) for p in todo])
            index.upsert([EmbeddedPassage(p, v, hashes[p.id]) for p, v in zip(todo, vectors, strict=True)])
            report.embedded += len(todo)
            report.passages += len(todo)
            for p in todo:
                if p.id in stored:
                    report.updated += 1
                else:
                    report.added += 1
        if progress:
            progress(len(passages))
        batch.clear()

    for rec in records:
        if isinstance(rec, ReadError) and rec.skipped:
            report.skipped.append(rec)
            if progress:
                progress(1)
            continue
        if isinstance(rec, ReadError):
            report.failed.append(rec)
            log.warning("ingest.skipped", source=rec.source, line=rec.line, reason=rec.reason)
            if progress:
                progress(1)
            continue
        batch.pop(rec.id, None)
        batch[rec.id] = rec
        if len(batch) >= batch_size:
            flush()
    flush()
    report.seconds = time.perf_counter() - start
    return report
