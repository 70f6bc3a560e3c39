from __future__ import annotations

import asyncio
import contextlib
import errno
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
import structlog
from fastapi import APIRouter, File, HTTPException, Query, Request, UploadFile

from ragsearch.app.api.deps import ReadAuth, RuntimeDep, WriteAuth
from ragsearch.app.api.metrics import Metrics
from ragsearch.app.api.schemas import (
    DeletedOut,
    DocumentsIn,
    ErrorResponse,
    IngestOut,
    PassageOut,
    PassageView,
    ViewedPassage,
)
from ragsearch.app.services import open_or_create_index
from ragsearch.app.usecases import IngestStopped, add_records, delete_items
from ragsearch.ingest.readers import Record, read_jsonl
from ragsearch.retrieval.errors import BackendUnavailableError, InvalidInputError
from ragsearch.retrieval.types import Passage
from ragsearch.search.snippets import highlights

T = TypeVar("T")
log = structlog.get_logger(__name__)
router = APIRouter(tags=["documents"])
CLIENT_CLOSED = 499
"""The status logged and counted for a request whose client went away (nginx's; nobody receives it)."""
ERRORS: dict[int | str, dict[str, Any]] = {400: {"model": ErrorResponse}, 401: {"model": ErrorResponse}, 403: {"model": ErrorResponse},
          404: {"model": ErrorResponse}, 413: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}  # fmt: skip


@router.post("/documents", response_model=IngestOut, dependencies=[WriteAuth], responses=ERRORS,
             summary="Add or replace passages (JSON)")  # fmt: skip
async def add_documents(body: DocumentsIn, runtime: RuntimeDep, request: Request) -> IngestOut:
    """Passages are embedded and written in batches of 256 (`app.usecases.ADD_BATCH`), each one index
    write. When the client disconnects, the ingest stops before the next batch: the batches written
    before (and the one in progress) stay, whole, in request order; nothing after them is written. The
    client got no answer, so it must count the request as not acknowledged and may send it again
    (passages already stored are skipped by content hash). Logged as `ingest.client_disconnected` and
    counted in `ragsearch_ingest_disconnects_total`."""

    def work(stop: Callable[[], bool]) -> IngestOut:
        passages: list[Record] = [
            Passage(p.id, p.title, p.text, p.doc_id or p.id, dict(p.metadata)) for p in body.passages
        ]
        return _ingest(request, runtime, body.index, passages, stop)

    return await until_disconnect(request, work)


@router.post("/documents/upload", response_model=IngestOut, dependencies=[WriteAuth], responses=ERRORS,
             summary="Ingest an uploaded JSONL file of {_id, title, text} records")  # fmt: skip
async def upload_documents(
    runtime: RuntimeDep,
    request: Request,
    file: Annotated[
        UploadFile, File(description="a JSONL file; the client's file name is never used as a path")
    ],
    index: Annotated[str | None, Query(max_length=64)] = None,
) -> IngestOut:
    """Ingested like `POST /documents`, and stopped the same way when the client disconnects."""

    def work(stop: Callable[[], bool]) -> IngestOut:
        limit = runtime.settings.api.max_upload_bytes
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "upload.jsonl"
            size = 0
            with open(path, "wb") as out:
                while chunk := file.file.read(1 << 20):
                    size += len(chunk)
                    if size > limit:
                        raise HTTPException(413, f"the upload is larger than the limit of {limit} bytes")
                    out.write(chunk)
            records = list(read_jsonl(path))
        return _ingest(request, runtime, index, records, stop, source=file.filename or "upload")

    return await until_disconnect(request, work)


async def until_disconnect(request: Request, work: Callable[[Callable[[], bool]], T]) -> T:
    """`work(stop)` on the server's writer thread (`app.state.writer`, at the lower priority
    `RAGSEARCH_API_WRITE_NICE`: embedding yields the CPU to searches), while a task waits for the client's
    disconnect message; `stop()` says whether it came. (A waiting task, not `request.is_disconnected()` polled: behind a
    `BaseHTTPMiddleware` that instant check never sees the disconnect.)"""
    gone = threading.Event()

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        gone.set()

    done: list[T] = []
    failed: list[Exception] = []  # raised after the task group, which would wrap it in an ExceptionGroup
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(watch)
        try:
            done.append(await asyncio.wrap_future(request.app.state.writer.submit(work, gone.is_set)))
        except Exception as exc:
            failed.append(exc)
        tasks.cancel_scope.cancel()
    if failed:
        raise failed[0]
    return done[0]


@contextlib.contextmanager
def disk_full_is_503() -> Iterator[None]:
    """A write that fails for want of space is a 503 (`BackendUnavailableError`), not an unexpected 500."""
    try:
        yield
    except (OSError, sqlite3.OperationalError) as exc:
        full = (errno.ENOSPC, errno.EDQUOT) if isinstance(exc, OSError) else ()
        if (
            getattr(exc, "errno", None) in full
            or getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_FULL
        ):
            raise BackendUnavailableError(
                "the index's disk is full: the write failed; free disk space and send the request again "
                "(passages already stored are skipped)"
            ) from None
        raise


