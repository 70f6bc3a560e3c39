from __future__ import annotations

import pytest

from ragsearch.retrieval.errors import UnknownNameError
from ragsearch.retrieval.fusion import (
    get_fusion,
    minmax,
    minmax_normalize,
    ranks,
    rrf,
    zscore,
    zscore_normalize,
)


def test_rrf_by_hand() -> None:
    bm25 = {"a": 9.0, "b": 5.0, "c": 1.0}
    dense = {"b": 0.9, "d": 0.8}
    fused = rrf([bm25, dense], k=60)
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["c"] == pytest.approx(1 / 63)
    assert fused["d"] == pytest.approx(1 / 62)


def test_minmax_by_hand() -> None:
    bm25 = {"a": 10.0, "b": 6.0, "c": 2.0}
    dense = {"b": 0.9, "d": 0.5, "e": 0.7}
    fused = minmax([bm25, dense], weights=[0.5, 0.5])
    assert fused == pytest.approx({"a": 0.5, "b": 0.25 + 0.5, "c": 0.0, "d": 0.0, "e": 0.25})


def test_minmax_constant_list_and_empty() -> None:
    assert minmax_normalize({"a": 3.0, "b": 3.0}) == {"a": 1.0, "b": 1.0}
    assert minmax_normalize({}) == {}
    assert minmax([{}, {"x": 1.0}], weights=[0.5, 0.5]) == {"x": 0.5}


def test_ranks_break_ties_by_id() -> None:
    assert ranks({"b": 1.0, "a": 1.0, "c": 2.0}) == {"c": 1, "a": 2, "b": 3}


def test_unknown_fusion_lists_choices() -> None:
    with pytest.raises(UnknownNameError, match="minmax, rrf, zscore"):
        get_fusion("borda")


def test_zscore_by_hand() -> None:
    bm25 = {"a": 3.0, "b": 2.0, "c": 1.0}  # mean 2, std sqrt(2/3)
    dense = {"b": 0.9, "d": 0.5}  # mean 0.7, std 0.2: b +1, d -1
    z = (2 / 3) ** -0.5
    fused = zscore([bm25, dense], weights=[0.5, 0.5])
    assert zscore_normalize(dense) == pytest.approx({"b": 1.0, "d": -1.0})
    # a missing id gets its list's lowest standardised score: a and c from dense, d from bm25
    assert fused == pytest.approx(
        {"a": 0.5 * z - 0.5, "b": 0.0 + 0.5, "c": -0.5 * z - 0.5, "d": -0.5 * z - 0.5}
    )
    assert zscore_normalize({"a": 2.0, "b": 2.0}) == {"a": 0.0, "b": 0.0}
    assert zscore([{}, {"x": 1.0}], weights=[0.5, 0.5]) == {"x": 0.0}
