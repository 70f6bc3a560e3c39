from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from ragsearch.answer.answering import Answer, AnswerStart
from ragsearch.answer.protocol import TextDelta
from ragsearch.app.api.deps import ReadAuth, RuntimeDep
from ragsearch.app.api.errors import public_message
from ragsearch.app.api.metrics import Metrics
from ragsearch.app.api.schemas import AnswerRequest, AnswerResponse, ErrorResponse
from ragsearch.app.services import request_config
from ragsearch.retrieval.errors import RagsearchError
from ragsearch.retrieval.index import parse_filters

router = APIRouter(tags=["answer"])


def observe(metrics: Metrics, answer: Answer) -> None:
    metrics.answers.labels(answer.status).inc()
    if answer.metrics.ttft_ms is not None:
        metrics.ttft.observe(answer.metrics.ttft_ms / 1e3)
    if answer.metrics.tokens_per_s:
        metrics.tokens_per_s.observe(answer.metrics.tokens_per_s)


def sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post(
    "/answer",
    response_model=AnswerResponse,
    dependencies=[ReadAuth],
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "JSON, or server-sent events when stream=true",
        },
        400: {"model": ErrorResponse},
        404: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
    },
    summary="Answer a question with citations",
)
def answer(body: AnswerRequest, request: Request, runtime: RuntimeDep) -> AnswerResponse | StreamingResponse:
    """Retrieves passages, asks the configured LLM for an answer citing them as [n], checks the citations.

    With `stream=true` the response is `text/event-stream` with events `sources` (the numbered passages),
    `token` (text deltas), then `answer` (the final object, as the JSON response) or `error`.
    """
    metrics: Metrics = request.app.state.metrics
    config = None
    if body.config is not None or body.mode is not None or body.model is not None:
        config = request_config(runtime.config(body.index, body.config)[1], body.mode, body.model)
    answerer = runtime.answerer(body.index, config, parse_filters(body.filter) or None)
    if not body.stream:
        final = answerer.answer(body.question)
        observe(metrics, final)
        return AnswerResponse.model_validate(final.to_dict())
    events = answerer.stream(body.question)
    first = next(events)  # validation and retrieval errors surface here, as ordinary error responses

    def gen() -> Iterator[str]:
        try:
            for event in _chain(first, events):
                if isinstance(event, AnswerStart):
                    yield sse("sources", [asdict(s) for s in event.sources])
                elif isinstance(event, TextDelta):
                    yield sse("token", {"text": event.text})
                elif isinstance(event, Answer):
                    observe(metrics, event)
                    yield sse("answer", event.to_dict())
        except RagsearchError as exc:
            message = public_message(str(exc), runtime.settings.home)
            yield sse("error", {"type": type(exc).__name__, "message": message})

    return StreamingResponse(gen(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _chain(first: object, rest: Iterator[object]) -> Iterator[object]:
    yield first
    yield from rest
