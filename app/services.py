"""Wiring: builds backends, embedders and retrievers from settings. Stages never read settings themselves."""

from __future__ import annotations

import time
from pathlib import Path

from app.answering import Answerer, RankedHits
from app.answering import AnswerSettings as AnswerConfig
from app.llm import LLMClient, OpenAIChatClient
from app.settings import Settings
from ingest.chunking import Chunker, tokenizer_for
from rerank.extract import FeatureLogger
from rerank.ltr import LtrReranker, ltr_search
from rerank.registry import ModelRegistry
from rerank.train import TrainParams
from retrieval.embedded import EmbeddedBackend
from retrieval.embedding import Embedder, SentenceTransformerEmbedder
from retrieval.errors import RagsearchError
from retrieval.es_client import EsConnection
from retrieval.index import IndexBackend, SearchIndex
from retrieval.searcher import Retriever
from retrieval.types import IndexSpec


def make_backend(settings: Settings) -> IndexBackend:
    if settings.backend == "embedded":
        return EmbeddedBackend(settings.home, vector_index=settings.retrieval.vector_index)
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
        query_runtime=e.query_runtime,
        onnx_cache=e.onnx_cache or settings.home / "cache" / "onnx",
        query_threads=e.query_threads,
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


def make_chunker(embedder: Embedder, settings: Settings) -> Chunker:
    """Passages sized to the embedding model's tokenizer and max length (or `ingest.chunk_tokens`, if less)."""
    tokenizer, max_tokens = tokenizer_for(embedder)
    wanted = settings.ingest.chunk_tokens
    return Chunker(
        tokenizer, min(max_tokens, wanted) if wanted else max_tokens, settings.ingest.chunk_overlap
    )


def manifest_path(settings: Settings, index_name: str) -> Path:
    """Where the ingest layer lists an index's documents and their sources (for --prune)."""
    return settings.home / "manifests" / settings.backend / f"{index_name}.sqlite"


def make_llm(settings: Settings) -> LLMClient | None:
    """The configured LLM client, or None when neither a base URL nor an API key is set."""
    base_url, key = settings.llm.resolved()
    if base_url is None and key is None:
        return None
    c = settings.llm
    return OpenAIChatClient(
        c.model,
        base_url=base_url,
        api_key=key,
        temperature=c.temperature,
        max_tokens=c.max_tokens,
        timeout_s=c.timeout_s,
        max_retries=c.max_retries,
    )


def make_answerer(
    index: SearchIndex,
    retriever: Retriever,
    settings: Settings,
    llm: LLMClient | None,
    reranker: LtrReranker | None = None,
) -> Answerer:
    """Answers rank passages with the LTR model when one is given and the mode is auto or ltr."""
    a = settings.answer
    if a.mode == "ltr" and reranker is None:
        raise RagsearchError("RAGSEARCH_ANSWER_MODE=ltr but no LTR model is promoted: run `ragsearch train`")
    use_ltr = reranker is not None and a.mode in ("auto", "ltr")
    mode = "hybrid" if a.mode in ("auto", "ltr") else a.mode

    def search(question: str) -> RankedHits:
        t0 = time.perf_counter()
        if use_ltr and reranker is not None:
            result = ltr_search(retriever, reranker, question, k=a.top_passages)
            total = (time.perf_counter() - t0) * 1e3
            rerank_ms = result.timings_ms.get("rerank_ms", 0.0)
            return RankedHits(result.hits, total - rerank_ms, rerank_ms)
        result = retriever.search(question, mode=mode, k=a.top_passages)
        return RankedHits(result.hits, (time.perf_counter() - t0) * 1e3)

    config = AnswerConfig(
        top_passages=a.top_passages,
        context_tokens=a.context_tokens,
        max_question_chars=a.max_question_chars,
        min_rerank_score=a.min_rerank_score,
        min_dense_score=a.min_dense_score,
    )
    return Answerer(search, index.get, llm, config)


def make_registry(settings: Settings) -> ModelRegistry:
    return ModelRegistry(settings.home, settings.rerank.tree_runtime)


def make_feature_logger(index: SearchIndex, settings: Settings) -> FeatureLogger:
    return FeatureLogger(index, settings.bm25.boosts())


def make_reranker(index: SearchIndex, settings: Settings, version: str | None = None) -> LtrReranker:
    """The LTR model `version`, else `RAGSEARCH_RERANK_MODEL`, else the promoted one."""
    model = make_registry(settings).load(version or settings.rerank.model)
    return LtrReranker(model, make_feature_logger(index, settings))


def train_params(settings: Settings) -> TrainParams:
    r = settings.rerank
    return TrainParams(
        learning_rate=r.learning_rate,
        num_leaves=r.num_leaves,
        min_data_in_leaf=r.min_data_in_leaf,
        feature_fraction=r.feature_fraction,
        bagging_fraction=r.bagging_fraction,
        lambda_l2=r.lambda_l2,
        num_boost_round=r.num_boost_round,
        early_stopping_rounds=r.early_stopping_rounds,
        seed=r.seed,
        num_threads=r.threads,
        prior_weight=r.prior_weight,
        monotone=r.monotone,
    )