def _ingest(
    request: Request,
    runtime: RuntimeDep,
    index: str | None,
    records: list[Record],
    stop: Callable[[], bool],
    source: str | None = None,
) -> IngestOut:
    name = index or runtime.settings.index
    if not runtime.backend.exists(name):
        open_or_create_index(runtime.backend, name, runtime.embedder, runtime.settings).close()
    try:
        with disk_full_is_503():
            report = add_records(runtime.index(name), runtime.embedder, records, stop=stop)
    except IngestStopped as stopped:
        metrics: Metrics = request.app.state.metrics
        metrics.ingest_disconnects.labels(request.url.path).inc()
        log.warning("ingest.client_disconnected", route=request.url.path, index=name, records=len(records),
                    batches_written=stopped.batches, passages_written=stopped.report.passages)  # fmt: skip
        raise HTTPException(CLIENT_CLOSED, f"the client disconnected: {stopped}") from None
    failed = [str(e).replace(str(e.source), source or "request", 1) for e in report.failed]
    if report.failed and not (report.added or report.updated or report.unchanged):
        raise InvalidInputError("no valid record: " + "; ".join(failed[:5]))
    return IngestOut(
        index=name, added=report.added, updated=report.updated, unchanged=report.unchanged, failed=failed
    )


@router.get("/documents/{passage_id:path}", response_model=PassageOut, dependencies=[ReadAuth], responses=ERRORS,
            summary="Fetch a stored passage")  # fmt: skip
def get_document(
    passage_id: str, runtime: RuntimeDep, index: Annotated[str | None, Query(max_length=64)] = None
) -> PassageOut:
    found = runtime.index(index).get([passage_id])
    if not found:
        raise HTTPException(404, f"no passage {passage_id!r} in index {index or runtime.settings.index!r}")
    p = found[0]
    return PassageOut(id=p.id, doc_id=p.doc_id, title=p.title, text=p.text, metadata=p.metadata)


@router.get("/passages/{passage_id:path}", response_model=PassageView, dependencies=[ReadAuth], responses=ERRORS,
            summary="Read a passage in its document: query-term highlights and the passages around it")  # fmt: skip
def view_passage(
    passage_id: str,
    runtime: RuntimeDep,
    q: Annotated[str | None, Query(max_length=100_000, description="mark this query's terms")] = None,
    context: Annotated[int, Query(ge=0, le=20, description="passages to show before and after")] = 2,
    index: Annotated[str | None, Query(max_length=64)] = None,
) -> PassageView:
    """The document's passages come from `SearchIndex.document` (reading order: ingest's stored position,
    else a natural sort of the ids). Highlights are /search's: whole words matching a query term through the
    index's analyzer."""
    if q is not None and len(q) > runtime.settings.api.max_query_chars:
        raise InvalidInputError(
            f"q has {len(q)} characters; the limit is {runtime.settings.api.max_query_chars}"
        )
    idx = runtime.index(index)
    found = idx.get([passage_id])
    if not found:
        raise HTTPException(404, f"no passage {passage_id!r} in index {idx.name!r}")
    passages = idx.document(found[0].doc_id)
    at = next((i for i, p in enumerate(passages) if p.id == passage_id), None)

    def view(p: Passage) -> ViewedPassage:
        marks = {"title_highlights": highlights(p.title, q, idx.spec.analyzer),
                 "text_highlights": highlights(p.text, q, idx.spec.analyzer)} if q else {}  # fmt: skip
        return ViewedPassage(
            id=p.id, doc_id=p.doc_id, title=p.title, text=p.text, metadata=p.metadata, **marks
        )

    before = [] if at is None else passages[max(0, at - context) : at]
    after = [] if at is None else passages[at + 1 : at + 1 + context]
    return PassageView(index=idx.name, passage=view(found[0]), position=at, document_passages=len(passages),
                       before=[view(p) for p in before], after=[view(p) for p in after])  # fmt: skip


@router.delete("/documents/{item_id:path}", response_model=DeletedOut, dependencies=[WriteAuth], responses=ERRORS,
               summary="Delete every passage of a document id, or one passage by id")  # fmt: skip
def delete_document(
    item_id: str, runtime: RuntimeDep, index: Annotated[str | None, Query(max_length=64)] = None
) -> DeletedOut:
    idx = runtime.index(index)
    with disk_full_is_503():
        deleted = delete_items(idx, runtime.settings, item_id)
    if not deleted:
        raise HTTPException(404, f"no passage or document {item_id!r} in index {idx.name!r}")
    return DeletedOut(id=item_id, deleted=deleted)
