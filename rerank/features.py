"""Features of one (query, candidate passage) pair, as pure functions with a name each.

Every feature describes how the query matches the passage, never which passage it is: no document ids,
no priors learned from judgments (SciFact's train and test queries share relevant documents, and an
identity feature would learn the overlap rather than relevance).

Missing values are NaN, never a zero by accident: a candidate that one first-stage system did not return
has NaN for that system's rank, a passage without a title has NaN for its title features, and a query with
fewer than two tokens has NaN for its phrase features. A field that exists but matches no query term
scores a true 0. LightGBM learns where NaN goes at each split.

Group features (`*_rel`, `*_gap`) compare a candidate with the best candidate of the same query, which
makes them comparable across collections whose raw BM25 scales differ.

`FEATURE_NAMES` is the order of the columns; a trained model records it and refuses to load when the
running code computes a different list (see `rerank.registry`). Change `FEATURES_VERSION` whenever a
feature's meaning changes without its name changing.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from retrieval.types import Candidate, FieldScores

FEATURES_VERSION = 1
NAN = float("nan")


@dataclass(frozen=True, slots=True)
class QueryView:
    """What the features know about the query: its analyzed tokens and their IDF in the collection."""

    tokens: tuple[str, ...]
    idf: Mapping[str, float]
    """BM25 IDF of each distinct query token: ln(1 + (N - df + 0.5) / (df + 0.5))."""


@dataclass(frozen=True, slots=True)
class CandidateView:
    """What the features know about one candidate: first-stage scores and the analyzed passage."""

    candidate: Candidate
    field_scores: FieldScores
    dense_cosine: float | None
    title_tokens: tuple[str, ...]
    text_tokens: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GroupView:
    """Per-query maxima over all candidates, for the relative features."""

    max_bm25: float
    max_dense: float


FeatureFn = Callable[[QueryView, CandidateView, GroupView], float]


def _f(x: float | None) -> float:
    return NAN if x is None else float(x)


def idf(num_docs: int, doc_freq: int) -> float:
    """Lucene BM25 IDF."""
    return math.log(1.0 + (num_docs - doc_freq + 0.5) / (doc_freq + 0.5))


def coverage(query: Sequence[str], field: Sequence[str]) -> float:
    """Share of the distinct query tokens present in the field; NaN when the query or field is empty."""
    q = set(query)
    if not q or not field:
        return NAN
    return len(q & set(field)) / len(q)


def idf_coverage(query: QueryView, field: Sequence[str]) -> float:
    """IDF-weighted share of the distinct query tokens present in the field."""
    total = sum(query.idf.get(t, 0.0) for t in set(query.tokens))
    if total <= 0 or not field:
        return NAN
    present = set(field)
    return sum(query.idf.get(t, 0.0) for t in set(query.tokens) if t in present) / total


def bigrams(tokens: Sequence[str]) -> set[tuple[str, str]]:
    return set(itertools.pairwise(tokens))


def bigram_match(query: Sequence[str], passage: Sequence[str]) -> float:
    """Share of the query's adjacent token pairs that occur adjacent in the passage; NaN under 2 tokens."""
    qb = bigrams(query)
    if not qb:
        return NAN
    return len(qb & bigrams(passage)) / len(qb)


def exact_phrase(query: Sequence[str], passage: Sequence[str]) -> float:
    """1 when the whole analyzed query occurs contiguously in the passage, else 0; NaN under 2 tokens."""
    n = len(query)
    if n < 2:
        return NAN
    q = tuple(query)
    first = q[0]
    return float(
        any(passage[i] == first and tuple(passage[i : i + n]) == q for i in range(len(passage) - n + 1))
    )


def matched_idf(query: QueryView, passage: Sequence[str]) -> list[float]:
    present = set(passage)
    return [query.idf.get(t, 0.0) for t in set(query.tokens) if t in present]


def min_span(query: Sequence[str], passage: Sequence[str]) -> float:
    """Length of the shortest passage window holding every matched distinct query token, divided by the
    number of those tokens (1.0 = adjacent); NaN when fewer than two distinct tokens match."""
    wanted = set(query) & set(passage)
    if len(wanted) < 2:
        return NAN
    hits = [(i, t) for i, t in enumerate(passage) if t in wanted]
    counts: dict[str, int] = {}
    best = len(passage)
    left = 0
    for pos, tok in hits:
        counts[tok] = counts.get(tok, 0) + 1
        while len(counts) == len(wanted):
            lpos, ltok = hits[left]
            best = min(best, pos - lpos + 1)
            counts[ltok] -= 1
            if counts[ltok] == 0:
                del counts[ltok]
            left += 1
    return best / len(wanted)


def term_density(query: Sequence[str], passage: Sequence[str]) -> float:
    """Occurrences of query tokens per passage token; NaN for an empty passage."""
    if not passage:
        return NAN
    q = set(query)
    return sum(1 for t in passage if t in q) / len(passage)


