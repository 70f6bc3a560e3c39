"""The Elasticsearch backend: the SearchIndex Protocol over a cluster, with the official client.

One ragsearch index is one Elasticsearch index of the same name (one shard, so BM25 statistics are
those of the whole index). `_id` is the passage id; `_source` holds doc_id, title, text, metadata, the
content hash and the unit-length vector. The index spec lives in the mapping's `_meta.ragsearch`.
Writes refresh the index before returning, so a passage is searchable as soon as `upsert` returns,
as on the embedded backend. Fusion and reranking stay in Python.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import structlog
from elasticsearch import AuthorizationException, BadRequestError, Elasticsearch, helpers

from ragsearch.retrieval import es_requests as rq
from ragsearch.retrieval.embedded import validate_index_name
from ragsearch.retrieval.errors import (
    BulkRejectedError,
    EmbeddingMismatchError,
    IndexExistsError,
    InvalidInputError,
    RagsearchError,
    redact_url,
)
from ragsearch.retrieval.es_client import connect, es_errors
from ragsearch.retrieval.es_connection import EsConnection
from ragsearch.retrieval.index import DOCUMENT_LIMIT, Filters, check_metadata, document_order
from ragsearch.retrieval.scoring import best_fields_score
from ragsearch.retrieval.types import (
    EmbeddedPassage,
    FieldBoosts,
    FieldScores,
    IndexSpec,
    Passage,
    ScoredId,
    Vector,
)

log = structlog.get_logger(__name__)

ID_CHUNK = 1000
BULK_CHUNK = 500


def _chunks(items: Sequence[str], size: int = ID_CHUNK) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _passage(pid: str, source: dict[str, Any]) -> Passage:
    return Passage(
        id=pid,
        doc_id=source["doc_id"],
        title=source["title"],
        text=source["text"],
        metadata=source.get("metadata") or {},
    )


class ElasticsearchBackend:
    """Indexes on one cluster. Only indexes whose mapping carries a ragsearch spec are listed or opened."""

    def __init__(self, conn: EsConnection, client: Elasticsearch | None = None) -> None:
        self.conn = conn
        self.client = client or connect(conn)

    def _errors(self, index: str | None = None) -> Any:
        return es_errors(self.conn.url, index)

    def _mapping(self, name: str) -> dict[str, Any]:
        with self._errors(name):
            resp = self.client.indices.get_mapping(index=validate_index_name(name))
        return dict(next(iter(resp.body.values()))["mappings"])

    def exists(self, name: str) -> bool:
        with self._errors(name):
            return bool(self.client.indices.exists(index=validate_index_name(name)))

    def list(self) -> list[str]:
        with self._errors():
            resp = self.client.indices.get_mapping(index="*", expand_wildcards="open")
        return sorted(n for n, m in resp.body.items() if rq.spec_from_mapping(m.get("mappings", {})))

    def _server_version(self) -> str | None:
        """The cluster's version, or None when the credentials lack the `monitor` privilege."""
        try:
            return str(self.client.info()["version"]["number"])
        except AuthorizationException:
            return None

    def create(self, name: str, spec: IndexSpec) -> ElasticsearchIndex:
        validate_index_name(name)
        with self._errors(name):
            if self.client.indices.exists(index=name):
                raise IndexExistsError(
                    f"index {name!r} already exists on Elasticsearch at {redact_url(self.conn.url)}"
                )
            version = self._server_version()
            body = rq.create_index_body(spec, version or rq.NEWEST_KNOWN)
            try:
                self.client.indices.create(index=name, settings=body["settings"], mappings=body["mappings"])
            except BadRequestError as exc:
                if version is not None or rq.EXCLUDE_VECTORS_SETTING not in str(exc.body):
                    raise
                # Version unknown and older than 9.2: the setting does not exist there.
                body = rq.create_index_body(spec, "8.0.0")
                self.client.indices.create(index=name, settings=body["settings"], mappings=body["mappings"])
        log.info("es.index_created", index=name, model=spec.embedding_model, dim=spec.dim)
        return ElasticsearchIndex(self.client, self.conn, name, spec)

    def _own_spec(self, name: str, mapping: dict[str, Any]) -> IndexSpec:
        spec = rq.spec_from_mapping(mapping)
        if spec is None:
            raise RagsearchError(
                f"index {name!r} on Elasticsearch at {redact_url(self.conn.url)} was not created by ragsearch (no "
                f"_meta.{rq.META_KEY} in its mapping); pick another --index name"
            )
        return spec

    def open(self, name: str) -> ElasticsearchIndex:
        mapping = self._mapping(name)
        spec = self._own_spec(name, mapping)
        dims = rq.mapped_vector_dims(mapping)
        if dims != spec.dim:
            raise EmbeddingMismatchError(
                f"index {name!r} maps field {rq.VECTOR_FIELD!r} with dimension {dims} but its spec says "
                f"{spec.embedding_model} (dim {spec.dim}): drop it (`ragsearch indexes drop {name}`) and ingest again"
            )
        return ElasticsearchIndex(self.client, self.conn, name, spec)

    def drop(self, name: str) -> None:
        self._own_spec(name, self._mapping(name))  # refuse to drop an index ragsearch did not create
        with self._errors(name):
            self.client.indices.delete(index=name)

    def describe(self, name: str) -> dict[str, Any]:
        return self.open(name).describe()


