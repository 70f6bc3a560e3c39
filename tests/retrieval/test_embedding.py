"""The embedder contract run against the real packaged all-MiniLM-L6-v2 (torch) and the FAKE hash embedder;
the model-specific behaviours of `SentenceTransformerEmbedder`. The ONNX query runtime: test_onnx_queries.py;
the fine-tuned encoder: tests/rerank/test_encoder_tuning.py."""

from __future__ import annotations

import numpy as np
import pytest

from ragsearch.retrieval.embedding import (
    Embedder,
    SentenceTransformerEmbedder,
    default_prefixes,
    passage_text,
)
from ragsearch.retrieval.errors import RagsearchError
from tests.fakes import FakeHashEmbedder
from tests.retrieval.embedder_contract import EmbedderContract, TokenizingContract


@pytest.mark.slow
class TestTorchEmbedder(EmbedderContract, TokenizingContract):
    @pytest.fixture()
    def embedder(self, real_embedder: SentenceTransformerEmbedder) -> SentenceTransformerEmbedder:
        return real_embedder


@pytest.mark.slow
class TestPrefixedEmbedder(EmbedderContract, TokenizingContract):
    """Query and document prefixes (as e5 / bge need) keep the contract; the prefix counts against max length."""

    @pytest.fixture(scope="class")
    def embedder(self) -> SentenceTransformerEmbedder:
        return SentenceTransformerEmbedder(
            "all-MiniLM-L6-v2", query_prefix="query: ", document_prefix="passage: "
        )


class TestFakeHashEmbedder(EmbedderContract):
    @pytest.fixture()
    def embedder(self) -> FakeHashEmbedder:
        return FakeHashEmbedder()


@pytest.mark.slow
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


@pytest.mark.slow
def test_missing_model_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    e = SentenceTransformerEmbedder(str(tmp_path / "no-such-model"))
    with pytest.raises(RagsearchError, match="cannot load embedding model"):
        e.embed_queries(["x"])
