"""An append-only file of float32 rows, memory-mapped for exact cosine search with numpy.

Rows are never rewritten and the file is never truncated: another process may have mapped them, and
truncating a mapped file kills its next read with SIGBUS. A row that no committed passage references (a
write that crashed, a replaced passage) is dead; `compact` in `retrieval.embedded` drops dead rows by
writing a new file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import ThreadpoolController

from ragsearch.retrieval.types import Vector

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
    """Rows of `dim` float32 values; row i is the vector of slot i.

    Only the first `mapped` rows are mapped (the ones the caller knows are committed), so pages past them
    are never touched. A missing file is not created here (`create` does that): `exists` says so.
    """

    def __init__(self, path: Path, dim: int, rows: int | None = None) -> None:
        self.path = path
        self.dim = dim
        self._matrix: NDArray[np.float32] = np.zeros((0, dim), dtype=np.float32)
        self.map(rows)

    @classmethod
    def create(cls, path: Path, dim: int) -> VectorFile:
        """A new, empty file (replacing one no committed state refers to)."""
        with open(path, "wb") as f:
            os.fsync(f.fileno())
        _fsync_dir(path.parent)
        return cls(path, dim, 0)

    @property
    def row_bytes(self) -> int:
        return self.dim * 4

    @property
    def exists(self) -> bool:
        return self.path.exists()

    def file_rows(self) -> int:
        """Whole rows in the file now (a partial trailing row, from a failed append, does not count)."""
        try:
            return self.path.stat().st_size // self.row_bytes
        except FileNotFoundError:
            return 0

    @property
    def rows(self) -> int:
        """Rows mapped."""
        return int(self._matrix.shape[0])

    @property
    def matrix(self) -> NDArray[np.float32]:
        return self._matrix

    def map(self, rows: int | None = None) -> None:
        """Map the first `rows` rows (all whole rows when None; fewer when the file is shorter)."""
        present = self.file_rows()
        n = present if rows is None else min(rows, present)
        if n == 0:
            self._matrix = np.zeros((0, self.dim), dtype=np.float32)
        else:
            self._matrix = np.memmap(self.path, dtype=np.float32, mode="r", shape=(n, self.dim))

    def append(self, vectors: NDArray[np.float32]) -> int:
        """Write rows durably after the last whole row (over a partial one, which nothing references);
        returns the slot of the first one. The caller holds the index's write lock and maps them later."""
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"expected vectors of shape (n, {self.dim}), got {vectors.shape}")
        fd = os.open(self.path, os.O_WRONLY)  # never O_CREAT: a vanished file is an error, not a new one
        try:
            start = os.fstat(fd).st_size // self.row_bytes
            data = np.ascontiguousarray(vectors, dtype=np.float32).tobytes()
            offset = start * self.row_bytes
            view = memoryview(data)
            while view:
                n = os.pwrite(fd, view, offset)
                view, offset = view[n:], offset + n
            os.fsync(fd)
        finally:
            os.close(fd)
        return start

    def get(self, slots: list[int]) -> list[Vector]:
        return list(np.asarray(self._matrix[np.asarray(slots, dtype=np.intp)]))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
