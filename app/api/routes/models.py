from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ragsearch.app.api.deps import ReadAuth, RuntimeDep, WriteAuth
from ragsearch.app.api.schemas import ErrorResponse

router = APIRouter(tags=["models"])


def summary(runtime: RuntimeDep, version: str) -> dict[str, Any]:
    m = runtime.registry.manifest(version)
    return {
        "version": m.version,
        "created_at": m.created_at,
        "dataset": m.dataset,
        "train_split": m.train_split,
        "dev": m.dev,
        "index": m.index,
        "embedding_model": m.embedding_model,
        "best_iteration": m.best_iteration,
        "promoted": runtime.registry.promoted == m.version,
        "metrics": m.metrics,
    }


@router.get("/models", dependencies=[ReadAuth], summary="The learning-to-rank model registry")
def list_models(runtime: RuntimeDep) -> list[dict[str, Any]]:
    return [summary(runtime, v) for v in runtime.registry.versions()]


@router.post("/models/{version}/promote", dependencies=[WriteAuth],
             responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
             summary="Serve this model version from now on")  # fmt: skip
def promote(version: str, runtime: RuntimeDep) -> dict[str, Any]:
    runtime.registry.promote(version)
    runtime.forget_rerankers()
    return summary(runtime, version)
