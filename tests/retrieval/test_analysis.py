"""The BM25 analyzer (retrieval/analysis.py): tokenize, drop long tokens, lowercase, English stopwords, stem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ragsearch.retrieval.analysis import STEMMERS, analyzer_name, build_analyzer, token_hash, token_hashes
from ragsearch.retrieval.types import AnalyzerSpec


def test_default_analyzer_lowercases_drops_stopwords_and_stems() -> None:
    a = build_analyzer(AnalyzerSpec())
    assert a.analyze("The Running dogs and the 5'-nucleotidase of VITAMIN D") == [
        "run", "dog", "5", "nucleotidas", "vitamin", "d",
    ]  # fmt: skip


def test_plain_analyzer_keeps_every_word_and_long_tokens_are_dropped() -> None:
    plain = build_analyzer(AnalyzerSpec(stopwords=False, stemmer=None, max_token_length=10))
    assert plain.analyze("The Running dogs " + "x" * 11) == ["the", "running", "dogs"]


@pytest.mark.parametrize("stemmer", ["french", "german"])
def test_other_languages_stem(stemmer: str) -> None:
    assert stemmer in STEMMERS
    a = build_analyzer(AnalyzerSpec(stopwords=False, stemmer=stemmer))
    word = {"french": "nationales", "german": "häuser"}[stemmer]
    assert a.analyze(word) != [word]


def test_analyzer_names_differ_with_every_setting() -> None:
    specs = [
        AnalyzerSpec(),
        AnalyzerSpec(stopwords=False),
        AnalyzerSpec(stemmer=None),
        AnalyzerSpec(max_token_length=40),
    ]
    assert len({analyzer_name(s) for s in specs}) == len(specs)


def test_token_hashes_are_stable_across_processes() -> None:
    here = token_hashes(["vitamin", "d", "vitamin"]).tolist()
    assert here[0] == here[2] != here[1] and here[0] == token_hash("vitamin")
    code = "from ragsearch.retrieval.analysis import token_hash; print(token_hash('vitamin'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(other.stdout) == here[0]  # unlike hash(), no per-process salt


def test_word_terms_from_the_word_cache_equal_the_analyzer_per_word(
    monkeypatch: pytest.MonkeyPatch, shared_data: Path
) -> None:
    """The per-analyzer word cache returns what tantivy returns for each word, on first use, on reuse and
    after the cache starts over; two analyzers never share entries."""
    import json
    import re

    from ragsearch.retrieval import analysis

    with (shared_data / "scifact" / "corpus.jsonl").open() as f:
        texts = [json.loads(next(f))["text"] for _ in range(30)]
    texts.append("Running runners ran; THE vitamins_D foo_bar 42 naïve")

    def direct(text: str, spec: AnalyzerSpec) -> list[tuple[int, int, str]]:
        a = build_analyzer(spec)
        out = []
        for m in re.finditer(r"\w+", text):
            tokens = a.analyze(m.group())
            if tokens:
                out.append((m.start(), m.end(), tokens[0]))
        return out

    monkeypatch.setattr(analysis, "WORD_CACHE_SIZE", 50)  # starts over many times on these texts
    plain = AnalyzerSpec(stopwords=False, stemmer=None)
    for spec in (AnalyzerSpec(), plain):
        for _ in range(2):
            for text in texts:
                assert analysis.word_terms(text, spec) == direct(text, spec)
            assert len(analysis.word_cache(spec)) <= 50
    assert analysis.word_terms("the runners", AnalyzerSpec()) == [(4, 11, "runner")]
    assert analysis.word_terms("the runners", plain) == [(0, 3, "the"), (4, 11, "runners")]
