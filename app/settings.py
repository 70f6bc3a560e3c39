"""One validated settings object, read from `RAGSEARCH_*` environment variables (and `.env`).

Sections are nested: `RAGSEARCH_EMBEDDING_MODEL` sets `embedding.model`, `RAGSEARCH_BM25_TIE_BREAKER`
sets `bm25.tie_breaker`. An unknown `RAGSEARCH_*` variable or an invalid value fails loudly, naming the
valid choices.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import platformdirs
from dotenv import dotenv_values
from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ragsearch.retrieval.errors import RagsearchError
from ragsearch.retrieval.types import AnalyzerSpec, FieldBoosts

ENV_PREFIX = "RAGSEARCH_"
BEIR_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets"


class EmbeddingSettings(BaseModel, extra="forbid"):
    model: str = Field("all-MiniLM-L6-v2", description="sentence-transformers model name or local path")
    query_prefix: str | None = Field(None, description="prepended to queries; default by model family")
    document_prefix: str | None = Field(None, description="prepended to passages; default by model family")
    batch_size: int = Field(64, ge=1, le=4096)
    device: str = "cpu"
    max_seq_length: int | None = Field(None, ge=8, le=8192)
    query_runtime: Literal["onnx", "torch"] = Field(
        "onnx",
        description="onnx: queries through ONNX Runtime when the model is transformer + mean/CLS pooling "
        "(same vectors, ~3x faster on CPU; exported once into onnx_cache), else torch",
    )
    onnx_cache: Path | None = Field(
        None, description="where ONNX exports are kept (default <home>/cache/onnx)"
    )
    query_threads: int | None = Field(
        None,
        ge=1,
        le=256,
        description="ONNX Runtime threads per query (default: up to 4 of the CPUs; lowest latency). 1 trades "
        "~2 ms per query for ~25% more throughput under concurrent load on 2 cores (docs/benchmarks.md)",
    )


class BM25Settings(BaseModel, extra="forbid"):
    """Defaults measured on SciFact test: best_fields, tie_breaker 0.5, no title boost, stopwords, stemming."""

    title_boost: float = Field(1.0, ge=0)
    text_boost: float = Field(1.0, ge=0)
    tie_breaker: float = Field(0.5, ge=0, le=1)
    stopwords: bool = True
    stemmer: Literal[
        "none", "arabic", "danish", "dutch", "english", "finnish", "french", "german", "greek", "hungarian",
        "italian", "norwegian", "portuguese", "romanian", "russian", "spanish", "swedish", "tamil", "turkish",
    ] = "english"  # fmt: skip

    def boosts(self) -> FieldBoosts:
        return FieldBoosts(title=self.title_boost, text=self.text_boost, tie_breaker=self.tie_breaker)

    def analyzer(self) -> AnalyzerSpec:
        return AnalyzerSpec(
            stopwords=self.stopwords, stemmer=None if self.stemmer == "none" else self.stemmer
        )


class RetrievalSettings(BaseModel, extra="forbid"):
    fusion: Literal["minmax", "rrf", "zscore"] = "minmax"
    rrf_k: float = Field(60.0, gt=0)
    dense_weight: float = Field(
        0.5, ge=0, le=1, description="weight of dense scores in fusion (BM25 gets 1 - w)"
    )
    bm25_depth: int = Field(100, ge=1, le=10_000)
    dense_depth: int = Field(100, ge=1, le=10_000)
    weak_similarity: float = Field(
        0.3,
        ge=-1,
        le=1,
        description="a search or answer whose best dense similarity is below this says its evidence is weak; "
        "depends on the embedding model (the default model, 100 SciFact test queries: lowest 0.34; six "
        "off-topic queries: 0.14-0.33, five of them below 0.3); -1: never",
    )
    vector_index: Literal["auto", "exact", "hnsw", "ivf"] = Field(
        "auto",
        description="embedded backend: exact numpy search, IVF (faiss), HNSW (usearch), or auto = exact below "
        "100k passages, IVF from there (1M: recall@100 0.996, dense p95 14 ms here; docs/benchmarks.md)",
    )


class LLMSettings(BaseModel, extra="forbid"):
    """Any OpenAI-compatible server. Unset base_url and api_key fall back to OPENAI_BASE_URL / OPENAI_API_KEY."""

    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str = "gpt-4o-mini"
    temperature: float = Field(0.1, ge=0, le=2)
    max_tokens: int = Field(512, ge=1, le=32_768)
    connect_timeout_s: float = Field(3.0, gt=0, le=600, description="seconds to connect to the server")
    first_token_timeout_s: float = Field(
        20.0, gt=0, le=3600, description="seconds to wait for the first token (and any later silence)"
    )
    total_timeout_s: float = Field(60.0, gt=0, le=3600, description="seconds for a whole answer")
    timeout_s: float | None = Field(None, gt=0, description="deprecated: the old name of total_timeout_s")
    max_retries: int = Field(
        0, ge=0, le=10, description="retries of a failed request; each one delays the fallback answer"
    )

    @model_validator(mode="after")
    def _old_timeout(self) -> LLMSettings:
        if self.timeout_s is not None and "total_timeout_s" not in self.model_fields_set:
            self.total_timeout_s = self.timeout_s
        return self

    def resolved(self) -> tuple[str | None, str | None]:
        """(base_url, api_key) after the OPENAI_* fallbacks; both None means no LLM is configured."""
        base_url = self.base_url or os.environ.get("OPENAI_BASE_URL") or None
        key = self.api_key.get_secret_value() if self.api_key else os.environ.get("OPENAI_API_KEY") or None
        return base_url, key


class AnswerSettings(BaseModel, extra="forbid"):
    mode: Literal["auto", "bm25", "dense", "hybrid", "ltr"] = Field(
        "auto",
        description="ranking used for answers: auto = the index's served configuration; a mode = that mode on it",
    )
    top_passages: int = Field(5, ge=1, le=50)
    context_tokens: int = Field(1500, ge=100, le=200_000)
    max_question_chars: int = Field(2000, ge=10, le=100_000)
    min_rerank_score: float | None = None
    min_dense_score: float = Field(
        0.3,
        ge=-1,
        le=1,
        description="measured on SciFact: in-domain top-1 cosine p1 0.35, off-topic max 0.34",
    )


class APISettings(BaseModel, extra="forbid"):
    """The JSON API. Write endpoints need `api_key`; search, answer, health and drift need it too when
    `protect_reads`."""

    api_key: SecretStr | None = None
    protect_reads: bool = False
    cors_origins: list[str] = Field(
        default_factory=list, description="exact origins allowed by CORS; none by default"
    )
    max_query_chars: int = Field(1000, ge=1, le=100_000)
    max_k: int = Field(100, ge=1, le=1000)
    max_upload_bytes: int = Field(10_000_000, ge=1_000, le=2_000_000_000)
    max_body_bytes: int = Field(
        12_000_000,
        ge=1_000,
        le=2_100_000_000,
        description="largest request body, checked from Content-Length and while it streams (413)",
    )
    write_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="nice value of the server's writer thread (writes through the API embed there, with the "
        "threads torch starts from it): searches keep the CPU while documents are added. 0: same as searches "
        "(Linux only; elsewhere writes run at the server's priority)",
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    url: str = Field("http://127.0.0.1:8000", description="where the UI reaches the API")


class ElasticsearchSettings(BaseModel, extra="forbid"):
    """How to reach the cluster when `backend` is `elasticsearch`. Secrets are SecretStr: never printed."""

    url: str = Field("http://localhost:9200", description="cluster URL, http:// or https://")
    api_key: SecretStr | None = Field(None, description="API key (base64 id:key); or username/password")
    username: str | None = None
    password: SecretStr | None = None
    ca_certs: Path | None = Field(None, description="CA certificate (PEM) that signed the cluster's TLS cert")
    verify_certs: bool = True
    request_timeout: float = Field(30.0, gt=0, le=3600, description="seconds per request")
    max_retries: int = Field(3, ge=0, le=20, description="retries on connection errors, timeouts and 429s")

    @model_validator(mode="after")
    def _one_auth(self) -> ElasticsearchSettings:
        if self.api_key and self.username:
            raise ValueError("set either RAGSEARCH_ES_API_KEY or RAGSEARCH_ES_USERNAME/PASSWORD, not both")
        if bool(self.username) != bool(self.password):
            raise ValueError("RAGSEARCH_ES_USERNAME and RAGSEARCH_ES_PASSWORD go together: set both")
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"RAGSEARCH_ES_URL must start with http:// or https://, got {self.url!r}")
        return self


class IngestSettings(BaseModel, extra="forbid"):
    """How files become passages: `RAGSEARCH_INGEST_CHUNK_OVERLAP=64` sets `ingest.chunk_overlap`."""

    max_file_mb: float = Field(
        50.0, gt=0, description="larger document files are refused (JSONL is streamed)"
    )
    chunk_tokens: int | None = Field(
        None, ge=16, le=8192, description="tokens per passage; default: the model's max length"
    )
    chunk_overlap: int = Field(32, ge=0, le=4096, description="tokens shared by consecutive passages")
    batch_size: int = Field(1024, ge=1, le=100_000, description="passages per index write")


class RerankSettings(BaseModel, extra="forbid"):
    """Learning to rank: the model served by mode `ltr` and LightGBM training settings (chosen on dev)."""

    model: str | None = Field(None, description="LTR model version to serve (default: the promoted one)")
    tree_runtime: Literal["compiled", "lightgbm"] = Field(
        "compiled",
        description="compiled: the served model's trees compiled to native code by lleaves (same scores, "
        "~6x faster; built once into <home>/cache/trees, LightGBM if that fails); lightgbm: Booster.predict",
    )
    learning_rate: float = Field(0.05, gt=0, le=1)
    num_leaves: int = Field(15, ge=2, le=1024)
    max_depth: int = Field(
        -1, ge=-1, le=64, description="tree depth limit; -1: none (leaf-wise up to num_leaves)"
    )
    min_data_in_leaf: int = Field(50, ge=1)
    feature_fraction: float = Field(0.8, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1)
    lambda_l2: float = Field(1.0, ge=0)
    num_boost_round: int = Field(1000, ge=1, le=100_000)
    early_stopping_rounds: int = Field(100, ge=1)
    holdout_fraction: float = Field(0.2, gt=0, lt=1, description="share of train queries held out as dev")
    seed: int = 13
    threads: int = Field(2, ge=1, le=256)
    prior_weight: float = Field(
        4.0,
        ge=0,
        description="trees start from prior_weight * fused_score and learn corrections; 0: from scratch. "
        "With a prior, zero trees (the fused ranking) is a candidate of the tree-count CV",
    )
    tree_folds: int = Field(
        5, ge=2, le=50, description="the number of trees is chosen by K-fold CV over the training queries"
    )
    tree_split: Literal["queries", "documents"] = Field(
        "queries",
        description="what the folds that choose the trees split: queries, or documents (queries sharing a "
        "relevant document stay together: trees that help on documents never judged in training)",
    )
    monotone: bool = Field(False, description="keep the model non-decreasing in first-stage relevance scores")


class QueryLogSettings(BaseModel, extra="forbid"):
    """The log of served searches (`<home>/querylog.sqlite`): lengths, scores and latency for drift."""

    store_text: bool = Field(
        False,
        description="store each served query's text in the query log, for query sets sampled from traffic "
        "(`ragsearch query-sets create --from-log`); off by default",
    )


class ImpressionSettings(BaseModel, extra="forbid"):
    """The impression log (`<home>/impressions.sqlite`): every search the API answers, with what it showed,
    and the clicks, dwell times and votes on it (click models, online experiments)."""

    enabled: bool = Field(True, description="log impressions and accept events on them (POST /events)")
    retention_days: float = Field(
        90, gt=0, description="impressions and their events older than this are deleted"
    )


class OnlineSettings(BaseModel, extra="forbid"):
    """Online experiments (`ragsearch online start`): interleaving the served configuration with a candidate."""

    max_candidate_latency_ms: float = Field(
        2000,
        gt=0,
        description="a candidate search slower than this stops the experiment (users get the served one)",
    )


class JudgeSettings(BaseModel, extra="forbid"):
    """The LLM judge (`ragsearch judgments generate`), through the LLM settings' server and model."""

    concurrency: int = Field(2, ge=1, le=64, description="pairs judged at once (requests in flight)")
    max_tokens: int = Field(16, ge=1, le=1024, description="tokens a judge reply may take (`Grade: N`)")


