"""Unit tests (no server) of the exact request bodies the Elasticsearch backend sends.

Expected shapes are written out by hand from the Elasticsearch REST API reference (create index,
`multi_match`, `knn`, named queries, `_bulk`), so a change to what we send shows up here.
"""

from __future__ import annotations

import numpy as np
import pytest

from ragsearch.retrieval import es_requests as rq
from ragsearch.retrieval.errors import InvalidInputError
from ragsearch.retrieval.types import AnalyzerSpec, EmbeddedPassage, FieldBoosts, IndexSpec, Passage

SPEC = IndexSpec("all-MiniLM-L6-v2", 3)


def test_create_index_body() -> None:
    assert rq.create_index_body(SPEC, "8.15.3") == {
        "settings": {
            "number_of_shards": 1,
            "analysis": {
                "tokenizer": {"rs_words": {"type": "pattern", "pattern": r"[^\p{L}\p{N}]+"}},
                "filter": {
                    "rs_length": {"type": "length", "max": 254},
                    "rs_stop": {"type": "stop", "stopwords": "_english_"},
                    "rs_stem": {"type": "snowball", "language": "English"},
                },
                "analyzer": {
                    "rs_text": {
                        "type": "custom",
                        "tokenizer": "rs_words",
                        "filter": ["rs_length", "lowercase", "rs_stop", "rs_stem"],
                    }
                },
            },
        },
        "mappings": {
            "_meta": {
                "ragsearch": {
                    "embedding_model": "all-MiniLM-L6-v2",
                    "dim": 3,
                    "analyzer": {"stopwords": True, "stemmer": "english", "max_token_length": 255},
                }
            },
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
                "title": {"type": "text", "analyzer": "rs_text"},
                "text": {"type": "text", "analyzer": "rs_text"},
                "hash": {"type": "keyword", "index": False},
                "metadata": {"type": "object", "dynamic": True},
                "vector": {
                    "type": "dense_vector",
                    "dims": 3,
                    "index": True,
                    "similarity": "cosine",
                    "index_options": {"type": "hnsw", "m": 16, "ef_construction": 100},
                },
            },
        },
    }


def test_vectors_kept_in_source_on_9_2_and_later() -> None:
    assert "index.mapping.exclude_source_vectors" not in rq.create_index_body(SPEC, "9.1.4")["settings"]
    assert rq.create_index_body(SPEC, "9.2.0")["settings"]["index.mapping.exclude_source_vectors"] is False
    assert rq.exclude_source_vectors_setting("10.0.0-SNAPSHOT")


def test_analyzer_variants() -> None:
    plain = rq.analysis_settings(AnalyzerSpec(stopwords=False, stemmer=None))
    assert plain["analyzer"]["rs_text"]["filter"] == ["rs_length", "lowercase"]
    assert rq.analysis_settings(AnalyzerSpec(stemmer="greek"))["filter"]["rs_stem"] == {
        "type": "stemmer",
        "language": "greek",
    }
    with pytest.raises(InvalidInputError, match="stemmer 'tamil' has no Elasticsearch equivalent"):
        rq.analysis_settings(AnalyzerSpec(stemmer="tamil"))


def test_spec_and_dims_read_back_from_mapping() -> None:
    mapping = rq.create_index_body(SPEC)["mappings"]
    assert rq.spec_from_mapping(mapping) == SPEC
    assert rq.mapped_vector_dims(mapping) == 3
    assert rq.spec_from_mapping({"properties": {}}) is None


def test_bm25_query_is_multi_match_best_fields() -> None:
    boosts = FieldBoosts(title=2.0, text=1.0, tie_breaker=0.3)
    expected_mm = {
        "multi_match": {
            "query": "5'-nucleotidase: role?",
            "type": "best_fields",
            "fields": ["title^2", "text^1"],
            "tie_breaker": 0.3,
            "operator": "or",
            "zero_terms_query": "none",
        }
    }
    assert rq.bm25_query("5'-nucleotidase: role?", boosts) == expected_mm
    assert rq.bm25_query("5'-nucleotidase: role?", boosts, {"lang": "fr", "n": 2}) == {
        "bool": {
            "must": [expected_mm],
            "filter": [{"term": {"metadata.lang": "fr"}}, {"term": {"metadata.n": 2}}],
        }
    }


