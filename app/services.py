"""Wiring: builds backends, embedders and retrievers from settings. Stages never read settings themselves."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from ragsearch.answer.answering import Answerer, RankedHits
from ragsearch.answer.answering import AnswerSettings as AnswerConfig
from ragsearch.answer.llm import OpenAIChatClient
from ragsearch.answer.protocol import LLMClient
from ragsearch.app.settings import Settings
from ragsearch.ingest.chunking import Chunker, tokenizer_for
from ragsearch.rerank.extract import FeatureLogger
from ragsearch.rerank.ltr import LtrReranker
from ragsearch.rerank.protocol import Reranker
from ragsearch.rerank.registry import ModelRegistry
from ragsearch.rerank.train import TrainParams
from ragsearch.retrieval.embedded import EmbeddedBackend
from ragsearch.retrieval.embedding import Embedder, SentenceTransformerEmbedder
from ragsearch.retrieval.errors import RagsearchError
from ragsearch.retrieval.es_connection import EsConnection
from ragsearch.retrieval.extras import require
from ragsearch.retrieval.index import Filters, IndexBackend, SearchIndex
from ragsearch.retrieval.types import Candidate, IndexSpec
from ragsearch.search.config import Mode, SearchConfig, build_config, parse_mode
from ragsearch.search.configs import SERVED, ConfigStore
from ragsearch.search.engine import RerankerSource, SearchEngine
from ragsearch.search.serving import Served, ServingStore


def make_backend(settings: Settings) -> IndexBackend:
    if settings.backend == "embedded":
        return EmbeddedBackend(settings.home, vector_index=settings.retrieval.vector_index)
    if settings.backend == "elasticsearch":
        require("elasticsearch")  # a clear error without the `elasticsearch` extra
        from ragsearch.retrieval.elasticsearch import ElasticsearchBackend

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


def default_search_config(settings: Settings) -> SearchConfig:
    """The search configuration the settings describe (RAGSEARCH_RETRIEVAL_*, RAGSEARCH_BM25_*, the LTR model)."""
    r, b = settings.retrieval, settings.bm25
    return build_config(
        {
            "fusion": r.fusion,
            "rrf_k": r.rrf_k,
            "dense_weight": r.dense_weight,
            "bm25_depth": r.bm25_depth,
            "dense_depth": r.dense_depth,
            "title_boost": b.title_boost,
            "text_boost": b.text_boost,
            "tie_breaker": b.tie_breaker,
            "ltr_model": settings.rerank.model,
        }
    )


def served(settings: Settings, index: str) -> Served:
    """What `index` serves (its last promotion, else the default configuration in mode hybrid), and why."""
    return ServingStore(settings.home).served(index, default_search_config(settings))


def rollback_served(settings: Settings, index: str) -> Served:
    """Serve on `index` what it served before its last promotion (the default after the first); logged. An
    index with no promotion to undo is an InvalidInputError. The one rollback of the CLI and the API."""
    return ServingStore(settings.home).rollback(index, default_search_config(settings))


def request_config(
    base: SearchConfig, mode: str | None = None, model: str | None = None, **changes: Any
) -> SearchConfig:
    """`base` (the served or a named configuration) with what a request changes: its mode (`ltr` keeps the
    base's pinned model unless `model` names one; a model alone means mode ltr) and other fields."""
    if mode is None and model is not None:
        mode = "ltr"
    if mode is not None:
        wanted = parse_mode(mode)
        pinned = base.ltr_model if base.mode is Mode.LTR else None
        changes.update(mode=wanted, ltr_model=(model or pinned) if wanted is Mode.LTR else None)
    return base.replace(**changes) if changes else base


def named_config(settings: Settings, index: str, name: str | None) -> tuple[str, SearchConfig]:
    """(name, configuration) for a request's `config`: None or `served` is what the index serves, else a
    configuration stored for the index by that name."""
    if name is None or name == SERVED:
        now = served(settings, index)
        return now.name, now.config
    return name, ConfigStore(settings.home).load(index, name)


def answer_search_config(settings: Settings, served_config: SearchConfig) -> SearchConfig:
    """The configuration answers use when the caller names none: the index's served configuration, or with
    RAGSEARCH_ANSWER_MODE other than `auto`, that mode on top of it."""
    mode = settings.answer.mode
    return served_config if mode == "auto" else request_config(served_config, mode)


def registry_rerankers(index: SearchIndex, settings: Settings) -> RerankerSource:
    """Loads LTR models from the registry on first use and keeps each version for the life of the engine
    (one-shot commands; the server's Runtime keeps its own cache). The promoted version is read each time,
    so a promotion by another process is followed."""
    registry = make_registry(settings)
    loaded: dict[str, Reranker] = {}

    def load(version: str | None) -> Reranker | None:
        version = version or settings.rerank.model or registry.promoted
        if version is None:
            return None
        if version not in loaded:
            loaded[version] = LtrReranker(registry.load(version), make_feature_logger(index, settings))
        return loaded[version]

    return load


def make_engine(
    index: SearchIndex, embedder: Embedder, settings: Settings, rerankers: RerankerSource | None = None
) -> SearchEngine:
    """The search entry point for `index`; LTR models come from the registry unless `rerankers` is given."""
    return SearchEngine(index, embedder, rerankers or registry_rerankers(index, settings),
                        settings.retrieval.weak_similarity)  # fmt: skip


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
        timeout_s=c.total_timeout_s,
        max_retries=c.max_retries,
        connect_timeout_s=c.connect_timeout_s,
        first_token_timeout_s=c.first_token_timeout_s,
    )


