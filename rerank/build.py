"""Training runs end to end: log features of judged splits, fit, measure, register, gate promotion."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ragsearch.eval.data import JudgedSplit, restrict
from ragsearch.eval.evaluate import EvalReport, compare_systems
from ragsearch.eval.leakage import describe, overlap
from ragsearch.eval.metrics import DEFAULT_MEASURES, evaluate
from ragsearch.rerank.dataset import TrainingSet, log_training_set
from ragsearch.rerank.errors import FeatureMismatchError, TrainingDataError
from ragsearch.rerank.extract import FeatureLogger
from ragsearch.rerank.features import FEATURE_NAMES, FEATURES_VERSION
from ragsearch.rerank.registry import ModelManifest, ModelRegistry, now_utc, versions_of_libraries
from ragsearch.rerank.selection import TreeSelection, cross_validate, select_trees, selection_record
from ragsearch.rerank.train import FittedRanker, TrainParams, fit_trees, holdout, ndcg10
from ragsearch.retrieval.searcher import Retriever

ProgressFactory = Callable[[str, int], Callable[[int], None]]
"""(description, total) -> a callback advanced by the number of queries done."""


def log_split(
    retriever: Retriever, logger: FeatureLogger, split: JudgedSplit, progress: ProgressFactory | None = None
) -> TrainingSet:
    qids = list(split.queries)
    vectors = dict(zip(qids, retriever.encode([split.queries[q] for q in qids]), strict=True))
    step = progress(f"log features {split.dataset}/{split.split}", len(qids)) if progress else None
    return log_training_set(retriever, logger, split.queries, split.qrels, vectors, step)


def candidate_settings(retriever: Retriever) -> dict[str, Any]:
    b = retriever.boosts
    return {
        "bm25_depth": retriever.bm25_depth,
        "dense_depth": retriever.dense_depth,
        "fusion": retriever.fusion,
        "dense_weight": retriever.dense_weight,
        "rrf_k": retriever.rrf_k,
        "boosts": {"title": b.title, "text": b.text, "tie_breaker": b.tie_breaker},
    }


@dataclass(frozen=True, slots=True)
class GateDecision:
    promote: bool
    reason: str


@dataclass(frozen=True, slots=True)
class TrainOutcome:
    manifest: ModelManifest
    gate: GateDecision | None
    selection: TreeSelection | None = None
    """How the number of trees was chosen; its `message` says when the model serves the fused ranking."""


def split_metrics(ts: TrainingSet, scores: Any, split: JudgedSplit) -> dict[str, float]:
    ev = evaluate({q: split.qrels[q] for q in split.qrels}, ts.to_run(scores), DEFAULT_MEASURES)
    return {k: round(v, 6) for k, v in ev.means.items()}


def test_metrics(
    retriever: Retriever,
    logger: FeatureLogger,
    model: FittedRanker,
    test: JudgedSplit,
    seen: set[str],
    progress: ProgressFactory | None = None,
) -> dict[str, Any]:
    """LTR and hybrid metrics on the test queries the model was neither trained nor early-stopped on.

    Overlapping queries are left out and counted (`excluded_training_queries`); when every test query
    overlaps there is no test figure at all, only the note saying why.
    """
    out: dict[str, Any] = {"split": test.split}
    clash = overlap(test.queries, seen)
    kept = [q for q in test.queries if q not in set(clash)]
    if clash:
        out["excluded_training_queries"] = len(clash)
        out["note"] = (
            f"{describe(clash, len(test.queries))} of {test.split} were training or early-stopping queries: "
            + (f"measured on the other {len(kept)}" if kept else "no test figure")
        )
    if not kept:
        return out
    held = restrict(test, kept)
    test_ts = log_split(retriever, logger, held, progress)
    ltr = split_metrics(test_ts, model.predict(test_ts.features), held)
    hyb = split_metrics(test_ts, test_ts.column("fused_score"), held)
    out["queries"] = len(kept)
    return {**{f"ltr_{k}": v for k, v in ltr.items()}, **{f"hybrid_{k}": v for k, v in hyb.items()}, **out}


def train_ltr(
    retriever: Retriever,
    logger: FeatureLogger,
    registry: ModelRegistry,
    train: JudgedSplit,
    dev: JudgedSplit | None,
    test: JudgedSplit | None,
    params: TrainParams,
    holdout_fraction: float = 0.2,
    promote_if_better: bool = False,
    progress: ProgressFactory | None = None,
) -> TrainOutcome:
    """Choose the number of trees by K-fold CV over the training queries (zero: the fused ranking), fit on
    all of them with that many trees, measure on `dev` (or a deterministic hold-out of train), register.

    `dev` is what the promotion gate compares models on; `test` judgments only produce the test metrics
    recorded in the manifest; nothing is chosen on them.
    """
    if test is not None and test.split in {train.split, dev.split if dev else None}:
        raise TrainingDataError(f"the test split {test.split!r} cannot also be the train or dev split")
    full = log_split(retriever, logger, train, progress)
    if dev is None:
        tr_q, dv_q = holdout(full.qids, holdout_fraction)
        train_ts, dev_ts = full.subset(tr_q), full.subset(dv_q)
        dev_name = f"holdout {holdout_fraction:g} of {train.split} (sha1 of query id)"
        dev_split = JudgedSplit(train.dataset, train.split, {q: train.queries[q] for q in dv_q}, train.qrels)
    else:
        train_ts, dev_ts = full, log_split(retriever, logger, dev, progress)
        dev_name, dev_split = dev.split, dev
    if dev_ts.n_rows == 0:
        raise TrainingDataError("the dev set must hold at least one query with candidates")
    selection = select_trees(train_ts, train.qrels, params)
    model = fit_trees(train_ts, params, selection.chosen)
    dev_qrels = {q: dev_split.qrels[q] for q in dev_ts.qids}
    dev_ndcg = ndcg10(dev_ts, model.predict(dev_ts.features), dev_qrels)
    # every judged query of the train and dev splits, logged or not: what evaluation must keep away from
    dev_ids = list(dev.queries) if dev is not None else list(dev_ts.qids)
    seen = {"train": [q for q in train.queries if q not in set(dev_ids)], "dev": dev_ids}
    metrics: dict[str, dict[str, Any]] = {
        "dev": {
            "ltr_nDCG@10": round(dev_ndcg, 6),
            "hybrid_nDCG@10": round(ndcg10(dev_ts, dev_ts.column("fused_score"), dev_qrels), 6),
        }
    }
    if test is not None:
        seen_ids = set(seen["train"]) | set(seen["dev"]) if test.dataset == train.dataset else set()
        metrics["test"] = test_metrics(retriever, logger, model, test, seen_ids, progress)
    version = registry.next_version()
    manifest = ModelManifest(
        version=version,
        created_at=now_utc(),
        feature_names=FEATURE_NAMES,
        features_version=FEATURES_VERSION,
        params={**params.to_dict(), "lightgbm": params.lightgbm(train_ts.feature_names)},
        best_iteration=model.best_iteration,
        training_data={
            "train": {
                "sha256": train_ts.sha256(),
                "rows": train_ts.n_rows,
                "queries": len(train_ts.qids),
                "file": "training.npz",
            },
            "dev": {
                "sha256": dev_ts.sha256(),
                "rows": dev_ts.n_rows,
                "queries": len(dev_ts.qids),
                "file": "dev.npz",
            },
        },
        dataset=train.dataset,
        train_split=train.split,
        dev=dev_name,
        candidates=candidate_settings(retriever),
        embedding_model=retriever.index.spec.embedding_model,
        index=retriever.index.name,
        libraries=versions_of_libraries(),
        metrics=metrics,
        train_seconds=round(selection.seconds + model.seconds, 3),
        seen_queries=seen,
        **selection_record(selection),
    )
    gate = None
    if promote_if_better:
        gate = decide(registry, dev_ndcg, dev_ts, dev_qrels)
    registry.register(manifest, model.booster, model.importance(), {"training": train_ts, "dev": dev_ts})
    if gate is not None and gate.promote:
        registry.promote(version)
    return TrainOutcome(manifest, gate, selection)


def decide(
    registry: ModelRegistry, new_ndcg: float, dev_ts: TrainingSet, dev_qrels: dict[str, dict[str, int]]
) -> GateDecision:
    """Promote when nothing is promoted, or when the new model beats the promoted one on the same dev queries."""
    current = registry.promoted
    if current is None:
        return GateDecision(True, f"no model was promoted; dev nDCG@10 {new_ndcg:.4f}")
    try:
        old = registry.load(current)
    except FeatureMismatchError as exc:
        return GateDecision(
            True, f"the promoted {current} cannot serve this code ({exc}); dev nDCG@10 {new_ndcg:.4f}"
        )
    old_ndcg = ndcg10(dev_ts, old.predict(dev_ts.features), dev_qrels)
    if new_ndcg > old_ndcg:
        return GateDecision(
            True,
            f"dev nDCG@10 {new_ndcg:.4f} beats the promoted {current}'s {old_ndcg:.4f} on the same dev queries",
        )
    return GateDecision(
        False,
        f"dev nDCG@10 {new_ndcg:.4f} does not beat the promoted {current}'s {old_ndcg:.4f} on the same dev queries",
    )


def cross_validate_split(
    retriever: Retriever,
    logger: FeatureLogger,
    split: JudgedSplit,
    k: int,
    params: TrainParams,
    progress: ProgressFactory | None = None,
) -> EvalReport:
    """K-fold CV over the split's queries: hybrid against out-of-fold LTR scores, with a paired t-test.
    Each fold's number of trees is chosen by an inner CV over the other folds (`params.tree_folds`)."""
    ts = log_split(retriever, logger, split, progress)
    cv = cross_validate(ts, split.qrels, k, params)
    runs = {"hybrid": ts.to_run(ts.column("fused_score")), "ltr": ts.to_run(cv.scores)}
    report = compare_systems(split, runs, DEFAULT_MEASURES, subset_name=f"{k}-fold CV, out-of-fold")
    trees = ", ".join(str(t) for t in cv.best_iterations)
    note = f"trees per fold, chosen by {params.tree_folds}-fold CV inside it (0: the fused ranking): {trees}"
    return replace(report, notes=(*report.notes, note))
