"""Citation markers in generated text (answer/citations.py)."""

from __future__ import annotations

from ragsearch.answer.citations import parse_citations


def test_citations_valid_out_of_range_and_none() -> None:
    p = parse_citations("Vitamin D helps [1]. Also [2, 7] and [3][9]. Nothing [0].", n_passages=3)
    assert p.valid == [1, 2, 3]
    assert p.invalid == [7, 9, 0]
    assert p.text == "Vitamin D helps [1]. Also [2] and [3]. Nothing."
    none = parse_citations("No markers here.", 3)
    assert (none.valid, none.invalid, none.text) == ([], [], "No markers here.")
