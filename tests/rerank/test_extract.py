"""Feature logging (rerank/extract.py): the feature matrix of a query's candidates read from an index, the same
whether the backend stores token streams (embedded) or only offers the SearchIndex calls (Elasticsearch).
Feature values by hand: test_features.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ragsearch.rerank.extract import FeatureLogger
from ragsearch.rerank.features import FEATURE_NAMES
from ragsearch.retrieval.embedded import EmbeddedBackend, EmbeddedIndex
from ragsearch.retrieval.types import Candidate, IndexSpec
from tests.retrieval.contract import DOCS, EMB, PLAIN, embed

QUERY = "coffee roasting beans"


@pytest.fixture()
def index(tmp_path: Path) -> Iterator[EmbeddedIndex]:
    idx = EmbeddedBackend(tmp_path).create("f", IndexSpec(EMB.name, EMB.dim, PLAIN))
    idx.upsert(embed(DOCS))
    yield idx
    idx.close()


def test_one_row_per_candidate_in_input_order(index: EmbeddedIndex) -> None:
    cands = [Candidate(p.id, p.doc_id, fused_score=0.1 * i) for i, p in enumerate(DOCS)]
    qvec = EMB.embed_queries([QUERY])[0]
    logger = FeatureLogger(index)
    matrix = logger.features(QUERY, cands, qvec)
    assert matrix.shape == (len(DOCS), len(FEATURE_NAMES)) and matrix.dtype == np.float32
    backwards = logger.features(QUERY, cands[::-1], qvec)
    assert np.array_equal(backwards[::-1], matrix, equal_nan=True)
    assert logger.features(QUERY, [], qvec).shape == (0, len(FEATURE_NAMES))


class WithoutTokenStreams:
    """The same index seen through only the SearchIndex calls a backend like Elasticsearch offers."""

    def __init__(self, index: EmbeddedIndex) -> None:
        self.spec, self.get, self.field_scores = index.spec, index.get, index.field_scores
        self.vectors, self.doc_freqs = index.vectors, index.doc_freqs


def test_backends_without_token_streams_get_the_same_features(index: EmbeddedIndex) -> None:
    cands = [Candidate(p.id, p.doc_id, fused_score=0.1 * i) for i, p in enumerate(DOCS)]
    qvec = EMB.embed_queries([QUERY])[0]
    stored = FeatureLogger(index).features(QUERY, cands, qvec)
    analyzed = FeatureLogger(WithoutTokenStreams(index)).features(QUERY, cands, qvec)  # type: ignore[arg-type]
    assert np.array_equal(stored, analyzed, equal_nan=True)
    assert not np.isnan(stored[:, FEATURE_NAMES.index("text_coverage")]).all()
