"""Approximate cosine search over the live rows of an embedded index's vector file: IVF (faiss) or HNSW
(usearch).

Derived data, like the BM25 index: it is kept in step with the vector file and the live mask by `sync`,
saved beside them, and rebuilt or topped up from them when it is missing or behind, so it can never
hold a passage the store does not. Exact numpy search is the default below `AUTO_ANN_ROWS`; measured
figures (build time, recall@100 against exact search) are in docs/benchmarks.md, from
`python -m bench.scale`. At 1M synthetic 384-d vectors on 2 cores: IVF recall@100 0.996, built in 16 s;
HNSW recall@100 0.891 at these settings, built in 285 s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

# Loaded before usearch on purpose: once usearch's native module is in a process, LightGBM (loaded after it)
# fails to build any dataset ("Feature (Column_) appears more than one time"), so `ragsearch train` over an
# HNSW index would break. Loaded first, both work (tests/retrieval/test_embedded.py checks it).
import lightgbm  # noqa: F401

# isort: split
import numpy as np
from numpy.typing import NDArray

from ragsearch.retrieval.extras import require
from ragsearch.retrieval.types import Vector

# usearch and faiss come with the `ann` extra and are imported when an index first needs them.


def sync_plan(
    seen: NDArray[np.bool_], covered: int, live: NDArray[np.bool_], n: int
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.bool_]]:
    """What an approximate index must do to match the store: (slots to remove, slots to add, the live
    slots it will hold), given the slots it holds (`seen`, over its first `covered` rows) and the live mask
    of the store's first `n` rows."""
    old = min(covered, n)
    died = np.flatnonzero(seen[:old] & ~live[:old])
    missing = np.flatnonzero(live[:old] & ~seen[:old])
    new = np.concatenate([missing, np.flatnonzero(live[old:n]) + old])
    after = np.zeros(n, dtype=bool)
    after[:old] = seen[:old] & live[:old]
    after[new] = True
    return died, new, after


class HnswVectors:
    def __init__(self, path: Path, dim: int, connectivity: int = 16, expansion_search: int = 128) -> None:
        self.path = path
        self.meta_path = path.with_suffix(".json")
        self.dim = dim
        self.expansion_search = expansion_search
        usearch = require("usearch.index")
        self._index = usearch.Index(ndim=dim, metric="cos", dtype="f16", connectivity=connectivity,
                                    expansion_add=128, expansion_search=expansion_search)  # fmt: skip
        self._covered = 0
        self._live_seen: NDArray[np.bool_] = np.zeros(0, dtype=bool)
        if path.exists() and self.meta_path.exists():
            meta = json.loads(self.meta_path.read_text())
            if meta.get("dim") == dim:
                self._index.load(str(path))
                self._covered = int(meta["covered"])
                self._live_seen = np.zeros(self._covered, dtype=bool)
                keys = np.asarray(self._index.keys, dtype=np.int64)
                if len(keys) and keys.max() >= self._covered:  # saved index and meta disagree: rebuild
                    self._index.reset()
                    self._covered = 0
                    self._live_seen = np.zeros(0, dtype=bool)
                else:
                    self._live_seen[keys] = True

    def __len__(self) -> int:
        return int(self._index.size)

    def sync(self, matrix: NDArray[np.float32], live: NDArray[np.bool_], batch: int = 50_000) -> None:
        """Add live rows not yet indexed; remove rows that died since the last sync."""
        n = min(len(live), matrix.shape[0])
        died, new, after = sync_plan(self._live_seen, self._covered, live, n)
        if len(died):
            self._index.remove(died.astype(np.uint64))
        for i in range(0, len(new), batch):
            keys = new[i : i + batch]
            self._index.add(keys.astype(np.uint64), np.asarray(matrix[keys], dtype=np.float32))
        self._live_seen, self._covered = after, n

    def search(self, query: Vector, k: int, mask: NDArray[np.bool_] | None = None) -> list[tuple[int, float]]:
        """(slot, cosine) best first; with a mask, over-fetches and keeps the allowed slots."""
        if len(self) == 0 or k <= 0:
            return []
        fetch = k if mask is None else min(len(self), max(4 * k, 256))
        matches = self._index.search(np.asarray(query, dtype=np.float32), fetch)
        out = []
        for key, dist in zip(matches.keys, matches.distances, strict=True):
            slot = int(key)
            if mask is None or (slot < len(mask) and mask[slot]):
                out.append((slot, 1.0 - float(dist)))
        return out[:k]

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        self._index.save(str(tmp))
        tmp.replace(self.path)
        self.meta_path.write_text(json.dumps({"dim": self.dim, "covered": self._covered}))


