"""The embedded backend (retrieval/embedded/backend.py): indexes by name under a home, reopened intact after a
restart, and errors that name the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragsearch.retrieval.embedded import EmbeddedBackend
from ragsearch.retrieval.errors import IndexExistsError, IndexNotFoundError, InvalidInputError
from ragsearch.retrieval.types import Passage
from tests.retrieval.contract import DOCS, EMB, SPEC, embed


def test_reopen_after_restart_keeps_everything(tmp_path: Path) -> None:
    backend = EmbeddedBackend(tmp_path)
    with backend.create("kb", SPEC) as idx:
        idx.upsert(embed(DOCS))
        idx.delete(["p2"])
        before_bm25 = idx.bm25_search("zebra migration coffee", 10)
        before_vec = idx.vector_search(EMB.embed_queries(["coffee"])[0], 10)
    with backend.open("kb") as idx:
        assert idx.count() == 4
        assert idx.bm25_search("zebra migration coffee", 10) == before_bm25
        assert idx.vector_search(EMB.embed_queries(["coffee"])[0], 10) == before_vec
        idx.upsert(embed([Passage("p6", "Tea", "Tea is not coffee.")]))
        assert idx.count() == 5
    assert backend.list() == ["kb"]


def test_backend_errors_name_the_fix(tmp_path: Path) -> None:
    backend = EmbeddedBackend(tmp_path)
    with pytest.raises(IndexNotFoundError, match="ragsearch ingest"):
        backend.open("nothing")
    backend.create("kb", SPEC).close()
    with pytest.raises(IndexExistsError):
        backend.create("kb", SPEC)
    with pytest.raises(InvalidInputError, match="invalid index name"):
        backend.open("../etc")
