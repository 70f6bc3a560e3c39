"""Typed records that travel between stages."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

Vector = NDArray[np.float32]
Metadata = dict[str, Any]


@dataclass(frozen=True, slots=True)
class AnalyzerSpec:
    """How title and text are tokenized for BM25; fixed when an index is created."""

    stopwords: bool = True
    stemmer: str | None = "english"
    max_token_length: int = 255

    def to_dict(self) -> dict[str, Any]:
        return {
            "stopwords": self.stopwords,
            "stemmer": self.stemmer,
            "max_token_length": self.max_token_length,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AnalyzerSpec:
        return cls(
            stopwords=bool(d["stopwords"]),
            stemmer=d.get("stemmer"),
            max_token_length=int(d["max_token_length"]),
        )


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """What an index is built with. A query embedder must match `embedding_model` and `dim`."""

    embedding_model: str
    dim: int
    analyzer: AnalyzerSpec = field(default_factory=AnalyzerSpec)

    def to_dict(self) -> dict[str, Any]:
        return {"embedding_model": self.embedding_model, "dim": self.dim, "analyzer": self.analyzer.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IndexSpec:
        return cls(
            embedding_model=str(d["embedding_model"]),
            dim=int(d["dim"]),
            analyzer=AnalyzerSpec.from_dict(d["analyzer"]),
        )


@dataclass(frozen=True, slots=True)
class FieldBoosts:
    """BM25 query-time settings: Elasticsearch `multi_match` `best_fields` over title and text."""

    title: float = 1.0
    text: float = 1.0
    tie_breaker: float = 0.5


@dataclass(frozen=True, slots=True)
class Passage:
    """A unit of retrieval. `doc_id` names the document it was cut from (`id` when none is given)."""

    id: str
    title: str
    text: str
    doc_id: str = ""
    metadata: Metadata = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.doc_id:
            object.__setattr__(self, "doc_id", self.id)

    def content_hash(self) -> str:
        """Hash of everything stored for the passage except its vector: equal hash, nothing to re-embed."""
        payload = json.dumps(
            [self.id, self.doc_id, self.title, self.text, self.metadata],
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class EmbeddedPassage:
    """A passage with its document vector, ready to be written to an index."""

    passage: Passage
    vector: Vector
    content_hash: str


@dataclass(frozen=True, slots=True)
class ScoredId:
    """One hit of a single first-stage system."""

    id: str
    doc_id: str
    score: float


@dataclass(frozen=True, slots=True)
class FieldScores:
    """BM25 of one candidate for one query, per field and combined (best_fields); None when no term matched."""

    title: float | None
    text: float | None
    best_fields: float | None


@dataclass(slots=True)
class Candidate:
    """A passage proposed by first-stage retrieval, with every score and rank that produced it."""

    id: str
    doc_id: str
    bm25_score: float | None = None
    bm25_rank: int | None = None
    dense_score: float | None = None
    dense_rank: int | None = None
    fused_score: float | None = None
    rerank_score: float | None = None
    score: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "doc_id": self.doc_id,
            "score": self.score,
            "bm25_score": self.bm25_score,
            "bm25_rank": self.bm25_rank,
            "dense_score": self.dense_score,
            "dense_rank": self.dense_rank,
            "fused_score": self.fused_score,
            "rerank_score": self.rerank_score,
        }
