"""The LTR model registry (rerank/registry.py): versions, promotion gate, rollback, and refusing a model whose
features differ from the code's. Real model trained on a real SciFact slice (tests/rerank/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragsearch.eval.data import load_split
from ragsearch.rerank.build import TrainOutcome, train_ltr
from ragsearch.rerank.errors import FeatureMismatchError, ModelNotFoundError
from ragsearch.rerank.extract import FeatureLogger
from ragsearch.rerank.registry import ModelRegistry
from ragsearch.retrieval.searcher import Retriever
from tests.rerank.conftest import PARAMS


def test_registry_round_trip_and_gate(
    ltr_env: tuple[Retriever, Path], ltr_first: TrainOutcome, scifact_ltr_slice: Path
) -> None:
    retriever, home = ltr_env
    registry = ModelRegistry(home)
    assert (
        ltr_first.gate is not None
        and ltr_first.gate.promote
        and "no model was promoted" in ltr_first.gate.reason
    )
    v1 = ltr_first.manifest.version
    assert registry.promoted == v1
    # the same data and seed again: not better than itself, so the gate keeps v1
    again = train_ltr(
        retriever, FeatureLogger(retriever.index), registry, load_split(scifact_ltr_slice, "train"),
        None, None, PARAMS, promote_if_better=True,
    )  # fmt: skip
    v2 = again.manifest.version
    assert again.gate is not None and not again.gate.promote and "does not beat" in again.gate.reason
    assert registry.versions() == [v1, v2] and registry.promoted == v1
    registry.promote(v2)
    assert registry.promoted == v2 and registry.load().manifest.version == v2
    assert registry.rollback() == v1 and registry.promoted == v1
    with pytest.raises(ModelNotFoundError, match="nothing to roll back"):
        registry.rollback()
    with pytest.raises(ModelNotFoundError, match="known: v0001, v0002"):
        registry.load("v0099")


def test_model_with_other_features_refuses_to_load(
    ltr_env: tuple[Retriever, Path], ltr_first: TrainOutcome
) -> None:
    _, home = ltr_env
    registry = ModelRegistry(home)
    path = registry.path(ltr_first.manifest.version) / "manifest.json"
    original = path.read_text()
    try:
        data = json.loads(original)
        data["feature_names"] = [*data["feature_names"][:-1], "doc_popularity"]
        path.write_text(json.dumps(data))
        with pytest.raises(FeatureMismatchError, match=r"'doc_popularity'.*retrain with `ragsearch train`"):
            registry.load(ltr_first.manifest.version)
        data = json.loads(original)
        data["features_version"] += 1
        path.write_text(json.dumps(data))
        with pytest.raises(FeatureMismatchError, match="features are version"):
            registry.load(ltr_first.manifest.version)
    finally:
        path.write_text(original)
    registry.load(ltr_first.manifest.version)
