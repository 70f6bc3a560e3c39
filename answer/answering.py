"""Cited answers: retrieve (and rerank), pack passages, stream the LLM, check citations, measure.

No LLM configured, or the LLM unreachable: the search results still come back and the answer says
generation is unavailable, with an extractive fallback (the best sentences of the top passages).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from markdown_it import MarkdownIt

from ragsearch.answer.citations import parse_citations
from ragsearch.answer.prompting import pack_prompt
from ragsearch.answer.protocol import LLMClient, LLMUnavailableError, TextDelta, Usage
from ragsearch.retrieval.analysis import terms
from ragsearch.retrieval.errors import InvalidInputError
from ragsearch.retrieval.types import Candidate, Passage

NOT_FOUND = "Not found in the documents."
Status = Literal["generated", "not_found", "extractive"]


@dataclass(frozen=True, slots=True)
class RankedHits:
    """The ranking an answer is built from: source [n] is hit n."""

    hits: list[Candidate]
    retrieval_ms: float
    rerank_ms: float = 0.0
    mode: str | None = None
    """The mode that produced the hits (after any fallback)."""
    notices: list[str] = field(default_factory=list)


SearchFn = Callable[[str], RankedHits]
FetchFn = Callable[[list[str]], list[Passage]]


@dataclass(frozen=True, slots=True)
class SourcePassage:
    n: int
    id: str
    doc_id: str
    title: str
    snippet: str
    score: float


@dataclass(slots=True)
class AnswerMetrics:
    retrieval_ms: float = 0.0
    rerank_ms: float = 0.0
    ttft_ms: float | None = None
    generation_ms: float | None = None
    tokens_per_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    usage_estimated: bool = False
    model: str | None = None


@dataclass(slots=True)
class Answer:
    question: str
    text: str
    status: Status
    cited: list[SourcePassage] = field(default_factory=list)
    uncited: list[SourcePassage] = field(default_factory=list)
    invalid_citations: list[int] = field(default_factory=list)
    generation_error: str | None = None
    metrics: AnswerMetrics = field(default_factory=AnswerMetrics)
    mode: str | None = None
    """The ranking the sources come from; [n] is its result n."""
    notices: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class AnswerSettings:
    top_passages: int = 5
    context_tokens: int = 1500
    max_question_chars: int = 2000
    min_rerank_score: float | None = None
    """Answer only when the best reranker score reaches this (when the ranking has reranker scores)."""
    min_dense_score: float = 0.3
    """Otherwise, answer only when the best dense cosine among the top passages reaches this."""
    snippet_chars: int = 240


def snippet(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + " …"


SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
MARKDOWN = MarkdownIt("commonmark")


def plain_blocks(text: str) -> list[str]:
    """The paragraphs, list items and table cells of a passage as plain text: Markdown headings and code
    blocks dropped, emphasis, link and code marks removed (plain text passes through as its paragraphs)."""
    blocks: list[str] = []
    in_heading = False
    for tok in MARKDOWN.parse(text):
        if tok.type in ("heading_open", "heading_close"):
            in_heading = tok.type == "heading_open"
        elif tok.type == "inline" and not in_heading:
            words = [c.content if c.type in ("text", "code_inline") else " " for c in tok.children or []
                     if c.type in ("text", "code_inline", "softbreak", "hardbreak")]  # fmt: skip
            if block := " ".join("".join(words).split()):
                blocks.append(block)
    return blocks


def best_sentence(question: str, text: str) -> str:
    """The sentence sharing most analyzed terms (stemmed, stop words dropped: as BM25 matches) with the
    question, Markdown stripped; the first one on ties."""
    wanted = terms(question)
    sentences = [s.strip() for b in plain_blocks(text) for s in SENTENCE_RE.split(b) if s.strip()]
    if not sentences:
        return " ".join(text.split())
    return max(sentences, key=lambda s: len(wanted & terms(s)))


def extractive_answer(question: str, sources: list[SourcePassage], passages: list[Passage]) -> str:
    lines = [f"{best_sentence(question, p.text)} [{s.n}]" for s, p in zip(sources, passages, strict=True)][:3]
    return "Extractive answer (generation unavailable): " + " ".join(lines)


def is_relevant(hits: list[Candidate], s: AnswerSettings) -> bool:
    if not hits:
        return False
    if s.min_rerank_score is not None and hits[0].rerank_score is not None:
        return hits[0].rerank_score >= s.min_rerank_score
    dense = [h.dense_score for h in hits if h.dense_score is not None]
    return bool(dense) and max(dense) >= s.min_dense_score


@dataclass(frozen=True, slots=True)
class AnswerStart:
    """First event of a stream: the passages the answer may cite, numbered."""

    sources: list[SourcePassage]


AnswerEvent = AnswerStart | TextDelta | Answer


class Answerer:
    def __init__(
        self, search: SearchFn, fetch: FetchFn, llm: LLMClient | None, settings: AnswerSettings | None = None
    ) -> None:
        self.search = search
        self.fetch = fetch
        self.llm = llm
        self.settings = settings or AnswerSettings()

    def answer(self, question: str) -> Answer:
        final = None
        for event in self.stream(question):
            if isinstance(event, Answer):
                final = event
        assert final is not None
        return final

    def stream(self, question: str) -> Iterator[AnswerEvent]:
        s = self.settings
        question = question.strip()
        if not question:
            raise InvalidInputError("the question is empty")
        if len(question) > s.max_question_chars:
            raise InvalidInputError(
                f"the question has {len(question)} characters; the limit is {s.max_question_chars}"
            )
        ranked = self.search(question)
        metrics = AnswerMetrics(retrieval_ms=ranked.retrieval_ms, rerank_ms=ranked.rerank_ms)
        top = ranked.hits[: s.top_passages]
        if not is_relevant(top, s):
            yield AnswerStart([])
            yield Answer(
                question,
                NOT_FOUND,
                "not_found",
                metrics=metrics,
                mode=ranked.mode,
                notices=list(ranked.notices),
            )
            return
        by_id = {p.id: p for p in self.fetch([h.id for h in top])}
        candidates = [by_id[h.id] for h in top if h.id in by_id]
        scores = {h.id: h.score for h in top}
        estimated_prompt = None
        if self.llm is None:
            packed_passages = candidates
            messages = None
        else:
            packed = pack_prompt(question, candidates, s.context_tokens)
            packed_passages, messages = packed.passages, packed.messages
            estimated_prompt = packed.estimated_tokens
        sources = [
            SourcePassage(n, p.id, p.doc_id, p.title, snippet(p.text, s.snippet_chars), scores[p.id])
            for n, p in enumerate(packed_passages, start=1)
        ]
        yield AnswerStart(sources)
        if self.llm is None or messages is None:
            text = extractive_answer(question, sources, packed_passages)
            yield Answer(question, text, "extractive", cited=sources[:3], uncited=sources[3:],
                         generation_error="no LLM is configured (set RAGSEARCH_LLM_BASE_URL or OPENAI_API_KEY)",
                         metrics=metrics, mode=ranked.mode, notices=list(ranked.notices))  # fmt: skip
            return
        parts: list[str] = []
        t0 = time.perf_counter()
        try:
            for event in self.llm.chat(messages, stream=True):
                if isinstance(event, TextDelta):
                    if metrics.ttft_ms is None:
                        metrics.ttft_ms = (time.perf_counter() - t0) * 1e3
                    parts.append(event.text)
                    yield event
                elif isinstance(event, Usage):
                    metrics.prompt_tokens = event.prompt_tokens
                    metrics.completion_tokens = event.completion_tokens
                    metrics.usage_estimated = event.estimated or event.prompt_tokens is None
                    if event.prompt_tokens is None:
                        metrics.prompt_tokens = estimated_prompt
                    metrics.model = event.model
        except LLMUnavailableError as exc:
            text = extractive_answer(question, sources, packed_passages)
            yield Answer(question, text, "extractive", cited=sources[:3], uncited=sources[3:],
                         generation_error=str(exc), metrics=metrics, mode=ranked.mode, notices=list(ranked.notices))  # fmt: skip
            return
        elapsed = time.perf_counter() - t0
        metrics.generation_ms = elapsed * 1e3
        if metrics.completion_tokens and metrics.ttft_ms is not None:
            decode_s = max(elapsed - metrics.ttft_ms / 1e3, 1e-6)
            metrics.tokens_per_s = max(metrics.completion_tokens - 1, 1) / decode_s
        parsed = parse_citations("".join(parts), len(sources))
        cited = [sources[n - 1] for n in parsed.valid]
        uncited = [src for src in sources if src.n not in parsed.valid]
        yield Answer(
            question,
            parsed.text.strip(),
            "generated",
            cited,
            uncited,
            parsed.invalid,
            metrics=metrics,
            mode=ranked.mode,
            notices=list(ranked.notices),
        )
