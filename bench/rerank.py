"""Reranking latency and training time of the LTR model: `python -m bench.rerank`.

Latency: for each query, 200 first-stage candidates (BM25 + dense union, cut at 200) are reranked:
feature extraction (stored token streams, per-field BM25, vectors, features) plus the trees' predict
(compiled or LightGBM, per `RAGSEARCH_RERANK_TREE_RUNTIME`),
timed per query; p50/p95 over the queries. Candidate retrieval itself is not included. The in-process
analysis cache (used only for passages without stored token streams) is cleared before each query.
Training time: the model's own logged training and dev matrices, refitted with its recorded params.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.latency import percentiles
from ragsearch.app.services import (
    default_search_config,
    make_backend,
    make_embedder,
    make_engine,
    make_feature_logger,
    make_registry,
)
from ragsearch.app.settings import get_settings
from ragsearch.eval.data import load_split
from ragsearch.rerank.dataset import TrainingSet
from ragsearch.rerank.registry import LoadedModel, ModelRegistry
from ragsearch.rerank.train import TrainParams, fit


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dataset", type=Path, default=None, help="BEIR folder (default: <data_dir>/scifact)")
    p.add_argument("--index", default="scifact")
    p.add_argument("--split", default="test")
    p.add_argument("--model", default=None, help="model version (default: the promoted one)")
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--candidates", type=int, default=200)
    p.add_argument("--skip-training", action="store_true")
    p.add_argument("--json", type=Path, help="also write the figures here")
    a = p.parse_args(argv)
    s = get_settings()
    dataset = a.dataset or s.data_dir / "scifact"
    registry = make_registry(s)
    model = registry.load(a.model)
    split = load_split(dataset, a.split)
    qids = list(split.queries)[: a.queries]
    idx = make_backend(s).open(a.index)
    try:
        depths = {"bm25_depth": a.candidates, "dense_depth": a.candidates}
        retriever = make_engine(idx, make_embedder(s), s).retriever(
            default_search_config(s).replace(**depths)
        )
        logger = make_feature_logger(idx, s)
        vectors = retriever.encode([split.queries[q] for q in qids])
        feat_ms, pred_ms, sizes = [], [], []
        for qid, vec in zip(qids, vectors, strict=True):
            text = split.queries[qid]
            cands = retriever.candidates(text, vec)[: a.candidates]
            logger.analyze.cache_clear()  # every passage analyzed afresh: the uncached cost
            t0 = time.perf_counter()
            x = logger.features(text, cands, vec)
            t1 = time.perf_counter()
            model.predict(x)
            t2 = time.perf_counter()
            feat_ms.append((t1 - t0) * 1e3)
            pred_ms.append((t2 - t1) * 1e3)
            sizes.append(len(cands))
    finally:
        idx.close()
    total = np.array(feat_ms) + np.array(pred_ms)
    out = sys.stdout.write
    out(
        f"model {model.manifest.version} ({model.manifest.dataset}/{model.manifest.train_split}), index {a.index}\n"
    )
    out(
        f"rerank latency over {len(qids)} queries, {np.mean(sizes):.0f} candidates each (min {min(sizes)}):\n"
    )
    for name, v in (("features", feat_ms), ("predict", pred_ms), ("total", total)):
        out(f"  {name:9s} p50 {np.percentile(v, 50):7.1f} ms   p95 {np.percentile(v, 95):7.1f} ms\n")
    result: dict[str, object] = {
        "model": model.manifest.version,
        "tree_runtime": model.trees.name,
        "queries": len(qids),
        "candidates": a.candidates,
        "mean_candidates": float(np.mean(sizes)),
        "features": percentiles(feat_ms),
        "predict": percentiles(pred_ms),
        "total": percentiles(total.tolist()),
    }
    if not a.skip_training:
        result["training_seconds"] = refit(registry, model, out)
    if a.json:
        a.json.write_text(json.dumps(result, indent=2) + "\n")


def refit(registry: ModelRegistry, model: LoadedModel, out: Callable[[str], object]) -> float:
    """Refit the model from its logged matrices with its recorded params; returns the seconds it took."""
    folder = registry.path(model.manifest.version)
    train, dev = TrainingSet.load(folder / "training.npz"), TrainingSet.load(folder / "dev.npz")
    params = TrainParams(**{k: v for k, v in model.manifest.params.items() if k != "lightgbm"})
    fitted = fit(train, dev, params)
    out(
        f"training: {train.n_rows} rows / {len(train.qids)} queries, early stopping on {len(dev.qids)} dev "
        f"queries: {fitted.seconds:.1f} s, {fitted.best_iteration} trees "
        f"(the recorded run took {model.manifest.train_seconds:.1f} s)\n"
    )
    return float(fitted.seconds)


if __name__ == "__main__":
    main()
