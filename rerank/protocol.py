"""The rerank seam: reorders first-stage candidates for a query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from retrieval.types import Candidate, Vector


@runtime_checkable
class Reranker(Protocol):
    """Scores candidates and returns them best first, each with `rerank_score` and `score` set."""

    @property
    def name(self) -> str: ...

    def rerank(
        self, query: str, candidates: Sequence[Candidate], query_vector: Vector
    ) -> list[Candidate]: ...
