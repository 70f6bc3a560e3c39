"""The real packaged all-MiniLM-L6-v2 through the Embedder seam."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.embedding import Embedder, SentenceTransformerEmbedder, default_prefixes, passage_text
from retrieval.errors import RagsearchError

pytestmark = pytest.mark.slow


def test_real_model_embeds_meaningfully(real_embedder: SentenceTransformerEmbedder) -> None:
    assert isinstance(real_embedder, Embedder)
    assert real_embedder.dim == 384
    docs = real_embedder.embed_documents(
        [
            passage_text("Vitamin D", "Vitamin D deficiency weakens bones."),
            "Stock markets fell sharply today.",
        ]
    )
    q = real_embedder.embed_queries(["low vitamin D and osteoporosis"])[0]
    assert docs.shape == (2, 384) and docs.dtype == np.float32
    assert np.linalg.norm(docs, axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)
    assert float(docs[0] @ q) > float(docs[1] @ q) + 0.2


def test_prefixes_by_model_family() -> None:
    assert default_prefixes("intfloat/e5-small-v2") == ("query: ", "passage: ")
    assert default_prefixes("all-MiniLM-L6-v2") == ("", "")
    e = SentenceTransformerEmbedder("intfloat/e5-small-v2", query_prefix="q> ")
    assert (e.query_prefix, e.document_prefix) == ("q> ", "passage: ")


def test_missing_model_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    e = SentenceTransformerEmbedder(str(tmp_path / "no-such-model"))
    with pytest.raises(RagsearchError, match="cannot load embedding model"):
        e.embed_queries(["x"])


def test_onnx_queries_equal_torch_queries(shared_data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The ONNX Runtime path gives the torch vectors (real model, real SciFact queries, batched and single),
    is exported once per model and reused by a second encoder."""
    import json

    queries = [json.loads(line)["text"] for line in (shared_data / "scifact" / "queries.jsonl").open()][:64]
    torch_vecs = SentenceTransformerEmbedder("all-MiniLM-L6-v2").embed_queries(queries)
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

    from retrieval.embedding import resolve_model_path

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
