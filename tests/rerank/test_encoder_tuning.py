"""Fine-tuning the bi-encoder (rerank/encoder_tuning.py) on a real SciFact slice for a few steps: the version it
registers, and the tuned model through the embedder contract on both query runtimes (torch and ONNX). On a real
Cranfield slice (many relevant documents per query): the batches training feeds the loss, mining, seeding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ragsearch.eval.data import JudgedSplit, load_split
from ragsearch.ingest.pipeline import ingest_records
from ragsearch.ingest.readers import read_source
from ragsearch.rerank.encoder_tuning import (
    EncoderManifest,
    EncoderRegistry,
    Triple,
    TuneParams,
    corpus_texts,
    fit_encoder,
    mine_triples,
)
from ragsearch.rerank.errors import ModelNotFoundError
from ragsearch.retrieval.embedded import EmbeddedBackend
from ragsearch.retrieval.embedding import SentenceTransformerEmbedder, resolve_model_path
from ragsearch.retrieval.searcher import Retriever
from ragsearch.retrieval.types import IndexSpec
from tests.fakes import FakeHashEmbedder
from tests.retrieval.embedder_contract import EmbedderContract, TokenizingContract
from tests.slices import make_slice

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
    assert manifest.trainer["batch_sampler"] == "NoDuplicatesBatchSampler"
    assert manifest.trainer["args"]["batch_sampler"] == "no_duplicates"
    assert (
        manifest.trainer["args"]["per_device_train_batch_size"] == 8 and manifest.trainer["args"]["seed"] == 0
    )
    assert manifest.trainer["steps"] == -(-manifest.training_data["triples"] // 8)
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


@pytest.fixture(scope="module")
def cranfield(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, JudgedSplit, list[Triple]]:
    """12 Cranfield fold1 queries (several relevant documents each) and their triples, negatives mined from a
    FAKE-hash index of the slice."""
    root = tmp_path_factory.mktemp("cran")
    data = make_slice(shared_data / "cranfield", root / "cranfield", {"fold1": 12}, 40, seed=3)
    emb = FakeHashEmbedder(dim=128, name="fake-hash-128")
    idx = EmbeddedBackend(root / "home").create("mine", IndexSpec(emb.name, emb.dim))
    ingest_records(read_source(data), idx, emb)
    split = load_split(data, "fold1")
    relevant = {d for judged in split.qrels.values() for d, rel in judged.items() if rel > 0}
    params = TuneParams(negatives_from=1, negatives_to=10)
    triples = mine_triples(
        Retriever(idx, emb), split, corpus_texts(data, relevant), list(split.queries), params
    )
    idx.close()
    return data, split, triples


def trained_batches(
    triples: list[Triple], params: TuneParams, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, list[list[tuple[tuple[int, ...], ...]]], np.ndarray]:
    """Fine-tune the real base model on `triples`; returns the optimizer steps, every batch the loss was given
    (per row: the anchor, positive and negative token ids, as the loss gets them) and the tuned model's
    embedding of a probe query."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    batches: list[list[tuple[tuple[int, ...], ...]]] = []
    forward = MultipleNegativesRankingLoss.forward

    def recording_forward(self: MultipleNegativesRankingLoss, features: list[dict], *args: object) -> object:
        columns = [[tuple(row.tolist()) for row in f["input_ids"]] for f in features]
        batches.append(list(zip(*columns, strict=True)))
        return forward(self, features, *args)

    monkeypatch.setattr(MultipleNegativesRankingLoss, "forward", recording_forward)
    model = SentenceTransformer(resolve_model_path("all-MiniLM-L6-v2"), device="cpu")
    steps = fit_encoder(model, triples, params)
    monkeypatch.undo()
    return steps, batches, model.encode(["flow past a flat plate"], convert_to_numpy=True)[0]


def test_training_batches_never_hold_a_query_twice(
    cranfield: tuple[Path, JudgedSplit, list[Triple]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A query with several relevant documents is one triple per document; two of them in one batch make each
    other's positive an in-batch negative for MultipleNegativesRankingLoss. Every batch the loss sees holds
    distinct queries (the anchors' token rows)."""
    triples = cranfield[2]
    # many triples per query: a plain shuffle puts a query twice in a batch
    assert len(triples) > 60 and len({t.query for t in triples}) == 12
    steps, batches, _ = trained_batches(triples, TuneParams(batch_size=8, max_seq_length=32), monkeypatch)
    assert steps == len(batches) == -(-len(triples) // 8)
    assert [len(b) - len({row[0] for row in b}) for b in batches] == [0] * steps
    # An epoch is as many steps as without the sampler, so the triples of queries left when fewer than a batch
    # of distinct ones remain sit it out (here, 12 queries for batches of 8: a third; on all of fold1 with
    # batches of 32: ~3%, on SciFact train: ~1 triple). Every step still has in-batch negatives.
    sizes = [len(b) for b in batches]
    assert sizes.count(8) >= steps // 3 and min(sizes) >= 2 and sum(sizes) > len(triples) / 2, sizes


def test_judged_documents_are_never_negatives(cranfield: tuple[Path, JudgedSplit, list[Triple]]) -> None:
    data, split, triples = cranfield
    judged_texts = corpus_texts(data, {d for judged in split.qrels.values() for d in judged})
    qid_of = {text: qid for qid, text in split.queries.items()}
    for t in triples:
        assert t.negative not in {judged_texts[d] for d in split.qrels[qid_of[t.query]] if d in judged_texts}
    assert len({t.negative for t in triples}) > 20


def test_the_seed_fixes_the_batches_and_the_weights(
    cranfield: tuple[Path, JudgedSplit, list[Triple]], monkeypatch: pytest.MonkeyPatch
) -> None:
    triples = cranfield[2][::6]  # a spread of queries, three steps
    params = TuneParams(batch_size=8, max_seq_length=32, learning_rate=1e-4)
    a, b = (trained_batches(triples, params, monkeypatch) for _ in range(2))
    assert a[0] == len(a[1]) == -(-len(triples) // 8) and a[1] == b[1] and np.array_equal(a[2], b[2])
