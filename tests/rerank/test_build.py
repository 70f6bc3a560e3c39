"""Real LightGBM on a real SciFact slice: a trained model beats random order on held-out test queries;
the registry round trip (train, list, promote, rollback, load) and the refusal of mismatched features.

The index uses the FAKE hash embedder so the test stays fast; the real-model path is in test_cli_ltr.py.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from ragsearch.eval.data import load_split
from ragsearch.eval.metrics import evaluate
from ragsearch.rerank.build import TrainOutcome, log_split
from ragsearch.rerank.extract import FeatureLogger
from ragsearch.rerank.ltr import LtrReranker
from ragsearch.rerank.registry import ModelRegistry
from ragsearch.retrieval.searcher import Retriever
from ragsearch.retrieval.types import Candidate


def test_trained_model_beats_random_order_on_held_out_queries(
    ltr_env: tuple[Retriever, Path], ltr_first: TrainOutcome, scifact_ltr_slice: Path
) -> None:
    retriever, home = ltr_env
    test = load_split(scifact_ltr_slice, "test")
    ts = log_split(retriever, FeatureLogger(retriever.index), test)
    model = ModelRegistry(home).load(ltr_first.manifest.version)
    rng = np.random.default_rng(0)
    ltr = evaluate(test.qrels, ts.to_run(model.predict(ts.features)), ["nDCG@10"]).means["nDCG@10"]
    rand = np.mean(
        [
            evaluate(test.qrels, ts.to_run(rng.random(ts.n_rows)), ["nDCG@10"]).means["nDCG@10"]
            for _ in range(5)
        ]
    )
    assert ltr > rand + 0.2, (ltr, rand)
    assert ltr_first.manifest.metrics["test"]["ltr_nDCG@10"] == pytest.approx(ltr, abs=1e-4)
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


def test_manifest_records_what_reproduces_the_run(
    ltr_env: tuple[Retriever, Path], ltr_first: TrainOutcome
) -> None:
    _, home = ltr_env
    registry = ModelRegistry(home)
    m = registry.manifest(ltr_first.manifest.version)
    folder = registry.path(m.version)
    assert sorted(p.name for p in folder.iterdir()) == [
        "dev.npz", "importance.json", "manifest.json", "model.txt", "training.npz",
    ]  # fmt: skip
    assert (folder / "model.txt").read_text().startswith("tree")
    from ragsearch.rerank.dataset import TrainingSet

    assert TrainingSet.load(folder / "training.npz").sha256() == m.training_data["train"]["sha256"]
    assert m.dataset == "scifact" and m.train_split == "train" and m.dev.startswith("holdout 0.2")
    assert m.candidates["bm25_depth"] == 50 and m.embedding_model == "fake-hash-256"
    assert {"lightgbm", "numpy", "python"} <= set(m.libraries)
    assert set(registry.importance(m.version)) == set(m.feature_names)
    assert m.trained_on == {"train"}
    assert m.params["prior_weight"] == 5.0 and "monotone_constraints" in m.params["lightgbm"]
