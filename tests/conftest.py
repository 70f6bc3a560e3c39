from __future__ import annotations

import os
from pathlib import Path

import pytest

from ragsearch.retrieval.embedding import SentenceTransformerEmbedder
from tests.fakes import FakeHashEmbedder
from tests.slices import make_slice

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def shared_onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ONNX export of the query encoder for the whole run (and its servers), not one per test home."""
    path = tmp_path_factory.mktemp("onnx")
    os.environ["RAGSEARCH_EMBEDDING_ONNX_CACHE"] = str(path)
    return path


def data_dir() -> Path:
    return Path(os.environ.get("RAGSEARCH_DATA_DIR", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = data_dir()
    if not (d / "scifact" / "corpus.jsonl").is_file():
        pytest.fail(f"the judged data is missing: expected {d}/scifact (set RAGSEARCH_DATA_DIR)")
    return d


@pytest.fixture(scope="session")
def scifact_slice(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SciFact, 40 test queries, their ~45 relevant abstracts and 215 others (real data, small)."""
    return make_slice(shared_data / "scifact", tmp_path_factory.mktemp("data") / "scifact", {"test": 40}, 215)


@pytest.fixture(scope="session")
def real_embedder() -> SentenceTransformerEmbedder:
    """The real packaged all-MiniLM-L6-v2."""
    return SentenceTransformerEmbedder("all-MiniLM-L6-v2")


@pytest.fixture()
def fake_embedder() -> FakeHashEmbedder:
    return FakeHashEmbedder()


@pytest.fixture(scope="session")
def scifact_index(
    scifact_slice: Path, real_embedder: SentenceTransformerEmbedder, tmp_path_factory: pytest.TempPathFactory
):  # type: ignore[no-untyped-def]
    """An embedded index of the SciFact slice built with the real model (opened once per session)."""
    from ragsearch.ingest.pipeline import ingest_records
    from ragsearch.ingest.readers import read_source
    from ragsearch.retrieval.embedded import EmbeddedBackend
    from ragsearch.retrieval.types import IndexSpec

    backend = EmbeddedBackend(tmp_path_factory.mktemp("idx"))
    idx = backend.create("sf", IndexSpec(real_embedder.name, real_embedder.dim))
    ingest_records(read_source(scifact_slice), idx, real_embedder)
    yield idx
    idx.close()


@pytest.fixture(scope="session")
def finetuned_encoder(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A real fine-tuned encoder: all-MiniLM-L6-v2 tuned for a few steps on 24 SciFact train queries
    (negatives mined from a FAKE-hash index of the slice, which is all mining needs). Returns its manifest
    and registry."""
    from ragsearch.eval.data import load_split
    from ragsearch.ingest.pipeline import ingest_records
    from ragsearch.ingest.readers import read_source
    from ragsearch.rerank.encoder_tuning import EncoderRegistry, TuneParams, finetune_encoder
    from ragsearch.retrieval.embedded import EmbeddedBackend
    from ragsearch.retrieval.searcher import Retriever
    from ragsearch.retrieval.types import IndexSpec

    root = tmp_path_factory.mktemp("tune")
    data = make_slice(shared_data / "scifact", root / "scifact", {"train": 24}, 40, seed=5)
    emb = FakeHashEmbedder(dim=128, name="fake-hash-128")
    idx = EmbeddedBackend(root / "home").create("mine", IndexSpec(emb.name, emb.dim))
    ingest_records(read_source(data), idx, emb)
    registry = EncoderRegistry(root / "home")
    params = TuneParams(batch_size=8, negatives_from=1, negatives_to=10, dev_depth=10, max_seq_length=128)
    manifest = finetune_encoder(
        data,
        Retriever(idx, emb),
        registry,
        load_split(data, "train"),
        None,
        "all-MiniLM-L6-v2",
        "mine",
        params,
    )
    idx.close()
    return manifest, registry
