"""Run systems over a judged split and compare them: metrics, paired tests, TREC run files."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragsearch.eval.data import JudgedSplit
from ragsearch.eval.metrics import DEFAULT_MEASURES, evaluate, holm, paired_ttest, parse_measures
from ragsearch.eval.runs import Run, to_run, write_trec
from ragsearch.retrieval.types import Candidate, Vector

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
    delta: float | None = None
    """Mean of the first measure minus the first system's; None for the first system."""
    p_holm: float | None = None
    """`p_value` Holm-corrected over all the systems compared with the first."""


@dataclass(frozen=True, slots=True)
class EvalReport:
    dataset: str
    split: str
    measures: tuple[str, ...]
    n_queries: int
    systems: dict[str, SystemResult]
    subset: str | None = None
    notes: tuple[str, ...] = ()
    """What the reader must know about the figures (e.g. queries left out as a model's training queries)."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dataset": self.dataset, "split": self.split, "queries": self.n_queries}
        if self.subset:
            out["subset"] = self.subset
        if self.notes:
            out["notes"] = list(self.notes)
        out["measures"] = list(self.measures)
        out["systems"] = {
            name: {
                **r.means,
                "delta_vs_first": r.delta,
                "p_value_vs_first": r.p_value,
                "p_holm_vs_first": r.p_holm,
                "per_query": per_query_rows(r.per_query),
            }
            for name, r in self.systems.items()
        }
        return out


def per_query_rows(per_measure: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """{measure: {qid: v}} as {qid: {measure: v}}."""
    rows: dict[str, dict[str, float]] = {}
    for measure, values in per_measure.items():
        for qid, v in values.items():
            rows.setdefault(qid, {})[measure] = v
    return rows


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
    """Every run on the same queries; each after the first gets the difference of the first measure's mean
    from the first system's, a paired t-test p-value and that p-value Holm-corrected over the comparisons."""
    names = [str(m) for m in parse_measures(measures)]
    qrels = split.qrels if subset is None else {q: split.qrels[q] for q in subset if q in split.qrels}
    evals = {name: evaluate(qrels, run, names) for name, run in runs.items()}
    key, first = names[0], next(iter(evals.values()), None)
    p_values = {
        name: paired_ttest(first.per_query[key], ev.per_query[key])
        for name, ev in list(evals.items())[1:]
        if first is not None
    }
    adjusted = dict(zip(p_values, holm(list(p_values.values())), strict=True))
    results = {
        name: SystemResult(
            name,
            ev.means,
            ev.per_query,
            p_values.get(name),
            None if first is None or name not in p_values else ev.means[key] - first.means[key],
            adjusted.get(name),
        )
        for name, ev in evals.items()
    }
    return EvalReport(split.dataset, split.split, tuple(names), len(qrels), results, subset_name)


def save_runs(runs: Mapping[str, Run], folder: Path, dataset: str, split: str) -> list[Path]:
    paths = []
    for name, run in runs.items():
        path = Path(folder) / f"{dataset}.{split}.{name}.trec"
        write_trec(run, path, tag=name)
        paths.append(path)
    return paths
