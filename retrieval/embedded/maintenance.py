"""Check and repair of an embedded index: compare the derived parts (BM25, vectors, change log) with the
store, and rebuild what disagrees. Both run with the index's write lock held by the caller."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

from ragsearch.retrieval.embedding import Embedder, passage_text
from ragsearch.retrieval.errors import IndexCorruptError
from ragsearch.retrieval.index import IndexCheck, RepairReport
from ragsearch.retrieval.vector_file import normalize_rows

if TYPE_CHECKING:
    from ragsearch.retrieval.embedded.index import EmbeddedIndex

log = structlog.get_logger(__name__)


def check(index: EmbeddedIndex) -> IndexCheck:
    """Every part against the store, from a fresh view; changes nothing."""
    with index._lock:
        replaced = index._store.replaced()
        index._refresh()
        problems = ([replaced] if replaced else []) + index._bm25_problems + index._vector_problems
        if index._pending:
            problems.append(f"{index._pending} change-log entries were not applied to the BM25 index")
        vectors = index._vectors
        return IndexCheck(
            consistent=not problems,
            problems=problems,
            passages=len(vectors.slot_of),
            bm25_docs=0 if index._bm25.missing else index._bm25.num_docs(),
            vector_rows_needed=vectors.needed,
            vector_rows_present=vectors.vector_file.file_rows(),
            pending_changes=index._pending,
            dead_vector_rows=max(0, vectors.dead_rows()),
            generation=index._generation,
        )


def repair(index: EmbeddedIndex, embedder: Embedder) -> RepairReport:
    """Write back a store deleted under this process from its open copy; apply pending changes; rebuild
    BM25 from the store when it disagrees; re-embed passages whose vector rows are missing (with the text
    ingest embeds, `passage_text`) into the next generation's file, the other rows copied; fill missing
    token streams."""
    store, bm25, vectors = index._store, index._bm25, index._vectors
    restored = False
    with index._lock:
        if (why := store.replaced()) is not None:
            if store.path.exists():
                raise IndexCorruptError(
                    f"index {index.name!r}: {why}; reopen the index to use the new file, or move it "
                    "away and repair again to write this process's copy back"
                )
            store.restore()
            restored = True
        index._refresh()
    applied = 0 if bm25.missing else index._apply_changes()
    with index._lock:
        index._find_problems()
        rebuild = bool(index._bm25_problems) or bm25.missing
        docs = list(store.documents()) if rebuild else []
        pending = store.pending()
    if rebuild:
        bm25.apply([], docs, rebuild=True)
        with index._lock:
            if pending:
                store.clear_changes(pending[-1][0])
            else:
                with store.write():
                    pass  # a committing write: readers elsewhere reload tantivy
            index._generation = store.generation_seen
    present = vectors.vector_file.file_rows()
    lost = [pid for pid, slot in vectors.slot_of.items() if slot >= present]
    if lost:
        texts = {pid: passage_text(title, text) for pid, _doc, title, text, _meta in store.documents(lost)}
        fresh = normalize_rows(embedder.embed_documents([texts[pid] for pid in lost]))
        index._switch_generation(dict(zip(lost, fresh, strict=True)))
    fill_token_streams(index)
    return RepairReport(
        bm25_rebuilt=rebuild, reembedded=len(lost), changes_applied=applied, store_restored=restored,
        after=check(index),
    )  # fmt: skip


def fill_token_streams(index: EmbeddedIndex) -> None:
    """Store the token streams of passages written before the index kept them (a one-time upgrade)."""
    with index._lock:
        missing = index._store.missing_tokens()
        if missing or not index._store.has_tokens():
            log.info("index.token_streams.backfill", index=index.name, passages=len(missing))
            index._store.put_tokens([(pid, *index._token_blobs(title, text)) for pid, title, text in missing])
            index._generation = index._store.generation_seen


def describe(index: EmbeddedIndex) -> dict[str, Any]:
    size = sum(f.stat().st_size for f in index.path.rglob("*") if f.is_file())
    with index._lock:
        vectors, spec = index._vectors, index.spec
        return {
            "name": index.name,
            "backend": "embedded",
            "path": str(index.path),
            "passages": len(vectors.slot_of),
            "documents": len(set(vectors.doc_of.values())),
            "embedding_model": spec.embedding_model,
            "dim": spec.dim,
            "analyzer": spec.analyzer.to_dict(),
            "vector_rows": vectors.vector_file.file_rows(),
            "dead_vector_rows": max(0, vectors.dead_rows()),
            "generation": index._generation,
            "problems": index._bm25_problems + index._vector_problems,
            "created_at": index._store.get_meta("created_at"),
            "bytes_on_disk": size,
        }
