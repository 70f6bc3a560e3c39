"""The Elasticsearch backend against a cluster at RAGSEARCH_ES_URL (integration).

On our CI that URL is the noida-db Elasticsearch-API EMULATOR (`scripts/es-emulator.sh`), not a real
Elasticsearch: these tests prove the requests we send are well-formed and answered as the emulator
reads the API, not that a real cluster behaves the same. Each test uses its own index, deleted afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from ragsearch.retrieval.elasticsearch import ElasticsearchBackend, ElasticsearchIndex
from ragsearch.retrieval.embedding import check_compatible
from ragsearch.retrieval.errors import (
    BackendUnavailableError,
    BulkRejectedError,
    EmbeddingMismatchError,
    IndexExistsError,
    IndexNotFoundError,
)
from ragsearch.retrieval.es_connection import EsConnection
from ragsearch.retrieval.index import SearchIndex
from ragsearch.retrieval.scoring import BM25_K1
from ragsearch.retrieval.types import EmbeddedPassage, IndexSpec, Passage
from tests.fakes import FakeHashEmbedder
from tests.retrieval.contract import DOCS, EMB, PLAIN, SPEC, IndexContract, embed, lucene_bm25

ES_URL = os.environ.get("RAGSEARCH_ES_URL")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not ES_URL, reason="set RAGSEARCH_ES_URL (e.g. scripts/es-emulator.sh) to run"),
]


@pytest.fixture(scope="module")
def backend() -> ElasticsearchBackend:
    return ElasticsearchBackend(EsConnection(url=ES_URL or "", max_retries=1, request_timeout=30))


@pytest.fixture()
def names(backend: ElasticsearchBackend) -> Iterator[Callable[[], str]]:
    made: list[str] = []

    def new() -> str:
        made.append(f"rs-test-{uuid.uuid4().hex[:12]}")
        return made[-1]

    yield new
    for name in made:
        backend.client.indices.delete(index=name, ignore_unavailable=True)


def is_noida_emulator(backend: ElasticsearchBackend) -> bool:
    return backend.client.info()["version"].get("build_hash") == "noida"


class TestElasticsearchContract(IndexContract):
    @pytest.fixture()
    def make_index(
        self, backend: ElasticsearchBackend, names: Callable[[], str]
    ) -> Callable[[IndexSpec], SearchIndex]:
        return lambda spec: backend.create(names(), spec)

    def test_bm25_scores_equal_lucene_formula(
        self, make_index: Callable[[IndexSpec], SearchIndex], backend: ElasticsearchBackend
    ) -> None:
        """Real Elasticsearch (Lucene 8+) scores as the oracle. The noida-db emulator (0.2.3) keeps
        Lucene 7's (k1 + 1) factor in every term score: 2.2x the oracle, so rankings are unchanged."""
        if not is_noida_emulator(backend):
            super().test_bm25_scores_equal_lucene_formula(make_index)
            return
        idx = make_index(IndexSpec(EMB.name, EMB.dim, PLAIN))
        texts = {
            "a": "apple banana apple",
            "b": "banana cherry",
            "c": "cherry cherry cherry date elderberry fig",
            "d": "grape",
        }
        idx.upsert(embed([Passage(k, "", v) for k, v in texts.items()]))
        oracle = lucene_bm25(["cherry", "banana"], {k: v.split() for k, v in texts.items()})
        got = {h.id: h.score for h in idx.bm25_search("Cherry, banana!", 10)}
        assert got.keys() == oracle.keys()
        for doc, score in oracle.items():
            assert got[doc] == pytest.approx(score * (1 + BM25_K1), rel=1e-4)


def test_backend_create_open_list_drop(backend: ElasticsearchBackend, names: Callable[[], str]) -> None:
    name = names()
    backend.create(name, SPEC).upsert(embed(DOCS))
    with pytest.raises(IndexExistsError):
        backend.create(name, SPEC)
    idx = backend.open(name)
    assert idx.spec == SPEC and idx.count() == 5
    assert name in backend.list()
    info = backend.describe(name)
    assert (info["backend"], info["passages"], info["documents"], info["dim"]) == ("elasticsearch", 5, 4, 64)
    backend.drop(name)
    assert not backend.exists(name)
    with pytest.raises(IndexNotFoundError, match=f"index '{name}' does not exist.*ragsearch ingest"):
        backend.open(name)


