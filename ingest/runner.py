"""Ingest files and folders: find, check, parse, chunk, embed, write, prune; bad files never stop the run.

Phases: (1) find the files; (2) hash each document file and ask the index for its marker passage, so an
unchanged file costs one read and no parsing; (3) parse and chunk the changed files on a background thread
while the main thread embeds and writes (torch releases the GIL, so parsing overlaps embedding); (4) JSONL
corpora, record by record; (5) with `prune`, delete documents whose files are gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from ragsearch.ingest.chunking import Chunker
from ragsearch.ingest.documents import build_passages, document_hash, file_hash, passage_id
from ragsearch.ingest.files import SourceFile, discover
from ragsearch.ingest.manifest import Manifest
from ragsearch.ingest.parsers import ParseError, parse_bytes
from ragsearch.ingest.pipeline import IngestReport, ingest_records
from ragsearch.ingest.readers import ReadError, parse_record, read_jsonl
from ragsearch.ingest.writer import MARKER_COUNT_KEY, DocumentWriter, is_complete
from ragsearch.retrieval.embedding import Embedder, check_compatible
from ragsearch.retrieval.index import SearchIndex
from ragsearch.retrieval.types import Passage

log = structlog.get_logger(__name__)

CHECK_BATCH = 256


@dataclass(frozen=True, slots=True)
class IngestOptions:
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    prune: bool = False
    batch_size: int = 1024
    """Passages per write: each write has a fixed cost (~0.15 s on the embedded backend), so it is large;
    embedding runs in the embedder's own smaller batches."""
    max_file_bytes: int = 50 * 1024 * 1024
    parse_ahead: int = 8
    """Parsed documents the background thread may hold before the writer takes them."""


