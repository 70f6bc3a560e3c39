"""Real LightGBM on a real SciFact slice: a trained model beats random order on held-out test queries;
the registry round trip (train, list, promote, rollback, load) and the refusal of mismatched features.

The index uses the FAKE hash embedder so the test stays fast; the real-model path is in test_cli_ltr.py.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from structlog.testing import capture_logs

from eval.data import load_split
from eval.metrics import evaluate
from ingest.pipeline import ingest_records
from ingest.readers import read_source
from rerank import compiled_trees
from rerank.build import TrainOutcome, log_split, train_ltr
from rerank.errors import FeatureMismatchError, ModelNotFoundError
from rerank.extract import FeatureLogger
from rerank.ltr import LtrReranker
from rerank.registry import ModelRegistry
from rerank.train import TrainParams, folds, holdout
from retrieval.embedded import EmbeddedBackend
from retrieval.searcher import Retriever
from retrieval.types import Candidate, IndexSpec
from tests.fakes import FakeHashEmbedder

PARAMS = TrainParams(
    learning_rate=0.1,
    num_boost_round=200,
    early_stopping_rounds=20,
    min_data_in_leaf=20,
    prior_weight=5.0,
    monotone=True,
)


@pytest.fixture(scope="module")
def env(
    scifact_ltr_slice: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Retriever, Path]]:
    home = tmp_path_factory.mktemp("ltrhome")
    emb = FakeHashEmbedder(dim=256, name="fake-hash-256")
    idx = EmbeddedBackend(home).create("sf", IndexSpec(emb.name, emb.dim))
    ingest_records(read_source(scifact_ltr_slice), idx, emb)
    yield Retriever(idx, emb, bm25_depth=50, dense_depth=50), home
    idx.close()


@pytest.fixture(scope="module")
def first(env: tuple[Retriever, Path], scifact_ltr_slice: Path) -> TrainOutcome:
    retriever, home = env
    return train_ltr(
        retriever,
        FeatureLogger(retriever.index),
        ModelRegistry(home),
        load_split(scifact_ltr_slice, "train"),
        None,
        load_split(scifact_ltr_slice, "test"),
        PARAMS,
        promote_if_better=True,
    )


def test_trained_model_beats_random_order_on_held_out_queries(
    env: tuple[Retriever, Path], first: TrainOutcome, scifact_ltr_slice: Path
) -> None:
    retriever, home = env
    test = load_split(scifact_ltr_slice, "test")
    ts = log_split(retriever, FeatureLogger(retriever.index), test)
    model = ModelRegistry(home).load(first.manifest.version)
    rng = np.random.default_rng(0)
    ltr = evaluate(test.qrels, ts.to_run(model.predict(ts.features)), ["nDCG@10"]).means["nDCG@10"]
    rand = np.mean(
        [
            evaluate(test.qrels, ts.to_run(rng.random(ts.n_rows)), ["nDCG@10"]).means["nDCG@10"]
            for _ in range(5)
        ]
    )
    assert ltr > rand + 0.2, (ltr, rand)
    assert first.manifest.metrics["test"]["ltr_nDCG@10"] == pytest.approx(ltr, abs=1e-4)
    # the reranker (serving path) gives the same order as the training matrix for a query
    qid = ts.qids[0]
    vec = retriever.encode([test.queries[qid]])[0]
    hits = LtrReranker(model, FeatureLogger(retriever.index)).rerank(
        test.queries[qid], retriever.candidates(test.queries[qid], vec), vec
    )
    off = ts.offsets()
    scores = model.predict(ts.features[off[0] : off[1]])
    assert hits[0].doc_id == ts.doc_ids[int(np.argmax(scores))]
    assert hits[0].rerank_score == pytest.approx(float(scores.max()))
    # reranking sets the scores and keeps every first-stage field of each candidate
    cands = {c.id: c for c in retriever.candidates(test.queries[qid], vec)}
    kept = [f.name for f in fields(Candidate) if f.name not in ("rerank_score", "score")]
    for h in hits:
        assert h.score == h.rerank_score
        assert [getattr(h, n) for n in kept] == [getattr(cands[h.id], n) for n in kept]


def test_compiled_trees_score_what_lightgbm_scores(
    env: tuple[Retriever, Path], first: TrainOutcome, scifact_ltr_slice: Path
) -> None:
    retriever, home = env
    ts = log_split(retriever, FeatureLogger(retriever.index), load_split(scifact_ltr_slice, "test"))
    v = first.manifest.version
    compiled = ModelRegistry(home, "compiled").load(v)
    plain = ModelRegistry(home, "lightgbm").load(v)
    assert (compiled.trees.name, plain.trees.name) == ("compiled", "lightgbm")
    assert np.isnan(ts.features).any()  # missing values must take LightGBM's default branches in both
    np.testing.assert_allclose(compiled.predict(ts.features), plain.predict(ts.features), rtol=0, atol=1e-9)
    # the compiled object is built once and reused by later loads
    built = list((home / "cache" / "trees").glob("*.so"))
    assert len(built) == 1
    stamp = built[0].stat().st_mtime_ns
    assert ModelRegistry(home).load(v).trees.name == "compiled"
    assert built[0].stat().st_mtime_ns == stamp
    # a damaged cached object (LLVM would abort the process loading it) is compiled again, not loaded
    built[0].write_bytes(b"not an object file")
    again = ModelRegistry(home).load(v)
    assert again.trees.name == "compiled" and built[0].read_bytes()[:4] == b"\x7fELF"
    np.testing.assert_allclose(again.predict(ts.features), plain.predict(ts.features), rtol=0, atol=1e-9)


def test_trees_fall_back_to_lightgbm_when_they_cannot_be_compiled(
    env: tuple[Retriever, Path], first: TrainOutcome, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, home = env
    v = first.manifest.version
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


def test_manifest_records_what_reproduces_the_run(env: tuple[Retriever, Path], first: TrainOutcome) -> None:
    _, home = env
    registry = ModelRegistry(home)
    m = registry.manifest(first.manifest.version)
    folder = registry.path(m.version)
    assert sorted(p.name for p in folder.iterdir()) == [
        "dev.npz", "importance.json", "manifest.json", "model.txt", "training.npz",
    ]  # fmt: skip
    assert (folder / "model.txt").read_text().startswith("tree")
    from rerank.dataset import TrainingSet

    assert TrainingSet.load(folder / "training.npz").sha256() == m.training_data["train"]["sha256"]
    assert m.dataset == "scifact" and m.train_split == "train" and m.dev.startswith("holdout 0.2")
    assert m.candidates["bm25_depth"] == 50 and m.embedding_model == "fake-hash-256"
    assert {"lightgbm", "numpy", "python"} <= set(m.libraries)
    assert set(registry.importance(m.version)) == set(m.feature_names)
    assert m.trained_on == {"train"}
    assert m.params["prior_weight"] == 5.0 and "monotone_constraints" in m.params["lightgbm"]


def test_registry_round_trip_and_gate(
    env: tuple[Retriever, Path], first: TrainOutcome, scifact_ltr_slice: Path
) -> None:
    retriever, home = env
    registry = ModelRegistry(home)
    assert first.gate is not None and first.gate.promote and "no model was promoted" in first.gate.reason
    v1 = first.manifest.version
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


def test_model_with_other_features_refuses_to_load(env: tuple[Retriever, Path], first: TrainOutcome) -> None:
    _, home = env
    registry = ModelRegistry(home)
    path = registry.path(first.manifest.version) / "manifest.json"
    original = path.read_text()
    try:
        data = json.loads(original)
        data["feature_names"] = [*data["feature_names"][:-1], "doc_popularity"]
        path.write_text(json.dumps(data))
        with pytest.raises(FeatureMismatchError, match=r"'doc_popularity'.*retrain with `ragsearch train`"):
            registry.load(first.manifest.version)
        data = json.loads(original)
        data["features_version"] += 1
        path.write_text(json.dumps(data))
        with pytest.raises(FeatureMismatchError, match="features are version"):
            registry.load(first.manifest.version)
    finally:
        path.write_text(original)
    registry.load(first.manifest.version)


def test_holdout_and_folds_are_deterministic() -> None:
    qids = [str(i) for i in range(1, 101)]
    tr, dev = holdout(qids, 0.2)
    assert (tr, dev) == holdout(list(qids), 0.2)
    assert set(tr).isdisjoint(dev) and len(tr) + len(dev) == 100 and 10 <= len(dev) <= 30
    assert folds(["3", "1", "10", "2"], 2) == [["1", "3"], ["2", "10"]]  # numeric order, alternating
    for few in (["1", "2"], [str(i) for i in range(5)]):  # tiny sets still get a dev and a train query
        tr, dev = holdout(few, 0.2)
        assert tr and dev and sorted(tr + dev) == sorted(few)
