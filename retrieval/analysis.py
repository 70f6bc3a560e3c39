"""Text analysis for BM25: the analyzer an index is built with, and queries built from its tokens.

Raw query text is never handed to a query parser (apostrophes, colons and slashes in ordinary
queries would be read as syntax); queries are built from the analyzer's tokens instead.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable

import numpy as np
import tantivy
from numpy.typing import NDArray

from ragsearch.retrieval.types import AnalyzerSpec

STEMMERS = (
    "arabic", "danish", "dutch", "english", "finnish", "french", "german", "greek", "hungarian",
    "italian", "norwegian", "portuguese", "romanian", "russian", "spanish", "swedish", "tamil", "turkish",
)  # fmt: skip


def analyzer_name(spec: AnalyzerSpec) -> str:
    return f"rs_{'stop' if spec.stopwords else 'nostop'}_{spec.stemmer or 'nostem'}_{spec.max_token_length}"


def build_analyzer(spec: AnalyzerSpec) -> tantivy.TextAnalyzer:
    """simple tokenizer -> remove tokens longer than the limit -> lowercase -> [english stopwords] -> [stemmer]."""
    builder = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(spec.max_token_length))
        .filter(tantivy.Filter.lowercase())
    )
    if spec.stopwords:
        builder = builder.filter(tantivy.Filter.stopword("english"))
    if spec.stemmer:
        builder = builder.filter(tantivy.Filter.stemmer(spec.stemmer))
    return builder.build()


def token_hash(token: str) -> int:
    """A stable 64-bit id of an analyzed token: the same in every process (unlike `hash`); two distinct
    tokens share one with probability ~1e-8 in a million-term vocabulary."""
    return int.from_bytes(
        hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little", signed=True
    )


def token_hashes(tokens: Iterable[str]) -> NDArray[np.int64]:
    return np.fromiter((token_hash(t) for t in tokens), dtype=np.int64)


WORD_RE = re.compile(r"\w+")


@functools.lru_cache(maxsize=8)
def cached_analyzer(spec: AnalyzerSpec) -> tantivy.TextAnalyzer:
    return build_analyzer(spec)


WORD_CACHE_SIZE = 100_000
"""analyzed words kept per analyzer (~150 bytes each: ~15 MB when full; SciFact, NFCorpus and Cranfield
together have 54,740 distinct words); the cache starts over when full"""


@functools.lru_cache(maxsize=8)
def word_cache(spec: AnalyzerSpec) -> dict[str, str | None]:
    """word -> its term (None: dropped) under one analyzer. Analyzing a word is a call into tantivy per word;
    snippets and highlights analyze every word of the 10 shown passages on each search, from a vocabulary
    that repeats, so a lookup replaces most calls (same terms: each word is analyzed on its own either way)."""
    return {}


def word_terms(text: str, spec: AnalyzerSpec | None = None) -> list[tuple[int, int, str]]:
    """Each word of `text` that the analyzer keeps, as (start, end, term): the term is what BM25 matches on
    (lowercased, stemmed, stop words dropped by the default spec), the offsets point into `text`. For
    snippets and extractive answers, which need both the terms and where they are."""
    spec = spec or AnalyzerSpec()
    cache, analyzer = word_cache(spec), cached_analyzer(spec)
    out = []
    for m in WORD_RE.finditer(text):
        word = m.group()
        try:
            term = cache[word]
        except KeyError:
            tokens = analyzer.analyze(word)
            term = tokens[0] if tokens else None
            if len(cache) >= WORD_CACHE_SIZE:
                cache.clear()
            cache[word] = term
        if term is not None:
            out.append((m.start(), m.end(), term))
    return out


def terms(text: str, spec: AnalyzerSpec | None = None) -> set[str]:
    """The distinct analyzed terms of `text` (see `word_terms`)."""
    return {t for _, _, t in word_terms(text, spec)}
