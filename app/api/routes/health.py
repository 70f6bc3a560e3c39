from __future__ import annotations

import shutil
import sqlite3
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ragsearch.app.api.deps import ReadAuth, RuntimeDep
from ragsearch.app.api.errors import public_message
from ragsearch.app.api.schemas import HealthOut
from ragsearch.app.drift import compare_windows
from ragsearch.app.runtime import Runtime
from ragsearch.retrieval.errors import IndexLockedError, RagsearchError
from ragsearch.retrieval.index import CheckableIndex
from ragsearch.search.config import MODES

router = APIRouter(tags=["operations"])

MIN_FREE_BYTES = 64 * 1024 * 1024
"""Less free space than this under the home folder makes health `degraded` (writes will soon fail)."""


def index_problems(runtime: Runtime, name: str) -> tuple[int | None, list[str]]:
    """The index's passage count and what its check finds wrong (the parts compared with the store)."""
    try:
        index = runtime.index(name)
        count = index.count()
        if isinstance(index, CheckableIndex):
            try:
                report = index.check(wait_s=0)  # a probe never waits for a writer
            except IndexLockedError:
                return count, []  # a writer holds it: busy, not broken
            return count, [f"index {name}: {p}" for p in report.problems]
        return count, []
    except (RagsearchError, OSError, sqlite3.Error) as exc:
        runtime.forget(name)
        return None, [f"index {name}: {exc}"]


def storage_problems(runtime: Runtime) -> list[str]:
    problems = []
    try:
        free = shutil.disk_usage(runtime.settings.home if runtime.settings.home.exists() else ".").free
        if free < MIN_FREE_BYTES:
            problems.append(f"disk: {free // (1024 * 1024)} MB free under the home folder; writes will fail")
    except OSError as exc:
        problems.append(f"disk: cannot read free space ({exc.strerror})")
    for what, store in (("query log", runtime.querylog), ("feedback", runtime.feedback)):
        if store.failures:
            problems.append(f"{what}: {store.failures} operation(s) failed since start ({store.last_error})")
    return problems


def model_problems(runtime: Runtime) -> tuple[str | None, list[str]]:
    """The promoted LTR version, and why it cannot be served (checked without loading it)."""
    promoted: str | None = None
    try:
        promoted = runtime.registry.promoted
        version = runtime.settings.rerank.model or promoted
        if version is not None:
            runtime.registry.verify(version)
        return promoted, []
    except RagsearchError as exc:
        return promoted, [f"ltr model: {exc}; ltr requests are served by hybrid"]


@router.get("/health", response_model=HealthOut, dependencies=[ReadAuth],
            summary="Backend, indexes, models, storage and LLM reachability")  # fmt: skip
def health(runtime: RuntimeDep) -> HealthOut:
    """`degraded` with the reasons in `problems` when an index disagrees with its store, the disk is (nearly)
    full, log writes fail, the LTR model or registry is damaged or the LLM is unreachable."""
    problems: list[str] = []
    counts: dict[str, int | None] = {}
    try:
        names = runtime.backend.list()
    except (RagsearchError, OSError) as exc:
        names = []
        problems.append(f"backend: {exc}")
    serving: dict[str, dict[str, Any]] = {}
    for name in names:
        counts[name], found = index_problems(runtime, name)
        problems += found
        try:
            serving[name] = runtime.served(name).to_dict()
        except RagsearchError as exc:
            problems.append(f"serving {name}: {exc}")
    promoted, found = model_problems(runtime)
    problems += found + storage_problems(runtime)
    llm: dict[str, object] = {"configured": runtime.llm is not None}
    if runtime.llm is not None:
        llm.update(model=runtime.llm.model, reachable=runtime.llm.ping())
        if not llm["reachable"]:
            problems.append("llm: not reachable")
    home = runtime.settings.home
    return HealthOut(
        status="degraded" if problems else "ok",
        backend=runtime.settings.backend,
        indexes=counts,
        default_index=runtime.settings.index,
        embedding_model=runtime.settings.embedding.model,
        llm=llm,
        promoted_model=promoted,
        serving=serving,
        problems=[public_message(p, home) for p in problems],
    )


@router.get("/serving", dependencies=[ReadAuth], summary="What an index serves, and why")
def serving(
    runtime: RuntimeDep,
    index: Annotated[
        str | None, Query(max_length=64, description="index name (default: the server's)")
    ] = None,
) -> dict[str, Any]:
    """The index's served configuration (name, label, every field), since when, and the evidence that chose
    it (judgment list, measure, dev and held figures, p-value); a fresh index serves the default hybrid."""
    runtime.index(index)  # an unknown index is a 404, as for /search
    return runtime.served(index).to_dict()


@router.get("/online", dependencies=[ReadAuth], summary="The index's latest online experiment")
def online(
    runtime: RuntimeDep,
    index: Annotated[
        str | None, Query(max_length=64, description="index name (default: the server's)")
    ] = None,
) -> dict[str, Any]:
    """Candidate and served configuration, traffic, interleaved impressions and sessions, wins, losses and
    ties, the sequential test (log likelihood ratio and boundary) and the decision; `experiment` null when
    the index never ran one."""
    name = runtime.index(index).name
    return {"experiment": runtime.online_status(name)}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/drift", dependencies=[ReadAuth], summary="Drift of recent queries against the window before them"
)
def drift(
    runtime: RuntimeDep,
    recent: Annotated[int, Query(ge=10, le=100_000, description="queries in the recent window")] = 500,
    reference: Annotated[int, Query(ge=10, le=100_000, description="queries in the reference window")] = 500,
    index: Annotated[
        str | None,
        Query(max_length=64, description="index whose queries are compared (default: the server's)"),
    ] = None,
    mode: Annotated[
        str | None, Query(max_length=16, description=f"only queries served in this mode ({', '.join(MODES)})")
    ] = None,
) -> dict[str, object]:
    log = runtime.querylog
    name = index or runtime.settings.index
    report = compare_windows(
        log.latest(reference, skip=recent, index=name, mode=mode),
        log.latest(recent, index=name, mode=mode),
        runtime.settings.answer.min_dense_score,
    )
    return report.to_dict()
