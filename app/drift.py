"""Drift between a reference window and a recent window of served queries.

Continuous signals (query length, top score, best dense cosine, best reranker score) are compared with the
population stability index (PSI, on the reference window's deciles) and a two-sample Kolmogorov-Smirnov
test; rates (no-result share, share below the answer threshold) with a two-proportion z-test.
Flags: PSI >= 0.2 (the usual "significant shift"), or p < 0.01.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from ragsearch.app.querylog import LoggedQuery

PSI_FLAG = 0.2
P_FLAG = 0.01


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10) -> float:
    """Population stability index of `current` against `reference`, on the reference's quantile bins."""
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    if len(ref) == 0 or len(cur) == 0:
        return 0.0
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:
        return 0.0 if np.all(cur == ref[0]) else math.inf
    edges[0], edges[-1] = -np.inf, np.inf
    r = np.histogram(ref, edges)[0] / len(ref)
    c = np.histogram(cur, edges)[0] / len(cur)
    r = np.clip(r, 1e-4, None)
    c = np.clip(c, 1e-4, None)
    return float(np.sum((c - r) * np.log(c / r)))


def two_proportion_p(k1: int, n1: int, k2: int, n2: int) -> float:
    if n1 == 0 or n2 == 0:
        return 1.0
    p = (k1 + k2) / (n1 + n2)
    se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (k1 / n1 - k2 / n2) / se
    return float(2 * stats.norm.sf(abs(z)))


@dataclass(frozen=True, slots=True)
class SignalDrift:
    signal: str
    reference_mean: float | None
    current_mean: float | None
    psi: float | None
    p_value: float
    drifted: bool


@dataclass(frozen=True, slots=True)
class DriftReport:
    reference_n: int
    current_n: int
    signals: list[SignalDrift]

    @property
    def drifted(self) -> bool:
        return any(s.drifted for s in self.signals)

    def to_dict(self) -> dict[str, object]:
        return {"reference_n": self.reference_n, "current_n": self.current_n, "drifted": self.drifted,
                "signals": [asdict(s) for s in self.signals]}  # fmt: skip


def _continuous(name: str, ref: list[float], cur: list[float]) -> SignalDrift | None:
    if len(ref) < 10 or len(cur) < 10:
        return None
    value = psi(ref, cur)
    p = float(stats.ks_2samp(ref, cur).pvalue)
    return SignalDrift(
        name, float(np.mean(ref)), float(np.mean(cur)), value, p, value >= PSI_FLAG or p < P_FLAG
    )


def _rate(name: str, ref: list[bool], cur: list[bool]) -> SignalDrift | None:
    if not ref or not cur:
        return None
    p = two_proportion_p(sum(ref), len(ref), sum(cur), len(cur))
    return SignalDrift(name, sum(ref) / len(ref), sum(cur) / len(cur), None, p, p < P_FLAG)


def compare_windows(
    reference: list[LoggedQuery], current: list[LoggedQuery], answer_threshold: float
) -> DriftReport:
    def col(rows: list[LoggedQuery], attr: str) -> list[float]:
        return [float(v) for r in rows if (v := getattr(r, attr)) is not None]

    signals = [
        _continuous("query_terms", col(reference, "query_terms"), col(current, "query_terms")),
        _continuous("top_score", col(reference, "top_score"), col(current, "top_score")),
        _continuous("top_dense", col(reference, "top_dense"), col(current, "top_dense")),
        _continuous("top_rerank", col(reference, "top_rerank"), col(current, "top_rerank")),
        _rate("no_result_rate", [r.hits == 0 for r in reference], [r.hits == 0 for r in current]),
        _rate(
            "below_answer_threshold",
            [(r.top_dense or 0.0) < answer_threshold for r in reference],
            [(r.top_dense or 0.0) < answer_threshold for r in current],
        ),
    ]
    return DriftReport(len(reference), len(current), [s for s in signals if s is not None])
