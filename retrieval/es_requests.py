"""Request bodies the Elasticsearch backend sends, as pure functions (unit-tested without a server).

Shapes follow the Elasticsearch 8.x/9.x REST API: create-index `settings`/`mappings`, `multi_match`
`best_fields`, top-level `knn`, named queries, and `_bulk` actions as `helpers.streaming_bulk` takes them.

The analyzer mirrors the embedded backend's (`retrieval.analysis.build_analyzer`) so BM25 agrees:
tokens are runs of letters and digits (`pattern` tokenizer `[^\\p{L}\\p{N}]+`, as tantivy's `simple`),
over-long tokens removed, lowercased, Lucene's `_english_` stopwords (the same 33 words tantivy uses),
Snowball stemmer (Porter2, as tantivy's `english`). Elasticsearch's built-in `english` analyzer differs:
the standard tokenizer keeps "3.5mg" whole, and it strips possessives and stems with Porter (1).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ragsearch.retrieval.errors import InvalidInputError
from ragsearch.retrieval.index import check_filters
from ragsearch.retrieval.types import AnalyzerSpec, EmbeddedPassage, FieldBoosts, IndexSpec, Vector

META_KEY = "ragsearch"
"""`_meta.ragsearch` in the mapping holds the index spec; indexes without it are not ragsearch's."""
ANALYZER = "rs_text"
VECTOR_FIELD = "vector"
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 100
MAX_NUM_CANDIDATES = 10_000
EXCLUDE_VECTORS_SETTING = "index.mapping.exclude_source_vectors"
NEWEST_KNOWN = "9.2.0"
MAX_ID_BYTES = 512

# Elasticsearch `snowball` languages for our stemmer names; the rest use the `stemmer` filter.
SNOWBALL = {
    "danish": "Danish", "dutch": "Dutch", "english": "English", "finnish": "Finnish", "french": "French",
    "german": "German", "hungarian": "Hungarian", "italian": "Italian", "norwegian": "Norwegian",
    "portuguese": "Portuguese", "romanian": "Romanian", "russian": "Russian", "spanish": "Spanish",
    "swedish": "Swedish", "turkish": "Turkish",
}  # fmt: skip
STEMMER_FILTER = {"arabic": "arabic", "greek": "greek"}


def analysis_settings(analyzer: AnalyzerSpec) -> dict[str, Any]:
    """`settings.analysis` defining the custom analyzer `rs_text` for title and text."""
    filters: dict[str, Any] = {"rs_length": {"type": "length", "max": analyzer.max_token_length - 1}}
    chain = ["rs_length", "lowercase"]
    if analyzer.stopwords:
        filters["rs_stop"] = {"type": "stop", "stopwords": "_english_"}
        chain.append("rs_stop")
    if analyzer.stemmer:
        if analyzer.stemmer in SNOWBALL:
            filters["rs_stem"] = {"type": "snowball", "language": SNOWBALL[analyzer.stemmer]}
        elif analyzer.stemmer in STEMMER_FILTER:
            filters["rs_stem"] = {"type": "stemmer", "language": STEMMER_FILTER[analyzer.stemmer]}
        else:
            valid = ", ".join(sorted([*SNOWBALL, *STEMMER_FILTER]))
            raise InvalidInputError(
                f"stemmer {analyzer.stemmer!r} has no Elasticsearch equivalent; use one of {valid} or none"
            )
        chain.append("rs_stem")
    return {
        "tokenizer": {"rs_words": {"type": "pattern", "pattern": r"[^\p{L}\p{N}]+"}},
        "filter": filters,
        "analyzer": {ANALYZER: {"type": "custom", "tokenizer": "rs_words", "filter": chain}},
    }


def exclude_source_vectors_setting(server_version: str) -> bool:
    """Elasticsearch 9.2+ leaves vectors out of `_source` by default; we keep them (`vectors()` reads them)."""
    parts = [int(p) for p in server_version.split("-")[0].split(".")[:2] if p.isdigit()]
    return tuple(parts) >= (9, 2)


def create_index_body(spec: IndexSpec, server_version: str = "8.15.0") -> dict[str, Any]:
    """`settings` and `mappings` for `indices.create`; the spec goes into `_meta` for the model check."""
    settings: dict[str, Any] = {
        "number_of_shards": 1,
        "analysis": analysis_settings(spec.analyzer),
    }
    if exclude_source_vectors_setting(server_version):
        settings[EXCLUDE_VECTORS_SETTING] = False
    text = {"type": "text", "analyzer": ANALYZER}
    mappings = {
        "_meta": {META_KEY: spec.to_dict()},
        "dynamic": "strict",
        "dynamic_templates": [
            {
                "metadata_strings": {
                    "path_match": "metadata.*",
                    "match_mapping_type": "string",
                    "mapping": {"type": "keyword"},
                }
            }
        ],
        "properties": {
            "doc_id": {"type": "keyword"},
            "title": text,
            "text": text,
            "hash": {"type": "keyword", "index": False},
            "metadata": {"type": "object", "dynamic": True},
            VECTOR_FIELD: {
                "type": "dense_vector",
                "dims": spec.dim,
                "index": True,
                "similarity": "cosine",
                "index_options": {"type": "hnsw", "m": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION},
            },
        },
    }
    return {"settings": settings, "mappings": mappings}


