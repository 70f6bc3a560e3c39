"""Team-draft interleaving, click credit, and an always-valid sequential test. Pure functions.

- `team_draft` (Radlinski, Kurup and Joachims 2008): the two rankers take turns as captains, the one with
  fewer picks so far choosing next (a coin toss on ties); a captain picks its highest-ranked result not yet
  in the list. Each position records the ranker that contributed it.
- `credit`: per impression, the ranker whose contributed results got more clicks wins; equal counts (no
  clicks included) are a tie.
- `sequential_test`: wins against losses (ties left out) under H0 "each ranker wins an impression with
  probability 1/2". The statistic is a mixture likelihood ratio: the binomial likelihood averaged over a
  symmetric Beta(s, s) prior on the win probability, divided by its value at 1/2. s = 1 is the uniform
  prior; the default s = PRIOR_STRENGTH = 30 (prior sd of the win rate 0.064) puts the mass on the small
  effects rankers of one product differ by, and decides such effects in about half the sessions (measured
  by bench.interleaving_study). Any s keeps the guarantee below. Under H0 it is a nonnegative
  martingale, so by Ville's inequality it ever reaches 1/alpha with probability at most alpha: the test may
  be looked at after every impression without inflating the error rate (an always-valid test).
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from scipy.special import betaln

A, B = "a", "b"


def team_draft(a: Sequence[str], b: Sequence[str], k: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """The interleaved top `k` of rankings `a` and `b` (ids best first): (ids, which ranker gave each)."""
    ids: list[str] = []
    sources: list[str] = []
    taken: set[str] = set()
    picks = {A: 0, B: 0}
    pos = {A: 0, B: 0}
    lists = {A: a, B: b}
    every = set(a) | set(b)
    while len(ids) < k and len(taken) < len(every):
        if picks[A] < picks[B] or (picks[A] == picks[B] and rng.random() < 0.5):
            team = A
        else:
            team = B
        ranking = lists[team]
        while pos[team] < len(ranking) and ranking[pos[team]] in taken:
            pos[team] += 1
        if pos[team] >= len(ranking):  # this ranker has nothing left: the other one picks
            team = B if team == A else A
            ranking = lists[team]
            while pos[team] < len(ranking) and ranking[pos[team]] in taken:
                pos[team] += 1
            if pos[team] >= len(ranking):
                break
        doc = ranking[pos[team]]
        ids.append(doc)
        sources.append(team)
        taken.add(doc)
        picks[team] += 1
    return ids, sources


def credit(sources: Sequence[str], clicked_positions: Collection[int]) -> str:
    """ "a", "b" or "tie" for one impression; positions are 0-based indexes into `sources`."""
    a = sum(1 for p in clicked_positions if 0 <= p < len(sources) and sources[p] == A)
    b = sum(1 for p in clicked_positions if 0 <= p < len(sources) and sources[p] == B)
    return A if a > b else B if b > a else "tie"


PRIOR_STRENGTH = 30.0
"""s of the Beta(s, s) mixing prior of `sequential_test` (1 = uniform)."""


@dataclass(frozen=True, slots=True)
class SequentialResult:
    wins: int
    """impressions the candidate (b) won"""
    losses: int
    ties: int
    log_lr: float
    """log of the mixture likelihood ratio against a fair coin"""
    threshold: float
    """log(1 / alpha): crossing it decides"""
    decided: bool
    winner: str | None
    """"b" (candidate), "a" (served) or None"""


def sequential_test(
    wins: int, losses: int, ties: int, alpha: float = 0.05, prior_strength: float = PRIOR_STRENGTH
) -> SequentialResult:
    """Candidate wins vs losses; decided when log LR >= log(1/alpha) (Beta(s, s) mixture over the win rate)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    if not prior_strength > 0:
        raise ValueError(f"prior_strength must be positive, got {prior_strength}")
    n, s = wins + losses, prior_strength
    log_lr = float(betaln(wins + s, losses + s) - betaln(s, s) + n * math.log(2)) if n else 0.0
    threshold = math.log(1 / alpha)
    decided = log_lr >= threshold and wins != losses
    winner = (B if wins > losses else A) if decided else None
    return SequentialResult(wins, losses, ties, log_lr, threshold, decided, winner)
