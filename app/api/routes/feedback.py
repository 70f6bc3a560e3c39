from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from ragsearch.app.api.deps import ReadAuth, RuntimeDep
from ragsearch.app.api.schemas import ErrorResponse, EventIn, EventOut, FeedbackIn, FeedbackOut
from ragsearch.retrieval.errors import BackendUnavailableError, InvalidInputError

router = APIRouter(tags=["feedback"])


@router.post("/feedback", response_model=FeedbackOut, dependencies=[ReadAuth],
             responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
             summary="Record a vote or click on a result or answer")  # fmt: skip
def feedback(body: FeedbackIn, request: Request, runtime: RuntimeDep) -> FeedbackOut:
    """Stored durably; `ragsearch feedback export` turns it into judgments for `ragsearch train`."""
    found = runtime.index(body.index).get([body.passage_id])
    if not found:
        raise HTTPException(404, f"no passage {body.passage_id!r} to give feedback on")
    try:
        row = runtime.feedback.add(
            body.query, body.passage_id, found[0].doc_id, body.kind, body.rank, body.target, body.session_id
        )
    except BackendUnavailableError:
        request.app.state.metrics.log_write_failures.labels("feedback").inc()
        raise
    return FeedbackOut(id=row)


@router.post("/events", response_model=EventOut, dependencies=[ReadAuth],
             responses={422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
             summary="Record a click, dwell or vote on a result of an impression")  # fmt: skip
def event(body: EventIn, request: Request, runtime: RuntimeDep) -> EventOut:
    """Refers to the `impression_id` a search returned and the result's position: an unknown impression, a
    position that was not shown or another passage than was shown there is refused (422), nothing stored."""
    if runtime.impressions is None:
        raise InvalidInputError("impressions are off on this server (RAGSEARCH_IMPRESSIONS_ENABLED=false)")
    try:
        row = runtime.impressions.add_event(body.impression_id, body.action_name, body.position, body.object_id,
                                            body.dwell_time, body.session_id)  # fmt: skip
    except BackendUnavailableError:
        request.app.state.metrics.log_write_failures.labels("impressions").inc()
        raise
    return EventOut(id=row)
