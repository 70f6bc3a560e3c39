"""The write order crash safety rests on, checked call by call against a recording index."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ragsearch.ingest.writer import DocumentWriter, is_complete
from ragsearch.retrieval.embedded import EmbeddedBackend, EmbeddedIndex
from ragsearch.retrieval.types import EmbeddedPassage, IndexSpec, Passage
from tests.fakes import FakeHashEmbedder


class RecordingIndex:
    """Passes every call to a real embedded index and logs the writes in order."""

    def __init__(self, inner: EmbeddedIndex) -> None:
        self.inner = inner
        self.calls: list[tuple[str, list[str]]] = []

    def upsert(self, passages: Sequence[EmbeddedPassage]) -> None:
        self.calls.append(("upsert", [ep.passage.id for ep in passages]))
        self.inner.upsert(passages)

    def delete_documents(self, doc_ids: Sequence[str]) -> int:
        self.calls.append(("delete_documents", list(doc_ids)))
        return self.inner.delete_documents(doc_ids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class CountingFakeEmbedder(FakeHashEmbedder):
    """FAKE embedder that counts the texts it embeds."""

    embedded = 0

    def embed_documents(self, texts, batch_size=None, progress=None):  # type: ignore[no-untyped-def]
        self.embedded += len(texts)
        return super().embed_documents(texts, progress=progress)


def doc(doc_id: str, n: int, edit: int | None = None) -> list[Passage]:
    return [
        Passage(f"{doc_id}#{i}", doc_id, f"{'edited ' if i == edit else ''}text {i} of {doc_id}", doc_id)
        for i in range(n)
    ]


def test_old_passages_go_first_and_the_marker_goes_last_in_a_later_write(tmp_path: Path) -> None:
    emb = CountingFakeEmbedder()
    inner = EmbeddedBackend(tmp_path).create("w", IndexSpec(emb.name, emb.dim))
    index = RecordingIndex(inner)
    writer = DocumentWriter(index, emb, batch_size=4)  # type: ignore[arg-type]
    docs = {"a": 6, "b": 1, "c": 3, "d": 9}
    for d, n in docs.items():
        writer.add(d, doc(d, n), doc_hash=f"h-{d}", existed=False)
    writer.finish()
    calls = index.calls
    for d, n in docs.items():
        deleted_at = next(i for i, (op, ids) in enumerate(calls) if op == "delete_documents" and d in ids)
        written = [
            i
            for i, (op, ids) in enumerate(calls)
            if op == "upsert" and any(p.startswith(f"{d}#") for p in ids)
        ]
        marker_at = next(i for i, (op, ids) in enumerate(calls) if op == "upsert" and f"{d}#0" in ids)
        assert deleted_at < min(written)
        assert all(i < marker_at for i in written if i != marker_at)
        assert [p for p in calls[marker_at][1] if p.startswith(f"{d}#")] == [f"{d}#0"]  # alone of its doc
        (marker,) = inner.get([f"{d}#0"])
        assert is_complete(marker, f"h-{d}") and marker.metadata["passages"] == n
    assert inner.count() == sum(docs.values()) and emb.embedded == sum(docs.values())
    assert (writer.stats.added, writer.stats.updated) == (4, 0)

    # an edit of one passage out of nine re-embeds only that passage; a shorter version leaves no orphans;
    # a passage whose text moved to another position keeps its vector
    writer = DocumentWriter(index, emb, batch_size=4)  # type: ignore[arg-type]
    writer.add("d", doc("d", 9, edit=5), doc_hash="h-d2", existed=True)
    moved = [Passage("a#0", "a", "text 0 of a", "a"), Passage("a#1", "a", "text 4 of a", "a")]
    writer.add("a", moved, doc_hash="h-a2", existed=True, old_ids=[f"a#{i}" for i in range(2, 6)])
    writer.finish()
    assert emb.embedded == sum(docs.values()) + 1
    assert writer.stats.updated == 2 and writer.stats.reused == 10
    assert sorted(inner.passage_ids_of(["a"])["a"]) == ["a#0", "a#1"]
    assert inner.count() == 2 + 1 + 3 + 9
    inner.close()
