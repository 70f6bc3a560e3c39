"""The ONNX Runtime query path: the embedder contract run on it, and agreement with the torch path on real
queries (the real packaged all-MiniLM-L6-v2; a fine-tuned encoder's ONNX path is in tests/rerank/)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ragsearch.retrieval.embedding import SentenceTransformerEmbedder
from ragsearch.retrieval.errors import RagsearchError
from tests.retrieval.embedder_contract import EmbedderContract, TokenizingContract

pytestmark = pytest.mark.slow


def scifact_queries(shared_data: Path, n: int = 64) -> list[str]:
    return [json.loads(line)["text"] for line in (shared_data / "scifact" / "queries.jsonl").open()][:n]


class TestOnnxQueryRuntime(EmbedderContract, TokenizingContract):
    @pytest.fixture(scope="class")
    def embedder(self, shared_onnx_cache: Path) -> SentenceTransformerEmbedder:
        e = SentenceTransformerEmbedder(
            "all-MiniLM-L6-v2", query_runtime="onnx", onnx_cache=shared_onnx_cache
        )
        e.embed_queries(["warm up"])
        assert e._onnx is not None  # the queries of this class really run on ONNX Runtime
        return e


def test_onnx_queries_equal_torch_queries(shared_data, real_embedder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The ONNX Runtime path gives the torch vectors (real model, real SciFact queries, batched and single),
    is exported once per model and reused by a second encoder."""
    queries = scifact_queries(shared_data)
    torch_vecs = real_embedder.embed_queries(queries)
    onnx = SentenceTransformerEmbedder("all-MiniLM-L6-v2", query_runtime="onnx", onnx_cache=tmp_path)
    batched = onnx.embed_queries(queries)
    single = np.stack([onnx.embed_queries([q])[0] for q in queries[:8]])
    assert onnx._onnx is not None  # it really ran on ONNX Runtime
    assert batched.shape == torch_vecs.shape and batched.dtype == np.float32
    assert np.min(np.sum(batched * torch_vecs, axis=1)) > 0.99999
    assert np.min(np.sum(single * torch_vecs[:8], axis=1)) > 0.99999
    [export] = list(tmp_path.glob("*.onnx"))
    stamp = export.stat().st_mtime_ns
    again = SentenceTransformerEmbedder(
        "all-MiniLM-L6-v2", query_runtime="onnx", onnx_cache=tmp_path, query_threads=1
    )
    assert np.allclose(again.embed_queries(queries[:2]), batched[:2], atol=1e-6)
    assert export.stat().st_mtime_ns == stamp and len(list(tmp_path.glob("*.onnx"))) == 1
    assert again._onnx is not None and again._onnx.session.get_session_options().intra_op_num_threads == 1


def test_models_onnx_cannot_run_stay_on_torch(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sentence_transformers import SentenceTransformer, models

    from ragsearch.retrieval.embedding import resolve_model_path

    base = SentenceTransformer(resolve_model_path("all-MiniLM-L6-v2"), device="cpu")
    folder = tmp_path / "max-pooled"
    SentenceTransformer(modules=[base[0], models.Pooling(384, pooling_mode="max")], device="cpu").save(
        str(folder)
    )
    e = SentenceTransformerEmbedder(str(folder), query_runtime="onnx", onnx_cache=tmp_path / "cache")
    vec = e.embed_queries(["vitamin d and bones"])
    assert e._onnx is None and vec.shape == (1, 384)  # answered by torch, and said so in the log
    assert not (tmp_path / "cache").exists()
    with pytest.raises(RagsearchError, match="valid choices are onnx, torch"):
        SentenceTransformerEmbedder("all-MiniLM-L6-v2", query_runtime="tensorrt")


def test_unusable_onnx_cache_falls_back_to_torch(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A cache path that cannot hold the export (here: a file) must not take query encoding down."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    e = SentenceTransformerEmbedder("all-MiniLM-L6-v2", query_runtime="onnx", onnx_cache=blocker / "onnx")
    vec = e.embed_queries(["vitamin d and bones"])
    torch_vec = SentenceTransformerEmbedder("all-MiniLM-L6-v2").embed_queries(["vitamin d and bones"])
    assert e._onnx is None and np.allclose(vec, torch_vec, atol=1e-6)
