"""The embedded backend (retrieval/embedded/): the index contract with exact, HNSW and IVF vector search.
Its parts: tests/retrieval/embedded/ (backend, store, vectors, maintenance); several processes at once:
test_embedded_processes.py."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ragsearch.retrieval.embedded import EmbeddedBackend, EmbeddedIndex
from ragsearch.retrieval.index import SearchIndex
from ragsearch.retrieval.types import IndexSpec
from tests.retrieval.contract import DOCS, EMB, IndexContract


def index_maker(tmp_path: Path, vector_index: str) -> Iterator[Callable[[IndexSpec], SearchIndex]]:
    """The contract's `make_index` for one vector search setting; closes what it made."""
    backend = EmbeddedBackend(tmp_path, vector_index=vector_index)
    made: list[EmbeddedIndex] = []

    def make(spec: IndexSpec) -> SearchIndex:
        idx = backend.create(f"c{len(made)}", spec)
        made.append(idx)
        return idx

    yield make
    for idx in made:
        idx.close()


class TestEmbeddedContract(IndexContract):
    @pytest.fixture()
    def make_index(self, tmp_path: Path) -> Iterator[Callable[[IndexSpec], SearchIndex]]:
        yield from index_maker(tmp_path, "exact")


class TestEmbeddedHnswContract(IndexContract):
    """The same contract with approximate (HNSW) vector search forced on."""

    @pytest.fixture()
    def make_index(self, tmp_path: Path) -> Iterator[Callable[[IndexSpec], SearchIndex]]:
        yield from index_maker(tmp_path, "hnsw")

    def test_vector_search_is_exact_cosine(self, index: SearchIndex) -> None:
        # HNSW stores half-precision vectors: cosines to ~1e-3, and tied cosines may come in any order
        q = EMB.embed_queries(["coffee beans pressure"])[0]
        hits = index.vector_search(q, 5)
        mat = EMB.embed_documents([f"{p.title} {p.text}" for p in DOCS])
        exact = {p.id: float(s) for p, s in zip(DOCS, mat @ q, strict=True)}
        assert {h.id for h in hits} == set(exact)
        assert [h.score for h in hits] == pytest.approx(sorted(exact.values(), reverse=True), abs=2e-3)
        assert all(h.score == pytest.approx(exact[h.id], abs=2e-3) for h in hits)


class TestEmbeddedIvfContract(TestEmbeddedHnswContract):
    """The same contract with IVF (faiss) vector search forced on; scores are exact within probed cells."""

    @pytest.fixture()
    def make_index(self, tmp_path: Path) -> Iterator[Callable[[IndexSpec], SearchIndex]]:
        yield from index_maker(tmp_path, "ivf")


def test_lightgbm_still_trains_after_the_hnsw_module_loads() -> None:
    """usearch loaded before LightGBM broke LightGBM's dataset construction in the same process."""
    code = (
        "import ragsearch.retrieval.embedded, numpy as np, lightgbm as lgb  # loads usearch and faiss first\n"
        "x = np.random.default_rng(0).random((200, 5))\n"
        "d = lgb.Dataset(x, label=(x[:, 0] > 0.5).astype(int), group=[20] * 10, feature_name=list('abcde'))\n"
        "lgb.train({'objective': 'lambdarank', 'verbosity': -1}, d, num_boost_round=2)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
