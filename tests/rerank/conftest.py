from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ragsearch.eval.data import load_split
from ragsearch.ingest.pipeline import ingest_records
from ragsearch.ingest.readers import read_source
from ragsearch.rerank.build import TrainOutcome, train_ltr
from ragsearch.rerank.extract import FeatureLogger
from ragsearch.rerank.registry import ModelRegistry
from ragsearch.rerank.train import TrainParams
from ragsearch.retrieval.embedded import EmbeddedBackend
from ragsearch.retrieval.searcher import Retriever
from ragsearch.retrieval.types import IndexSpec
from tests.fakes import FakeHashEmbedder
from tests.slices import make_slice


def make_ltr_slice(src: Path, dest: Path, n_train: int, n_test: int, n_extra_docs: int) -> Path:
    """A small BEIR folder with train and test judgments (see tests/conftest.make_slice)."""
    return make_slice(src, dest, {"train": n_train, "test": n_test}, n_extra_docs, seed=7)


@pytest.fixture(scope="session")
def scifact_ltr_slice(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SciFact: 150 train and 50 test queries, their relevant abstracts and 200 others (real data)."""
    return make_ltr_slice(
        shared_data / "scifact", tmp_path_factory.mktemp("ltrdata") / "scifact", 150, 50, 200
    )


@pytest.fixture(scope="session")
def scifact_cli_slice(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SciFact: 60 train and 20 test queries, their relevant abstracts and 100 others (real data)."""
    return make_ltr_slice(shared_data / "scifact", tmp_path_factory.mktemp("ltrcli") / "scifact", 60, 20, 100)


PARAMS = TrainParams(
    learning_rate=0.1,
    num_boost_round=200,
    early_stopping_rounds=20,
    min_data_in_leaf=20,
    prior_weight=5.0,
    monotone=True,
)


@pytest.fixture(scope="session")
def ltr_env(
    scifact_ltr_slice: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Retriever, Path]]:
    """A home with an index of the SciFact LTR slice (FAKE hash embedder, so it stays fast) and its retriever."""
    home = tmp_path_factory.mktemp("ltrhome")
    emb = FakeHashEmbedder(dim=256, name="fake-hash-256")
    idx = EmbeddedBackend(home).create("sf", IndexSpec(emb.name, emb.dim))
    ingest_records(read_source(scifact_ltr_slice), idx, emb)
    yield Retriever(idx, emb, bm25_depth=50, dense_depth=50), home
    idx.close()


@pytest.fixture(scope="session")
def ltr_first(ltr_env: tuple[Retriever, Path], scifact_ltr_slice: Path) -> TrainOutcome:
    """The first model trained in `ltr_env`'s home (promoted: nothing was before)."""
    retriever, home = ltr_env
    return train_ltr(
        retriever,
        FeatureLogger(retriever.index),
        ModelRegistry(home),
        load_split(scifact_ltr_slice, "train"),
        None,
        load_split(scifact_ltr_slice, "test"),
        PARAMS,
        promote_if_better=True,
    )
