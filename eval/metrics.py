"""Metrics through ir-measures, named as it names them, and a paired significance test."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ir_measures
import numpy as np
from scipy import stats

from ragsearch.eval.data import Qrels
from ragsearch.eval.runs import Run
from ragsearch.retrieval.errors import UnknownNameError

DEFAULT_MEASURES = ("nDCG@10", "R@100", "RR@10")


def parse_measures(names: Sequence[str]) -> list[ir_measures.Measure]:
    out = []
    for name in names:
        try:
            out.append(ir_measures.parse_measure(name))
        except (ValueError, NameError, SyntaxError):
            raise UnknownNameError("measure", name, list(DEFAULT_MEASURES)) from None
    return out


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Mean and per-query values of each measure over every judged query (unretrieved ones count 0)."""

    means: dict[str, float]
    per_query: dict[str, dict[str, float]]


def evaluate(qrels: Qrels, run: Run, measures: Sequence[str] = DEFAULT_MEASURES) -> Evaluation:
    parsed = parse_measures(measures)
    per_query: dict[str, dict[str, float]] = {str(m): dict.fromkeys(qrels, 0.0) for m in parsed}
    full_run = {q: run.get(q, {}) for q in qrels}
    for metric in ir_measures.iter_calc(parsed, qrels, full_run):
        per_query[str(metric.measure)][metric.query_id] = float(metric.value)
    means = {m: float(np.mean(list(v.values()))) if v else 0.0 for m, v in per_query.items()}
    return Evaluation(means, per_query)


def paired_ttest(a: dict[str, float], b: dict[str, float]) -> float:
    """Two-sided paired Student t-test p-value over the queries both have; 1.0 when the runs are equal."""
    qids = sorted(set(a) & set(b))
    x = np.array([a[q] for q in qids])
    y = np.array([b[q] for q in qids])
    if len(qids) < 2 or np.allclose(x, y):
        return 1.0
    return float(stats.ttest_rel(x, y).pvalue)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given (step-down, kept monotone, capped at 1).

    Written out: scipy has no Holm (`scipy.stats.false_discovery_control` is Benjamini-Hochberg, which
    controls another error rate) and statsmodels is not a dependency for these few lines.
    """
    m = len(pvalues)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda j: pvalues[j])):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def format_p(p: float) -> str:
    """Four decimals; below 0.0001 as '<0.0001' (never a misleading 0.0000)."""
    return "<0.0001" if p < 0.0001 else f"{p:.4f}"
