"""Pure scoring functions shared by backends and features."""

from __future__ import annotations

from ragsearch.retrieval.types import FieldBoosts

BM25_K1 = 1.2
BM25_B = 0.75


def best_fields_score(title: float | None, text: float | None, boosts: FieldBoosts) -> float | None:
    """Elasticsearch `multi_match` `best_fields`: a dis_max of boosted per-field scores.

    score = max(boosted field scores) + tie_breaker * (sum of the other boosted field scores).
    None when neither field matched.
    """
    scored = [s for s in ((title, boosts.title), (text, boosts.text)) if s[0] is not None]
    if not scored:
        return None
    values = [float(s) * b for s, b in scored if s is not None]
    best = max(values)
    return best + boosts.tie_breaker * (sum(values) - best)
