"""Training sets: logged features of every first-stage candidate of judged queries, with graded labels.

A candidate's label is its document's judgment (graded gains as given; unjudged and negative judgments
are 0). The matrix is saved with the model so a training run can be reproduced and audited.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ragsearch.eval.data import Qrels
from ragsearch.eval.runs import Run, to_run
from ragsearch.rerank.errors import TrainingDataError
from ragsearch.rerank.extract import FeatureLogger
from ragsearch.rerank.features import FEATURE_NAMES
from ragsearch.retrieval.searcher import Retriever
from ragsearch.retrieval.types import Vector

ProgressFn = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class TrainingSet:
    """Rows grouped by query: `groups[i]` rows belong to `qids[i]`, in order."""

    features: NDArray[np.float32]
    labels: NDArray[np.int32]
    groups: NDArray[np.int32]
    qids: tuple[str, ...]
    doc_ids: tuple[str, ...]
    feature_names: tuple[str, ...] = FEATURE_NAMES
    weights: NDArray[np.float64] | None = None
    """One weight per query (group), or None: every query counts 1. Many-collection training sets them so
    each collection's queries weigh the same in total (`combine`)."""

    @property
    def n_rows(self) -> int:
        return int(self.features.shape[0])

    def offsets(self) -> NDArray[np.int64]:
        return np.concatenate([[0], np.cumsum(self.groups, dtype=np.int64)])

    def subset(self, qids: Sequence[str]) -> TrainingSet:
        wanted = set(qids)
        off = self.offsets()
        keep = [i for i, q in enumerate(self.qids) if q in wanted]
        rows = np.concatenate([np.arange(off[i], off[i + 1]) for i in keep]) if keep else np.zeros(0, int)
        return TrainingSet(
            features=self.features[rows],
            labels=self.labels[rows],
            groups=self.groups[keep],
            qids=tuple(self.qids[i] for i in keep),
            doc_ids=tuple(self.doc_ids[r] for r in rows),
            feature_names=self.feature_names,
            weights=None if self.weights is None else self.weights[keep],
        )

    def select(self, names: Sequence[str]) -> TrainingSet:
        """The same rows with only the feature columns `names`, in that order."""
        cols = [self.feature_names.index(n) for n in names]
        return replace(
            self, features=np.ascontiguousarray(self.features[:, cols]), feature_names=tuple(names)
        )

    def column(self, name: str) -> NDArray[np.float32]:
        return self.features[:, self.feature_names.index(name)]

    def to_run(self, scores: NDArray[np.float64] | NDArray[np.float32]) -> Run:
        """A run ranking each query's candidates by `scores` (one per row), documents deduplicated."""
        off = self.offsets()
        ranked = {}
        for i, qid in enumerate(self.qids):
            s = scores[off[i] : off[i + 1]]
            docs = self.doc_ids[off[i] : off[i + 1]]
            order = sorted(range(len(docs)), key=lambda j: (-float(s[j]), docs[j]))
            ranked[qid] = [(docs[j], float(s[j])) for j in order]
        return to_run(ranked)

    def sha256(self) -> str:
        h = hashlib.sha256()
        for arr in (self.features, self.labels, self.groups):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update("\n".join(self.qids).encode())
        h.update("\n".join(self.doc_ids).encode())
        h.update("\n".join(self.feature_names).encode())
        if self.weights is not None:
            h.update(np.ascontiguousarray(self.weights, dtype=np.float64).tobytes())
        return h.hexdigest()

    def row_weights(self) -> NDArray[np.float64] | None:
        """Each row its query's weight (LightGBM's per-row weights, constant within a query), or None."""
        return None if self.weights is None else np.repeat(self.weights, self.groups)

    def save(self, path: Path) -> None:
        arrays: dict[str, NDArray[np.generic]] = {
            "features": self.features,
            "labels": self.labels,
            "groups": self.groups,
            "qids": np.array(self.qids, dtype=str),
            "doc_ids": np.array(self.doc_ids, dtype=str),
            "feature_names": np.array(self.feature_names, dtype=str),
        }
        if self.weights is not None:
            arrays["weights"] = self.weights
        np.savez_compressed(path, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path) -> TrainingSet:
        with np.load(path, allow_pickle=False) as z:
            return cls(
                features=z["features"],
                labels=z["labels"],
                groups=z["groups"],
                qids=tuple(str(x) for x in z["qids"]),
                doc_ids=tuple(str(x) for x in z["doc_ids"]),
                feature_names=tuple(str(x) for x in z["feature_names"]),
                weights=z["weights"] if "weights" in z.files else None,
            )


