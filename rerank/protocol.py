"""The rerank seam: reorders first-stage candidates for a query."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ragsearch.retrieval.types import Candidate, Vector


@dataclass(frozen=True, slots=True)
class TrainingData:
    """What a learned reranker was fitted on, so evaluation can refuse to measure it on the same judgments."""

    dataset: str
    splits: frozenset[str]
    queries: frozenset[str] | None = None
    """Ids of the queries it was trained or early-stopped on; None for a legacy model that did not record
    them (then only `splits` can be checked)."""
    parts: tuple[TrainingData, ...] = ()
    """A many-collection model: what it learned from each collection (`dataset` then names them all)."""

    def about(self, datasets: Collection[str]) -> TrainingData | None:
        """What it learned from judgments of any of `datasets` (None: nothing)."""
        if self.dataset in datasets:
            return self
        return next((p for p in self.parts if p.dataset in datasets), None)


@runtime_checkable
class Reranker(Protocol):
    """Scores candidates and returns them best first, each with `rerank_score` and `score` set.

    The same candidates come back (first-stage fields untouched), ties broken by id, in an order that does
    not depend on the order they arrived in; no candidates give an empty list. The contract:
    tests/rerank/reranker_contract.py."""

    @property
    def name(self) -> str: ...

    def rerank(
        self, query: str, candidates: Sequence[Candidate], query_vector: Vector
    ) -> list[Candidate]: ...

    def training_data(self) -> TrainingData | None:
        """The judgments the reranker learned from (None for one that learned nothing)."""
        ...