def spec_from_mapping(mapping: Mapping[str, Any]) -> IndexSpec | None:
    """The spec stored in `_meta`, or None when the index was not created by ragsearch."""
    meta = (mapping.get("_meta") or {}).get(META_KEY)
    return None if meta is None else IndexSpec.from_dict(meta)


def mapped_vector_dims(mapping: Mapping[str, Any]) -> int | None:
    field = (mapping.get("properties") or {}).get(VECTOR_FIELD) or {}
    return int(field["dims"]) if field.get("type") == "dense_vector" and "dims" in field else None


def filter_clauses(filters: Mapping[str, str | int | float | bool] | None) -> list[dict[str, Any]]:
    """Equality filters on top-level metadata keys (strings are mapped as `keyword`); keys and values are
    checked as the embedded backend checks them (`check_filters`), so both refuse the same filters."""
    check_filters(filters)
    return [{"term": {f"metadata.{key}": value}} for key, value in (filters or {}).items()]


def bm25_query(
    query: str, boosts: FieldBoosts, filters: Mapping[str, str | int | float | bool] | None = None
) -> dict[str, Any]:
    """`multi_match` `best_fields` over title^boost and text: dis_max of per-field `match` (OR)."""
    mm: dict[str, Any] = {
        "multi_match": {
            "query": query,
            "type": "best_fields",
            "fields": [f"title^{boosts.title:g}", f"text^{boosts.text:g}"],
            "tie_breaker": boosts.tie_breaker,
            "operator": "or",
            "zero_terms_query": "none",
        }
    }
    clauses = filter_clauses(filters)
    return {"bool": {"must": [mm], "filter": clauses}} if clauses else mm


def field_scores_query(query: str, ids: Sequence[str]) -> dict[str, Any]:
    """Per-field BM25 of given candidates in one request: named `match` queries, restricted by `ids`.

    Sent with `include_named_queries_score=true`, each hit's `matched_queries` maps field -> score.
    """
    return {
        "bool": {
            "should": [
                {"match": {"title": {"query": query, "_name": "title"}}},
                {"match": {"text": {"query": query, "_name": "text"}}},
            ],
            "minimum_should_match": 1,
            "filter": [{"ids": {"values": list(ids)}}],
        }
    }


LISTING_PAGE = 1000
"""Hits per scroll page when listing every passage (`passage_refs`)."""


def listing_body() -> dict[str, Any]:
    """Every passage's id and doc_id, for `helpers.scan` (a scroll in index order, `sort: _doc`)."""
    return {"query": {"match_all": {}}, "_source": ["doc_id"]}


def document_body(doc_id: str, size: int) -> dict[str, Any]:
    """The passages of one document: a `term` filter on the `doc_id` keyword, at most `size` hits, sorted by
    the `position` ingest stores in metadata (`unmapped_type` keeps an index without one from failing;
    passages without one come last). `document_order` then breaks ties the way the embedded backend does."""
    return {
        "query": {"bool": {"filter": [{"term": {"doc_id": doc_id}}]}},
        "size": size,
        "sort": [{"metadata.position": {"order": "asc", "missing": "_last", "unmapped_type": "long"}}],
        "_source": ["doc_id", "title", "text", "metadata"],
    }


def num_candidates(k: int) -> int:
    return min(MAX_NUM_CANDIDATES, max(100, 2 * k))


def knn_clause(
    vector: Sequence[float] | Vector, k: int, filters: Mapping[str, str | int | float | bool] | None = None
) -> dict[str, Any]:
    """Top-level `knn` search on the HNSW graph; `filter` is applied during the search (pre-filtering)."""
    knn: dict[str, Any] = {
        "field": VECTOR_FIELD,
        "query_vector": [float(x) for x in vector],
        "k": k,
        "num_candidates": num_candidates(k),
    }
    clauses = filter_clauses(filters)
    if clauses:
        knn["filter"] = clauses
    return knn


def cosine_from_score(score: float) -> float:
    """Elasticsearch scores `cosine` as (1 + cos) / 2; undo it so scores match the embedded backend."""
    return 2.0 * score - 1.0


def unit_vector(vector: Vector, dim: int) -> list[float]:
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    if v.shape[0] != dim:
        raise InvalidInputError(f"vector has dimension {v.shape[0]}, the index expects {dim}")
    norm = float(np.linalg.norm(v))
    return [float(x) for x in (v / norm if norm > 0 else v)]


def source_of(ep: EmbeddedPassage, dim: int) -> dict[str, Any]:
    p = ep.passage
    return {
        "doc_id": p.doc_id,
        "title": p.title,
        "text": p.text,
        "hash": ep.content_hash,
        "metadata": p.metadata,
        VECTOR_FIELD: unit_vector(ep.vector, dim),
    }


def index_actions(index: str, passages: Sequence[EmbeddedPassage], dim: int) -> Iterator[dict[str, Any]]:
    """`_bulk` `index` actions (create or replace by `_id`)."""
    for ep in passages:
        yield {"_op_type": "index", "_index": index, "_id": ep.passage.id, "_source": source_of(ep, dim)}


def delete_actions(index: str, ids: Sequence[str]) -> Iterator[dict[str, Any]]:
    for pid in ids:
        yield {"_op_type": "delete", "_index": index, "_id": pid}
