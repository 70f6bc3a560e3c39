"""How many trees: K-fold CV over the training queries, boosting from the fused score, zero trees allowed.

Each fold's model is trained on the other folds from the fused-score prior (LightGBM `init_score`) for
`num_boost_round` rounds; its held-out queries are scored after 0, 1, 2, 5, ... trees (`tree_grid`) and
nDCG@10 is measured against their full judgments. The chosen count is the fewest trees whose mean over
folds is within `SELECTION_EPSILON` of the best mean. Zero trees is the fused ranking itself: when no
number of trees beats it in CV, the model keeps no trees and serves the fused order.

Leaving one collection out, the count is chosen on the worst left-out collection's gain instead of the mean:
a model of several collections is for collections it has not seen, and a mean lets a gain on one pay for a
loss on another. Trees are kept only when they help every collection left out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ragsearch.eval.data import Qrels
from ragsearch.rerank.dataset import SOURCE_SEP, TrainingSet
from ragsearch.rerank.errors import TrainingDataError
from ragsearch.rerank.train import TrainParams, fit_trees, folds, ndcg10, prior

FOLD_SPLITS = ("queries", "documents", "collections")
"""What the folds that choose the trees leave out (`select_trees`)."""

TREE_STEPS = (1, 2, 3, 5, 10, 15, 20, 30, 40, 50, 75, 100, 150, 200, 300, 400, 500, 700, 1000)
SELECTION_EPSILON = 1e-3
"""A mean nDCG@10 gain below this is not worth more trees: fewer trees win (a tenth of a point is far
below what the folds of the collections here resolve; their spread over folds is a point or more)."""


def tree_grid(max_trees: int, zero: bool = True) -> tuple[int, ...]:
    """The tree counts measured: 0 (when allowed), the steps below `max_trees`, then every 500 up to it."""
    steps = [t for t in TREE_STEPS if t < max_trees]
    steps += list(range(1500, max_trees, 500))
    return (*([0] if zero else []), *steps, max_trees)


@dataclass(frozen=True, slots=True)
class CurvePoint:
    trees: int
    mean: float
    std: float
    worst: float | None = None
    """Leaving one collection out: the smallest gain over the curve's first point (zero trees) among the
    left-out collections; None for other splits."""

    def to_dict(self) -> dict[str, float]:
        out = {"trees": self.trees, "mean": round(self.mean, 6), "std": round(self.std, 6)}
        if self.worst is not None:
            out["worst_gain"] = round(self.worst, 6)
        return out


@dataclass(frozen=True, slots=True)
class TreeSelection:
    """The CV curve (nDCG@10 by number of trees, mean and spread over folds) and the count chosen on it."""

    curve: tuple[CurvePoint, ...]
    chosen: int
    folds: int
    seconds: float
    split_by: str = "queries"
    """What the folds split: queries, document-disjoint groups of queries, or collections (`FOLD_SPLITS`)."""

    @property
    def how(self) -> str:
        if self.split_by == "collections":
            return "leave-one-collection-out CV"
        if self.split_by == "documents":
            return f"{self.folds}-fold document-disjoint CV"
        return f"{self.folds}-fold CV"

    @property
    def fallback_to_fused(self) -> bool:
        return self.chosen == 0

    @property
    def message(self) -> str:
        if self.split_by == "collections":
            return self._worst_message()
        if self.fallback_to_fused:
            return (
                f"no number of trees beat the fused score in {self.how} "
                f"(nDCG@10 {self.curve[0].mean:.4f} with none): the model keeps no trees and serves the fused ranking"
            )
        best = next(p for p in self.curve if p.trees == self.chosen)
        base = next((p for p in self.curve if p.trees == 0), None)
        versus = f" (fused score alone: {base.mean:.4f})" if base else ""
        return f"{self.chosen} trees chosen by {self.how}: nDCG@10 {best.mean:.4f}{versus}"

    def _worst_message(self) -> str:
        if self.fallback_to_fused:
            # the best of the counts with trees (zero trees gains nothing by definition)
            top = max((p for p in self.curve if p.trees > 0), key=lambda p: p.worst or 0.0)
            return (
                f"no number of trees helped every left-out collection in {self.how} (the worst one gained at "
                f"most {top.worst or 0.0:+.4f} nDCG@10, at {top.trees} trees): the model keeps no trees and "
                "serves the fused ranking"
            )
        best = next(p for p in self.curve if p.trees == self.chosen)
        return (
            f"{self.chosen} trees chosen by {self.how}: every left-out collection gains at least "
            f"{best.worst or 0.0:+.4f} nDCG@10 over the fused score (mean nDCG@10 {best.mean:.4f})"
        )


def choose(curve: tuple[CurvePoint, ...], epsilon: float = SELECTION_EPSILON) -> int:
    """The fewest trees whose mean is within `epsilon` of the best mean (or, where the curve has them,
    whose worst fold's gain is within `epsilon` of the best worst gain)."""
    value = [p.mean if p.worst is None else p.worst for p in curve]
    best = max(value)
    return min(p.trees for p, v in zip(curve, value, strict=True) if v >= best - epsilon)


def fold_curve(
    train: TrainingSet, held: TrainingSet, qrels: Qrels, params: TrainParams, grid: tuple[int, ...]
) -> list[float]:
    """nDCG@10 of `held` after each tree count of `grid`, for one model trained on `train`."""
    model = fit_trees(train, params, grid[-1])
    scores: NDArray[np.float64] = prior(held.features, held.feature_names, params.prior_weight)
    out, done = [], 0
    for t in grid:
        if t > done:  # add the trees from `done` to `t`
            part = model.booster.predict(held.features, start_iteration=done, num_iteration=t - done)
            scores = scores + np.asarray(part, dtype=np.float64)
            done = t
        out.append(ndcg10(held, scores, qrels))
    return out


def collection_folds(qids: tuple[str, ...]) -> list[list[str]]:
    """The queries of each collection of a many-collection set (ids `name:query`, `rerank.dataset.combine`),
    in order of first appearance; one fold when the ids carry no collection."""
    by: dict[str, list[str]] = {}
    for q in qids:
        name, sep, _ = q.partition(SOURCE_SEP)
        by.setdefault(name if sep else "", []).append(q)
    return list(by.values())


def document_folds(qids: tuple[str, ...], qrels: Qrels, k: int) -> list[list[str]]:
    """K folds of queries with no relevant document in two folds: queries that share a relevant document
    (directly or through others: connected components of the query-document graph) stay together, the
    groups dealt largest first (then by their first query id) to the smallest fold (ties: the fold made
    first). Deterministic; fewer folds when there are fewer groups. (Document ids are taken as they are: two collections' equal ids join
    their queries, which only makes the groups larger.)"""
    docs: dict[str, int] = {}
    edges = [(i, docs.setdefault(d, len(docs))) for i, q in enumerate(qids)
             for d, grade in qrels.get(q, {}).items() if grade > 0]  # fmt: skip
    n = len(qids) + len(docs)
    rows, cols = [i for i, _ in edges], [len(qids) + j for _, j in edges]
    graph = coo_matrix((np.ones(len(edges)), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    groups: dict[int, list[str]] = {}
    for q, label in zip(qids, labels[: len(qids)].tolist(), strict=True):
        groups.setdefault(label, []).append(q)
    largest = max(map(len, groups.values()), default=0)
    if largest > len(qids) / 2:
        raise TrainingDataError(
            f"document-disjoint folds: {largest} of the {len(qids)} training queries are joined through shared "
            "relevant documents, so no folds apart can be made; choose the trees by query folds (--trees-by queries)"
        )
    out: list[list[str]] = [[] for _ in range(min(k, len(groups)))]
    for g in sorted(groups.values(), key=lambda g: (-len(g), g[0])):
        min(out, key=len).extend(g)
    order = {q: i for i, q in enumerate(qids)}
    return [sorted(f, key=order.__getitem__) for f in out]


def select_trees(
    ts: TrainingSet, qrels: Qrels, params: TrainParams, k: int | None = None, split_by: str | None = None
) -> TreeSelection:
    """Choose the number of trees by K-fold CV over `ts`'s queries (K: `params.tree_folds`, at most one
    fold a query). Zero trees is a candidate only when there is a prior to rank by (`prior_weight` > 0).

    `split_by` (default `params.tree_split`): "queries" (folds of queries); "documents" (K folds of queries that share no relevant
    document: the trees kept are those that help on documents the model never saw judged); "collections"
    (a many-collection set: one fold per collection, left out in turn: the trees that help on every
    collection the model did not see, chosen on the worst one's gain, what a model meant to travel is for)."""
    split_by = split_by or params.tree_split
    if split_by not in FOLD_SPLITS:
        raise TrainingDataError(f"tree selection split {split_by!r}: one of {', '.join(FOLD_SPLITS)}")
    if int(ts.labels.max(initial=0)) <= 0:
        raise TrainingDataError(
            "no training candidate is judged relevant: check that the index holds the judged corpus"
        )
    if split_by == "collections":
        held_out = collection_folds(ts.qids)
        if len(held_out) < 2:
            raise TrainingDataError(
                "leave-one-collection-out tree selection needs queries of at least 2 collections"
            )
    else:
        k = min(k or params.tree_folds, len(ts.qids))
        if k < 2:
            raise TrainingDataError(
                f"choosing the number of trees needs at least 2 training queries, got {k}"
            )
        held_out = folds(ts.qids, k) if split_by == "queries" else document_folds(ts.qids, qrels, k)
    k = len(held_out)
    t0 = time.perf_counter()
    grid = tree_grid(params.num_boost_round, zero=params.prior_weight > 0)
    per_fold = []
    for held_q in held_out:
        rest = [q for q in ts.qids if q not in set(held_q)]
        per_fold.append(fold_curve(ts.subset(rest), ts.subset(held_q), qrels, params, grid))
    values = np.asarray(per_fold, dtype=np.float64)
    worst = (values - values[:, :1]).min(axis=0).tolist() if split_by == "collections" else [None] * len(grid)
    curve = tuple(
        CurvePoint(t, float(m), float(s), w)
        for t, m, s, w in zip(grid, values.mean(axis=0), values.std(axis=0), worst, strict=True)
    )
    return TreeSelection(curve, choose(curve), k, time.perf_counter() - t0, split_by)


def selection_record(sel: TreeSelection) -> dict[str, Any]:
    """What the manifest records of a selection."""
    return {
        "cv_curve": [p.to_dict() for p in sel.curve],
        "chosen_trees": sel.chosen,
        "fallback_to_fused": sel.fallback_to_fused,
        "cv_folds": sel.folds,
        "cv_split_by": sel.split_by,
    }


@dataclass(frozen=True, slots=True)
class CrossValidation:
    """Out-of-fold scores for every row, and the number of trees chosen for each fold's model."""

    scores: NDArray[np.float64]
    best_iterations: tuple[int, ...]
    seconds: float


def cross_validate(ts: TrainingSet, qrels: Qrels, k: int, params: TrainParams) -> CrossValidation:
    """Out-of-fold scores: for each of K folds, choose the trees by CV over the other folds (nested),
    train on all of them with that many trees, score the left-out fold."""
    scores = np.zeros(ts.n_rows, dtype=np.float64)
    off = ts.offsets()
    row_of = {q: (off[i], off[i + 1]) for i, q in enumerate(ts.qids)}
    best, seconds = [], 0.0
    for test_q in folds(ts.qids, k):
        rest = ts.subset([q for q in ts.qids if q not in set(test_q)])
        sel = select_trees(rest, qrels, params)
        model = fit_trees(rest, params, sel.chosen)
        best.append(model.best_iteration)
        seconds += sel.seconds + model.seconds
        held = ts.subset(test_q)
        pred = model.predict(held.features)
        pos = 0
        for q, n in zip(held.qids, held.groups, strict=True):
            a, b = row_of[q]
            scores[a:b] = pred[pos : pos + n]
            pos += int(n)
    return CrossValidation(scores, tuple(best), seconds)
