"""Fine-tuning the bi-encoder (rerank/encoder_tuning.py) on a real SciFact slice for a few steps: the version it
registers, and the tuned model through the embedder contract on both query runtimes (torch and ONNX)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ragsearch.rerank.encoder_tuning import EncoderManifest, EncoderRegistry
from ragsearch.rerank.errors import ModelNotFoundError
from ragsearch.retrieval.embedding import SentenceTransformerEmbedder
from tests.retrieval.embedder_contract import EmbedderContract, TokenizingContract

pytestmark = pytest.mark.slow


def test_registers_a_whole_version_with_its_manifest(
    finetuned_encoder: tuple[EncoderManifest, EncoderRegistry],
) -> None:
    manifest, registry = finetuned_encoder
    assert manifest.version == "e0001" and registry.versions() == ["e0001"]
    assert registry.manifest("e0001") == manifest and registry.next_version() == "e0002"
    folder = registry.path("e0001")
    assert (folder / "model.safetensors").is_file() and not list(registry.root.glob(".*.tmp"))
    assert manifest.train_split == "train" and manifest.dev.startswith("holdout")
    assert manifest.training_data["triples"] > 8 and len(manifest.training_data["sha256"]) == 64
    assert {"dev_candidate_nDCG@10_10_base", "dev_candidate_nDCG@10_10_tuned"} <= set(manifest.metrics)
    with pytest.raises(ModelNotFoundError, match="have: e0001"):
        registry.path("e0002")


def test_tuned_weights_differ_from_the_base(
    finetuned_encoder: tuple[EncoderManifest, EncoderRegistry], real_embedder: SentenceTransformerEmbedder
) -> None:
    _, registry = finetuned_encoder
    tuned = SentenceTransformerEmbedder(str(registry.path("e0001")))
    q = ["vitamin D deficiency and bone fractures"]
    cos = float(tuned.embed_queries(q)[0] @ real_embedder.embed_queries(q)[0])
    assert 0.9 < cos < 0.999999  # a few steps move the encoder, but not far


@pytest.fixture(scope="module")
def tuned_folder(finetuned_encoder: tuple[EncoderManifest, EncoderRegistry]) -> Path:
    return finetuned_encoder[1].path("e0001")


class TestFineTunedEncoder(EmbedderContract, TokenizingContract):
    @pytest.fixture(scope="class")
    def embedder(self, tuned_folder: Path) -> SentenceTransformerEmbedder:
        e = SentenceTransformerEmbedder(str(tuned_folder))
        assert e.hf_tokenizer()[1] == 128  # the max length it was tuned with travels with the model
        return e


class TestFineTunedEncoderOnOnnx(EmbedderContract, TokenizingContract):
    @pytest.fixture(scope="class")
    def embedder(self, tuned_folder: Path, shared_onnx_cache: Path) -> SentenceTransformerEmbedder:
        e = SentenceTransformerEmbedder(str(tuned_folder), query_runtime="onnx", onnx_cache=shared_onnx_cache)
        e.embed_queries(["warm up"])
        assert e._onnx is not None
        return e

    def test_onnx_queries_equal_torch_queries(
        self, embedder: SentenceTransformerEmbedder, tuned_folder: Path
    ) -> None:
        from tests.retrieval.embedder_contract import TEXTS

        torch_vecs = SentenceTransformerEmbedder(str(tuned_folder)).embed_queries(TEXTS)
        assert np.min(np.sum(embedder.embed_queries(TEXTS) * torch_vecs, axis=1)) > 0.99999