class ApproximateVectors(Protocol):
    """An approximate cosine index over the slots of a vector file, kept in step by `sync`."""

    def __len__(self) -> int: ...

    def sync(self, matrix: NDArray[np.float32], live: NDArray[np.bool_]) -> None: ...

    def search(
        self, query: Vector, k: int, mask: NDArray[np.bool_] | None = None
    ) -> list[tuple[int, float]]: ...

    def save(self) -> None: ...


class IvfVectors:
    """Inverted-file search (faiss IndexIVFFlat, inner product on unit vectors): k-means cells over the
    vectors, a query scans the `nprobe` cells nearest to it. Exact scores within the scanned cells; recall is
    what the probed cells miss (`python -m bench.scale` measures it against exact search).

    Cells are learned from the rows present at the first build (about 2 sqrt(N) cells, 40 sample rows each); when the collection
    has grown 4x since, the next sync relearns them and rebuilds (derived data, like the BM25 index)."""

    def __init__(self, path: Path, dim: int, nprobe: int = 64) -> None:
        self.path = path
        self.meta_path = path.with_name(path.name + ".json")
        self.dim = dim
        self.nprobe = nprobe
        self._faiss = require("faiss")
        self._index: Any = None
        self._trained_on = 0
        self._covered = 0
        self._live_seen: NDArray[np.bool_] = np.zeros(0, dtype=bool)
        if path.exists() and self.meta_path.exists():
            meta = json.loads(self.meta_path.read_text())
            if meta.get("dim") == dim:
                self._index = self._faiss.read_index(str(path))
                self._trained_on = int(meta["trained_on"])
                self._covered = int(meta["covered"])
                self._live_seen = np.unpackbits(
                    np.frombuffer(bytes.fromhex(meta["live"]), dtype=np.uint8), count=self._covered
                ).astype(bool)

    def __len__(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    def _build(self, matrix: NDArray[np.float32], live: NDArray[np.bool_]) -> None:
        slots = np.flatnonzero(live)
        nlist = max(1, min(int(2 * np.sqrt(len(slots))), len(slots) // 40 or 1))
        quantizer = self._faiss.IndexFlatIP(self.dim)
        index = self._faiss.IndexIVFFlat(quantizer, self.dim, nlist, self._faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).choice(slots, size=min(len(slots), nlist * 40), replace=False)
        index.train(np.ascontiguousarray(matrix[np.sort(sample)], dtype=np.float32))
        self._index, self._trained_on, self._covered = index, len(slots), 0
        self._live_seen = np.zeros(0, dtype=bool)

    def sync(self, matrix: NDArray[np.float32], live: NDArray[np.bool_], batch: int = 100_000) -> None:
        """Add live rows not yet indexed; remove rows that died since the last sync."""
        n = min(len(live), matrix.shape[0])
        if not live[:n].any():
            self._index, self._covered, self._live_seen = None, 0, np.zeros(0, dtype=bool)
            return
        if self._index is None or int(live[:n].sum()) > 4 * self._trained_on:
            self._build(matrix, live[:n])
        died, new, after = sync_plan(self._live_seen, self._covered, live, n)
        if len(died):
            self._index.remove_ids(died.astype(np.int64))
        for i in range(0, len(new), batch):
            keys = new[i : i + batch]
            self._index.add_with_ids(
                np.ascontiguousarray(matrix[keys], dtype=np.float32), keys.astype(np.int64)
            )
        self._live_seen, self._covered = after, n

    def search(self, query: Vector, k: int, mask: NDArray[np.bool_] | None = None) -> list[tuple[int, float]]:
        """(slot, cosine) best first; a mask restricts the scan to the allowed slots."""
        if self._index is None or len(self) == 0 or k <= 0:
            return []
        params = self._faiss.SearchParametersIVF()
        params.nprobe = min(self.nprobe, self._index.nlist)
        if mask is not None:
            bits = np.packbits(mask.astype(np.uint8), bitorder="little")
            params.sel = self._faiss.IDSelectorBitmap(len(mask), self._faiss.swig_ptr(bits))
        q = np.asarray(query, dtype=np.float32).reshape(1, -1)
        scores, slots = self._index.search(q, min(k, len(self)), params=params)
        return [(int(s), float(d)) for s, d in zip(slots[0], scores[0], strict=True) if s >= 0]

    def save(self) -> None:
        if self._index is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        self._faiss.write_index(self._index, str(tmp))
        tmp.replace(self.path)
        live = np.packbits(self._live_seen.astype(np.uint8)).tobytes().hex()
        meta = {"dim": self.dim, "covered": self._covered, "trained_on": self._trained_on, "live": live}
        self.meta_path.write_text(json.dumps(meta))
