"""The append-only vector file (retrieval/vector_file.py): durable appends, mapping only committed rows,
partial trailing rows ignored, exact cosine and top-k."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ragsearch.retrieval.vector_file import VectorFile, cosine_scores, normalize_rows, top_k


def rows(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    return normalize_rows(np.random.default_rng(seed).normal(size=(n, dim)))


def test_append_returns_slots_and_maps_only_what_is_asked(tmp_path: Path) -> None:
    vf = VectorFile.create(tmp_path / "v.f32", 8)
    assert vf.exists and vf.rows == 0 and vf.file_rows() == 0
    a, b = rows(3), rows(2, seed=1)
    assert vf.append(a) == 0 and vf.append(b) == 3
    assert vf.rows == 0  # written, not mapped yet: the caller maps rows once they are committed
    vf.map(4)
    assert vf.rows == 4 and np.array_equal(vf.matrix, np.concatenate([a, b])[:4])
    vf.map()
    assert vf.rows == 5 and np.array_equal(vf.get([4, 0])[0], b[1])
    assert VectorFile(tmp_path / "v.f32", 8, rows=2).rows == 2  # another process maps the same rows


def test_a_partial_trailing_row_is_ignored_and_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "v.f32"
    vf = VectorFile.create(path, 8)
    vf.append(rows(2))
    with open(path, "ab") as f:
        f.write(b"\x00" * 13)  # a crashed append
    assert vf.file_rows() == 2
    assert vf.append(rows(1, seed=2)) == 2 and vf.file_rows() == 3
    assert path.stat().st_size == 3 * 8 * 4


def test_wrong_shape_and_missing_file(tmp_path: Path) -> None:
    vf = VectorFile.create(tmp_path / "v.f32", 8)
    with pytest.raises(ValueError, match=r"shape \(n, 8\)"):
        vf.append(np.zeros((2, 4), dtype=np.float32))
    gone = VectorFile(tmp_path / "missing.f32", 8)
    assert not gone.exists and gone.rows == 0
    with pytest.raises(FileNotFoundError):
        gone.append(rows(1))  # never created implicitly


def test_normalize_cosine_and_top_k() -> None:
    m = normalize_rows(np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]]))
    assert m.dtype == np.float32 and np.allclose(m, [[0.6, 0.8], [0, 0], [1, 0]])
    scores = cosine_scores(m, np.array([1.0, 0.0], dtype=np.float32))
    assert np.allclose(scores, [0.6, 0.0, 1.0])
    s = np.array([0.5, np.nan, 0.9, 0.5, -np.inf, 0.1], dtype=np.float32)
    assert top_k(s, 3).tolist() == [2, 0, 3]  # ties by lower index
    assert top_k(s, 10).tolist() == [2, 0, 3, 5]  # only finite scores
    assert top_k(s, 0).tolist() == []
