"""LambdaMART training (LightGBM `lambdarank`) boosted from the fused score; folds and hold-outs of queries.

The number of trees is chosen by K-fold CV in `rerank/selection.py`; `fit` (early stopping on dev queries)
remains for benchmarks that refit a registered model."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray

from ragsearch.eval.data import Qrels
from ragsearch.eval.metrics import evaluate
from ragsearch.eval.runs import Run
from ragsearch.rerank.dataset import TrainingSet
from ragsearch.rerank.errors import TrainingDataError
from ragsearch.rerank.features import FEATURE_NAMES

MONOTONE_UP = ("fused_score", "bm25_rel", "dense_cosine", "dense_gap", "bm25_best_fields")
PRIOR_FEATURE = "fused_score"


def prior(features: NDArray[np.float32], feature_names: Sequence[str], weight: float) -> NDArray[np.float64]:
    """The score the trees start from: `weight * fused_score` (0 where it is missing)."""
    if weight == 0:
        return np.zeros(features.shape[0], dtype=np.float64)
    col = features[:, list(feature_names).index(PRIOR_FEATURE)].astype(np.float64)
    return weight * np.nan_to_num(col, nan=0.0)


@dataclass(frozen=True, slots=True)
class TrainParams:
    """LightGBM settings; defaults chosen on SciFact and NFCorpus dev queries, never on test."""

    learning_rate: float = 0.05
    num_leaves: int = 15
    max_depth: int = -1
    """-1: no limit (leaf-wise growth up to `num_leaves`)."""
    min_data_in_leaf: int = 50
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    num_boost_round: int = 1000
    early_stopping_rounds: int = 100
    seed: int = 13
    num_threads: int = 2
    prior_weight: float = 4.0
    """Trees start from `prior_weight * fused_score` (LightGBM init_score) and learn corrections to the
    hybrid order; 0 learns from scratch. Applied the same way at prediction, so a model of zero trees ranks
    exactly as the fused score does (a power of two keeps every order and tie of the fused scores)."""
    tree_folds: int = 5
    """The number of trees is chosen by K-fold CV over the training queries (`rerank.selection`)."""
    tree_split: str = "queries"
    """What those folds split: "queries", or "documents" (queries sharing a relevant document stay in one
    fold: the trees kept are those that help on documents never judged in training)."""
    monotone: bool = False
    """Constrain the model to be non-decreasing in the first-stage relevance scores (`MONOTONE_UP`)."""

    def lightgbm(self, feature_names: Sequence[str] = FEATURE_NAMES) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.monotone:
            extra["monotone_constraints"] = [1 if n in MONOTONE_UP else 0 for n in feature_names]
            extra["monotone_constraints_method"] = "advanced"
        return {
            **extra,
            "objective": "lambdarank",
            "metric": "ndcg",
            "eval_at": [10],
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": self.lambda_l2,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.num_threads,
            "verbosity": -1,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class FittedRanker:
    booster: lgb.Booster
    best_iteration: int
    seconds: float
    prior_weight: float = 0.0

    def predict(self, features: NDArray[np.float32]) -> NDArray[np.float64]:
        base = prior(features, self.booster.feature_name(), self.prior_weight)
        if self.best_iteration == 0:  # LightGBM reads num_iteration=0 as "every tree"; there are none
            return base
        trees = self.booster.predict(features, num_iteration=self.best_iteration)
        return np.asarray(trees, dtype=np.float64) + base

    def importance(self) -> dict[str, dict[str, float]]:
        names = self.booster.feature_name()
        gain = self.booster.feature_importance("gain", iteration=self.best_iteration)
        split = self.booster.feature_importance("split", iteration=self.best_iteration)
        return {n: {"gain": float(g), "split": float(s)} for n, g, s in zip(names, gain, split, strict=True)}


def _dataset(ts: TrainingSet, prior_weight: float, reference: lgb.Dataset | None = None) -> lgb.Dataset:
    return lgb.Dataset(
        ts.features,
        label=ts.labels,
        group=ts.groups,
        weight=ts.row_weights(),
        init_score=prior(ts.features, ts.feature_names, prior_weight) if prior_weight else None,
        feature_name=list(ts.feature_names),
        reference=reference,
        free_raw_data=False,
    )


def fit(train: TrainingSet, dev: TrainingSet, params: TrainParams) -> FittedRanker:
    """Train on `train`, stop when dev nDCG@10 has not improved for `early_stopping_rounds` rounds."""
    if train.n_rows == 0 or dev.n_rows == 0:
        raise TrainingDataError("training and dev sets must both hold at least one query with candidates")
    if int(train.labels.max()) <= 0:
        raise TrainingDataError(
            "no training candidate is judged relevant: check that the index holds the judged corpus"
        )
    t0 = time.perf_counter()
    dtrain = _dataset(train, params.prior_weight)
    ddev = _dataset(dev, params.prior_weight, reference=dtrain)
    booster = lgb.train(
        params.lightgbm(train.feature_names),
        dtrain,
        num_boost_round=params.num_boost_round,
        valid_sets=[ddev],
        valid_names=["dev"],
        callbacks=[lgb.early_stopping(params.early_stopping_rounds, verbose=False)],
    )
    best = booster.best_iteration or booster.current_iteration()
    return FittedRanker(booster, int(best), time.perf_counter() - t0, params.prior_weight)


def fit_trees(train: TrainingSet, params: TrainParams, trees: int) -> FittedRanker:
    """Exactly `trees` boosting rounds on `train` from the fused-score prior; 0 gives a model of no trees
    (its predictions are the prior alone: the fused ranking)."""
    if train.n_rows == 0:
        raise TrainingDataError("the training set holds no query with candidates")
    t0 = time.perf_counter()
    data = _dataset(train, params.prior_weight)
    lgb_params = params.lightgbm(train.feature_names)
    if trees == 0:  # lgb.train refuses 0 rounds; a Booster made on the data holds no trees and saves fine
        booster = lgb.Booster(lgb_params, data)
    else:
        booster = lgb.train(lgb_params, data, num_boost_round=trees)
    return FittedRanker(booster, trees, time.perf_counter() - t0, params.prior_weight)


def _key(qid: str) -> tuple[int, int | str]:
    return (0, int(qid)) if qid.isdigit() else (1, qid)


def _unit_hash(qid: str) -> float:
    return int(hashlib.sha1(qid.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def holdout(qids: Sequence[str], fraction: float = 0.2) -> tuple[list[str], list[str]]:
    """A deterministic (train, dev) split of query ids: a query is dev when its id hashes below `fraction`.

    With two or more queries each side keeps at least one (the lowest hash goes to dev, the highest to train).
    """
    dev_set = {q for q in qids if _unit_hash(q) < fraction}
    if len(set(qids)) >= 2:
        by_hash = sorted(set(qids), key=_unit_hash)
        if not dev_set:
            dev_set = {by_hash[0]}
        if len(dev_set) == len(by_hash):
            dev_set.discard(by_hash[-1])
    return [q for q in qids if q not in dev_set], [q for q in qids if q in dev_set]


def folds(qids: Sequence[str], k: int) -> list[list[str]]:
    """K folds over query ids sorted numerically, assigned round-robin (fold 1, 2, ..., K, 1, ...).

    For K=2 this reproduces the `fold1`/`fold2` files shipped with the Cranfield collection here.
    """
    if k < 2:
        raise TrainingDataError(f"--cv needs at least 2 folds, got {k}")
    ordered = sorted(set(qids), key=_key)
    if len(ordered) < k:
        raise TrainingDataError(f"cannot make {k} folds from {len(ordered)} queries")
    return [ordered[i::k] for i in range(k)]


def ndcg10(ts: TrainingSet, scores: NDArray[np.float64] | NDArray[np.float32], qrels: Qrels) -> float:
    """nDCG@10 of ranking each query's candidates by `scores`, against the full judgments of those queries
    (a weighted mean when the set has query weights)."""
    run: Run = ts.to_run(scores)
    judged = {q: qrels[q] for q in ts.qids if q in qrels}
    ev = evaluate(judged, run, ["nDCG@10"])
    if ts.weights is None:
        return ev.means["nDCG@10"]
    per = ev.per_query["nDCG@10"]  # weighted as in training: each collection counts the same
    w = {q: float(x) for q, x in zip(ts.qids, ts.weights, strict=True) if q in per}
    total = sum(w.values())
    return sum(w[q] * per[q] for q in w) / total if total > 0 else 0.0
