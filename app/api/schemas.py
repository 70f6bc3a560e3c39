"""Request and response bodies of the JSON API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer

from ragsearch.rerank.explain import Explanation


class ErrorBody(BaseModel):
    type: str = Field(description="machine-readable error kind")
    message: str = Field(description="what went wrong and how to fix it")


class ErrorResponse(BaseModel):
    error: ErrorBody


class SearchHit(BaseModel):
    rank: int
    id: str
    doc_id: str
    title: str
    text: str = Field(description="plain text, never HTML: render it escaped")
    snippet: str = Field(
        "",
        description="the window of text (about 300 characters) that holds the most query terms; '…' marks cuts",
    )
    snippet_highlights: list[tuple[int, int]] = Field(
        default_factory=list,
        description="[start, end) character offsets of the snippet's words that match the query as BM25 does "
        "(the index's analyzer: stemmed, stop words never marked)",
    )
    title_highlights: list[tuple[int, int]] = Field(
        default_factory=list, description="the same, in the title"
    )
    metadata: dict[str, Any]
    score: float
    bm25_score: float | None = None
    bm25_rank: int | None = None
    dense_score: float | None = None
    dense_rank: int | None = None
    fused_score: float | None = None
    rerank_score: float | None = None
    explanation: Explanation | None = Field(
        None,
        description="with explain=true, for the top 10: the score as parts that sum to it (ltr: the fused-score "
        "prior, one part per feature family and the trees' base value, with every feature's TreeSHAP "
        "contribution; hybrid: each first-stage score normalised and weighted; bm25, dense: the score). "
        "Absent otherwise",
    )

    @model_serializer(mode="wrap")
    def _without_absent_explanation(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        if out.get("explanation", 0) is None:
            del out["explanation"]
        return out


class SearchResponse(BaseModel):
    query: str
    mode: str = Field(description="the mode that produced the hits (after a fallback, the one served)")
    index: str
    took_ms: float
    timings_ms: dict[str, float]
    hits: list[SearchHit]
    notices: list[str] = Field(
        default_factory=list, description="e.g. that ltr was served by hybrid, and why"
    )
    config: dict[str, Any] = Field(default_factory=dict, description="the search configuration served")
    config_name: str | None = Field(
        None,
        description="the configuration the request started from: the index's served one (its name) or the "
        "stored one it named; `mode`/`model` in the request change it, and `config` shows the result",
    )
    impression_id: str | None = Field(
        None,
        description="this result list's id in the impression log: clicks, dwell and votes on it go to POST "
        "/events with it and the result's rank (null when impressions are off or could not be logged)",
    )


class AnswerRequest(BaseModel):
    question: str = Field(min_length=1, description="the question, plain text")
    index: str | None = Field(None, description="index to answer from (default: the server's)")
    stream: bool = Field(False, description="answer as server-sent events: sources, token..., answer")
    config: str | None = Field(
        None, max_length=64, description="a configuration stored for the index (default: the one it serves)"
    )
    mode: str | None = Field(
        None,
        description="rank the sources with this mode (bm25, dense, hybrid, ltr) on top of the configuration",
    )
    model: str | None = Field(None, max_length=32, description="LTR model version for mode ltr")
    filter: list[str] = Field(
        default_factory=list,
        max_length=32,
        description="metadata equality filters, key:value, as /search takes",
    )


class SourceOut(BaseModel):
    n: int
    id: str
    doc_id: str
    title: str
    snippet: str
    score: float


class AnswerMetricsOut(BaseModel):
    retrieval_ms: float
    rerank_ms: float
    ttft_ms: float | None
    generation_ms: float | None
    tokens_per_s: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    usage_estimated: bool
    model: str | None


class AnswerResponse(BaseModel):
    question: str
    text: str
    status: Literal["generated", "not_found", "extractive"]
    cited: list[SourceOut]
    uncited: list[SourceOut]
    invalid_citations: list[int]
    generation_error: str | None
    metrics: AnswerMetricsOut
    mode: str | None = Field(
        None, description="the ranking the sources come from: source [n] is its result n"
    )
    notices: list[str] = Field(default_factory=list)


class PassageIn(BaseModel):
    id: str = Field(min_length=1, max_length=512)
    title: str = Field("", max_length=10_000)
    text: str = Field(min_length=1, max_length=1_000_000)
    doc_id: str | None = Field(None, max_length=512)
    metadata: dict[str, str | int | float | bool] = Field(default_factory=dict)


class DocumentsIn(BaseModel):
    passages: list[PassageIn] = Field(min_length=1, max_length=10_000)
    index: str | None = None


class IngestOut(BaseModel):
    index: str
    added: int
    updated: int
    unchanged: int
    failed: list[str]


class PassageOut(BaseModel):
    id: str
    doc_id: str
    title: str
    text: str
    metadata: dict[str, Any]


class ViewedPassage(PassageOut):
    title_highlights: list[tuple[int, int]] = Field(
        default_factory=list,
        description="[start, end) character offsets of the title's words that match `q` as BM25 does (the index's "
        "analyzer, as /search's `title_highlights`); empty without `q`",
    )
    text_highlights: list[tuple[int, int]] = Field(
        default_factory=list, description="the same, over the whole text"
    )


class PassageView(BaseModel):
    """A passage in its document, for reading it: the passage, and the passages around it."""

    index: str
    passage: ViewedPassage
    position: int | None = Field(
        description="its place among the document's passages in reading order, from 0 (null when the document "
        "has more passages than are read and it is past them)"
    )
    document_passages: int = Field(
        description="how many passages of the document were read (all, up to 10,000)"
    )
    before: list[ViewedPassage] = Field(
        description="up to `context` passages just before it, in reading order"
    )
    after: list[ViewedPassage] = Field(description="up to `context` passages just after it, in reading order")


class DeletedOut(BaseModel):
    id: str
    deleted: int


class FeedbackIn(BaseModel):
    query: str = Field(min_length=1, max_length=10_000)
    passage_id: str = Field(min_length=1, max_length=512)
    rank: int | None = Field(None, ge=1, le=10_000)
    kind: Literal["up", "down", "click"]
    target: Literal["result", "answer"] = "result"
    index: str | None = None
    session_id: str | None = Field(
        None, min_length=1, max_length=64,
        description="the client's anonymous session id: of one session's votes on a (query, passage), the latest counts",
    )  # fmt: skip


class EventIn(BaseModel):
    """A user's action on one shown result (UBI event fields)."""

    impression_id: str = Field(min_length=1, max_length=64, description="the impression_id a search returned")
    action_name: Literal["click", "dwell", "up", "down"]
    position: int = Field(ge=1, le=10_000, description="the result's rank as shown")
    object_id: str | None = Field(None, min_length=1, max_length=512, description="the passage id, if known")
    dwell_time: float | None = Field(None, ge=0, le=86_400, description="seconds spent (action dwell)")
    session_id: str | None = Field(None, max_length=128)


class EventOut(BaseModel):
    id: int


class FeedbackOut(BaseModel):
    id: int


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    backend: str
    indexes: dict[str, int | None]
    default_index: str
    embedding_model: str
    llm: dict[str, Any]
    promoted_model: str | None = None
    serving: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="per index: the configuration it serves (name, label, config), since when and why (evidence)",
    )
    problems: list[str] = Field(default_factory=list)
