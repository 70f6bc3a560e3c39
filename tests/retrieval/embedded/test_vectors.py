"""The vector part of an embedded index (retrieval/embedded/vectors.py): approximate search saved with the index,
reopened, and kept in step with writes and deletes."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragsearch.retrieval.embedded import EmbeddedBackend
from ragsearch.retrieval.types import Passage
from tests.retrieval.contract import DOCS, EMB, SPEC, embed


@pytest.mark.parametrize(("kind", "suffix"), [("hnsw", "usearch"), ("ivf", "faiss")])
def test_ann_survives_reopen_and_follows_writes(tmp_path: Path, kind: str, suffix: str) -> None:
    backend = EmbeddedBackend(tmp_path, vector_index=kind)
    q = EMB.embed_queries(["Quokka Quokkas live on Rottnest Island."])[0]
    with backend.create("kb", SPEC) as idx:
        idx.upsert(embed(DOCS))
        assert idx.vector_search(q, 1)[0].id != "n1"
    assert list(tmp_path.glob(f"indexes/kb/ann-*.{suffix}"))  # saved on close
    with backend.open("kb") as idx:
        idx.upsert(embed([Passage("n1", "Quokka", "Quokkas live on Rottnest Island.")]))
        assert idx.vector_search(q, 1)[0].id == "n1"
        idx.delete(["n1"])
        assert "n1" not in {h.id for h in idx.vector_search(q, 10)}
        assert len(idx.vector_search(q, 10)) == 5
