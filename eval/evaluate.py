"""Run systems over a judged split and compare them: metrics, paired tests, TREC run files."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.data import JudgedSplit
from eval.metrics import DEFAULT_MEASURES, evaluate, paired_ttest
from eval.runs import Run, to_run, write_trec
from retrieval.types import Candidate, Vector

SystemFn = Callable[[str, Vector], list[Candidate]]
"""Ranks passages for (query text, query vector); passages are scored at document level by their best."""

ProgressFn = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class SystemResult:
    name: str
    means: dict[str, float]
    per_query: dict[str, dict[str, float]]
    p_value: float | None
    """Paired t-test on the first measure against the first system; None for the first system."""


@dataclass(frozen=True, slots=True)
class EvalReport:
    dataset: str
    split: str
    measures: tuple[str, ...]
    n_queries: int
    systems: dict[str, SystemResult]
    subset: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dataset": self.dataset, "split": self.split, "queries": self.n_queries}
        if self.subset:
            out["subset"] = self.subset
        out["systems"] = {
            name: {**r.means, "p_value_vs_first": r.p_value} for name, r in self.systems.items()
        }
        return out


def rank_documents(hits: Sequence[Candidate]) -> list[tuple[str, float]]:
    return [(c.doc_id, c.score) for c in hits]


def run_system(
    system: SystemFn,
    queries: Mapping[str, str],
    vectors: Mapping[str, Vector],
    progress: ProgressFn | None = None,
) -> Run:
    ranked = {}
    for qid, text in queries.items():
        ranked[qid] = rank_documents(system(text, vectors[qid]))
        if progress:
            progress(1)
    return to_run(ranked)


def compare_systems(
    split: JudgedSplit,
    runs: Mapping[str, Run],
    measures: Sequence[str] = DEFAULT_MEASURES,
    subset: Sequence[str] | None = None,
    subset_name: str | None = None,
) -> EvalReport:
    qrels = split.qrels if subset is None else {q: split.qrels[q] for q in subset if q in split.qrels}
    results: dict[str, SystemResult] = {}
    first: SystemResult | None = None
    key = measures[0]
    for name, run in runs.items():
        ev = evaluate(qrels, run, measures)
        p = None if first is None else paired_ttest(first.per_query[key], ev.per_query[key])
        results[name] = SystemResult(name, ev.means, ev.per_query, p)
        first = first or results[name]
    return EvalReport(split.dataset, split.split, tuple(measures), len(qrels), results, subset_name)


def save_runs(runs: Mapping[str, Run], folder: Path, dataset: str, split: str) -> list[Path]:
    paths = []
    for name, run in runs.items():
        path = Path(folder) / f"{dataset}.{split}.{name}.trec"
        write_trec(run, path, tag=name)
        paths.append(path)
    return paths
