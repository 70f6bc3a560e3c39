"""The index contract, written once against the SearchIndex Protocol.

Each backend's test module subclasses `IndexContract` and supplies a `make_index` fixture returning a
function `spec -> SearchIndex` (a fresh, empty index each call; cleaned up by the fixture).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest

from ragsearch.retrieval.errors import InvalidInputError
from ragsearch.retrieval.index import SearchIndex, sample_passages
from ragsearch.retrieval.scoring import best_fields_score
from ragsearch.retrieval.types import AnalyzerSpec, EmbeddedPassage, FieldBoosts, IndexSpec, Passage
from tests.fakes import FakeHashEmbedder

EMB = FakeHashEmbedder(dim=64)
SPEC = IndexSpec(embedding_model=EMB.name, dim=EMB.dim)
PLAIN = AnalyzerSpec(stopwords=False, stemmer=None)

DOCS = [
    Passage(
        "p1",
        "Zebra migration",
        "Zebras migrate across the Serengeti every year.",
        "d1",
        {"lang": "en", "n": 1},
    ),
    Passage("p2", "Lion prides", "Lions hunt zebras and wildebeest at night.", "d1", {"lang": "en", "n": 2}),
    Passage(
        "p3", "Coffee roasting", "Roasting coffee beans changes their flavour.", "d2", {"lang": "fr", "n": 3}
    ),
    Passage("p4", "Espresso", "Espresso is coffee brewed under pressure.", "d3", {"lang": "fr", "n": 4}),
    Passage("p5", "", "Migration of birds follows the seasons.", "d4", {"lang": "en", "n": 5}),
]


def embed(passages: list[Passage]) -> list[EmbeddedPassage]:
    vecs = EMB.embed_documents([f"{p.title} {p.text}" for p in passages])
    return [EmbeddedPassage(p, v, p.content_hash()) for p, v in zip(passages, vecs, strict=True)]


def lucene_bm25(
    query: list[str], docs: dict[str, list[str]], k1: float = 1.2, b: float = 0.75
) -> dict[str, float]:
    """Independent oracle: Lucene/Elasticsearch BM25 of one field, exact lengths, no query-time boost."""
    n = len(docs)
    avgdl = sum(len(t) for t in docs.values()) / n
    df = Counter(term for toks in docs.values() for term in set(toks))
    scores: dict[str, float] = {}
    for doc, toks in docs.items():
        tf = Counter(toks)
        s = 0.0
        for term in query:
            if tf[term]:
                idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
                s += idf * tf[term] / (tf[term] + k1 * (1 - b + b * len(toks) / avgdl))
        if s > 0:
            scores[doc] = s
    return scores


class IndexContract:
    @pytest.fixture()
    def make_index(self) -> Callable[[IndexSpec], SearchIndex]:
        raise NotImplementedError("each backend's test class supplies make_index")

    @pytest.fixture()
    def index(self, make_index: Callable[[IndexSpec], SearchIndex]) -> SearchIndex:
        idx = make_index(SPEC)
        idx.upsert(embed(DOCS))
        return idx

    # ---- storage ----------------------------------------------------------------------------
    def test_count_get_and_metadata_round_trip(self, index: SearchIndex) -> None:
        assert index.count() == 5
        got = index.get(["p3", "missing", "p1"])
        assert [p.id for p in got] == ["p3", "p1"]
        assert got[0] == DOCS[2]
        assert got[1].metadata == {"lang": "en", "n": 1}
        assert index.spec == SPEC

    def test_replace_by_id_keeps_one_copy(self, index: SearchIndex) -> None:
        new = Passage("p3", "Tea", "Green tea leaves are steamed.", "d2", {"lang": "fr", "n": 3})
        index.upsert(embed([new]))
        assert index.count() == 5
        assert index.get(["p3"]) == [new]
        assert "p3" not in [h.id for h in index.bm25_search("roasting", 10)]
        assert [h.id for h in index.bm25_search("steamed tea", 10)] == ["p3"]
        top = index.vector_search(EMB.embed_queries(["Tea Green tea leaves are steamed."])[0], 1)
        assert top[0].id == "p3" and top[0].score == pytest.approx(1.0, abs=1e-5)

    def test_duplicate_ids_in_one_batch_keep_the_last(
        self, make_index: Callable[[IndexSpec], SearchIndex]
    ) -> None:
        idx = make_index(SPEC)
        a = Passage("x", "first", "one", "x")
        b = Passage("x", "second", "two", "x")
        idx.upsert(embed([a, b]))
        assert idx.count() == 1
        assert idx.get(["x"]) == [b]

    def test_delete_removes_from_every_part(self, index: SearchIndex) -> None:
        assert index.delete(["p1", "nope"]) == 1
        assert index.delete(["p1"]) == 0
        assert index.count() == 4
        assert index.get(["p1"]) == []
        assert "p1" not in [h.id for h in index.bm25_search("zebra migration", 10)]
        vec = EMB.embed_queries(["Zebra migration Zebras migrate across the Serengeti every year."])[0]
        assert "p1" not in [h.id for h in index.vector_search(vec, 10)]

    def test_delete_documents_removes_all_their_passages(self, index: SearchIndex) -> None:
        assert index.delete_documents(["d1"]) == 2
        assert sorted(p.id for p in index.get([d.id for d in DOCS])) == ["p3", "p4", "p5"]

    def test_content_hashes(self, index: SearchIndex) -> None:
        assert index.content_hashes(["p1", "zz"]) == {"p1": DOCS[0].content_hash()}

    def test_passage_refs_list_every_passage_and_sampling_spreads_over_documents(
        self, index: SearchIndex
    ) -> None:
        assert sorted(index.passage_refs()) == [(p.id, p.doc_id) for p in DOCS]
        # at most one passage per document; every document when k exceeds them; same seed, same draw
        for seed in range(8):
            drawn = sample_passages(index, 10, seed)
            assert sorted({p.doc_id for p in index.get(drawn)}) == ["d1", "d2", "d3", "d4"]
            assert len(drawn) == 4 and drawn == sample_passages(index, 10, seed)
        assert len({tuple(sample_passages(index, 2, seed)) for seed in range(8)}) > 1
        # both passages of d1 get drawn over the seeds
        assert {"p1", "p2"} <= {pid for seed in range(20) for pid in sample_passages(index, 4, seed)}
        index.delete_documents(["d2"])
        assert sorted(pid for pid, _ in index.passage_refs()) == ["p1", "p2", "p4", "p5"]
        with pytest.raises(InvalidInputError, match="at least 1"):
            sample_passages(index, 0, 1)

    def test_document_returns_its_passages_in_reading_order(self, index: SearchIndex) -> None:
        # stored `position` (what ingest writes) orders first, even against the ids; without one, ids sort
        # naturally (n#2 before n#10); ids with '/' are plain ids; other documents are left out
        placed = [
            Passage(f"web/a.md#{c}", "A", f"part {c}", "web/a.md", {"position": p})
            for c, p in [("x", 1), ("y", 0), ("z", 2)]
        ]
        plain = [Passage(f"n#{i}", "N", f"chunk {i}", "n") for i in (10, 2, 1)]
        index.upsert(embed([*placed, *plain]))
        assert [p.id for p in index.document("web/a.md")] == ["web/a.md#y", "web/a.md#x", "web/a.md#z"]
        assert index.document("web/a.md")[0] == placed[1]
        assert [p.id for p in index.document("n")] == ["n#1", "n#2", "n#10"]
        assert index.document("d1") == [DOCS[0], DOCS[1]]
        assert index.document("missing") == [] and index.document("web") == []
        index.delete(["n#2"])
        assert [p.id for p in index.document("n")] == ["n#1", "n#10"]

    def test_wrong_dimension_is_refused_and_nothing_is_lost(self, index: SearchIndex) -> None:
        bad = EmbeddedPassage(Passage("p9", "t", "x"), np.ones(3, dtype=np.float32), "h")
        with pytest.raises(InvalidInputError, match="dimension"):
            index.upsert([bad])
        assert index.count() == 5
        assert index.get(["p9"]) == []

    # ---- BM25 -------------------------------------------------------------------------------
    def test_bm25_finds_and_orders(self, index: SearchIndex) -> None:
        hits = index.bm25_search("coffee", 10)
        assert [h.id for h in hits][:2] in (["p3", "p4"], ["p4", "p3"])
        assert all(a.score >= b.score for a, b in itertools.pairwise(hits))
        assert hits[0].doc_id in {"d2", "d3"}
        assert len(index.bm25_search("coffee zebra", 1)) == 1

    def test_bm25_query_syntax_is_not_parsed(self, index: SearchIndex) -> None:
        for q in ["5'-nucleotidase", "word : word", "/slip flow/", "zebra AND (", '"unclosed', "title:zebra"]:
            index.bm25_search(q, 5)
        assert index.bm25_search("the of and", 5) == []
        assert index.bm25_search("", 5) == []

    def test_bm25_scores_equal_lucene_formula(self, make_index: Callable[[IndexSpec], SearchIndex]) -> None:
        idx = make_index(IndexSpec(EMB.name, EMB.dim, PLAIN))
        texts = {
            "a": "apple banana apple",
            "b": "banana cherry",
            "c": "cherry cherry cherry date elderberry fig",
            "d": "grape",
        }
        idx.upsert(embed([Passage(k, "", v) for k, v in texts.items()]))
        query = ["cherry", "banana"]
        oracle = lucene_bm25(query, {k: v.split() for k, v in texts.items()})
        got = {h.id: h.score for h in idx.bm25_search("Cherry, banana!", 10)}
        # Empty titles match nothing, so best_fields equals the text score.
        assert got.keys() == oracle.keys()
        for doc, score in oracle.items():
            assert got[doc] == pytest.approx(score, rel=1e-4)

    def test_best_fields_combines_title_and_text(self, index: SearchIndex) -> None:
        boosts = FieldBoosts(title=2.0, text=1.0, tie_breaker=0.3)
        hits = index.bm25_search("zebra migration", 10, boosts)
        fs = index.field_scores("zebra migration", [h.id for h in hits], boosts)
        for h in hits:
            f = fs[h.id]
            assert f.best_fields == pytest.approx(h.score, rel=1e-4)
            assert f.best_fields == pytest.approx(best_fields_score(f.title, f.text, boosts), rel=1e-6)
        assert fs["p1"].title is not None and fs["p1"].text is not None
        assert fs["p5"].title is None and fs["p5"].text is not None

    def test_field_scores_for_unmatched_and_unknown_ids(self, index: SearchIndex) -> None:
        fs = index.field_scores("espresso", ["p1", "p4", "unknown"])
        assert fs["p1"].best_fields is None
        assert fs["p4"].title is not None
        assert "unknown" not in fs

    def test_bm25_filters(self, index: SearchIndex) -> None:
        assert {h.id for h in index.bm25_search("zebra coffee migration", 10, filters={"lang": "fr"})} == {
            "p3",
            "p4",
        }
        assert [h.id for h in index.bm25_search("zebra coffee migration", 10, filters={"n": 2})] == ["p2"]

    # ---- vectors ----------------------------------------------------------------------------
    def test_vector_search_is_exact_cosine(self, index: SearchIndex) -> None:
        q = EMB.embed_queries(["coffee beans pressure"])[0]
        hits = index.vector_search(q, 5)
        mat = EMB.embed_documents([f"{p.title} {p.text}" for p in DOCS])
        expected = sorted(zip(mat @ q, [p.id for p in DOCS], strict=True), key=lambda t: -t[0])
        assert [h.id for h in hits] == [i for _, i in expected]
        assert [h.score for h in hits] == pytest.approx([float(s) for s, _ in expected], abs=1e-5)
        assert len(index.vector_search(q, 100)) == 5

    def test_vector_filters_and_stored_vectors(self, index: SearchIndex) -> None:
        q = EMB.embed_queries(["zebra"])[0]
        assert {h.id for h in index.vector_search(q, 10, filters={"lang": "fr"})} == {"p3", "p4"}
        vecs = index.vectors(["p1", "zz"])
        assert list(vecs) == ["p1"]
        assert float(np.linalg.norm(vecs["p1"])) == pytest.approx(1.0, abs=1e-5)

    def test_empty_index(self, make_index: Callable[[IndexSpec], SearchIndex]) -> None:
        idx = make_index(SPEC)
        assert idx.count() == 0
        assert idx.bm25_search("zebra", 5) == []
        assert idx.vector_search(EMB.embed_queries(["zebra"])[0], 5) == []
        assert idx.get(["p1"]) == []
