"""Query-centred snippets: the short window of a passage that holds the most query terms.

Pure functions of (text, query), for every front end (CLI, API, UI). Words match as BM25 matches them:
through the index analyzer's default chain (lowercase, English stop words dropped, Snowball stemming), so
"vitamins" matches "vitamin" and "running" matches "run". The window is chosen by the number of distinct
query terms in it, then by the number of matches, then by how early it starts; it is widened to word
boundaries and marked with "…" where the passage goes on.
"""

from __future__ import annotations

from dataclasses import dataclass

from ragsearch.retrieval.analysis import word_terms
from ragsearch.retrieval.types import AnalyzerSpec

ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class Match:
    start: int
    end: int
    term: str


def query_terms(query: str, spec: AnalyzerSpec | None = None) -> list[str]:
    """The query's distinct analyzed terms, in order."""
    return list(dict.fromkeys(t for _, _, t in word_terms(query, spec)))


def find_terms(text: str, terms: list[str], spec: AnalyzerSpec | None = None) -> list[Match]:
    """Where the terms occur in text, in order."""
    wanted = set(terms)
    return [Match(start, end, t) for start, end, t in word_terms(text, spec) if t in wanted]


def highlights(text: str, query: str, spec: AnalyzerSpec | None = None) -> list[tuple[int, int]]:
    """(start, end) of every whole word of `text` that matches a query term as BM25 matches it (analyzed
    with `spec`: stemmed, stop words never marked)."""
    return [(m.start, m.end) for m in find_terms(text, query_terms(query, spec), spec)]


def best_window(matches: list[Match], width: int) -> tuple[int, int] | None:
    """(start, end) of the matches inside the best window of `width` characters starting at a match."""
    best: tuple[tuple[int, int, int], tuple[int, int]] | None = None
    j = 0
    for i, first in enumerate(matches):
        j = max(j, i)
        while j + 1 < len(matches) and matches[j + 1].end - first.start <= width:
            j += 1
        inside = matches[i : j + 1]
        score = (len({m.term for m in inside}), len(inside), -first.start)
        if best is None or score > best[0]:
            best = (score, (first.start, inside[-1].end))
    return None if best is None else best[1]


def _snap_start(text: str, pos: int, limit: int) -> int:
    """Move pos forward to the start of the next word when it is inside one (never past limit)."""
    if pos == 0 or text[pos - 1].isspace():
        return pos
    space = text.find(" ", pos, limit)
    return space + 1 if space >= 0 else pos


def _snap_end(text: str, pos: int) -> int:
    """Move pos back to the end of the last whole word before it."""
    if pos >= len(text) or text[pos].isspace():
        return pos
    cut = pos
    while cut > 0 and not text[cut - 1].isspace():
        cut -= 1
    return cut if cut > 0 else pos


def snippet(text: str, query: str, width: int = 200, spec: AnalyzerSpec | None = None) -> str:
    """At most about `width` characters of text (whitespace collapsed) around the densest cluster of
    query terms; the text's beginning when no term occurs. "…" marks a cut at either end."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    window = best_window(find_terms(text, query_terms(query, spec), spec), width)
    if window is None:
        start = 0
    else:
        hit_start, hit_end = window
        slack = width - (hit_end - hit_start)
        start = max(0, min(hit_start - slack // 2, len(text) - width))
        start = _snap_start(text, start, hit_start)
    end = min(len(text), start + width)
    if end < len(text):
        end = _snap_end(text, end)
        if end <= start:
            end = min(len(text), start + width)
    body = text[start:end].strip()
    return f"{ELLIPSIS if start > 0 else ''}{body}{ELLIPSIS if end < len(text) else ''}"