def make_answerer(
    engine: SearchEngine,
    config: SearchConfig,
    settings: Settings,
    llm: LLMClient | None,
    filters: Filters | None = None,
) -> Answerer:
    """Answers built from exactly the ranking `config` gives (on the passages matching `filters`), so source
    [n] is result n of that search."""
    a = settings.answer
    ranking = config.replace(k=a.top_passages)

    def search(question: str) -> RankedHits:
        result = engine.search(question, ranking, filters=filters)
        rerank_ms = result.timings_ms.get("rerank_ms", 0.0)
        hits = with_dense_scores(engine, question, result.hits)
        return RankedHits(
            hits, result.timings_ms["total_ms"] - rerank_ms, rerank_ms, result.mode, result.notices
        )

    answer_settings = AnswerConfig(
        top_passages=a.top_passages,
        context_tokens=a.context_tokens,
        max_question_chars=a.max_question_chars,
        min_rerank_score=a.min_rerank_score,
        min_dense_score=a.min_dense_score,
    )
    return Answerer(search, engine.index.get, llm, answer_settings)


def with_dense_scores(engine: SearchEngine, question: str, hits: list[Candidate]) -> list[Candidate]:
    """`hits` in the same order, each with its cosine to the question: the answer's relevance gate reads it,
    and a bm25 ranking has none of its own."""
    missing = [h.id for h in hits if h.dense_score is None]
    if not missing:
        return hits
    vectors = engine.index.vectors(missing)
    query = np.asarray(engine.encode([question])[0], dtype=np.float32)
    cosines = {pid: float(np.dot(np.asarray(v, dtype=np.float32), query)) for pid, v in vectors.items()}
    return [
        h if h.dense_score is not None else dataclasses.replace(h, dense_score=cosines.get(h.id))
        for h in hits
    ]


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
        max_depth=r.max_depth,
        min_data_in_leaf=r.min_data_in_leaf,
        feature_fraction=r.feature_fraction,
        bagging_fraction=r.bagging_fraction,
        lambda_l2=r.lambda_l2,
        num_boost_round=r.num_boost_round,
        early_stopping_rounds=r.early_stopping_rounds,
        seed=r.seed,
        num_threads=r.threads,
        prior_weight=r.prior_weight,
        tree_folds=r.tree_folds,
        tree_split=r.tree_split,
        monotone=r.monotone,
    )
