"""LightGBM forests compiled to native code (rerank/compiled_trees.py): the same scores as LightGBM, a cached object
built once, and LightGBM as the fallback. Real model trained on a real SciFact slice (tests/rerank/conftest.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from structlog.testing import capture_logs

from ragsearch.eval.data import load_split
from ragsearch.rerank import compiled_trees
from ragsearch.rerank.build import TrainOutcome, log_split
from ragsearch.rerank.compiled_trees import cache_key
from ragsearch.rerank.extract import FeatureLogger
from ragsearch.rerank.registry import ModelRegistry
from ragsearch.retrieval.searcher import Retriever


def test_compiled_trees_score_what_lightgbm_scores(
    ltr_env: tuple[Retriever, Path], ltr_first: TrainOutcome, scifact_ltr_slice: Path
) -> None:
    retriever, home = ltr_env
    ts = log_split(retriever, FeatureLogger(retriever.index), load_split(scifact_ltr_slice, "test"))
    v = ltr_first.manifest.version
    compiled = ModelRegistry(home, "compiled").load(v)
    registry_file = ModelRegistry(home).path(v) / "model.txt"
    plain = ModelRegistry(home, "lightgbm").load(v)
    assert (compiled.trees.name, plain.trees.name) == ("compiled", "lightgbm")
    assert np.isnan(ts.features).any()  # missing values must take LightGBM's default branches in both
    np.testing.assert_allclose(compiled.predict(ts.features), plain.predict(ts.features), rtol=0, atol=1e-9)
    # the compiled object is built once and reused by later loads
    built = [compiled.trees.path]  # type: ignore[attr-defined]
    assert (
        list((home / "cache" / "trees").glob(f"{cache_key(registry_file)}*.so")) == built
    )  # one object for this model
    stamp = built[0].stat().st_mtime_ns
    assert ModelRegistry(home).load(v).trees.name == "compiled"
    assert built[0].stat().st_mtime_ns == stamp
    # a damaged cached object (LLVM would abort the process loading it) is compiled again, not loaded
    built[0].write_bytes(b"not an object file")
    again = ModelRegistry(home).load(v)
    assert again.trees.name == "compiled" and built[0].read_bytes()[:4] == b"\x7fELF"
    np.testing.assert_allclose(again.predict(ts.features), plain.predict(ts.features), rtol=0, atol=1e-9)


def test_trees_fall_back_to_lightgbm_when_they_cannot_be_compiled(
    ltr_env: tuple[Retriever, Path], ltr_first: TrainOutcome, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, home = ltr_env
    v = ltr_first.manifest.version
    registry = ModelRegistry(home)
    registry.compiled_cache = tmp_path / "trees"  # nothing cached: each load tries to compile
    with monkeypatch.context() as m:
        m.setattr(compiled_trees, "MAX_COMPILED_LEAVES", 3)  # a forest too large to compile
        with capture_logs() as logs:
            assert registry.load(v).trees.name == "lightgbm"
        assert "leaves is more than" in logs[0]["error"] and logs[0]["log_level"] == "warning"
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "lleaves", None)  # the compiler is not installed
        with capture_logs() as logs:
            assert registry.load(v).trees.name == "lightgbm"
        assert "import of lleaves" in logs[0]["error"]
    with monkeypatch.context() as m:
        m.setattr(compiled_trees, "CODE_MODEL", "medium")  # the compiler itself fails
        with capture_logs() as logs:
            assert registry.load(v).trees.name == "lightgbm"
        assert "AssertionError" in logs[0]["error"]
    assert not list(registry.compiled_cache.glob("*"))
