"""`best_fields_score` (retrieval/scoring.py): Elasticsearch multi_match best_fields, by hand."""

from __future__ import annotations

import pytest

from ragsearch.retrieval.scoring import best_fields_score
from ragsearch.retrieval.types import FieldBoosts


def test_best_field_plus_tie_breaker_times_the_others() -> None:
    boosts = FieldBoosts(title=2.0, text=1.0, tie_breaker=0.3)
    assert best_fields_score(1.5, 2.0, boosts) == pytest.approx(3.0 + 0.3 * 2.0)  # title 1.5 * 2 wins
    assert best_fields_score(0.5, 2.0, boosts) == pytest.approx(2.0 + 0.3 * 1.0)  # text wins


def test_one_field_or_none() -> None:
    boosts = FieldBoosts(title=2.0, text=1.0, tie_breaker=0.3)
    assert best_fields_score(None, 2.0, boosts) == 2.0
    assert best_fields_score(1.0, None, boosts) == 2.0
    assert best_fields_score(None, None, boosts) is None
    assert best_fields_score(0.0, None, boosts) == 0.0  # a zero score is a match, not a miss
