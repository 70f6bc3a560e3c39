from __future__ import annotations

from pathlib import Path

import pytest

from ragsearch.ingest.pipeline import ingest_records
from ragsearch.ingest.readers import read_source
from ragsearch.retrieval.embedded import EmbeddedBackend
from ragsearch.retrieval.errors import EmbeddingMismatchError
from ragsearch.retrieval.types import IndexSpec
from tests.fakes import FakeHashEmbedder


def test_reingest_is_idempotent_and_updates_changed(scifact_slice: Path, tmp_path: Path) -> None:
    emb = FakeHashEmbedder()
    with EmbeddedBackend(tmp_path).create("sf", IndexSpec(emb.name, emb.dim)) as idx:
        first = ingest_records(read_source(scifact_slice), idx, emb, batch_size=64)
        n = idx.count()
        assert first.added == n > 200 and first.failed == []
        again = ingest_records(read_source(scifact_slice), idx, emb, batch_size=64)
        assert (again.added, again.updated, again.unchanged, again.embedded) == (0, 0, n, 0)
        changed = tmp_path / "changed.jsonl"
        lines = (scifact_slice / "corpus.jsonl").read_text().splitlines()
        changed.write_text(
            "\n".join([lines[0].replace('"text": "', '"text": "EDITED ', 1), *lines[1:3]]) + "\n"
        )
        third = ingest_records(read_source(changed), idx, emb)
        assert (third.added, third.updated, third.unchanged) == (0, 1, 2)
        assert idx.count() == n


def test_ingest_refuses_another_model_and_keeps_the_index(scifact_slice: Path, tmp_path: Path) -> None:
    emb = FakeHashEmbedder()
    with EmbeddedBackend(tmp_path).create("sf", IndexSpec(emb.name, emb.dim)) as idx:
        ingest_records(read_source(scifact_slice), idx, emb)
        n = idx.count()
        with pytest.raises(EmbeddingMismatchError, match="fake-hash-64 \\(dim 64\\)"):
            ingest_records(read_source(scifact_slice), idx, FakeHashEmbedder(dim=32, name="other"))
        assert idx.count() == n
