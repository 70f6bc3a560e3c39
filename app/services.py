"""Wiring: builds backends, embedders and retrievers from settings. Stages never read settings themselves."""

from __future__ import annotations

from app.settings import Settings
from retrieval.embedded import EmbeddedBackend
from retrieval.embedding import Embedder, SentenceTransformerEmbedder
from retrieval.errors import RagsearchError
from retrieval.es_client import EsConnection
from retrieval.index import IndexBackend, SearchIndex
from retrieval.searcher import Retriever
from retrieval.types import IndexSpec


def make_backend(settings: Settings) -> IndexBackend:
    if settings.backend == "embedded":
        return EmbeddedBackend(settings.home)
    if settings.backend == "elasticsearch":
        from retrieval.elasticsearch import ElasticsearchBackend

        return ElasticsearchBackend(es_connection(settings))
    raise RagsearchError(
        f"backend {settings.backend!r} is not available in this build; use RAGSEARCH_BACKEND=embedded"
    )


def es_connection(settings: Settings) -> EsConnection:
    e = settings.es
    return EsConnection(
        url=e.url,
        api_key=e.api_key.get_secret_value() if e.api_key else None,
        username=e.username,
        password=e.password.get_secret_value() if e.password else None,
        ca_certs=e.ca_certs,
        verify_certs=e.verify_certs,
        request_timeout=e.request_timeout,
        max_retries=e.max_retries,
    )


def make_embedder(settings: Settings) -> Embedder:
    e = settings.embedding
    return SentenceTransformerEmbedder(
        e.model,
        query_prefix=e.query_prefix,
        document_prefix=e.document_prefix,
        batch_size=e.batch_size,
        device=e.device,
        max_seq_length=e.max_seq_length,
    )


def open_or_create_index(
    backend: IndexBackend, name: str, embedder: Embedder, settings: Settings
) -> SearchIndex:
    if backend.exists(name):
        return backend.open(name)
    spec = IndexSpec(embedding_model=embedder.name, dim=embedder.dim, analyzer=settings.bm25.analyzer())
    return backend.create(name, spec)


def make_retriever(index: SearchIndex, embedder: Embedder, settings: Settings) -> Retriever:
    r = settings.retrieval
    return Retriever(
        index,
        embedder,
        boosts=settings.bm25.boosts(),
        fusion=r.fusion,
        rrf_k=r.rrf_k,
        dense_weight=r.dense_weight,
        bm25_depth=r.bm25_depth,
        dense_depth=r.dense_depth,
    )
