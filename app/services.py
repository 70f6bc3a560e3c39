"""Wiring: builds backends, embedders and retrievers from settings. Stages never read settings themselves."""

from __future__ import annotations

from app.settings import Settings
from rerank.extract import FeatureLogger
from rerank.ltr import LtrReranker
from rerank.registry import ModelRegistry
from rerank.train import TrainParams
from retrieval.embedded import EmbeddedBackend
from retrieval.embedding import Embedder, SentenceTransformerEmbedder
from retrieval.errors import RagsearchError
from retrieval.index import IndexBackend, SearchIndex
from retrieval.searcher import Retriever
from retrieval.types import IndexSpec


def make_backend(settings: Settings) -> IndexBackend:
    if settings.backend == "embedded":
        return EmbeddedBackend(settings.home)
    raise RagsearchError(
        f"backend {settings.backend!r} is not available in this build; use RAGSEARCH_BACKEND=embedded"
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


def make_registry(settings: Settings) -> ModelRegistry:
    return ModelRegistry(settings.home)


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
