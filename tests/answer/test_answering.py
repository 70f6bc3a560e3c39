"""Cited answers: fallbacks and bad input (no LLM server needed). Citation parsing: test_citations.py; prompt
packing: test_prompting.py."""

from __future__ import annotations

import pytest

from ragsearch.answer.answering import (
    Answerer,
    AnswerSettings,
    AnswerStart,
    RankedHits,
    best_sentence,
    plain_blocks,
)
from ragsearch.answer.llm import OpenAIChatClient
from ragsearch.retrieval.errors import InvalidInputError
from ragsearch.retrieval.searcher import Retriever
from ragsearch.search.config import SearchConfig
from ragsearch.search.engine import SearchEngine
from tests.net import free_port


@pytest.fixture()
def retriever(scifact_index, real_embedder) -> Retriever:  # type: ignore[no-untyped-def]
    return Retriever(scifact_index, real_embedder)


def answerer(retriever: Retriever, llm=None, **kw) -> Answerer:  # type: ignore[no-untyped-def]
    def search(q: str) -> RankedHits:
        r = SearchEngine(retriever.index, retriever.embedder).search(q, SearchConfig(k=5))
        return RankedHits(r.hits, r.timings_ms["total_ms"], mode=r.mode)

    return Answerer(search, retriever.index.get, llm, AnswerSettings(**kw))


@pytest.mark.slow
def test_no_llm_gives_extractive_answer_with_sources(retriever: Retriever) -> None:
    a = answerer(retriever).answer("Vitamin D deficiency is associated with bone disease")
    assert a.status == "extractive" and "no LLM is configured" in (a.generation_error or "")
    assert a.text.startswith("Extractive answer") and "[1]" in a.text
    assert a.cited and all(c.snippet for c in a.cited)


@pytest.mark.slow
def test_unreachable_llm_falls_back(retriever: Retriever) -> None:
    llm = OpenAIChatClient("x", base_url=f"http://127.0.0.1:{free_port()}/v1", max_retries=0, timeout_s=2)
    events = list(answerer(retriever, llm).stream("Vitamin D deficiency is associated with bone disease"))
    assert isinstance(events[0], AnswerStart) and events[0].sources
    final = events[-1]
    assert final.status == "extractive" and "cannot connect" in (final.generation_error or "")


@pytest.mark.slow
def test_irrelevant_question_is_not_found(retriever: Retriever) -> None:
    a = answerer(retriever, min_dense_score=0.35).answer("Which football club won the 1998 cup final?")
    assert a.status == "not_found" and a.text == "Not found in the documents." and a.cited == []


@pytest.mark.slow
def test_bad_questions(retriever: Retriever) -> None:
    ans = answerer(retriever)
    with pytest.raises(InvalidInputError, match="empty"):
        ans.answer("   ")
    with pytest.raises(InvalidInputError, match="limit is 2000"):
        ans.answer("vitamin " * 12_800)  # ~100 kB
    other_script = ans.answer("维生素D缺乏与骨病有关吗？")
    assert other_script.status in ("not_found", "extractive")


def test_extractive_sentence_is_chosen_by_analyzed_terms_not_raw_words() -> None:
    # raw word overlap saw one shared word in each ("does", "aldh1") and kept the first sentence; stems
    # match "expressed"/"expression", "predicted"/"predict", "outcome"/"outcomes"
    text = "Does the board say what it does? ALDH1 expressed highly predicted poor outcome."
    assert best_sentence("Does ALDH1 expression predict outcomes?", text) == (
        "ALDH1 expressed highly predicted poor outcome."
    )


def test_extractive_answer_strips_markdown_and_never_quotes_a_heading() -> None:
    text = "## Install\n\nRun `pip install ragsearch` to **install** it.\n\n```\nmake setup\n```\n"
    sentence = best_sentence("how to install", text)
    assert sentence == "Run pip install ragsearch to install it."
    assert plain_blocks("# Title only") == []
