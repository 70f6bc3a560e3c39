from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from ragsearch.app.api.deps import ReadAuth, RuntimeDep
from ragsearch.app.api.schemas import ErrorResponse, FeedbackIn, FeedbackOut
from ragsearch.retrieval.errors import BackendUnavailableError

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
            body.query, body.passage_id, found[0].doc_id, body.kind, body.rank, body.target
        )
    except BackendUnavailableError:
        request.app.state.metrics.log_write_failures.labels("feedback").inc()
        raise
    return FeedbackOut(id=row)
