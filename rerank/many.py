"""Many-collection training: several (index, judged queries) sources into one model.

Each source's candidates are retrieved and logged against its own index; the sets are combined with query
ids prefixed by the index name and each collection's queries weighted to the same total
(`rerank.dataset.combine`), so a large collection does not drown a small one. The trees are chosen by
leave-one-collection-out CV (each collection in turn is measured by a model of the others: what a model of
several collections is for), or by K-fold CV over the combined queries as for one collection; the dev figure is a
deterministic hold-out of the combined queries. The manifest lists every source (`ModelManifest.sources`):
its index, dataset, split, queries, rows, query weight, and the query ids it was trained or early-stopped on
(what evaluation on that collection must keep away from).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ragsearch.eval.data import JudgedSplit
from ragsearch.rerank.build import (
    ProgressFactory,
    TrainOutcome,
    candidate_settings,
    decide,
    log_split,
    test_metrics,
)
from ragsearch.rerank.dataset import SOURCE_SEP, combine
from ragsearch.rerank.errors import TrainingDataError
from ragsearch.rerank.extract import FeatureLogger
from ragsearch.rerank.features import FEATURE_NAMES, FEATURES_VERSION
from ragsearch.rerank.registry import ModelManifest, ModelRegistry, now_utc, versions_of_libraries
from ragsearch.rerank.selection import select_trees, selection_record
from ragsearch.rerank.train import TrainParams, fit_trees, holdout, ndcg10
from ragsearch.retrieval.searcher import Retriever


@dataclass(frozen=True, slots=True)
class TrainingSource:
    """One collection's judged training queries, with the retriever and feature logger of its index."""

    retriever: Retriever
    logger: FeatureLogger
    split: JudgedSplit
    test: JudgedSplit | None = None
    """Judgments whose metrics are recorded for this source (queries it trained on are left out)."""

    @property
    def name(self) -> str:
        return self.retriever.index.name


def _unprefixed(qids: Sequence[str], name: str) -> list[str]:
    head = f"{name}{SOURCE_SEP}"
    return [q[len(head) :] for q in qids if q.startswith(head)]


def train_many(
    sources: Sequence[TrainingSource],
    registry: ModelRegistry,
    params: TrainParams,
    holdout_fraction: float = 0.2,
    promote_if_better: bool = False,
    progress: ProgressFactory | None = None,
    split_by: str | None = "collections",
) -> TrainOutcome:
    """Train one model on every source's judged queries, each collection weighted the same; register it.

    `split_by` "collections": the number of trees is chosen by leave-one-collection-out CV (a model of
    several collections is for collections it has not seen: it keeps the trees that help there, often
    none); None: by `params.tree_split` ("queries" or "documents") over the combined queries, as for one
    collection."""
    names = [s.name for s in sources]
    if len(sources) < 2 or len(set(names)) != len(names):
        raise TrainingDataError(f"many-collection training needs two or more distinct indexes, got {names}")
    logged = [(s.name, log_split(s.retriever, s.logger, s.split, progress), s.split.qrels) for s in sources]
    full, qrels = combine(logged)
    tr_q, dv_q = holdout(full.qids, holdout_fraction)
    train_ts, dev_ts = full.subset(tr_q), full.subset(dv_q)
    selection = select_trees(train_ts, qrels, params, split_by=split_by)
    model = fit_trees(train_ts, params, selection.chosen)
    dev_qrels = {q: qrels[q] for q in dev_ts.qids if q in qrels}
    dev_ndcg = ndcg10(dev_ts, model.predict(dev_ts.features), dev_qrels)
    metrics: dict[str, dict[str, Any]] = {
        "dev": {
            "ltr_nDCG@10": round(dev_ndcg, 6),
            "hybrid_nDCG@10": round(ndcg10(dev_ts, dev_ts.column("fused_score"), dev_qrels), 6),
        }
    }
    weight_of = dict(zip(full.qids, full.weights if full.weights is not None else [], strict=True))
    records = []
    for src, (name, ts, _) in zip(sources, logged, strict=True):
        seen = sorted(set(src.split.queries))  # every judged training query, logged or not
        if src.test is not None:
            metrics[f"test {name}"] = test_metrics(
                src.retriever, src.logger, model, src.test, set(seen), progress
            )
        records.append(
            {
                "index": name,
                "dataset": src.split.dataset,
                "split": src.split.split,
                "queries": len(ts.qids),
                "rows": ts.n_rows,
                "query_weight": round(float(weight_of[f"{name}{SOURCE_SEP}{ts.qids[0]}"]), 6),
                "train_queries": len(_unprefixed(train_ts.qids, name)),
                "dev_queries": len(_unprefixed(dev_ts.qids, name)),
                "candidates": candidate_settings(src.retriever),
                "embedding_model": src.retriever.index.spec.embedding_model,
                "seen_queries": seen,
            }
        )
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
                "weights": "per query, each collection the same total",
            },
            "dev": {
                "sha256": dev_ts.sha256(),
                "rows": dev_ts.n_rows,
                "queries": len(dev_ts.qids),
                "file": "dev.npz",
            },
        },
        dataset="+".join(s.split.dataset for s in sources),
        train_split="+".join(s.split.split for s in sources),
        dev=f"holdout {holdout_fraction:g} of the combined queries (sha1 of source:query id)",
        candidates=candidate_settings(sources[0].retriever),
        embedding_model="+".join(sorted({s.retriever.index.spec.embedding_model for s in sources})),
        index="+".join(names),
        libraries=versions_of_libraries(),
        metrics=metrics,
        train_seconds=round(selection.seconds + model.seconds, 3),
        seen_queries={"train": list(train_ts.qids), "dev": list(dev_ts.qids)},
        sources=records,
        **selection_record(selection),
    )
    gate = decide(registry, dev_ndcg, dev_ts, dev_qrels) if promote_if_better else None
    registry.register(manifest, model.booster, model.importance(), {"training": train_ts, "dev": dev_ts})
    if gate is not None and gate.promote:
        registry.promote(version)
    return TrainOutcome(manifest, gate, selection)


def source_weights(manifest: ModelManifest) -> dict[str, float]:
    """{index: total weight of its training queries} of a many-collection manifest (equal by design)."""
    return {s["index"]: float(np.round(s["query_weight"] * s["queries"], 6)) for s in manifest.sources or []}
