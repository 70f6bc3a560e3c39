"""The LambdaMART reranker (rerank/ltr.py) through the reranker contract: a real LightGBM model trained on a real
SciFact slice, served by both tree runtimes (compiled and LightGBM itself).

The index uses the FAKE hash embedder (dense scores are still a real feature); the fake passes the embedder
contract, and the real-model path is in test_cli_ltr.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ragsearch.eval.data import load_split
from ragsearch.ingest.pipeline import ingest_records
from ragsearch.ingest.readers import read_source
from ragsearch.rerank.build import train_ltr
from ragsearch.rerank.extract import FeatureLogger
from ragsearch.rerank.ltr import LtrReranker
from ragsearch.rerank.protocol import TrainingData
from ragsearch.rerank.registry import ModelManifest, ModelRegistry
from ragsearch.rerank.train import TrainParams
from ragsearch.retrieval.embedded import EmbeddedBackend
from ragsearch.retrieval.searcher import Retriever
from ragsearch.retrieval.types import Candidate, EmbeddedPassage, IndexSpec, Passage
from tests.fakes import FakeHashEmbedder
from tests.rerank.reranker_contract import RerankCase, RerankerContract

PARAMS = TrainParams(learning_rate=0.1, num_boost_round=60, early_stopping_rounds=10, min_data_in_leaf=20)
TWIN_TEXT = "Vitamin D supplementation and the risk of fractures in older adults."


@pytest.fixture(scope="module")
def trained(
    scifact_cli_slice: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Retriever, Path, ModelManifest]]:
    home = tmp_path_factory.mktemp("ltr")
    emb = FakeHashEmbedder(dim=128, name="fake-hash-128")
    idx = EmbeddedBackend(home).create("sf", IndexSpec(emb.name, emb.dim))
    ingest_records(read_source(scifact_cli_slice), idx, emb)
    twins = [Passage(pid, "Twin", TWIN_TEXT, pid) for pid in ("twin-b", "twin-a", "twin-c")]
    vecs = emb.embed_documents([f"Twin {TWIN_TEXT}"] * len(twins))
    idx.upsert([EmbeddedPassage(p, v, p.content_hash()) for p, v in zip(twins, vecs, strict=True)])
    retriever = Retriever(idx, emb, bm25_depth=30, dense_depth=30)
    outcome = train_ltr(
        retriever, FeatureLogger(idx), ModelRegistry(home), load_split(scifact_cli_slice, "train"), None, None,
        PARAMS,
    )  # fmt: skip
    yield retriever, home, outcome.manifest
    idx.close()


class TestLtrReranker(RerankerContract):
    @pytest.fixture(scope="class", params=["compiled", "lightgbm"])
    def reranker(
        self, request: pytest.FixtureRequest, trained: tuple[Retriever, Path, ModelManifest]
    ) -> LtrReranker:
        retriever, home, manifest = trained
        model = ModelRegistry(home, request.param).load(manifest.version)
        assert model.trees.name == request.param
        return LtrReranker(model, FeatureLogger(retriever.index))

    @pytest.fixture(scope="class")
    def cases(
        self, trained: tuple[Retriever, Path, ModelManifest], scifact_cli_slice: Path
    ) -> list[RerankCase]:
        retriever = trained[0]
        test = load_split(scifact_cli_slice, "test")
        out = []
        for q in list(test.queries.values())[:8]:
            vec = retriever.embedder.embed_queries([q])[0]
            out.append(RerankCase(q, retriever.candidates(q, vec), vec))
        return out

    @pytest.fixture(scope="class")
    def twins(self, trained: tuple[Retriever, Path, ModelManifest]) -> RerankCase:
        retriever = trained[0]
        vec = retriever.embedder.embed_queries(["vitamin D fractures"])[0]
        twins = [
            Candidate(
                p, p, bm25_score=7.5, bm25_rank=1, dense_score=0.5, dense_rank=1, fused_score=1.0, score=1.0
            )
            for p in ("twin-b", "twin-a", "twin-c")
        ]
        return RerankCase("vitamin D fractures", twins, vec)

    def test_name_and_training_data_come_from_the_manifest(
        self, reranker: LtrReranker, trained: tuple[Retriever, Path, ModelManifest]
    ) -> None:
        manifest = trained[2]
        assert reranker.name == f"ltr:{manifest.version}"
        assert manifest.seen_queries is not None and manifest.seen_queries["train"]
        seen = frozenset(q for ids in manifest.seen_queries.values() for q in ids)
        assert reranker.training_data() == TrainingData(manifest.dataset, frozenset({"train"}), seen)
