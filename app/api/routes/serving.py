"""What an index serves, written: its serving history and a rollback (`ragsearch serve-config history`,
`rollback`). `GET /serving` (what is served now) is with the other operations in `health`.

A promotion on evidence (`ragsearch serve-config promote`) is not offered here: its gate evaluates the
candidate and the served configuration on a judgment list's held part, which takes minutes on a real list
and belongs to a job, not to a request."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ragsearch.app.api.deps import ReadAuth, RuntimeDep, WriteAuth
from ragsearch.app.api.schemas import ErrorResponse
from ragsearch.app.services import rollback_served
from ragsearch.search.serving import ServingStore

router = APIRouter(tags=["operations"])

IndexQuery = Annotated[str | None, Query(max_length=64, description="index name (default: the server's)")]


@router.get("/serving/history", dependencies=[ReadAuth],
            summary="Every promotion and rollback of an index, oldest first")  # fmt: skip
def serving_history(runtime: RuntimeDep, index: IndexQuery = None) -> list[dict[str, Any]]:
    """Each entry: `number`, `name`, `at`, `config` and `evidence` (`action` promote or rollback; for a
    rollback the entry it `undid`); `[]` for an index never promoted."""
    name = runtime.index(index).name  # an unknown index is a 404, as for /search
    return ServingStore(runtime.settings.home).log(name)


@router.post("/serving/rollback", dependencies=[WriteAuth],
             responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse},
                        404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
             summary="Serve what the index served before its last promotion")  # fmt: skip
def serving_rollback(runtime: RuntimeDep, index: IndexQuery = None) -> dict[str, Any]:
    """Undo the index's last promotion (the default configuration after the first) and return what it
    serves now, as `GET /serving`; logged in the history. Nothing to undo is a 422."""
    name = runtime.index(index).name
    return rollback_served(runtime.settings, name).to_dict()
