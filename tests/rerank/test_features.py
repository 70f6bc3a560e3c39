"""Feature values checked by hand on a five-passage index (plain analyzer: no stopwords, no stemming)."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ragsearch.rerank.extract import FeatureLogger
from ragsearch.rerank.features import (
    ALL_FEATURE_NAMES,
    FEATURE_NAMES,
    CandidateView,
    FieldMatches,
    QueryView,
    feature_dict,
    feature_matrix,
)
from ragsearch.retrieval.analysis import token_hashes
from ragsearch.retrieval.embedded import EmbeddedBackend, EmbeddedIndex
from ragsearch.retrieval.types import Candidate, FieldScores, IndexSpec
from tests.retrieval.contract import DOCS, EMB, PLAIN, embed

QUERY = "coffee roasting beans"
LN4 = math.log(4.0)  # idf of a term in 1 of 5 passages: ln(1 + 4.5 / 1.5)
LN24 = math.log(2.4)  # idf of a term in 2 of 5 passages: ln(1 + 3.5 / 2.5)


@pytest.fixture()
def index(tmp_path: Path) -> Iterator[EmbeddedIndex]:
    idx = EmbeddedBackend(tmp_path).create("f", IndexSpec(EMB.name, EMB.dim, PLAIN))
    idx.upsert(embed(DOCS))
    yield idx
    idx.close()


@pytest.fixture()
def rows(index: EmbeddedIndex) -> dict[str, dict[str, float]]:
    cands = [
        Candidate("p3", "d2", bm25_score=1.0, bm25_rank=1, dense_score=0.5, dense_rank=2, fused_score=0.9),
        Candidate("p4", "d3", bm25_score=0.5, bm25_rank=2, fused_score=0.4),
        Candidate("p5", "d4", dense_score=0.1, dense_rank=1, fused_score=0.3),
    ]
    qvec = EMB.embed_queries([QUERY])[0]
    matrix = FeatureLogger(index).features(QUERY, cands, qvec, ALL_FEATURE_NAMES)
    assert matrix.shape == (3, len(ALL_FEATURE_NAMES)) and matrix.dtype == np.float32
    served = FeatureLogger(index).features(QUERY, cands, qvec)
    assert served.shape == (3, len(FEATURE_NAMES)) and set(FEATURE_NAMES) < set(ALL_FEATURE_NAMES)
    return {c.id: feature_dict(row, ALL_FEATURE_NAMES) for c, row in zip(cands, matrix, strict=True)}


def test_lexical_features_by_hand(rows: dict[str, dict[str, float]]) -> None:
    p3 = rows["p3"]  # title: coffee roasting; text: roasting coffee beans changes their flavour
    assert (p3["query_len"], p3["passage_len"], p3["title_len"]) == (3, 6, 2)
    assert p3["title_coverage"] == pytest.approx(2 / 3)
    assert p3["text_coverage"] == 1.0
    assert p3["bigram_match"] == 0.5  # "coffee roasting" in the title; "roasting beans" nowhere
    assert p3["title_bigram_match"] == 0.5
    assert p3["exact_phrase"] == 0.0
    assert p3["min_span"] == 1.0  # "roasting coffee beans": 3 tokens hold the 3 matched terms
    assert p3["term_density"] == 0.5
    # df: coffee 2 (p3, p4 text), roasting 1, beans 1
    assert p3["idf_coverage"] == pytest.approx(1.0)
    assert p3["title_idf_coverage"] == pytest.approx((LN24 + LN4) / (LN24 + 2 * LN4), rel=1e-6)
    assert p3["matched_idf_max"] == pytest.approx(LN4, rel=1e-6)
    assert p3["matched_idf_mean"] == pytest.approx((LN24 + 2 * LN4) / 3, rel=1e-6)
    assert p3["query_idf_max"] == pytest.approx(LN4, rel=1e-6)

    p4 = rows["p4"]  # title: espresso; text: espresso is coffee brewed under pressure
    assert p4["title_coverage"] == 0.0 and p4["bm25_title"] == 0.0  # a title that matches nothing scores 0
    assert p4["text_coverage"] == pytest.approx(1 / 3)
    assert p4["bigram_match"] == 0.0
    assert math.isnan(p4["min_span"])  # one matched term: no span
    assert p4["idf_coverage"] == pytest.approx(LN24 / (LN24 + 2 * LN4), rel=1e-6)
    assert p4["matched_idf_max"] == pytest.approx(LN24, rel=1e-6) == pytest.approx(p4["matched_idf_mean"])


def test_missing_values_are_nan_not_zero(rows: dict[str, dict[str, float]]) -> None:
    p5 = rows["p5"]  # no title, matches no query term
    for name in ("bm25_title", "title_coverage", "title_idf_coverage", "title_bigram_match"):
        assert math.isnan(p5[name]), name
    assert p5["title_len"] == 0.0 and p5["bm25_text"] == 0.0 and p5["text_coverage"] == 0.0
    assert math.isnan(p5["matched_idf_max"]) and math.isnan(p5["bm25_rank"])
    assert p5["dense_rank"] == 1.0 and p5["fused_score"] == pytest.approx(0.3)
    assert math.isnan(rows["p4"]["dense_rank"])


def test_scores_and_group_features(index: EmbeddedIndex, rows: dict[str, dict[str, float]]) -> None:
    fs = index.field_scores(QUERY, ["p3", "p4", "p5"])
    assert rows["p3"]["bm25_title"] == pytest.approx(fs["p3"].title)
    assert rows["p3"]["bm25_text"] == pytest.approx(fs["p3"].text)
    assert rows["p3"]["bm25_best_fields"] == pytest.approx(fs["p3"].best_fields)
    assert rows["p3"]["bm25_rel"] == 1.0  # the best BM25 of the three
    assert rows["p4"]["bm25_rel"] == pytest.approx(fs["p4"].best_fields / fs["p3"].best_fields, rel=1e-6)
    q = EMB.embed_queries([QUERY])[0]
    vecs = index.vectors(["p3", "p4", "p5"])
    cos = {pid: float(np.dot(q, v)) for pid, v in vecs.items()}
    for pid in cos:
        assert rows[pid]["dense_cosine"] == pytest.approx(cos[pid], abs=1e-6)
        assert rows[pid]["dense_gap"] == pytest.approx(cos[pid] - max(cos.values()), abs=1e-6)


def lexical_rows(query: list[str], fields: list[tuple[list[str], list[str]]]) -> list[dict[str, float]]:
    """Features of several (title, text) token lists in one batch, as the reranker computes them."""
    qv = QueryView(tuple(query), {})
    terms = token_hashes(qv.terms)
    title = FieldMatches.find([token_hashes(t) for t, _ in fields], terms)
    text = FieldMatches.find([token_hashes(x) for _, x in fields], terms)
    views = [
        CandidateView(Candidate(f"p{i}", "d"), FieldScores(None, None, None), None)
        for i in range(len(fields))
    ]
    return [
        feature_dict(row, ALL_FEATURE_NAMES)
        for row in feature_matrix(qv, views, title, text, ALL_FEATURE_NAMES)
    ]


def exact_phrase(q: list[str], p: list[str]) -> float:
    return lexical_rows(q, [([], p)])[0]["exact_phrase"]


def min_span(q: list[str], p: list[str]) -> float:
    return lexical_rows(q, [([], p)])[0]["min_span"]


def test_phrase_and_span_functions() -> None:
    assert exact_phrase(["a", "b"], ["x", "a", "b"]) == 1.0
    assert exact_phrase(["a", "b"], ["b", "a"]) == 0.0
    assert math.isnan(exact_phrase(["a"], ["a"]))
    assert min_span(["a", "b"], ["a", "x", "x", "b", "a"]) == 1.0  # "b a" at the end
    assert min_span(["a", "b", "c"], ["a", "x", "b", "x", "x", "c"]) == 2.0


def _brute_span(q: list[str], p: list[str]) -> float:
    w = set(q) & set(p)
    if len(w) < 2:
        return math.nan
    return min(j - i + 1 for i in range(len(p)) for j in range(i, len(p)) if w <= set(p[i : j + 1])) / len(w)


def _brute_phrase(q: list[str], p: list[str]) -> float:
    return math.nan if len(q) < 2 else float(any(p[i : i + len(q)] == q for i in range(len(p) - len(q) + 1)))


def _brute_bigrams(q: list[str], p: list[str]) -> float:
    qb = set(itertools.pairwise(q))
    return math.nan if not qb else len(qb & set(itertools.pairwise(p))) / len(qb)


def _brute_coverage(q: list[str], p: list[str]) -> float:
    return math.nan if not q or not p else len(set(q) & set(p)) / len(set(q))


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b)


def test_batched_features_match_brute_force_oracles() -> None:
    """Several random candidates per batch (empty fields included), so nothing leaks across candidates and
    phrases may span the title's end and the text's start."""
    rng = random.Random(1)
    for _ in range(300):
        vocab = "abcdef"[: rng.randint(2, 6)]
        q = [rng.choice(vocab) for _ in range(rng.randint(1, 4))]
        fields = [
            (
                [rng.choice(vocab) for _ in range(rng.randint(0, 3))],
                [rng.choice(vocab) for _ in range(rng.randint(0, 12))],
            )
            for _ in range(rng.randint(1, 5))
        ]
        for (title, text), row in zip(fields, lexical_rows(q, fields), strict=True):
            both = title + text
            expected = {
                "min_span": _brute_span(q, text),
                "exact_phrase": _brute_phrase(q, both),
                "bigram_match": _brute_bigrams(q, both),
                "title_bigram_match": _brute_bigrams(q, title) if title else math.nan,
                "text_coverage": _brute_coverage(q, text),
                "title_coverage": _brute_coverage(q, title) if title else math.nan,
                "term_density": sum(t in q for t in text) / len(text) if text else math.nan,
                "passage_len": len(text),
                "title_len": len(title),
                "query_len": len(q),
            }
            for name, value in expected.items():
                assert _same(row[name], value), (q, title, text, name, row[name], value)
