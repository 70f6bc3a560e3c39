"""The embedder contract, written once against the `Embedder` / `TokenizingEmbedder` Protocols.

Each implementation's test class subclasses `EmbedderContract` (and `TokenizingContract` when it exposes
its tokenizer) and supplies an `embedder` fixture. It runs against the real sentence-transformers model on
torch and on the ONNX query runtime, a fine-tuned encoder, and the FAKE hash embedder (so the fake cannot
drift from the real thing).

What the rest of the system relies on: vectors are float32 rows of `dim` values with unit L2 norm (the
indexes score by dot product as cosine, see `SearchIndex.vector_search`), one row per text in input order,
the same text always gives the same vector whatever the batch it is in, and an empty input is (0, dim).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from ragsearch.retrieval.embedding import Embedder, TokenizingEmbedder, passage_text

TEXTS = [
    passage_text("Vitamin D", "Vitamin D deficiency weakens bones and raises the risk of fractures."),
    "Stock markets fell sharply today after the central bank raised interest rates.",
    "Espresso is coffee brewed under pressure.",
    "Ébullition de l'eau à 100 °C — naïve café, 東京, emoji 🙂.",
    "???",
    "a",
]
QUERY = "low vitamin D and bone fractures"
LONG = " ".join(f"Sentence {i} says that calcium and vitamin D keep bones strong." for i in range(200))


def assert_unit_rows(m: NDArray[np.float32], n: int, dim: int) -> None:
    assert isinstance(m, np.ndarray)
    assert m.shape == (n, dim) and m.dtype == np.float32
    assert np.all(np.isfinite(m))
    if n:
        assert np.linalg.norm(m, axis=1) == pytest.approx(np.ones(n), abs=1e-4)


class EmbedderContract:
    TOL = 1e-5
    """How close two encodings of the same text must be (batch padding changes float sums slightly)."""

    @pytest.fixture()
    def embedder(self) -> Embedder:
        raise NotImplementedError("each implementation's test class supplies `embedder`")

    def test_is_an_embedder_with_a_name_and_dimension(self, embedder: Embedder) -> None:
        assert isinstance(embedder, Embedder)
        assert isinstance(embedder.name, str) and embedder.name
        assert isinstance(embedder.dim, int) and embedder.dim > 0
        assert embedder.dim == embedder.dim  # stable

    def test_documents_and_queries_are_unit_float32_rows(self, embedder: Embedder) -> None:
        assert_unit_rows(embedder.embed_documents(TEXTS), len(TEXTS), embedder.dim)
        assert_unit_rows(embedder.embed_queries(TEXTS), len(TEXTS), embedder.dim)

    def test_empty_input_is_zero_rows_of_dim(self, embedder: Embedder) -> None:
        assert_unit_rows(embedder.embed_documents([]), 0, embedder.dim)
        assert_unit_rows(embedder.embed_queries([]), 0, embedder.dim)

    def test_deterministic_and_independent_of_batching(self, embedder: Embedder) -> None:
        """The same text gives the same vector again, alone, in another batch size, at another position."""
        for embed in (embedder.embed_documents, embedder.embed_queries):
            whole = embed(TEXTS)
            assert np.allclose(embed(TEXTS), whole, atol=self.TOL)
            assert np.allclose(embed(TEXTS, batch_size=2), whole, atol=self.TOL)
            singles = np.concatenate([embed([t]) for t in TEXTS])
            assert np.allclose(singles, whole, atol=self.TOL)
            backwards = embed(TEXTS[::-1])
            assert np.allclose(backwards[::-1], whole, atol=self.TOL)  # rows follow the input order

    def test_progress_counts_every_document_once(self, embedder: Embedder) -> None:
        seen: list[int] = []
        embedder.embed_documents(TEXTS, batch_size=4, progress=seen.append)
        assert sum(seen) == len(TEXTS) and all(n > 0 for n in seen)

    def test_related_text_is_closer_than_unrelated(self, embedder: Embedder) -> None:
        docs = embedder.embed_documents(TEXTS[:3])
        q = embedder.embed_queries([QUERY])[0]
        sims = docs @ q
        assert sims[0] > sims[1] + 0.1 and sims[0] > sims[2] + 0.1

    def test_text_longer_than_the_model_reads_is_accepted(self, embedder: Embedder) -> None:
        assert_unit_rows(embedder.embed_documents([LONG, "short"]), 2, embedder.dim)
        assert_unit_rows(embedder.embed_queries([LONG]), 1, embedder.dim)


class TokenizingContract:
    """For embedders that expose their tokenizer: what token-aware chunking counts is what the model reads."""

    @pytest.fixture()
    def embedder(self) -> TokenizingEmbedder:
        raise NotImplementedError("each implementation's test class supplies `embedder`")

    def test_is_a_tokenizing_embedder(self, embedder: TokenizingEmbedder) -> None:
        assert isinstance(embedder, TokenizingEmbedder)
        assert isinstance(embedder.document_prefix, str)
        backend, max_len = embedder.hf_tokenizer()
        assert isinstance(max_len, int) and 8 < max_len <= 8192
        enc = backend.encode("Vitamin D keeps bones strong.", add_special_tokens=False)
        assert len(enc.ids) == len(enc.offsets) > 3

    def test_max_length_is_what_the_model_reads(self, embedder: TokenizingEmbedder) -> None:
        """Cut a long text where the tokenizer says the model stops reading: the vector does not change.
        Cut it shorter: it does. So the chunker's budget (max length minus specials and prefix) is exact."""
        from tokenizers import Tokenizer

        backend, max_len = embedder.hf_tokenizer()
        tok = Tokenizer.from_str(backend.to_str())
        tok.no_truncation()
        tok.no_padding()
        text = LONG
        prefix_tokens = len(tok.encode(embedder.document_prefix, add_special_tokens=False).ids)
        room = max_len - tok.num_special_tokens_to_add(False) - prefix_tokens
        offsets = tok.encode(text, add_special_tokens=False).offsets
        assert len(offsets) > room + 20
        full, exact, short = embedder.embed_documents(
            [text, text[: offsets[room - 1][1]], text[: offsets[room - 20][1]]]
        )
        assert float(full @ exact) > 0.99999
        assert float(full @ short) < 0.9999
