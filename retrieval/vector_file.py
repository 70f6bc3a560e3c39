"""An append-only file of float32 rows, memory-mapped for exact cosine search with numpy."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import ThreadpoolController

from retrieval.types import Vector

_THREADPOOLS = ThreadpoolController()


def cosine_scores(matrix: NDArray[np.float32], query: NDArray[np.float32]) -> NDArray[np.float32]:
    """matrix @ query on one BLAS thread. A matrix-vector product gains little from threads, and OpenBLAS
    threads left spinning after it stole both cores from the next query's encoder: dense search
    measured 98 ms p50 with them and 10 ms without (SciFact, 2 cores)."""
    with _THREADPOOLS.limit(limits=1, user_api="blas"):
        return matrix @ query


def normalize_rows(matrix: NDArray[np.floating]) -> NDArray[np.float32]:
    """Unit-length rows (zero rows stay zero), so a dot product is the cosine."""
    m = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    return np.divide(m, norms, out=np.zeros_like(m), where=norms > 0)


class VectorFile:
    """Rows of `dim` float32 values; row i is the vector of slot i."""

    def __init__(self, path: Path, dim: int) -> None:
        self.path = path
        self.dim = dim
        self.path.touch(exist_ok=True)
        self._matrix: NDArray[np.float32] = np.zeros((0, dim), dtype=np.float32)
        self._remap()

    @property
    def rows(self) -> int:
        return int(self._matrix.shape[0])

    @property
    def matrix(self) -> NDArray[np.float32]:
        return self._matrix

    def truncate(self, rows: int) -> None:
        """Drop rows past `rows` (left by a write that crashed before it was committed)."""
        size = rows * self.dim * 4
        if self.path.stat().st_size != size:
            with open(self.path, "r+b") as f:
                f.truncate(size)
                os.fsync(f.fileno())
        self._remap()

    def append(self, vectors: NDArray[np.float32]) -> int:
        """Append rows durably; returns the slot of the first one."""
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"expected vectors of shape (n, {self.dim}), got {vectors.shape}")
        start = self.rows
        size = start * self.dim * 4
        try:
            with open(self.path, "ab") as f:
                f.write(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            # a partial append (disk full, file size limit) must not shift the next one
            with open(self.path, "r+b") as f:
                f.truncate(size)
            raise
        self._remap()
        return start

    def get(self, slots: list[int]) -> list[Vector]:
        return list(np.asarray(self._matrix[np.asarray(slots, dtype=np.intp)]))

    def _remap(self) -> None:
        size = self.path.stat().st_size
        rows = size // (self.dim * 4)
        if rows == 0:
            self._matrix = np.zeros((0, self.dim), dtype=np.float32)
        else:
            self._matrix = np.memmap(self.path, dtype=np.float32, mode="r", shape=(rows, self.dim))


def top_k(scores: NDArray[np.float32], k: int) -> NDArray[np.intp]:
    """Indices of the k highest finite scores, best first (ties by lower index)."""
    finite = np.isfinite(scores)
    n = int(finite.sum())
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, dtype=np.intp)
    if k < scores.shape[0]:
        part = np.argpartition(-scores, k - 1)[:k]
    else:
        part = np.arange(scores.shape[0])
    order = np.lexsort((part, -scores[part]))
    return part[order][:k]
