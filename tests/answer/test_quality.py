"""Answer quality on judged queries (answer/quality.py): the figures by hand on real SciFact judgments, and
over real answers from the llama.cpp server (marked llm)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragsearch.answer.answering import (
    Answer,
    Answerer,
    AnswerMetrics,
    AnswerSettings,
    RankedHits,
    SourcePassage,
)
from ragsearch.answer.llm import OpenAIChatClient
from ragsearch.answer.quality import answer_split, score_answers
from ragsearch.eval.data import load_split
from ragsearch.search.config import SearchConfig
from ragsearch.search.engine import SearchEngine


def source(n: int, doc_id: str) -> SourcePassage:
    return SourcePassage(n, f"{doc_id}#0", doc_id, "t", "s", 1.0)


def test_figures_by_hand_on_real_judgments(scifact_slice: Path) -> None:
    split = load_split(scifact_slice, "test")
    (q1, rel1), (q2, rel2), (q3, _) = list(split.qrels.items())[:3]
    relevant1 = next(d for d, g in rel1.items() if g > 0)
    relevant2 = next(d for d, g in rel2.items() if g > 0)
    unjudged = "no-such-doc"
    answers = {
        # two citations, one relevant
        q1: Answer("a", "x [1][2]", "generated", cited=[source(1, relevant1), source(2, unjudged)],
                   invalid_citations=[7], metrics=AnswerMetrics(ttft_ms=100.0, tokens_per_s=20.0, model="m")),
        # cites the relevant document of ANOTHER query: not relevant here
        q2: Answer("b", "y [1]", "generated", cited=[source(1, relevant1 if relevant1 not in rel2 else unjudged)],
                   metrics=AnswerMetrics(ttft_ms=300.0, tokens_per_s=None, model="m")),
        # generated without citing anything
        q3: Answer("c", "z", "generated", uncited=[source(1, relevant2)]),
        "nf": Answer("d", "", "not_found"),
        "fb": Answer("e", "extract", "extractive"),
    }  # fmt: skip
    q = score_answers(answers, split)
    assert (q.answers, q.generated, q.not_found, q.fallback, q.invalid_citations) == (5, 3, 1, 1, 1)
    assert q.citation_coverage == pytest.approx(2 / 3)
    assert q.citation_precision == pytest.approx(1 / 3)
    assert q.answers_with_relevant_citation == pytest.approx(1 / 3)
    assert (q.mean_ttft_ms, q.mean_tokens_per_s, q.model) == (200.0, 20.0, "m")


def test_nothing_generated_gives_zeros_not_errors(scifact_slice: Path) -> None:
    q = score_answers({"x": Answer("q", "", "not_found")}, load_split(scifact_slice, "test"))
    assert (q.generated, q.citation_coverage, q.citation_precision, q.mean_ttft_ms, q.model) == (
        0,
        0.0,
        0.0,
        None,
        None,
    )


@pytest.mark.llm
@pytest.mark.slow
def test_real_answers_over_real_retrieval(
    llm_url: str, scifact_index, real_embedder, scifact_slice: Path
) -> None:  # type: ignore[no-untyped-def]
    engine = SearchEngine(scifact_index, real_embedder)

    def search(q: str) -> RankedHits:
        r = engine.search(q, SearchConfig(k=3))
        return RankedHits(r.hits, r.timings_ms["total_ms"], mode=r.mode)

    llm = OpenAIChatClient(  # generous deadlines: 43 s to a first token seen on a loaded 2-core machine
        "smollm2", base_url=llm_url, max_tokens=24, first_token_timeout_s=180.0, timeout_s=300.0
    )
    answerer = Answerer(search, scifact_index.get, llm, AnswerSettings(top_passages=3))
    split = load_split(scifact_slice, "test")
    seen: list[int] = []
    answers = answer_split(answerer, split, limit=3, progress=seen.append)
    assert list(answers) == list(split.queries)[:3] and sum(seen) == 3
    q = score_answers(answers, split)
    assert q.answers == 3 == q.generated + q.not_found + q.fallback
    assert 0.0 <= q.citation_precision <= 1.0 and 0.0 <= q.citation_coverage <= 1.0
    if q.generated:
        assert q.model and q.mean_ttft_ms and q.mean_ttft_ms > 0