def _title(c: CandidateView, value: float) -> float:
    return value if c.title_tokens else NAN


def _both(c: CandidateView) -> tuple[str, ...]:
    return c.title_tokens + c.text_tokens


def _rel(value: float | None, best: float) -> float:
    if value is None or not best > 0:
        return NAN
    return float(value) / best


def _gap(value: float | None, best: float) -> float:
    if value is None or math.isnan(best):
        return NAN
    return float(value) - best


def _max_or_nan(values: list[float]) -> float:
    return max(values) if values else NAN


def _mean_or_nan(values: list[float]) -> float:
    return sum(values) / len(values) if values else NAN


FEATURES: dict[str, FeatureFn] = {
    # BM25 per field and combined (Elasticsearch best_fields); 0 when no term matched.
    "bm25_title": lambda q, c, g: _title(c, _f(c.field_scores.title) if c.field_scores.title else 0.0),
    "bm25_text": lambda q, c, g: (
        (_f(c.field_scores.text) if c.field_scores.text else 0.0) if c.text_tokens else NAN
    ),
    "bm25_best_fields": lambda q, c, g: _f(c.field_scores.best_fields) if c.field_scores.best_fields else 0.0,
    "bm25_rel": lambda q, c, g: _rel(c.field_scores.best_fields or 0.0, g.max_bm25),
    # Dense cosine between the query and passage vectors, and its gap to the best candidate's.
    "dense_cosine": lambda q, c, g: _f(c.dense_cosine),
    "dense_gap": lambda q, c, g: _gap(c.dense_cosine, g.max_dense),
    # First-stage ranks (NaN when that system did not return the candidate) and the fused score.
    "bm25_rank": lambda q, c, g: _f(c.candidate.bm25_rank),
    "dense_rank": lambda q, c, g: _f(c.candidate.dense_rank),
    "fused_score": lambda q, c, g: _f(c.candidate.fused_score),
    # Lengths in analyzed tokens.
    "query_len": lambda q, c, g: float(len(q.tokens)),
    "passage_len": lambda q, c, g: float(len(c.text_tokens)),
    "title_len": lambda q, c, g: float(len(c.title_tokens)),
    # Query-term coverage.
    "title_coverage": lambda q, c, g: _title(c, coverage(q.tokens, c.title_tokens)),
    "text_coverage": lambda q, c, g: coverage(q.tokens, c.text_tokens),
    "idf_coverage": lambda q, c, g: idf_coverage(q, _both(c)),
    "title_idf_coverage": lambda q, c, g: _title(c, idf_coverage(q, c.title_tokens)),
    # Order and proximity.
    "bigram_match": lambda q, c, g: bigram_match(q.tokens, _both(c)),
    "title_bigram_match": lambda q, c, g: _title(c, bigram_match(q.tokens, c.title_tokens)),
    "exact_phrase": lambda q, c, g: exact_phrase(q.tokens, _both(c)),
    "min_span": lambda q, c, g: min_span(q.tokens, c.text_tokens),
    "term_density": lambda q, c, g: term_density(q.tokens, c.text_tokens),
    # IDF of the matched query terms, and of the query itself.
    "matched_idf_max": lambda q, c, g: _max_or_nan(matched_idf(q, _both(c))),
    "matched_idf_mean": lambda q, c, g: _mean_or_nan(matched_idf(q, _both(c))),
    "query_idf_max": lambda q, c, g: _max_or_nan([q.idf.get(t, 0.0) for t in set(q.tokens)]),
    "query_idf_mean": lambda q, c, g: _mean_or_nan([q.idf.get(t, 0.0) for t in set(q.tokens)]),
}

FEATURE_NAMES: tuple[str, ...] = tuple(FEATURES)


def group_view(cands: Sequence[CandidateView]) -> GroupView:
    bm25 = [c.field_scores.best_fields for c in cands if c.field_scores.best_fields is not None]
    dense = [c.dense_cosine for c in cands if c.dense_cosine is not None]
    return GroupView(max_bm25=max(bm25, default=0.0), max_dense=max(dense, default=NAN))


def feature_matrix(query: QueryView, cands: Sequence[CandidateView]) -> NDArray[np.float32]:
    """One row per candidate, one column per name in `FEATURE_NAMES`."""
    g = group_view(cands)
    rows = [[FEATURES[name](query, c, g) for name in FEATURE_NAMES] for c in cands]
    return np.asarray(rows, dtype=np.float32).reshape(len(cands), len(FEATURE_NAMES))


def feature_dict(row: NDArray[np.float32]) -> dict[str, float]:
    """A row as {name: value}, for showing and debugging."""
    return dict(zip(FEATURE_NAMES, (float(v) for v in row), strict=True))