class ElasticsearchIndex:
    """One ragsearch index on Elasticsearch."""

    def __init__(self, client: Elasticsearch, conn: EsConnection, name: str, spec: IndexSpec) -> None:
        self.client = client
        self.conn = conn
        self._name = name
        self._spec = spec

    def _errors(self) -> Any:
        return es_errors(self.conn.url, self._name)

    @property
    def name(self) -> str:
        return self._name

    @property
    def spec(self) -> IndexSpec:
        return self._spec

    def count(self) -> int:
        with self._errors():
            return int(self.client.count(index=self._name)["count"])

    def _refresh(self) -> None:
        self.client.indices.refresh(index=self._name)

    # ---- writes -----------------------------------------------------------------------------
    def upsert(self, passages: Sequence[EmbeddedPassage]) -> None:
        """Index (create or replace) passages; raises BulkRejectedError listing any rejected ones."""
        if not passages:
            return
        latest = {ep.passage.id: ep for ep in passages}
        items = list(latest.values())
        for ep in items:
            v = np.asarray(ep.vector, dtype=np.float32).reshape(-1)
            if v.shape[0] != self._spec.dim:
                raise InvalidInputError(
                    f"vectors of dimension {v.shape[0]} cannot go into index {self._name!r} "
                    f"(built with {self._spec.embedding_model}, dimension {self._spec.dim}); nothing was written"
                )
            if not np.all(np.isfinite(v)):
                raise InvalidInputError("vectors contain NaN or infinite values; nothing was written")
            check_metadata(ep.passage.id, ep.passage.metadata)
        # Elasticsearch refuses ids over 512 bytes; reject them here so they cannot fail a whole request.
        too_long = [ep.passage.id for ep in items if len(ep.passage.id.encode("utf-8")) > rq.MAX_ID_BYTES]
        skip = set(too_long)
        sendable = [ep for ep in items if ep.passage.id not in skip]
        accepted, rejected = self._bulk(rq.index_actions(self._name, sendable, self._spec.dim))
        rejected += [(pid, f"id is longer than {rq.MAX_ID_BYTES} bytes") for pid in too_long]
        if rejected:
            position = {ep.passage.id: i for i, ep in enumerate(items)}
            rejected.sort(key=lambda r: position.get(r[0], len(items)))
            log.warning("es.bulk_rejected", index=self._name, accepted=accepted, rejected=len(rejected))
            raise BulkRejectedError(self._name, accepted, rejected)

    def _bulk(self, actions: Iterator[dict[str, Any]]) -> tuple[int, list[tuple[str, str]]]:
        """Send actions in chunks (429s retried with backoff); returns (accepted, [(id, reason)])."""
        accepted = 0
        rejected: list[tuple[str, str]] = []
        with self._errors():
            try:
                for ok, item in helpers.streaming_bulk(
                    self.client,
                    actions,
                    chunk_size=BULK_CHUNK,
                    max_retries=self.conn.max_retries,
                    initial_backoff=1,
                    raise_on_error=False,
                    raise_on_exception=True,
                    ignore_status=(404,),
                ):
                    result = next(iter(item.values()))
                    if ok:
                        accepted += 1
                    elif result.get("status") != 404:
                        err = result.get("error") or {}
                        reason = (
                            f"{err.get('type', 'error')}: {err.get('reason', '')}" if err else str(result)
                        )
                        rejected.append((str(result.get("_id")), reason))
            finally:
                self._refresh()
        return accepted, rejected

    def delete(self, ids: Sequence[str]) -> int:
        unique = list(dict.fromkeys(ids))
        if not unique:
            return 0
        present = set(self.content_hashes(unique))
        if not present:
            return 0
        _, rejected = self._bulk(rq.delete_actions(self._name, [i for i in unique if i in present]))
        if rejected:
            raise RagsearchError(f"could not delete from {self._name!r}: {rejected[:5]}")
        return len(present)

    def delete_documents(self, doc_ids: Sequence[str]) -> int:
        deleted = 0
        with self._errors():
            for chunk in _chunks(list(dict.fromkeys(doc_ids))):
                resp = self.client.delete_by_query(
                    index=self._name,
                    query={"terms": {"doc_id": list(chunk)}},
                    refresh=True,
                    conflicts="proceed",
                )
                deleted += int(resp["deleted"])
        return deleted

    # ---- reads ------------------------------------------------------------------------------
    def _mget(self, ids: Sequence[str], fields: list[str]) -> Iterator[dict[str, Any]]:
        with self._errors():
            for chunk in _chunks(list(dict.fromkeys(ids))):
                resp = self.client.mget(index=self._name, ids=list(chunk), source_includes=fields)
                yield from (d for d in resp["docs"] if d.get("found"))

    def content_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        return {d["_id"]: d["_source"]["hash"] for d in self._mget(ids, ["hash"])}

    def get(self, ids: Sequence[str]) -> list[Passage]:
        found = {
            d["_id"]: _passage(d["_id"], d["_source"])
            for d in self._mget(ids, ["doc_id", "title", "text", "metadata"])
        }
        return [found[i] for i in ids if i in found]

    def passage_refs(self) -> list[tuple[str, str]]:
        """A scroll over the whole index (`helpers.scan`, cleared at the end), `doc_id` only."""
        with self._errors():
            hits = helpers.scan(
                self.client, query=rq.listing_body(), index=self._name, size=rq.LISTING_PAGE, scroll="2m"
            )
            return [(h["_id"], h["_source"]["doc_id"]) for h in hits]

    def document(self, doc_id: str) -> list[Passage]:
        """One search (`es_requests.document_body`), bounded by `DOCUMENT_LIMIT`."""
        with self._errors():
            resp = self.client.search(index=self._name, body=rq.document_body(doc_id, DOCUMENT_LIMIT))
        return document_order([_passage(h["_id"], h["_source"]) for h in self._hits(resp)])

    def vectors(self, ids: Sequence[str]) -> dict[str, Vector]:
        got = {
            d["_id"]: np.asarray(d["_source"][rq.VECTOR_FIELD], dtype=np.float32)
            for d in self._mget(ids, [rq.VECTOR_FIELD])
        }
        return {i: got[i] for i in ids if i in got}

    def _hits(self, resp: Any) -> list[dict[str, Any]]:
        return list(resp["hits"]["hits"])

    def bm25_search(
        self, query: str, k: int, boosts: FieldBoosts | None = None, filters: Filters | None = None
    ) -> list[ScoredId]:
        if not query.strip() or k <= 0:
            return []
        q = rq.bm25_query(query, boosts or FieldBoosts(), filters)
        with self._errors():
            resp = self.client.search(index=self._name, query=q, size=k, source_includes=["doc_id"])
        return [ScoredId(h["_id"], h["_source"]["doc_id"], float(h["_score"])) for h in self._hits(resp)]

    def field_scores(
        self, query: str, ids: Sequence[str], boosts: FieldBoosts | None = None
    ) -> dict[str, FieldScores]:
        """Per-field BM25 from Elasticsearch (named queries); best_fields combined as multi_match does."""
        b = boosts or FieldBoosts()
        unique = list(dict.fromkeys(ids))
        known = set(self.content_hashes(unique))
        unique = [i for i in unique if i in known]
        per_id: dict[str, dict[str, float]] = {}
        if query.strip():
            with self._errors():
                for chunk in _chunks(unique):
                    resp = self.client.search(
                        index=self._name,
                        query=rq.field_scores_query(query, chunk),
                        size=len(chunk),
                        source=False,
                        include_named_queries_score=True,
                    )
                    for h in self._hits(resp):
                        per_id[h["_id"]] = dict(h.get("matched_queries") or {})
        out = {}
        for pid in unique:
            scores = per_id.get(pid, {})
            title, text = scores.get("title"), scores.get("text")
            out[pid] = FieldScores(title=title, text=text, best_fields=best_fields_score(title, text, b))
        return out

    def vector_search(self, vector: Vector, k: int, filters: Filters | None = None) -> list[ScoredId]:
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        if v.shape[0] != self._spec.dim:
            raise InvalidInputError(
                f"query vector has dimension {v.shape[0]}, index {self._name!r} has {self._spec.dim}"
            )
        if k <= 0:
            return []
        knn = rq.knn_clause(rq.unit_vector(v, self._spec.dim), k, filters)
        with self._errors():
            resp = self.client.search(index=self._name, knn=knn, size=k, source_includes=["doc_id"])
        return [
            ScoredId(h["_id"], h["_source"]["doc_id"], rq.cosine_from_score(float(h["_score"])))
            for h in self._hits(resp)
        ]

    def describe(self) -> dict[str, Any]:
        with self._errors():
            stats = self.client.indices.stats(index=self._name, metric=["docs", "store"])
            docs = self.client.search(
                index=self._name,
                size=0,
                aggs={"documents": {"cardinality": {"field": "doc_id", "precision_threshold": 40_000}}},
            )
        total = stats["indices"][self._name]["primaries"]
        return {
            "name": self._name,
            "backend": "elasticsearch",
            "url": redact_url(self.conn.url),
            "passages": self.count(),
            "documents": int(docs["aggregations"]["documents"]["value"]),
            "embedding_model": self._spec.embedding_model,
            "dim": self._spec.dim,
            "analyzer": self._spec.analyzer.to_dict(),
            "bytes_on_disk": int(total.get("store", {}).get("size_in_bytes", 0)),
        }

    def close(self) -> None:
        """The client is shared with the backend; nothing to release per index."""

    def __enter__(self) -> ElasticsearchIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
