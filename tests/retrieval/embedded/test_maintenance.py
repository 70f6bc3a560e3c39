"""Index maintenance (retrieval/embedded/maintenance.py): compaction frees dead vector rows and keeps results."""

from __future__ import annotations

from pathlib import Path

from ragsearch.retrieval.embedded import EmbeddedBackend
from tests.retrieval.contract import DOCS, EMB, SPEC, embed


def test_compact_frees_dead_rows_and_keeps_results(tmp_path: Path) -> None:
    with EmbeddedBackend(tmp_path).create("kb", SPEC) as idx:
        idx.upsert(embed(DOCS))
        idx.upsert(embed(DOCS[:2]))
        idx.delete(["p5"])
        q = EMB.embed_queries(["zebra coffee"])[0]
        before = idx.vector_search(q, 10)
        assert idx.compact() == 3
        assert idx.describe()["vector_rows"] == 4
        assert idx.vector_search(q, 10) == before
    with EmbeddedBackend(tmp_path).open("kb") as idx:
        assert idx.vector_search(q, 10) == before
