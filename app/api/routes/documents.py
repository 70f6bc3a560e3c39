from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, HTTPException, Query, UploadFile

from ragsearch.app.api.deps import ReadAuth, RuntimeDep, WriteAuth
from ragsearch.app.api.schemas import DeletedOut, DocumentsIn, ErrorResponse, IngestOut, PassageOut
from ragsearch.app.services import open_or_create_index
from ragsearch.app.usecases import add_records, delete_items
from ragsearch.ingest.readers import Record, read_jsonl
from ragsearch.retrieval.errors import InvalidInputError
from ragsearch.retrieval.types import Passage

router = APIRouter(tags=["documents"])
ERRORS: dict[int | str, dict[str, Any]] = {400: {"model": ErrorResponse}, 401: {"model": ErrorResponse}, 403: {"model": ErrorResponse},
          404: {"model": ErrorResponse}, 413: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}  # fmt: skip


@router.post("/documents", response_model=IngestOut, dependencies=[WriteAuth], responses=ERRORS,
             summary="Add or replace passages (JSON)")  # fmt: skip
def add_documents(body: DocumentsIn, runtime: RuntimeDep) -> IngestOut:
    passages: list[Record] = [
        Passage(p.id, p.title, p.text, p.doc_id or p.id, dict(p.metadata)) for p in body.passages
    ]
    return _ingest(runtime, body.index, passages)


@router.post("/documents/upload", response_model=IngestOut, dependencies=[WriteAuth], responses=ERRORS,
             summary="Ingest an uploaded JSONL file of {_id, title, text} records")  # fmt: skip
def upload_documents(
    runtime: RuntimeDep,
    file: Annotated[
        UploadFile, File(description="a JSONL file; the client's file name is never used as a path")
    ],
    index: Annotated[str | None, Query(max_length=64)] = None,
) -> IngestOut:
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
    name = file.filename or "upload"
    return _ingest(runtime, index, records, source=name)


def _ingest(
    runtime: RuntimeDep, index: str | None, records: list[Record], source: str | None = None
) -> IngestOut:
    name = index or runtime.settings.index
    if not runtime.backend.exists(name):
        open_or_create_index(runtime.backend, name, runtime.embedder, runtime.settings).close()
    report = add_records(runtime.index(name), runtime.embedder, records)
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


@router.delete("/documents/{item_id:path}", response_model=DeletedOut, dependencies=[WriteAuth], responses=ERRORS,
               summary="Delete every passage of a document id, or one passage by id")  # fmt: skip
def delete_document(
    item_id: str, runtime: RuntimeDep, index: Annotated[str | None, Query(max_length=64)] = None
) -> DeletedOut:
    idx = runtime.index(index)
    deleted = delete_items(idx, runtime.settings, item_id)
    if not deleted:
        raise HTTPException(404, f"no passage or document {item_id!r} in index {idx.name!r}")
    return DeletedOut(id=item_id, deleted=deleted)