class QueryGenSettings(BaseModel, extra="forbid"):
    """Generated queries (`ragsearch query-sets generate`), through the LLM settings' server and model."""

    concurrency: int = Field(2, ge=1, le=64, description="passages asked at once (requests in flight)")
    max_tokens: int = Field(48, ge=1, le=1024, description="tokens a reply may take (`Query: ...`)")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        env_file=".env",
        dotenv_filtering="match_prefix",  # .env is shared (compose's ELASTIC_PASSWORD...): only RAGSEARCH_* keys
        extra="forbid",
        case_sensitive=False,
    )

    home: Path = Field(
        default_factory=lambda: platformdirs.user_data_path("ragsearch"),
        description="indexes, models and logs live here (default: the user's data folder, e.g. "
        "~/.local/share/ragsearch on Linux, so a command finds them from any directory)",
    )
    data_dir: Path = Field(Path("../shared/data"), description="folder of BEIR datasets")
    backend: Literal["embedded", "elasticsearch"] = "embedded"
    index: str = Field("default", description="the index the API and UI serve")
    datasets_url: str = Field(BEIR_URL, description="where `ragsearch datasets get` downloads BEIR archives")
    log_level: Literal["debug", "info", "warning", "error"] = "warning"
    cli_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="CPU priority (Unix nice) of every command but serve and ui: on a busy machine the "
        "server's searches come first; 0 leaves it unchanged",
    )
    cli_idle: bool = Field(
        False,
        description="also run every command but serve and ui under Linux's SCHED_IDLE policy (CPU only when "
        "nothing else wants it; a waking server thread preempts it); for hosts where a server comes first: "
        "on a busy machine such a command may wait a long time; ignored where unsupported",
    )
    embedding: EmbeddingSettings = EmbeddingSettings()
    bm25: BM25Settings = BM25Settings()
    retrieval: RetrievalSettings = RetrievalSettings()
    ingest: IngestSettings = IngestSettings()
    llm: LLMSettings = LLMSettings()
    answer: AnswerSettings = AnswerSettings()
    api: APISettings = APISettings()
    rerank: RerankSettings = RerankSettings()
    es: ElasticsearchSettings = ElasticsearchSettings()
    querylog: QueryLogSettings = QueryLogSettings()
    impressions: ImpressionSettings = ImpressionSettings()
    online: OnlineSettings = OnlineSettings()
    judge: JudgeSettings = JudgeSettings()
    querygen: QueryGenSettings = QueryGenSettings()

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_env(cls, data: Any) -> Any:
        valid = valid_env_names()
        env_file = cls.model_config.get("env_file")
        dotenv = dotenv_values(env_file) if isinstance(env_file, str) and Path(env_file).is_file() else {}
        names = {k.upper() for k in [*os.environ, *dotenv]}
        unknown = sorted(k for k in names if k.startswith(ENV_PREFIX) and k not in valid)
        if unknown:
            raise ValueError(
                f"unknown setting {', '.join(unknown)}; valid names are: {', '.join(sorted(valid))}"
            )
        return data


def valid_env_names() -> set[str]:
    names = set()
    for name, f in Settings.model_fields.items():
        names.add(f"{ENV_PREFIX}{name}".upper())
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            names.update(f"{ENV_PREFIX}{name}_{sub}".upper() for sub in ann.model_fields)
    return names


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            (f"{'.'.join(str(p) for p in e['loc'])}: " if e["loc"] else "")
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        )
        raise RagsearchError(f"invalid settings: {problems}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
