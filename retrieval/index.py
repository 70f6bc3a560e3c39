"""The index seam: one Protocol that every backend (embedded, Elasticsearch) implements.

The contract tests in `tests/retrieval/contract.py` are written against this Protocol once and run
against every implementation.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ragsearch.retrieval.errors import InvalidInputError
from ragsearch.retrieval.types import (
    EmbeddedPassage,
    FieldBoosts,
    FieldScores,
    IndexSpec,
    Passage,
    ScoredId,
    Vector,
)

if TYPE_CHECKING:
    from ragsearch.retrieval.embedding import Embedder

Filters = Mapping[str, str | int | float | bool]
"""Equality filters on top-level metadata keys; all must hold."""

DOCUMENT_LIMIT = 10_000
"""The most passages `SearchIndex.document` returns (the first ones in document order): Elasticsearch's
default `index.max_result_window`, so one request answers it on every backend."""
DIGITS = re.compile(r"([0-9]+)")


def document_order(passages: Sequence[Passage]) -> list[Passage]:
    """Passages of one document in reading order, the first `DOCUMENT_LIMIT` of them: by the `position`
    that ingest stores in each passage's metadata (`ingest.documents.build_passages`), then, for passages
    without one (records added through the API or a JSONL file), by a natural sort of the id, so `d#2`
    comes before `d#10`."""

    def key(p: Passage) -> tuple[int, int, list[tuple[int, int | str]]]:
        position = p.metadata.get("position")
        natural: list[tuple[int, int | str]] = [
            (0, int(part)) if DIGITS.fullmatch(part) else (1, part) for part in DIGITS.split(p.id) if part
        ]
        if isinstance(position, int) and not isinstance(position, bool):
            return (0, position, natural)
        return (1, 0, natural)

    return sorted(passages, key=key)[:DOCUMENT_LIMIT]


def check_metadata(passage_id: str, metadata: Mapping[str, Any]) -> None:
    """Refuse NaN and Infinity anywhere in a passage's metadata: they are not JSON, and one stored value
    breaks every filtered search of the index (SQLite's json_extract calls the row malformed)."""

    def walk(value: Any, key: str) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInputError(
                f"passage {passage_id!r}: metadata key {key!r} is {value}, which is not valid JSON "
                "(NaN and Infinity are refused); nothing was written"
            )
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, f"{key}.{k}")
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                walk(v, f"{key}[{i}]")

    for key, value in metadata.items():
        walk(value, str(key))


def check_filters(filters: Filters | None) -> None:
    """Refuse filter keys that cannot name a metadata key safely (empty, NUL or other control characters,
    double quotes) and values that are NaN or Infinity."""
    for key, value in (filters or {}).items():
        if (
            not isinstance(key, str)
            or not key
            or '"' in key
            or any(ord(c) < 32 or ord(c) == 127 for c in key)
        ):
            raise InvalidInputError(
                f"invalid filter key {key!r}: use a non-empty metadata key without control characters or '\"'"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInputError(
                f"invalid filter value for {key!r}: {value} (NaN and Infinity never match)"
            )


def parse_filters(items: list[str] | None) -> dict[str, str]:
    """`key:value` items (the API's `filter=` and the CLI's `--filter`) as checked equality filters: split
    at the first ':', all must hold, a repeated key keeps the last value."""
    filters: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition(":")
        if not sep or not key.strip() or not value:
            raise InvalidInputError(f"filter {item!r} is not of the form key:value (e.g. format:pdf)")
        filters[key.strip()] = value
    check_filters(filters)
    return filters


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

    def passage_refs(self) -> list[tuple[str, str]]:
        """(passage id, doc_id) of every stored passage, in no particular order (`sample_passages`)."""
        ...

    def document(self, doc_id: str) -> list[Passage]:
        """The passages of one document in `document_order` (at most `DOCUMENT_LIMIT`, the first ones);
        empty when no passage has that doc_id."""
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


def sample_passages(index: SearchIndex, k: int, seed: int) -> list[str]:
    """Ids of up to `k` passages spread over documents: `k` documents drawn uniformly at random (all of them
    when the index has fewer), then one passage of each drawn uniformly, both by `random.Random(seed)`. The
    draw depends only on the stored (id, doc_id) pairs and the seed, so every backend holding the same
    passages draws the same sample. Returned in draw order."""
    if k < 1:
        raise InvalidInputError(f"cannot sample {k} passages: ask for at least 1")
    by_doc: dict[str, list[str]] = {}
    for pid, doc_id in index.passage_refs():
        by_doc.setdefault(doc_id, []).append(pid)
    rng = random.Random(seed)
    docs = rng.sample(sorted(by_doc), min(k, len(by_doc)))
    return [rng.choice(sorted(by_doc[d])) for d in docs]


class IndexBackend(Protocol):
    """Creates, opens, lists and drops named indexes of one storage engine."""

    def create(self, name: str, spec: IndexSpec) -> SearchIndex: ...

    def open(self, name: str) -> SearchIndex: ...

    def exists(self, name: str) -> bool: ...

    def list(self) -> list[str]: ...

    def drop(self, name: str) -> None: ...

    def describe(self, name: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class IndexCheck:
    """What an index's parts hold, and whether they agree with its store (the source of truth)."""

    consistent: bool
    problems: list[str] = field(default_factory=list)
    passages: int = 0
    """Passages in the store."""
    bm25_docs: int = 0
    """Documents the BM25 index holds."""
    vector_rows_needed: int = 0
    """Rows the committed passages reference (highest slot + 1)."""
    vector_rows_present: int = 0
    """Whole rows in the current vector file."""
    pending_changes: int = 0
    """Change-log rows not yet applied to the BM25 index."""
    dead_vector_rows: int = 0
    """Rows no passage references (replaced, deleted, or from a write that crashed); `compact` frees them."""
    generation: int = 0
    """The store's write counter."""


@dataclass(frozen=True)
class RepairReport:
    bm25_rebuilt: bool
    reembedded: int
    """Passages whose vector was missing and was computed again."""
    changes_applied: int
    """Pending change-log rows applied to the BM25 index."""
    store_restored: bool
    """The store file had been deleted or replaced and was written back from this process's open copy."""
    after: IndexCheck


@runtime_checkable
class CheckableIndex(Protocol):
    """An index that can verify its parts against its store and rebuild the derived ones."""

    def check(self, wait_s: float | None = None) -> IndexCheck:
        """Compare every part with the store; `wait_s` bounds the wait for a writer (None: the index's lock
        timeout; 0: fail at once with IndexLockedError while another writer works)."""
        ...

    def repair(self, embedder: Embedder) -> RepairReport: ...

    def compact(self) -> int:
        """Reclaim the storage of dead vector rows; returns the rows freed."""
        ...