def test_field_scores_query_uses_named_queries_on_candidate_ids() -> None:
    assert rq.field_scores_query("zebra", ["p1", "p2"]) == {
        "bool": {
            "should": [
                {"match": {"title": {"query": "zebra", "_name": "title"}}},
                {"match": {"text": {"query": "zebra", "_name": "text"}}},
            ],
            "minimum_should_match": 1,
            "filter": [{"ids": {"values": ["p1", "p2"]}}],
        }
    }


def test_listing_scrolls_every_passage_for_its_doc_id_only() -> None:
    # helpers.scan adds `sort: _doc` and the scroll; we send a match_all that fetches doc_id alone
    assert rq.listing_body() == {"query": {"match_all": {}}, "_source": ["doc_id"]}
    assert rq.LISTING_PAGE == 1000


def test_document_body_is_a_bounded_term_query_sorted_by_position() -> None:
    assert rq.document_body("web/a.md", 10_000) == {
        "query": {"bool": {"filter": [{"term": {"doc_id": "web/a.md"}}]}},
        "size": 10_000,
        "sort": [{"metadata.position": {"order": "asc", "missing": "_last", "unmapped_type": "long"}}],
        "_source": ["doc_id", "title", "text", "metadata"],
    }


def test_knn_clause() -> None:
    assert rq.knn_clause(np.array([0.6, 0.8, 0.0], dtype=np.float32), 10, {"lang": "en"}) == {
        "field": "vector",
        "query_vector": [pytest.approx(0.6), pytest.approx(0.8), 0.0],
        "k": 10,
        "num_candidates": 100,
        "filter": [{"term": {"metadata.lang": "en"}}],
    }
    assert rq.knn_clause([1.0, 0.0, 0.0], 9000)["num_candidates"] == 10_000
    assert "filter" not in rq.knn_clause([1.0, 0.0, 0.0], 5)


def test_cosine_from_score_inverts_elasticsearch_scaling() -> None:
    assert rq.cosine_from_score((1 + 0.25) / 2) == pytest.approx(0.25)
    assert rq.cosine_from_score(0.0) == -1.0


def test_bulk_actions() -> None:
    p = Passage("p1", "Title", "Text", "d1", {"lang": "en"})
    ep = EmbeddedPassage(p, np.array([3.0, 4.0, 0.0], dtype=np.float32), "h1")
    assert list(rq.index_actions("kb", [ep], 3)) == [
        {
            "_op_type": "index",
            "_index": "kb",
            "_id": "p1",
            "_source": {
                "doc_id": "d1",
                "title": "Title",
                "text": "Text",
                "hash": "h1",
                "metadata": {"lang": "en"},
                "vector": [pytest.approx(0.6), pytest.approx(0.8), 0.0],
            },
        }
    ]
    uncut = EmbeddedPassage(Passage("p2", "", "x"), np.ones(3, dtype=np.float32), "h2")
    assert next(rq.index_actions("kb", [uncut], 3))["_source"]["doc_id"] == "p2"
    assert list(rq.delete_actions("kb", ["a", "b"])) == [
        {"_op_type": "delete", "_index": "kb", "_id": "a"},
        {"_op_type": "delete", "_index": "kb", "_id": "b"},
    ]
    with pytest.raises(InvalidInputError, match="dimension 2"):
        rq.unit_vector(np.ones(2, dtype=np.float32), 3)


@pytest.mark.parametrize(
    "filters",
    [
        {"a\x00b": "x"},
        {"lang\n": "en"},
        {"": "en"},
        {'say"': "x"},
        {"score": float("nan")},
        {"n": float("inf")},
    ],
)
def test_filters_are_checked_like_the_embedded_backend_does(filters: dict[str, object]) -> None:
    """The same `check_filters` as the embedded backend: a bad key or value is refused before any request."""
    for build in (
        lambda: rq.filter_clauses(filters),  # type: ignore[arg-type]
        lambda: rq.bm25_query("q", FieldBoosts(), filters),  # type: ignore[arg-type]
        lambda: rq.knn_clause([1.0, 0.0, 0.0], 5, filters),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidInputError, match="invalid filter"):
            build()
    assert rq.filter_clauses({"lang": "en", "n": 2}) == [
        {"term": {"metadata.lang": "en"}},
        {"term": {"metadata.n": 2}},
    ]
