"""LTR training sets (rerank/dataset.py): logged from real SciFact judgments over the slice index of
tests/rerank/conftest.py; grouping, labels, subsets, runs, hashing and the saved file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ragsearch.eval.data import load_split
from ragsearch.rerank.build import log_split
from ragsearch.rerank.dataset import TrainingSet, log_training_set
from ragsearch.rerank.errors import TrainingDataError
from ragsearch.rerank.extract import FeatureLogger
from ragsearch.retrieval.embedded import EmbeddedBackend
from ragsearch.retrieval.searcher import Retriever
from ragsearch.retrieval.types import IndexSpec
from tests.fakes import FakeHashEmbedder


@pytest.fixture(scope="module")
def logged(ltr_env: tuple[Retriever, Path], scifact_ltr_slice: Path) -> tuple[Retriever, TrainingSet]:
    retriever = ltr_env[0]
    return retriever, log_split(
        retriever, FeatureLogger(retriever.index), load_split(scifact_ltr_slice, "test")
    )


def test_rows_are_each_querys_candidates_labelled_by_its_judgments(
    logged: tuple[Retriever, TrainingSet], scifact_ltr_slice: Path
) -> None:
    retriever, ts = logged
    test = load_split(scifact_ltr_slice, "test")
    assert len(ts.qids) == len(ts.groups) == len(test.queries)
    assert int(ts.groups.sum()) == ts.n_rows == len(ts.doc_ids) == len(ts.labels)
    off = ts.offsets()
    for i, qid in enumerate(ts.qids[:5]):
        docs = ts.doc_ids[off[i] : off[i + 1]]
        assert list(docs) == [c.doc_id for c in retriever.candidates(test.queries[qid])]
        labels = ts.labels[off[i] : off[i + 1]].tolist()
        assert labels == [max(0, test.qrels[qid].get(d, 0)) for d in docs]
    assert ts.labels.sum() > 0 and np.array_equal(
        ts.column("fused_score"), ts.features[:, ts.feature_names.index("fused_score")]
    )


def test_subset_run_hash_and_file_round_trip(logged: tuple[Retriever, TrainingSet], tmp_path: Path) -> None:
    _, ts = logged
    some = [ts.qids[3], ts.qids[0]]
    sub = ts.subset(some)
    assert sub.qids == (ts.qids[0], ts.qids[3])  # the set's own order
    off = ts.offsets()
    assert np.array_equal(sub.features[: ts.groups[0]], ts.features[off[0] : off[1]], equal_nan=True)
    assert ts.subset(ts.qids).sha256() == ts.sha256() != sub.sha256()
    run = ts.to_run(ts.labels.astype(np.float32))  # ranking by the labels puts judged documents first
    for i, qid in enumerate(ts.qids):
        rel = {
            d
            for d, g in zip(ts.doc_ids[off[i] : off[i + 1]], ts.labels[off[i] : off[i + 1]], strict=True)
            if g
        }
        if rel:
            assert set(list(run[qid])[: len(rel)]) == rel
    ts.save(tmp_path / "ts.npz")
    again = TrainingSet.load(tmp_path / "ts.npz")
    assert again.sha256() == ts.sha256() and again.qids == ts.qids and again.feature_names == ts.feature_names


def test_an_empty_index_is_refused(tmp_path: Path) -> None:
    emb = FakeHashEmbedder()
    idx = EmbeddedBackend(tmp_path).create("empty", IndexSpec(emb.name, emb.dim))
    retriever = Retriever(idx, emb)
    vec = emb.embed_queries(["vitamin"])[0]
    with pytest.raises(TrainingDataError, match="no judged query returned any candidate"):
        log_training_set(retriever, FeatureLogger(idx), {"q": "vitamin"}, {"q": {"d": 1}}, {"q": vec})
    idx.close()