def log_training_set(
    retriever: Retriever,
    logger: FeatureLogger,
    queries: Mapping[str, str],
    qrels: Qrels,
    vectors: Mapping[str, Vector],
    progress: ProgressFn | None = None,
    names: Sequence[str] = FEATURE_NAMES,
) -> TrainingSet:
    """Retrieve the candidate union of each judged query and log its features and labels."""
    feats: list[NDArray[np.float32]] = []
    labels: list[int] = []
    groups: list[int] = []
    qids: list[str] = []
    doc_ids: list[str] = []
    for qid, text in queries.items():
        judged = qrels.get(qid, {})
        cands = retriever.candidates(text, vectors[qid])
        if progress:
            progress(1)
        if not cands:
            continue
        feats.append(logger.features(text, cands, vectors[qid], names))
        labels.extend(max(0, judged.get(c.doc_id, 0)) for c in cands)
        groups.append(len(cands))
        qids.append(qid)
        doc_ids.extend(c.doc_id for c in cands)
    if not groups:
        raise TrainingDataError(
            "no judged query returned any candidate: is the index empty or the wrong one?"
        )
    return TrainingSet(
        features=np.concatenate(feats),
        labels=np.asarray(labels, dtype=np.int32),
        groups=np.asarray(groups, dtype=np.int32),
        qids=tuple(qids),
        doc_ids=tuple(doc_ids),
        feature_names=tuple(names),
    )


SOURCE_SEP = ":"
"""Query ids of a combined set are `<source><SOURCE_SEP><query id>`: ids of two collections may collide."""


def combine(parts: Sequence[tuple[str, TrainingSet, Qrels]]) -> tuple[TrainingSet, Qrels]:
    """One training set of several collections' (name, set, judgments), query ids prefixed by the name.

    Each collection's queries weigh the same in total, so a large collection does not drown a small one:
    a query of collection c weighs Q / (C * Q_c) (Q queries in all, C collections), which keeps the mean
    weight 1 (LightGBM's regularisation keeps its meaning)."""
    names = [name for name, _, _ in parts]
    if len(set(names)) != len(names) or any(SOURCE_SEP in n for n in names):
        raise TrainingDataError(f"source names must be distinct and free of {SOURCE_SEP!r}: {names}")
    if len({ts.feature_names for _, ts, _ in parts}) > 1:
        raise TrainingDataError("the sources were logged with different features")
    total = sum(len(ts.qids) for _, ts, _ in parts)
    qrels: Qrels = {}
    weights = []
    for name, ts, judged in parts:
        qrels.update({f"{name}{SOURCE_SEP}{q}": judged[q] for q in ts.qids if q in judged})
        weights.append(np.full(len(ts.qids), total / (len(parts) * len(ts.qids))))
    combined = TrainingSet(
        features=np.concatenate([ts.features for _, ts, _ in parts]),
        labels=np.concatenate([ts.labels for _, ts, _ in parts]),
        groups=np.concatenate([ts.groups for _, ts, _ in parts]),
        qids=tuple(f"{name}{SOURCE_SEP}{q}" for name, ts, _ in parts for q in ts.qids),
        doc_ids=tuple(d for _, ts, _ in parts for d in ts.doc_ids),
        feature_names=parts[0][1].feature_names,
        weights=np.concatenate(weights),
    )
    return combined, qrels
