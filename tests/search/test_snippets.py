"""Query-centred snippets (search/snippets.py)."""

from __future__ import annotations

from ragsearch.search.snippets import best_window, find_terms, query_terms, snippet

FILLER = "Background sentences say nothing about the topic at all. " * 8
KEY = "Vitamin D deficiency is linked to bone loss and fractures in older adults."


def test_the_window_with_most_query_terms_wins_not_the_first_characters() -> None:
    text = FILLER + "A vitamin is mentioned once here. " + FILLER + KEY + " " + FILLER
    s = snippet(text, "vitamin D deficiency and bone loss", width=120)
    assert KEY in s.strip("…")
    assert s.startswith("…") and s.endswith("…") and len(s) <= 122
    assert not text.startswith(s.strip("…")[:40])


def test_no_match_gives_the_beginning_and_short_text_is_whole() -> None:
    text = FILLER + KEY
    assert snippet(text, "zebra", width=60) == "Background sentences say nothing about the topic at all.…"
    assert snippet("  short\n text ", "x") == "short text"


def test_terms_are_the_analyzers_terms_as_bm25_matches_them() -> None:
    # lowercased, English stop words dropped, Snowball stems: "Vitamins" and "vitamin" are one term
    assert query_terms("What is the role of Vitamins?") == ["what", "role", "vitamin"]
    assert query_terms("the of") == []
    matches = find_terms("Fractures and FRACTURED bones; fract", query_terms("fracture"))
    assert [m.start for m in matches] == [0, 14]


def test_window_prefers_distinct_terms_over_repeats() -> None:
    text = "alpha alpha alpha alpha .......................... alpha beta gamma"
    window = best_window(find_terms(text, ["alpha", "beta", "gamma"]), width=20)
    assert window is not None and text[window[0] : window[1]] == "alpha beta gamma"


def test_highlights_are_whole_words_matched_as_bm25_matches_them() -> None:
    from ragsearch.retrieval.types import AnalyzerSpec
    from ragsearch.search.snippets import highlights

    text = "The vitamins reduced the risk; reduction of risky doses."
    marked = [text[a:b] for a, b in highlights(text, "the role of vitamin in reducing risk")]
    # stems match ("vitamins", "reduced"), stop words ("the", "of") never, and only whole words
    assert marked == ["vitamins", "reduced", "risk"]
    # with an index built without stemming, only the exact word forms match
    plain = AnalyzerSpec(stemmer=None)
    assert [text[a:b] for a, b in highlights(text, "vitamins risk", plain)] == ["vitamins", "risk"]
