"""Approximate vector search (retrieval/ann.py): one contract for every `ApproximateVectors` implementation
(HNSW by usearch, IVF by faiss), checked against exact numpy search over vectors of real SciFact passages.
The vectors come from the FAKE hash embedder (fast; the ANN code sees only unit vectors)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from ragsearch.retrieval.ann import ApproximateVectors, HnswVectors, IvfVectors, sync_plan
from ragsearch.retrieval.vector_file import top_k
from tests.fakes import FakeHashEmbedder

MakeAnn = Callable[[Path], ApproximateVectors]
EMB = FakeHashEmbedder(dim=128)


@pytest.fixture(scope="module")
def vectors(shared_data: Path) -> NDArray[np.float32]:
    with (shared_data / "scifact" / "corpus.jsonl").open() as f:
        texts = [json.loads(next(f))["text"] for _ in range(1200)]
    return EMB.embed_documents(texts)


def exact(matrix: NDArray[np.float32], live: NDArray[np.bool_], q: NDArray[np.float32], k: int) -> list[int]:
    scores = np.where(live, matrix @ q, -np.inf).astype(np.float32)
    return [int(i) for i in top_k(scores, k)]


class AnnContract:
    TOL = 1e-5
    """How close a returned score is to the exact cosine."""

    @pytest.fixture()
    def make(self) -> MakeAnn:
        raise NotImplementedError

    def test_empty_finds_nothing(self, make: MakeAnn, tmp_path: Path, vectors: NDArray[np.float32]) -> None:
        ann = make(tmp_path / "ann")
        assert len(ann) == 0 and ann.search(vectors[0], 5) == []

    def test_results_best_first_with_cosines_and_high_recall(
        self, make: MakeAnn, tmp_path: Path, vectors: NDArray[np.float32]
    ) -> None:
        ann = make(tmp_path / "ann")
        live = np.ones(len(vectors), dtype=bool)
        ann.sync(vectors, live)
        assert len(ann) == len(vectors)
        assert ann.search(vectors[0], 0) == []
        found = wanted = 0
        for i in range(0, 1200, 60):
            q = vectors[i]
            hits = ann.search(q, 10)
            assert len(hits) == 10 and hits[0][0] == i  # a stored vector finds itself first
            scores = [s for _, s in hits]
            assert scores == sorted(scores, reverse=True)
            for slot, s in hits:
                assert s == pytest.approx(float(vectors[slot] @ q), abs=self.TOL)
            truth = set(exact(vectors, live, q, 10))
            found += len(truth & {slot for slot, _ in hits})
            wanted += len(truth)
        assert found / wanted >= 0.9

    def test_follows_deaths_growth_and_masks(
        self, make: MakeAnn, tmp_path: Path, vectors: NDArray[np.float32]
    ) -> None:
        ann = make(tmp_path / "ann")
        n = 800
        live = np.ones(n, dtype=bool)
        ann.sync(vectors[:n], live)
        live[::3] = False  # a third of the rows die (replaced or deleted passages)
        ann.sync(vectors[:n], live)
        assert len(ann) == int(live.sum())
        for i in range(0, n, 50):
            assert all(live[slot] for slot, _ in ann.search(vectors[i], 20))
        grown = np.concatenate([live, np.ones(len(vectors) - n, dtype=bool)])  # rows appended to the file
        ann.sync(vectors, grown)
        assert len(ann) == int(grown.sum())
        assert ann.search(vectors[1000], 1)[0][0] == 1000
        mask = np.zeros(len(vectors), dtype=bool)
        mask[1::7] = True
        mask &= grown
        hits = ann.search(vectors[1], 5, mask)
        assert hits and len(hits) <= 5 and all(mask[slot] for slot, _ in hits) and hits[0][0] == 1

    def test_saved_and_reopened_answers_the_same(
        self, make: MakeAnn, tmp_path: Path, vectors: NDArray[np.float32]
    ) -> None:
        ann = make(tmp_path / "ann")
        live = np.ones(len(vectors), dtype=bool)
        live[5] = False
        ann.sync(vectors, live)
        ann.save()
        again = make(tmp_path / "ann")
        assert len(again) == len(ann)
        assert again.search(vectors[7], 10) == ann.search(vectors[7], 10)
        again.sync(vectors, live)  # nothing new: nothing added twice
        assert len(again) == int(live.sum())
        assert 5 not in {slot for slot, _ in again.search(vectors[5], 10)}


class TestHnsw(AnnContract):
    TOL = 2e-3  # vectors are stored as float16

    @pytest.fixture()
    def make(self) -> MakeAnn:
        return lambda p: HnswVectors(p, EMB.dim)


class TestIvf(AnnContract):
    @pytest.fixture()
    def make(self) -> MakeAnn:
        return lambda p: IvfVectors(p, EMB.dim, nprobe=8)


def test_sync_plan_by_hand() -> None:
    seen = np.array([True, True, False, True])
    live = np.array([True, False, True, True, False, True])
    died, new, after = sync_plan(seen, 4, live, 6)
    assert died.tolist() == [1] and new.tolist() == [2, 5]
    assert after.tolist() == [True, False, True, True, False, True]