def test_mapping_with_another_dimension_is_refused(
    backend: ElasticsearchBackend, names: Callable[[], str]
) -> None:
    name = names()
    backend.create(name, SPEC)
    # An index whose vector mapping disagrees with its _meta spec (edited by hand, or another tool's).
    backend.client.indices.put_mapping(index=name, meta={"ragsearch": {**SPEC.to_dict(), "dim": 384}})
    with pytest.raises(
        EmbeddingMismatchError, match=r"dimension 64 but its spec says fake-hash-64 \(dim 384\)"
    ):
        backend.open(name)
    backend.drop(name)  # a broken index can still be dropped
    assert not backend.exists(name)


def test_spec_in_meta_drives_the_model_check(backend: ElasticsearchBackend, names: Callable[[], str]) -> None:
    name = names()
    backend.create(name, SPEC)
    reopened = backend.open(name)  # what a new process reads back from _meta
    check_compatible(reopened.spec, EMB, name)
    with pytest.raises(
        EmbeddingMismatchError, match=rf"index '{name}' was built with fake-hash-64 \(dim 64\)"
    ):
        check_compatible(reopened.spec, FakeHashEmbedder(dim=64, name="other-model"), name)


def test_bulk_with_rejected_documents_keeps_the_accepted(
    backend: ElasticsearchBackend, names: Callable[[], str]
) -> None:
    idx = backend.create(names(), SPEC)
    idx.upsert(embed(DOCS[:1]))  # metadata.n is mapped as a number
    good = [Passage(f"g{i}", "Good", f"fine passage {i}", metadata={"n": i}) for i in range(3)]
    bad = [
        Passage("bad1", "Bad", "n is text", metadata={"n": "not a number"}),
        Passage("x" * 600, "Long", "id"),
    ]
    with pytest.raises(BulkRejectedError) as caught:
        idx.upsert(embed([good[0], bad[0], good[1], bad[1], good[2]]))
    err = caught.value
    assert err.accepted == 3
    assert [pid for pid, _ in err.rejected] == ["bad1", "x" * 600]
    assert "2 passage(s) rejected" in str(err) and "bad1: " in str(err)
    assert idx.count() == 4
    assert [p.id for p in idx.get(["g0", "g1", "g2", "bad1"])] == ["g0", "g1", "g2"]


def test_unreachable_cluster_is_one_clear_error() -> None:
    dead = ElasticsearchBackend(EsConnection(url="http://127.0.0.1:9", max_retries=0, request_timeout=2))
    with pytest.raises(
        BackendUnavailableError, match=r"cannot reach Elasticsearch at http://127.0.0.1:9 .*RAGSEARCH_ES_URL"
    ):
        dead.open("anything")


def test_vectors_round_trip_unit_length(backend: ElasticsearchBackend, names: Callable[[], str]) -> None:
    idx: ElasticsearchIndex = backend.create(names(), SPEC)
    raw = np.arange(1, 65, dtype=np.float32)
    idx.upsert([EmbeddedPassage(Passage("v", "t", "x"), raw, "h")])
    got = idx.vectors(["v"])["v"]
    np.testing.assert_allclose(got, raw / np.linalg.norm(raw), rtol=1e-6)


ANALYZER_SAMPLES = [
    "The zebras' migration: running 5'-nucleotidase naïve café 3.5mg CO2 αβ generously",
    "Vitamin D deficiency and bone-mineral density in the elderly (n=1,204)",
    "IL-6/STAT3 signalling isn't required; TNF-α is.",
]


def test_analyzer_matches_embedded(backend: ElasticsearchBackend, names: Callable[[], str]) -> None:
    """ES's `_analyze` with our index analyzer gives the embedded analyzer's tokens."""
    from ragsearch.retrieval.analysis import build_analyzer

    idx = backend.create(names(), SPEC)
    embedded = build_analyzer(SPEC.analyzer)

    def es_tokens(text: str) -> list[str]:
        resp = backend.client.indices.analyze(index=idx.name, analyzer="rs_text", text=text)
        return [t["token"] for t in resp["tokens"]]

    for text in ANALYZER_SAMPLES:
        assert es_tokens(text) == embedded.analyze(text), text
    assert embedded.analyze("organism") == ["organism"]  # current Snowball English (as snowballstemmer 3)
    if is_noida_emulator(backend):
        # Known emulator difference: its Porter2 lacks current Snowball's R1 exceptions (organ-, univers-,
        # emerg-, later-, ...). Which Snowball version a real cluster's Lucene has is not checked here.
        assert es_tokens("organism") == ["organ"]
