"""The index seam: one Protocol that every backend (embedded, Elasticsearch) implements.

The contract tests in `tests/retrieval/contract.py` are written against this Protocol once and run
against every implementation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from retrieval.types import EmbeddedPassage, FieldBoosts, FieldScores, IndexSpec, Passage, ScoredId, Vector

Filters = Mapping[str, str | int | float | bool]
"""Equality filters on top-level metadata keys; all must hold."""


@runtime_checkable
class SearchIndex(Protocol):
    """A named collection of passages searchable by BM25 (title, text) and by vector (cosine)."""

    @property
    def name(self) -> str: ...

    @property
    def spec(self) -> IndexSpec: ...

    def upsert(self, passages: Sequence[EmbeddedPassage]) -> None:
        """Add passages, replacing any stored passage with the same id."""
        ...

    def delete(self, ids: Sequence[str]) -> int:
        """Delete passages by id; returns how many existed."""
        ...

    def delete_documents(self, doc_ids: Sequence[str]) -> int:
        """Delete every passage of the given documents; returns how many passages existed."""
        ...

    def count(self) -> int: ...

    def content_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        """Stored content hash per id, for ids that exist (lets ingest skip unchanged passages)."""
        ...

    def get(self, ids: Sequence[str]) -> list[Passage]:
        """Stored passages in the order asked; unknown ids are left out."""
        ...

    def bm25_search(
        self, query: str, k: int, boosts: FieldBoosts | None = None, filters: Filters | None = None
    ) -> list[ScoredId]:
        """BM25 top-k over title and text, combined like Elasticsearch multi_match best_fields."""
        ...

    def vector_search(self, vector: Vector, k: int, filters: Filters | None = None) -> list[ScoredId]:
        """Exact or approximate cosine top-k."""
        ...

    def field_scores(
        self, query: str, ids: Sequence[str], boosts: FieldBoosts | None = None
    ) -> dict[str, FieldScores]:
        """Per-candidate BM25 scores for title, text and best_fields, for feature logging."""
        ...

    def vectors(self, ids: Sequence[str]) -> dict[str, Vector]:
        """Stored (unit-length) vectors of the given ids."""
        ...

    def close(self) -> None: ...


class IndexBackend(Protocol):
    """Creates, opens, lists and drops named indexes of one storage engine."""

    def create(self, name: str, spec: IndexSpec) -> SearchIndex: ...

    def open(self, name: str) -> SearchIndex: ...

    def exists(self, name: str) -> bool: ...

    def list(self) -> list[str]: ...

    def drop(self, name: str) -> None: ...

    def describe(self, name: str) -> dict[str, Any]: ...
