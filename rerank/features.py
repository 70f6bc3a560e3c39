"""Features of (query, candidate passage) pairs, as pure functions with a name each.

Every feature describes how the query matches the passage, never which passage it is: no document ids,
no priors learned from judgments (SciFact's train and test queries share relevant documents, and an
identity feature would learn the overlap rather than relevance).

Missing values are NaN, never a zero by accident: a candidate that one first-stage system did not return
has NaN for that system's rank, a passage without a title has NaN for its title features, and a query with
fewer than two tokens has NaN for its phrase features. A field that exists but matches no query term
scores a true 0. LightGBM learns where NaN goes at each split.

Group features (`*_rel`, `*_gap`, `*_z`, `*_minmax`, `rank_*`, `len_*_rel`) compare a candidate with the
other candidates of the same query: its score over the list's best, its z-score within the list, its rank.
They are invariant to rescaling a first-stage score (BM25 scales with a collection's IDFs and lengths,
cosines with the encoder and the collection), so a model learned on one collection's scale applies to
another's. `SCALE_BOUND` names the features whose values carry a collection's scale (raw scores, IDFs);
`FEATURE_NAMES` is what models are trained on and served with (see its comment for which set and why).

The functions work on a whole candidate list at once (one column each), from where the query's tokens
occur in each field (`FieldMatches`: built from token hashes with array operations, so 200 candidates cost
about a millisecond instead of tens). "Both" fields means the title's tokens followed by the text's, as one
sequence (a bigram may span the title's end and the text's start).

`FEATURE_NAMES` is the order of the columns; a trained model records it and refuses to load when the
running code computes a different list (see `rerank.registry`). Change `FEATURES_VERSION` whenever a
feature's meaning changes without its name changing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ragsearch.rerank.normalise import minmax, rank_desc, ratio_to_max, ratio_to_median, zscore
from ragsearch.retrieval.types import Candidate, FieldScores

FEATURES_VERSION = 2
NAN = float("nan")

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


def idf(num_docs: int, doc_freq: int) -> float:
    """Lucene BM25 IDF."""
    return math.log(1.0 + (num_docs - doc_freq + 0.5) / (doc_freq + 0.5))


@dataclass(frozen=True, slots=True)
class QueryView:
    """What the features know about the query: its analyzed tokens and their IDF in the collection."""

    tokens: tuple[str, ...]
    idf: Mapping[str, float]
    """BM25 IDF of each distinct query token: ln(1 + (N - df + 0.5) / (df + 0.5)); absent = unknown (0)."""

    @property
    def terms(self) -> tuple[str, ...]:
        """Distinct tokens in order of first occurrence; `FieldMatches.term` indexes this."""
        return tuple(dict.fromkeys(self.tokens))

    def sequence(self) -> Ints:
        """The query as indices into `terms`."""
        where = {t: i for i, t in enumerate(self.terms)}
        return np.array([where[t] for t in self.tokens], dtype=np.int64)

    def term_idf(self) -> Floats:
        return np.array([self.idf.get(t, 0.0) for t in self.terms], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class CandidateView:
    """What the features know about one candidate besides its tokens: first-stage and field scores."""

    candidate: Candidate
    field_scores: FieldScores
    dense_cosine: float | None


@dataclass(frozen=True, slots=True)
class FieldMatches:
    """Where the query's distinct tokens occur in one field of every candidate.

    One entry per occurrence, sorted by (candidate, position); `term` indexes `QueryView.terms`."""

    length: Ints
    """Tokens in the field, per candidate (0 = empty or absent)."""
    cand: Ints
    pos: Ints
    term: Ints

    @staticmethod
    def find(streams: Sequence[Ints], term_hashes: Ints) -> FieldMatches:
        """Occurrences of `term_hashes` (the query's distinct tokens, hashed) in each candidate's token hashes."""
        length = np.fromiter((len(s) for s in streams), dtype=np.int64, count=len(streams))
        empty = np.zeros(0, dtype=np.int64)
        if not len(term_hashes) or not length.sum():
            return FieldMatches(length, empty, empty, empty)
        flat = np.concatenate(streams)
        order = np.argsort(term_hashes)
        ranked = term_hashes[order]
        slot = np.minimum(np.searchsorted(ranked, flat), len(ranked) - 1)
        where = np.flatnonzero(ranked[slot] == flat)
        ends = np.cumsum(length)
        cand = np.searchsorted(ends, where, side="right")
        return FieldMatches(length, cand, where - (ends - length)[cand], order[slot[where]])

    def then(self, other: FieldMatches) -> FieldMatches:
        """This field's tokens followed by `other`'s, as one sequence per candidate."""
        cand = np.concatenate([self.cand, other.cand])
        pos = np.concatenate([self.pos, other.pos + self.length[other.cand]])
        order = np.lexsort((pos, cand))
        term = np.concatenate([self.term, other.term])
        return FieldMatches(self.length + other.length, cand[order], pos[order], term[order])

    def presence(self, n_terms: int) -> NDArray[np.bool_]:
        """(candidates x distinct query tokens): does the token occur in the field."""
        out = np.zeros((len(self.length), n_terms), dtype=bool)
        out[self.cand, self.term] = True
        return out


class Batch:
    """One query and its candidates, with the arrays the feature functions read."""

    def __init__(
        self, query: QueryView, cands: Sequence[CandidateView], title: FieldMatches, text: FieldMatches
    ) -> None:
        self.n = len(cands)
        self.query = query
        self.u = len(query.terms)
        self.seq = query.sequence()
        self.idf = query.term_idf()
        self.title, self.text = title, text
        self.both = title.then(text)
        self.has_title = title.length > 0
        self.has_text = text.length > 0
        self.p_title, self.p_text, self.p_both = (m.presence(self.u) for m in (title, text, self.both))

        def col(values: Iterable[float | None]) -> Floats:
            return np.fromiter((NAN if v is None else v for v in values), dtype=np.float64, count=self.n)

        self.bm25_title = col(c.field_scores.title for c in cands)
        self.bm25_text = col(c.field_scores.text for c in cands)
        self.bm25_best = col(c.field_scores.best_fields for c in cands)
        self.dense = col(c.dense_cosine for c in cands)
        self.bm25_rank = col(c.candidate.bm25_rank for c in cands)
        self.dense_rank = col(c.candidate.dense_rank for c in cands)
        self.fused = col(c.candidate.fused_score for c in cands)

    def nan_unless(self, ok: NDArray[np.bool_] | bool, values: Floats) -> Floats:
        return np.where(ok, values, NAN)


FeatureFn = Callable[[Batch], Floats]


def _zero_if_nan(x: Floats) -> Floats:
    """A field score is None when no term matched: that is a true 0, not a missing value."""
    return np.nan_to_num(x, nan=0.0)


def _div(a: Floats, b: Floats | float) -> Floats:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(a / b, dtype=np.float64)


def coverage(b: Batch, presence: NDArray[np.bool_], length: Ints) -> Floats:
    """Share of the distinct query tokens present in the field; NaN when the query or field is empty."""
    if b.u == 0:
        return np.full(b.n, NAN)
    return b.nan_unless(length > 0, presence.sum(axis=1) / b.u)


def idf_coverage(b: Batch, presence: NDArray[np.bool_], length: Ints) -> Floats:
    """IDF-weighted share of the distinct query tokens present in the field; NaN without IDF or field."""
    total = float(b.idf.sum())
    if total <= 0:
        return np.full(b.n, NAN)
    return b.nan_unless(length > 0, (presence @ b.idf) / total)


def bigram_match(b: Batch, m: FieldMatches) -> Floats:
    """Share of the query's distinct adjacent token pairs that occur adjacent in the field; NaN under 2 tokens."""
    if len(b.seq) < 2:
        return np.full(b.n, NAN)
    wanted = np.unique(b.seq[:-1] * b.u + b.seq[1:])
    adjacent = (m.cand[1:] == m.cand[:-1]) & (m.pos[1:] == m.pos[:-1] + 1)
    codes = m.term[:-1] * b.u + m.term[1:]
    hit = adjacent & np.isin(codes, wanted)
    found = np.unique(m.cand[:-1][hit] * (b.u * b.u) + codes[hit]) // (b.u * b.u)
    return np.bincount(found, minlength=b.n).astype(np.float64) / len(wanted)


def exact_phrase(b: Batch, m: FieldMatches) -> Floats:
    """1 when the whole analyzed query occurs contiguously in the field, else 0; NaN under 2 tokens."""
    n = len(b.seq)
    if n < 2:
        return np.full(b.n, NAN)
    starts = np.flatnonzero(m.term == b.seq[0])
    starts = starts[starts + n - 1 < len(m.term)]
    ok = np.ones(len(starts), dtype=bool)
    for k in range(1, n):
        j = starts + k
        ok &= (m.cand[j] == m.cand[starts]) & (m.pos[j] == m.pos[starts] + k) & (m.term[j] == b.seq[k])
    out = np.zeros(b.n)
    out[m.cand[starts[ok]]] = 1.0
    return out


def min_span(b: Batch, m: FieldMatches, presence: NDArray[np.bool_]) -> Floats:
    """Length of the shortest window holding every matched distinct query token, divided by the number of
    those tokens (1.0 = adjacent); NaN when fewer than two distinct tokens match."""
    out = np.full(b.n, NAN)
    bounds = np.searchsorted(m.cand, np.arange(b.n + 1))
    distinct = presence.sum(axis=1)
    for c in np.flatnonzero(distinct >= 2):
        lo, hi = bounds[c], bounds[c + 1]
        out[c] = (
            _shortest_window(m.pos[lo:hi].tolist(), m.term[lo:hi].tolist(), int(distinct[c])) / distinct[c]
        )
    return out


def _shortest_window(pos: list[int], term: list[int], wanted: int) -> int:
    counts: dict[int, int] = {}
    best = pos[-1] - pos[0] + 1
    left = 0
    for p, t in zip(pos, term, strict=True):
        counts[t] = counts.get(t, 0) + 1
        while len(counts) == wanted:
            best = min(best, p - pos[left] + 1)
            counts[term[left]] -= 1
            if counts[term[left]] == 0:
                del counts[term[left]]
            left += 1
    return best


def term_density(b: Batch, m: FieldMatches) -> Floats:
    """Occurrences of query tokens per field token; NaN for an empty field."""
    hits = np.bincount(m.cand, minlength=b.n).astype(np.float64)
    return b.nan_unless(m.length > 0, _div(hits, m.length.astype(np.float64)))


def matched_idf(b: Batch, presence: NDArray[np.bool_], reduce: str) -> Floats:
    """Max or mean IDF of the distinct query tokens present; NaN when none is."""
    count = presence.sum(axis=1)
    if reduce == "max":
        values = np.where(presence, b.idf, -np.inf).max(axis=1) if b.u else np.zeros(b.n)
    else:
        values = _div(presence @ b.idf, count.astype(np.float64)) if b.u else np.zeros(b.n)
    return b.nan_unless(count > 0, values)


def query_idf(b: Batch, reduce: str) -> Floats:
    if b.u == 0:
        return np.full(b.n, NAN)
    return np.full(b.n, float(b.idf.max() if reduce == "max" else b.idf.mean()))


def relative(b: Batch) -> Floats:
    """BM25 (best fields, 0 when nothing matched) over the best candidate's; NaN when no candidate matched."""
    best = _zero_if_nan(b.bm25_best)
    top = float(np.nanmax(b.bm25_best)) if np.any(~np.isnan(b.bm25_best)) else 0.0
    return np.full(b.n, NAN) if not top > 0 else best / top


def dense_gap(b: Batch) -> Floats:
    """Cosine minus the best candidate's cosine; NaN without a vector."""
    if np.all(np.isnan(b.dense)):
        return np.full(b.n, NAN)
    return b.dense - float(np.nanmax(b.dense))


FEATURES: dict[str, FeatureFn] = {
    # BM25 per field and combined (Elasticsearch best_fields); 0 when no term matched.
    "bm25_title": lambda b: b.nan_unless(b.has_title, _zero_if_nan(b.bm25_title)),
    "bm25_text": lambda b: b.nan_unless(b.has_text, _zero_if_nan(b.bm25_text)),
    "bm25_best_fields": lambda b: _zero_if_nan(b.bm25_best),
    "bm25_rel": relative,
    # Dense cosine between the query and passage vectors, and its gap to the best candidate's.
    "dense_cosine": lambda b: b.dense,
    "dense_gap": dense_gap,
    # First-stage ranks (NaN when that system did not return the candidate) and the fused score.
    "bm25_rank": lambda b: b.bm25_rank,
    "dense_rank": lambda b: b.dense_rank,
    "fused_score": lambda b: b.fused,
    # Lengths in analyzed tokens.
    "query_len": lambda b: np.full(b.n, float(len(b.seq))),
    "passage_len": lambda b: b.text.length.astype(np.float64),
    "title_len": lambda b: b.title.length.astype(np.float64),
    # Query-term coverage.
    "title_coverage": lambda b: b.nan_unless(b.has_title, coverage(b, b.p_title, b.title.length)),
    "text_coverage": lambda b: coverage(b, b.p_text, b.text.length),
    "idf_coverage": lambda b: idf_coverage(b, b.p_both, b.both.length),
    "title_idf_coverage": lambda b: b.nan_unless(b.has_title, idf_coverage(b, b.p_title, b.title.length)),
    # Order and proximity.
    "bigram_match": lambda b: bigram_match(b, b.both),
    "title_bigram_match": lambda b: b.nan_unless(b.has_title, bigram_match(b, b.title)),
    "exact_phrase": lambda b: exact_phrase(b, b.both),
    "min_span": lambda b: min_span(b, b.text, b.p_text),
    "term_density": lambda b: term_density(b, b.text),
    # IDF of the matched query terms, and of the query itself.
    "matched_idf_max": lambda b: matched_idf(b, b.p_both, "max"),
    "matched_idf_mean": lambda b: matched_idf(b, b.p_both, "mean"),
    "query_idf_max": lambda b: query_idf(b, "max"),
    "query_idf_mean": lambda b: query_idf(b, "mean"),
}


def _log_ratio(a: Floats, b: Floats) -> Floats:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.log(a / b), dtype=np.float64)


