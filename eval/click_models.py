"""Click models: graded judgments from logged impressions and clicks, corrected for position bias.

- `pbm`: the position-based model (Craswell et al. 2008; EM as in Chuklin, Markov and de Rijke, "Click Models
  for Web Search", 2015, ch. 4): a result at rank r is examined with probability theta_r, and an examined
  result is clicked with probability alpha_qd (its attractiveness). EM estimates both from which shown
  results were clicked and which were not; alpha_qd is the position-free estimate of relevance.
- `ctr`: the raw click-through rate of (query, passage) (no position correction), as a baseline.

A Beta prior on attractiveness, as pseudo-counts (attractive, unattractive): EM's M-step adds them to each
pair's expected counts, alpha = (E[attractive] + a) / (shown + a + b) (the posterior mean of Beta(a, b) given
the expected counts; MAP-EM under Beta(a + 1, b + 1)). Without it a pair seen a few times at low ranks, where
examination is small, gets alpha near 1 from a single click (1 click / (3 x 0.1 examinations)), and a high
grade. The default (1, 4) has mean 0.2, below the 0.25 that grade 1 needs, so a pair with no evidence grades
0, and weighs as much as 5 examined impressions, so a pair examined a handful of times is pulled halfway to
it while one examined hundreds of times is not moved (chosen from these two properties, not tuned on any
judgments). (0, 0) is plain maximum likelihood. CTR takes the same pseudo-counts, (clicks + a) /
(shown + a + b); its default is (0, 0), the raw rate.

Grades from an estimate p (alpha or CTR): 3 if p >= 0.75, 2 if >= 0.5, 1 if >= 0.25, else 0; only pairs
shown at least `min_impressions` times get a grade. Pure functions over plain sessions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ragsearch.retrieval.errors import InvalidInputError, UnknownNameError

MODELS = ("pbm", "ctr")
Prior = tuple[float, float]
"""Beta pseudo-counts (attractive, unattractive) added to each pair's counts."""
PBM_PRIOR: Prior = (1.0, 4.0)
NO_PRIOR: Prior = (0.0, 0.0)
DEFAULT_PRIOR = {"pbm": PBM_PRIOR, "ctr": NO_PRIOR}
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
    prior: Prior = NO_PRIOR


def check_prior(prior: Prior) -> Prior:
    a, b = prior
    if not (a >= 0 and b >= 0):  # also refuses NaN
        raise InvalidInputError(f"prior pseudo-counts must be >= 0, got {a:g}, {b:g}")
    return float(a), float(b)


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


def ctr(sessions: Sequence[Session], prior: Prior = NO_PRIOR) -> ClickEstimate:
    """(clicks + a) / (shown + a + b) per pair; the raw click-through rate with the default (0, 0)."""
    a, b = check_prior(prior)
    pairs, pi, _, clicked = observations(sessions)
    shown = np.bincount(pi, minlength=len(pairs))
    clicks = np.bincount(pi, weights=clicked.astype(float), minlength=len(pairs))
    rate = (clicks + a) / np.maximum(shown + a + b, 1e-12)
    return ClickEstimate({p: float(rate[i]) for i, p in enumerate(pairs)},
                         {p: int(shown[i]) for i, p in enumerate(pairs)}, (), 0, (a, b))  # fmt: skip


def pbm(
    sessions: Sequence[Session], iterations: int = 100, tol: float = 1e-6, prior: Prior = PBM_PRIOR
) -> ClickEstimate:
    """EM for the position-based model with a Beta(`prior`) on attractiveness; stops after `iterations` or
    when no parameter moves more than `tol`."""
    pa, pb = check_prior(prior)
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
        attractive = np.bincount(pi, weights=attracted, minlength=n_pairs)
        new_alpha = (attractive + pa) / np.maximum(shown_pair + pa + pb, 1e-12)
        new_theta = np.bincount(ri, weights=examined, minlength=n_ranks) / np.maximum(shown_rank, 1)
        moved = max(np.abs(new_alpha - alpha).max(initial=0), np.abs(new_theta - theta).max(initial=0))
        alpha, theta = new_alpha, new_theta
        if moved < tol:
            break
    return ClickEstimate({p: float(alpha[i]) for i, p in enumerate(pairs)},
                         {p: int(shown_pair[i]) for i, p in enumerate(pairs)},
                         tuple(float(x) for x in theta), done, (pa, pb))  # fmt: skip


def estimate(sessions: Sequence[Session], model: str, prior: Prior | None = None) -> ClickEstimate:
    """`model`'s estimate with `prior` pseudo-counts (None: the model's default, DEFAULT_PRIOR)."""
    if model not in MODELS:
        raise UnknownNameError("click model", model, MODELS)
    chosen = DEFAULT_PRIOR[model] if prior is None else prior
    return pbm(sessions, prior=chosen) if model == "pbm" else ctr(sessions, chosen)


def graded(est: ClickEstimate, min_impressions: int) -> dict[str, dict[str, int]]:
    """{query: {passage: grade}} for the pairs shown at least `min_impressions` times."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for (query, passage), p in est.attractiveness.items():
        if est.impressions[(query, passage)] >= min_impressions:
            out[query][passage] = grade(p)
    return dict(out)
