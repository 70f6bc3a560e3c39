"""Fusion of first-stage result lists, as pure functions over {id: score} maps.

- `rrf`: reciprocal rank fusion, sum of 1 / (k + rank) over the lists an id appears in (rank from 1).
- `minmax`: each list's scores scaled to [0, 1] by its own min and max, then a weighted sum; an id
  missing from a list contributes 0 for it (the bottom of that list).
- `zscore`: each list's scores standardised by its own mean and (population) standard deviation, then a
  weighted sum; an id missing from a list gets that list's lowest standardised score. A list's scale comes
  from all its scores, not only its two extremes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ragsearch.retrieval.errors import UnknownNameError

Scores = Mapping[str, float]


def ranks(scores: Scores) -> dict[str, int]:
    """1-based ranks by descending score, ties broken by id for determinism."""
    ordered = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return {doc: i + 1 for i, (doc, _) in enumerate(ordered)}


def rrf(lists: Sequence[Scores], weights: Sequence[float] | None = None, k: float = 60.0) -> dict[str, float]:
    weights = weights or [1.0] * len(lists)
    fused: dict[str, float] = {}
    for scores, w in zip(lists, weights, strict=True):
        for doc, r in ranks(scores).items():
            fused[doc] = fused.get(doc, 0.0) + w / (k + r)
    return fused


def minmax_normalize(scores: Scores) -> dict[str, float]:
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    if hi == lo:
        return {doc: 1.0 for doc in scores}
    return {doc: (s - lo) / (hi - lo) for doc, s in scores.items()}


def minmax(
    lists: Sequence[Scores], weights: Sequence[float] | None = None, k: float = 60.0
) -> dict[str, float]:
    weights = weights or [1.0] * len(lists)
    fused: dict[str, float] = {}
    for scores, w in zip(lists, weights, strict=True):
        for doc, s in minmax_normalize(scores).items():
            fused[doc] = fused.get(doc, 0.0) + w * s
    for scores in lists:
        for doc in scores:
            fused.setdefault(doc, 0.0)
    return fused


def zscore_normalize(scores: Scores) -> dict[str, float]:
    if not scores:
        return {}
    values = list(scores.values())
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    if std == 0:
        return {doc: 0.0 for doc in scores}
    return {doc: (s - mean) / std for doc, s in scores.items()}


def zscore(
    lists: Sequence[Scores], weights: Sequence[float] | None = None, k: float = 60.0
) -> dict[str, float]:
    weights = weights or [1.0] * len(lists)
    normalized = [zscore_normalize(scores) for scores in lists]
    every = set().union(*normalized) if normalized else set()
    fused = dict.fromkeys(every, 0.0)
    for z, w in zip(normalized, weights, strict=True):
        floor = min(z.values(), default=0.0)
        for doc in every:
            fused[doc] += w * z.get(doc, floor)
    return fused


FusionFn = Callable[..., dict[str, float]]
FUSIONS: dict[str, FusionFn] = {"rrf": rrf, "minmax": minmax, "zscore": zscore}


def get_fusion(name: str) -> FusionFn:
    try:
        return FUSIONS[name]
    except KeyError:
        raise UnknownNameError("fusion", name, list(FUSIONS)) from None