LIST_FEATURES: dict[str, FeatureFn] = {
    # Each first-stage score against its query's candidate list (scale-free; FEATURES_VERSION 2).
    "bm25_title_rel": lambda b: b.nan_unless(b.has_title, ratio_to_max(_zero_if_nan(b.bm25_title))),
    "bm25_text_rel": lambda b: b.nan_unless(b.has_text, ratio_to_max(_zero_if_nan(b.bm25_text))),
    "bm25_z": lambda b: zscore(_zero_if_nan(b.bm25_best)),
    "dense_minmax": lambda b: minmax(b.dense),
    "dense_z": lambda b: zscore(b.dense),
    "fused_rel": lambda b: ratio_to_max(b.fused),
    "fused_z": lambda b: zscore(b.fused),
    "rank_fused": lambda b: rank_desc(b.fused),
    "rank_bm25_dense_log_ratio": lambda b: _log_ratio(b.bm25_rank, b.dense_rank),
    "len_passage_rel": lambda b: ratio_to_median(b.text.length.astype(np.float64)),
    "idf_matched_max_rel": lambda b: _div(matched_idf(b, b.p_both, "max"), query_idf(b, "max")),
    "idf_matched_mean_rel": lambda b: _div(matched_idf(b, b.p_both, "mean"), query_idf(b, "max")),
}
FEATURES.update(LIST_FEATURES)

