"""Shared by the ingest tests: a small-budget chunker, a runner, and an exact snapshot of an index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ragsearch.ingest.chunking import Chunker, RegexTokenizer
from ragsearch.ingest.manifest import Manifest
from ragsearch.ingest.pipeline import IngestReport
from ragsearch.ingest.runner import IngestOptions, ingest_paths
from ragsearch.retrieval.embedded import EmbeddedIndex
from ragsearch.retrieval.embedding import Embedder


def small_chunker() -> Chunker:
    """Word tokens, 48 per passage: several passages per test document."""
    return Chunker(RegexTokenizer(), max_tokens=48, overlap=8)


def run_ingest(
    paths: list[Path], index: EmbeddedIndex, embedder: Embedder, home: Path, **options: Any
) -> IngestReport:
    with Manifest(home / "manifest.sqlite") as manifest:
        return ingest_paths(
            paths, index, embedder, small_chunker(), manifest, IngestOptions(batch_size=16, **options)
        )


def snapshot(index: EmbeddedIndex) -> dict[str, tuple[str, str, tuple[float, ...]]]:
    """Every stored passage: id -> (document id, content hash, rounded vector). Checks that BM25 holds
    exactly the same passages as the store."""
    rows = index._db.execute("SELECT id, doc_id, hash FROM passages").fetchall()
    vectors = index.vectors([r[0] for r in rows])
    assert index._tantivy.searcher().num_docs == len(rows) == index.count()
    return {pid: (doc_id, h, tuple(np.round(vectors[pid], 5).tolist())) for pid, doc_id, h in rows}


def reasons(items: list[Any]) -> dict[str, str]:
    """file name -> reason, from a report's failed/skipped/warnings lists."""
    return {Path(e.source).name: e.reason for e in items}