@dataclass(slots=True)
class IngestStatus:
    """A snapshot for progress displays."""

    files_total: int = 0
    files_done: int = 0
    bytes_total: int = 0
    bytes_done: float = 0
    passages: int = 0
    started: float = field(default_factory=time.perf_counter)

    @property
    def passages_per_second(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.passages / elapsed if elapsed > 0 else 0.0


StatusFn = Callable[[IngestStatus], None]


@dataclass(slots=True)
class _Parsed:
    file: SourceFile
    doc_hash: str
    old_count: int
    """Passages of the stored version (0: none stored)."""
    passages: list[Passage] | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    encoding: str | None = None


def shown(path: Path) -> str:
    """A path as the user would type it: relative to the working folder when under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class _Run:
    def __init__(
        self,
        index: SearchIndex,
        embedder: Embedder,
        chunker: Chunker,
        manifest: Manifest,
        options: IngestOptions,
        progress: StatusFn | None,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.chunker = chunker
        self.manifest = manifest
        self.options = options
        self.progress = progress
        self.report = IngestReport()
        self.status = IngestStatus()
        self.seen: set[str] = set()
        self.protected_sources: set[str] = set()
        """Sources that failed to read: their documents are kept, not pruned."""

    def tick(self, files: int = 0, size: float = 0, passages: int = 0) -> None:
        self.status.files_done += files
        self.status.bytes_done += size
        self.status.passages += passages
        if self.progress:
            self.progress(self.status)

    def fail(self, file: SourceFile, reason: str) -> None:
        self.report.failed.append(ReadError(shown(file.path), 0, reason))
        self.protected_sources.add(str(file.path))
        log.info("ingest.failed", source=str(file.path), reason=reason)

    # ---- phase 2: which documents changed ------------------------------------------------------
    def check(self, files: list[SourceFile]) -> list[tuple[SourceFile, str, int]]:
        todo: list[tuple[SourceFile, str, int]] = []
        limit = self.options.max_file_bytes
        for start in range(0, len(files), CHECK_BATCH):
            hashed: list[tuple[SourceFile, str]] = []
            for f in files[start : start + CHECK_BATCH]:
                if f.size > limit:
                    self.fail(
                        f,
                        f"file too large: {mib(f.size)}, over the {mib(limit)} limit "
                        "(raise RAGSEARCH_INGEST_MAX_FILE_MB or split the file)",
                    )
                    self.tick(files=1, size=f.size)
                    continue
                try:
                    hashed.append((f, document_hash(file_hash(f.path), self.chunker.signature)))
                except OSError as exc:
                    self.fail(f, f"cannot read: {exc.strerror or exc}")
                    self.tick(files=1, size=f.size)
            hashed = self.refuse_collisions(hashed)
            self.manifest.register((f.doc_id, f.root, f.path) for f, _ in hashed)
            markers = {p.doc_id: p for p in self.index.get([passage_id(f.doc_id, 0) for f, _ in hashed])}
            for f, h in hashed:
                marker = markers.get(f.doc_id)
                if is_complete(marker, h):
                    self.report.unchanged += 1
                    self.tick(files=1, size=f.size)
                else:
                    todo.append(
                        (f, h, 0 if marker is None else int(marker.metadata.get(MARKER_COUNT_KEY, 1)))
                    )
        return todo

    def refuse_collisions(self, hashed: list[tuple[SourceFile, str]]) -> list[tuple[SourceFile, str]]:
        """Documents whose id already names another file, one still there, ingested from another folder
        (`guide/install.md` of two folders) are refused, naming both: replacing it would silently lose the
        other. A folder that moved (the recorded file is gone) keeps its ids."""
        known = self.manifest.sources([f.doc_id for f, _ in hashed])
        kept = []
        for f, h in hashed:
            root, source = known.get(f.doc_id, (str(f.root), str(f.path)))
            if root != str(f.root) and source != str(f.path) and Path(source).exists():
                self.fail(f, collision(f.doc_id, Path(source), f.path))
                self.tick(files=1, size=f.size)
            else:
                kept.append((f, h))
        return kept

    # ---- phase 3: parse on a thread, embed and write here ----------------------------------------
    def parse_one(self, f: SourceFile, doc_hash: str, old_count: int) -> _Parsed:
        item = _Parsed(f, doc_hash, old_count)
        try:
            data = f.path.read_bytes()
            # The file may have changed since it was hashed: the hash must describe what is indexed.
            item.doc_hash = document_hash(file_hash_bytes(data), self.chunker.signature)
            doc = parse_bytes(data, f.path)
            item.notes = doc.notes
            item.encoding = doc.metadata.get("encoding")
            item.passages = build_passages(f.doc_id, f.path, doc, self.chunker)
        except ParseError as exc:
            item.error = str(exc)
        except OSError as exc:
            item.error = f"cannot read: {exc.strerror or exc}"
        except Exception as exc:  # a parser bug on one file must not stop the run
            item.error = f"unexpected {type(exc).__name__} while parsing: {exc}"
        return item

    def parsed_in_background(self, todo: list[tuple[SourceFile, str, int]]) -> Iterator[_Parsed]:
        q: queue.Queue[_Parsed | None] = queue.Queue(maxsize=self.options.parse_ahead)
        stop = threading.Event()

        def produce() -> None:
            try:
                for f, h, old_count in todo:
                    if stop.is_set():
                        return
                    q.put(self.parse_one(f, h, old_count))
            finally:
                q.put(None)

        thread = threading.Thread(target=produce, name="ingest-parse", daemon=True)
        thread.start()
        try:
            while (item := q.get()) is not None:
                yield item
        finally:
            stop.set()
            while thread.is_alive():  # unblock a producer waiting on a full queue
                with contextlib.suppress(queue.Empty):
                    q.get(timeout=0.1)

    def write_documents(self, todo: list[tuple[SourceFile, str, int]]) -> None:
        writer = DocumentWriter(
            self.index,
            self.embedder,
            self.options.batch_size,
            on_progress=lambda n, size: self.tick(passages=n, size=size),
        )
        for item in self.parsed_in_background(todo):
            f = item.file
            for note in item.notes:
                self.report.warnings.append(ReadError(shown(f.path), 0, note))
            if item.encoding:
                self.report.encodings[item.encoding] = self.report.encodings.get(item.encoding, 0) + 1
            if item.error is not None:
                kept = "; the previous version stays indexed" if item.old_count else ""
                self.fail(f, item.error + kept)
            elif not item.passages:
                removed = writer.remove(f.doc_id)
                gone = f" ({removed} old passages removed)" if removed else ""
                self.report.skipped.append(ReadError(shown(f.path), 0, f"empty: no text to index{gone}"))
            else:
                old_ids = [passage_id(f.doc_id, i) for i in range(len(item.passages), item.old_count)]
                writer.add(
                    f.doc_id, item.passages, item.doc_hash, item.old_count > 0, weight=f.size, old_ids=old_ids
                )
                self.tick(files=1)  # its bytes count as its passages are embedded
                continue
            self.tick(files=1, size=f.size)
        writer.finish()
        s = writer.stats
        self.report.added += s.added
        self.report.updated += s.updated
        self.report.removed += s.removed
        self.report.passages += s.passages
        self.report.embedded += s.embedded
        log.info(
            "ingest.documents", passages=s.passages, embedded=s.embedded, reused=s.reused,
            embed_seconds=round(s.embed_seconds, 2), write_seconds=round(s.write_seconds, 2),
        )  # fmt: skip

    # ---- phase 4: JSONL corpora ----------------------------------------------------------------
    def ingest_record_file(self, f: SourceFile) -> None:
        ids = record_doc_ids(f.path)
        self.seen.update(ids)
        self.manifest.register((doc_id, f.root, f.path) for doc_id in ids)
        sub = ingest_records(
            read_jsonl(f.path),
            self.index,
            self.embedder,
            batch_size=self.options.batch_size,
            progress=lambda n: self.tick(passages=n),
        )
        for attr in ("added", "updated", "unchanged", "embedded", "passages"):
            setattr(self.report, attr, getattr(self.report, attr) + getattr(sub, attr))
        self.report.skipped.extend(sub.skipped)
        if sub.failed:
            self.report.failed.extend(sub.failed)
            self.protected_sources.add(str(f.path))
        self.tick(files=1, size=f.size)

    # ---- phase 5: prune ------------------------------------------------------------------------
    def prune(self, roots: list[Path]) -> None:
        for root in roots:
            known = self.manifest.documents_under(root)
            gone = [d for d, src in known.items() if d not in self.seen and src not in self.protected_sources]
            for start in range(0, len(gone), CHECK_BATCH):
                batch = gone[start : start + CHECK_BATCH]
                self.index.delete_documents(batch)
                self.manifest.remove(batch)
            self.report.removed += len(gone)
            if gone:
                log.info("ingest.pruned", root=str(root), documents=len(gone))


def collision(doc_id: str, holder: Path, other: Path) -> str:
    return (
        f"same document id {doc_id!r} as {shown(holder)}: {shown(other)} would replace it; ingest the two "
        "folders into separate indexes, or delete the other document first (`ragsearch delete`)"
    )


def mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB" if size >= 10 * 2**20 else f"{size / 2**20:.2g} MiB"


def file_hash_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_doc_ids(path: Path) -> list[str]:
    """Document ids of the valid records of a JSONL file (invalid lines are reported when ingesting)."""
    ids: dict[str, None] = {}
    with open(path, "rb") as f:
        for raw in f:
            try:
                ids[parse_record(json.loads(raw)).doc_id] = None
            except (ValueError, UnicodeDecodeError):
                continue
    return list(ids)


def ingest_paths(
    paths: Sequence[Path],
    index: SearchIndex,
    embedder: Embedder,
    chunker: Chunker,
    manifest: Manifest,
    options: IngestOptions | None = None,
    progress: StatusFn | None = None,
) -> IngestReport:
    """Bring `index` up to date with the files under `paths`; every problem is one line in the report."""
    check_compatible(index.spec, embedder, index.name)
    run = _Run(index, embedder, chunker, manifest, options or IngestOptions(), progress)
    found = discover(paths, run.options.include, run.options.exclude)
    run.report.ignored = found.ignored
    run.status.files_total = len(found.files)
    run.status.bytes_total = sum(f.size for f in found.files)
    documents: list[SourceFile] = []
    records: list[SourceFile] = []
    first_of: dict[str, SourceFile] = {}
    first_path: dict[Path, SourceFile] = {}
    for f in found.files:
        if f.path in first_path:  # overlapping arguments (a folder and a file or subfolder in it)
            run.report.warnings.append(
                ReadError(shown(f.path), 0, f"given twice: ingested once, as {first_path[f.path].doc_id!r}")
            )
            run.status.files_total -= 1
            run.status.bytes_total -= f.size
            continue
        first_path[f.path] = f
        if f.records:
            records.append(f)
            continue
        if f.doc_id in first_of:
            run.fail(f, collision(f.doc_id, first_of[f.doc_id].path, f.path))
            run.tick(files=1, size=f.size)
            continue
        first_of[f.doc_id] = f
        run.seen.add(f.doc_id)
        documents.append(f)
    run.tick()
    run.write_documents(run.check(documents))
    for f in records:
        run.ingest_record_file(f)
    if run.options.prune:
        run.prune(found.roots)
    run.report.seconds = time.perf_counter() - run.status.started
    return run.report
