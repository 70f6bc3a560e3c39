"""Click models: graded judgments from logged impressions and clicks, corrected for position bias.

- `pbm`: the position-based model (Craswell et al. 2008; EM as in Chuklin, Markov and de Rijke, "Click Models
  for Web Search", 2015, ch. 4): a result at rank r is examined with probability theta_r, and an examined
  result is clicked with probability alpha_qd (its attractiveness). EM estimates both from which shown
  results were clicked and which were not; alpha_qd is the position-free estimate of relevance.
- `ctr`: the raw click-through rate of (query, passage) (no position correction), as a baseline.

Grades from an estimate p (alpha or CTR): 3 if p >= 0.75, 2 if >= 0.5, 1 if >= 0.25, else 0; only pairs
shown at least `min_impressions` times get a grade. Pure functions over plain sessions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ragsearch.retrieval.errors import UnknownNameError

MODELS = ("pbm", "ctr")
THRESHOLDS = ((0.75, 3), (0.5, 2), (0.25, 1))


@dataclass(frozen=True, slots=True)
class Session:
    """One impression: the query, the passages shown at ranks 1..n, and which of them were clicked."""

    query: str
    shown: tuple[str, ...]
    clicked: frozenset[str]


@dataclass(frozen=True, slots=True)
class ClickEstimate:
    attractiveness: dict[tuple[str, str], float]
    """(query, passage) -> alpha (pbm) or CTR (ctr)"""
    impressions: dict[tuple[str, str], int]
    """(query, passage) -> times shown"""
    examination: tuple[float, ...]
    """theta_r for ranks 1..n (pbm); empty for ctr"""
    iterations: int = 0


def grade(p: float) -> int:
    return next((g for threshold, g in THRESHOLDS if p >= threshold), 0)


def observations(
    sessions: Sequence[Session],
) -> tuple[list[tuple[str, str]], np.ndarray, np.ndarray, np.ndarray]:
    """(pairs, pair index, rank index (0-based), clicked) per shown result."""
    pairs: dict[tuple[str, str], int] = {}
    pi, ri, ci = [], [], []
    for s in sessions:
        for r, passage in enumerate(s.shown):
            pi.append(pairs.setdefault((s.query, passage), len(pairs)))
            ri.append(r)
            ci.append(passage in s.clicked)
    return list(pairs), np.array(pi, dtype=np.int64), np.array(ri, dtype=np.int64), np.array(ci, dtype=bool)


def ctr(sessions: Sequence[Session]) -> ClickEstimate:
    pairs, pi, _, clicked = observations(sessions)
    shown = np.bincount(pi, minlength=len(pairs))
    clicks = np.bincount(pi, weights=clicked.astype(float), minlength=len(pairs))
    rate = clicks / np.maximum(shown, 1)
    return ClickEstimate({p: float(rate[i]) for i, p in enumerate(pairs)},
                         {p: int(shown[i]) for i, p in enumerate(pairs)}, ())  # fmt: skip


def pbm(sessions: Sequence[Session], iterations: int = 100, tol: float = 1e-6) -> ClickEstimate:
    """EM for the position-based model; stops after `iterations` or when no parameter moves more than `tol`."""
    pairs, pi, ri, clicked = observations(sessions)
    n_pairs, n_ranks = len(pairs), int(ri.max()) + 1 if len(ri) else 0
    alpha, theta = np.full(n_pairs, 0.5), np.full(n_ranks, 0.5)
    shown_pair = np.bincount(pi, minlength=n_pairs).astype(float)
    shown_rank = np.bincount(ri, minlength=n_ranks).astype(float)
    c = clicked.astype(float)
    done = 0
    for done in range(1, iterations + 1):  # noqa: B007  (the count is reported)
        a, t = alpha[pi], theta[ri]
        denom = np.maximum(1.0 - a * t, 1e-12)
        attracted = c + (1 - c) * a * (1 - t) / denom  # P(A=1 | C), per shown result
        examined = c + (1 - c) * t * (1 - a) / denom  # P(E=1 | C)
        new_alpha = np.bincount(pi, weights=attracted, minlength=n_pairs) / np.maximum(shown_pair, 1)
        new_theta = np.bincount(ri, weights=examined, minlength=n_ranks) / np.maximum(shown_rank, 1)
        moved = max(np.abs(new_alpha - alpha).max(initial=0), np.abs(new_theta - theta).max(initial=0))
        alpha, theta = new_alpha, new_theta
        if moved < tol:
            break
    return ClickEstimate({p: float(alpha[i]) for i, p in enumerate(pairs)},
                         {p: int(shown_pair[i]) for i, p in enumerate(pairs)},
                         tuple(float(x) for x in theta), done)  # fmt: skip


def estimate(sessions: Sequence[Session], model: str) -> ClickEstimate:
    if model == "pbm":
        return pbm(sessions)
    if model == "ctr":
        return ctr(sessions)
    raise UnknownNameError("click model", model, MODELS)


def graded(est: ClickEstimate, min_impressions: int) -> dict[str, dict[str, int]]:
    """{query: {passage: grade}} for the pairs shown at least `min_impressions` times."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for (query, passage), p in est.attractiveness.items():
        if est.impressions[(query, passage)] >= min_impressions:
            out[query][passage] = grade(p)
    return dict(out)
