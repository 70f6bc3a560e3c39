"""Agreement between two judgment lists of one index: per pair (Cohen's kappa, scikit-learn) and per system
ordering (Kendall's tau, scipy). An LLM judge or a click model is useful when it orders systems as humans do,
even where single grades differ, so both are reported."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from scipy import stats
from sklearn.metrics import cohen_kappa_score

from ragsearch.eval.judgments import JudgmentList

Pair = tuple[str, str]


def finite(d: dict[str, Any]) -> dict[str, Any]:
    """`d` with NaN as None, so JSON says null where a figure is undefined."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in d.items()}


def grades_by_pair(jl: JudgmentList) -> dict[Pair, int]:
    """(query id, passage id) -> grade (a list holds one row per pair)."""
    return {(r.query_id, r.passage_id): r.grade for r in jl.rows}


def kappa(a: list[int], b: list[int], weights: str | None = None) -> float:
    """Cohen's kappa; NaN when it is undefined (fewer than two pairs, or one label everywhere in both)."""
    if len(a) < 2 or len(set(a) | set(b)) < 2:
        return math.nan
    value = float(cohen_kappa_score(a, b, weights=weights))
    return value if math.isfinite(value) else math.nan


@dataclass(frozen=True, slots=True)
class PairAgreement:
    pairs: int
    """pairs both lists judge"""
    only_a: int
    only_b: int
    exact: float
    """share of the common pairs with the same grade"""
    kappa: float
    """Cohen's kappa on the four grades"""
    kappa_linear: float
    """linearly weighted kappa on the grades (a 3 against a 2 counts less than a 3 against a 0)"""
    kappa_ge1: float
    """kappa of relevant-or-not at grade >= 1"""
    kappa_ge2: float
    """kappa of relevant-or-not at grade >= 2"""

    def to_dict(self) -> dict[str, Any]:
        return finite(asdict(self))


def pair_agreement(
    a: Mapping[Pair, int], b: Mapping[Pair, int], missing_as_zero: bool = False
) -> PairAgreement:
    """On the pairs both judge; with `missing_as_zero`, on the pairs either judges of the queries both judge,
    a pair one list lacks counting as grade 0 there (the TREC reading of an unjudged document: not relevant).
    A query only one list judges is left out: the other list never looked at it."""
    if missing_as_zero:
        shared = {q for q, _ in a} & {q for q, _ in b}
        every = {p for p in set(a) | set(b) if p[0] in shared}
        a, b = {p: a.get(p, 0) for p in every}, {p: b.get(p, 0) for p in every}
    common = sorted(set(a) & set(b))
    ga, gb = [a[p] for p in common], [b[p] for p in common]
    exact = sum(x == y for x, y in zip(ga, gb, strict=True)) / len(common) if common else math.nan
    return PairAgreement(
        len(common),
        len(set(a) - set(b)),
        len(set(b) - set(a)),
        exact,
        kappa(ga, gb),
        kappa(ga, gb, "linear"),
        kappa([int(g >= 1) for g in ga], [int(g >= 1) for g in gb]),
        kappa([int(g >= 2) for g in ga], [int(g >= 2) for g in gb]),
    )


@dataclass(frozen=True, slots=True)
class SystemAgreement:
    under_a: dict[str, float]
    under_b: dict[str, float]
    tau: float
    """Kendall's tau-b between the two orderings of the systems (NaN with fewer than two systems)"""
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        return finite(asdict(self))


def system_agreement(under_a: Mapping[str, float], under_b: Mapping[str, float]) -> SystemAgreement:
    names = list(under_a)
    if len(names) < 2:
        return SystemAgreement(dict(under_a), dict(under_b), math.nan, math.nan)
    result = stats.kendalltau([under_a[n] for n in names], [under_b[n] for n in names])
    tau, p = float(result.statistic), float(result.pvalue)
    return SystemAgreement(dict(under_a), dict(under_b), tau, p)