SCALE_BOUND: tuple[str, ...] = (
    "bm25_title",
    "bm25_text",
    "bm25_best_fields",
    "dense_cosine",
    "dense_gap",
    "matched_idf_max",
    "matched_idf_mean",
    "query_idf_max",
    "query_idf_mean",
)
"""Features whose values move with a collection's score scale (raw BM25, cosine, IDF): what the list-relative
features stand in for when a model must travel."""

ALL_FEATURE_NAMES: tuple[str, ...] = tuple(FEATURES)
"""Every feature the code can compute; benchmarks log them all and choose sets from them."""

FEATURE_NAMES: tuple[str, ...] = tuple(n for n in ALL_FEATURE_NAMES if n not in SCALE_BOUND)
"""What models are trained on and served with: the list-normalised features replace the scale-bound ones.
Chosen by measurement (`bench.transfer_study`, docs/benchmarks.md, issue 15), against keeping the raw ones
beside them: the worst transfer loss to hybrid shrank (SciFact -> Cranfield -0.034 instead of -0.046),
Cranfield -> NFCorpus went from a significant loss (-0.014) to +0.003, SciFact's held-apart queries +0.008;
the cost: 0.005 nDCG@10 in-domain on SciFact test and up to 0.005 on the other transfers."""


def feature_matrix(
    query: QueryView,
    cands: Sequence[CandidateView],
    title: FieldMatches,
    text: FieldMatches,
    names: Sequence[str] = FEATURE_NAMES,
) -> NDArray[np.float32]:
    """One row per candidate, one column per name in `names` (default `FEATURE_NAMES`)."""
    if not cands:
        return np.zeros((0, len(names)), dtype=np.float32)
    b = Batch(query, cands, title, text)
    return np.column_stack([FEATURES[name](b) for name in names]).astype(np.float32)


def feature_dict(row: NDArray[np.float32], names: Sequence[str] = FEATURE_NAMES) -> dict[str, float]:
    """A row as {name: value}, for showing and debugging."""
    return dict(zip(names, (float(v) for v in row), strict=True))
