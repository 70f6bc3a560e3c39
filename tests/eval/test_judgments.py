"""Judgment lists on a real SciFact slice in a real embedded index (the FAKE hash embedder only fills the
vectors: content hashes, passage ids and doc ids are what these tests read)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragsearch.eval.data import QrelRow, iter_qrels, load_split, read_queries
from ragsearch.eval.judgment_store import JudgmentStore, export
from ragsearch.eval.judgments import (
    JudgmentList,
    Provenance,
    freshness,
    from_qrels,
    merge,
    parse_grade_map,
    split,
)
from ragsearch.ingest.pipeline import ingest_records
from ragsearch.ingest.readers import read_source
from ragsearch.retrieval.embedded import EmbeddedBackend
from ragsearch.retrieval.errors import InvalidInputError, UnknownNameError
from ragsearch.retrieval.index import SearchIndex
from ragsearch.retrieval.types import IndexSpec, Passage
from tests.fakes import FakeHashEmbedder

IMPORTED = Provenance("imported", "scifact slice test")


@pytest.fixture()
def index(scifact_slice: Path, tmp_path: Path) -> Iterator[SearchIndex]:
    emb = FakeHashEmbedder()
    idx = EmbeddedBackend(tmp_path / "idx").create("sf", IndexSpec(emb.name, emb.dim))
    ingest_records(read_source(scifact_slice), idx, emb)
    yield idx
    idx.close()


def slice_list(scifact_slice: Path, index: SearchIndex, name: str = "sf-test") -> JudgmentList:
    rows = list(iter_qrels(scifact_slice / "qrels" / "test.tsv"))
    return from_qrels(name, index, rows, read_queries(scifact_slice / "queries.jsonl"), IMPORTED)


def test_beir_and_trec_round_trip_give_identical_rows(
    scifact_slice: Path, index: SearchIndex, tmp_path: Path
) -> None:
    store = JudgmentStore(tmp_path / "home")
    saved = store.save(slice_list(scifact_slice, index))
    assert saved.version == "v0001"
    split_qrels = load_split(scifact_slice, "test").qrels
    assert {(r.query_id, r.passage_id, r.grade) for r in saved.rows} == {
        (q, d, g) for q, docs in split_qrels.items() for d, g in docs.items()
    }
    export(store.load("sf-test"), tmp_path / "out")
    queries = read_queries(tmp_path / "out" / "queries.jsonl")
    beir = from_qrels(
        "again", index, list(iter_qrels(tmp_path / "out" / "qrels" / "test.tsv")), queries, IMPORTED
    )
    trec = from_qrels("again", index, list(iter_qrels(tmp_path / "out" / "test.qrels")), queries, IMPORTED)
    for back in (beir, trec):
        assert back.rows == saved.rows
        assert back.queries == saved.queries
    reloaded = store.load("sf-test@v0001")
    assert reloaded.rows == saved.rows and reloaded.queries == saved.queries
    assert reloaded.manifest() == saved.manifest()
    assert reloaded.manifest()["grades"] == {"0": 0, "1": len(saved.rows), "2": 0, "3": 0}
    assert reloaded.provenance == (IMPORTED,)


def test_a_passage_changed_since_judging_is_stale_and_a_deleted_one_missing(
    scifact_slice: Path, index: SearchIndex
) -> None:
    jl = slice_list(scifact_slice, index)
    assert freshness(jl, index) == type(freshness(jl, index))([], [])
    changed, gone = jl.rows[0], jl.rows[-1]
    assert changed.passage_id != gone.passage_id
    old = index.get([changed.passage_id])[0]
    emb = FakeHashEmbedder()
    report = ingest_records([dataclasses.replace(old, text=old.text + " Revised.")], index, emb)
    assert report.updated == 1
    index.delete([gone.passage_id])
    fresh = freshness(jl, index)
    assert fresh.stale == [(r.query_id, r.passage_id) for r in jl.rows if r.passage_id == changed.passage_id]
    assert fresh.missing == [(r.query_id, r.passage_id) for r in jl.rows if r.passage_id == gone.passage_id]
    # re-ingesting the same text again leaves the row stale: the judgment saw the old text
    ingest_records([dataclasses.replace(old, text=old.text + " Revised.")], index, emb)
    assert freshness(jl, index).stale == fresh.stale


def test_split_is_deterministic_disjoint_by_query_and_recorded(
    scifact_slice: Path, index: SearchIndex, tmp_path: Path
) -> None:
    store = JudgmentStore(tmp_path / "home")
    jl = store.save(slice_list(scifact_slice, index))
    a, b = split(jl, 0.25, seed=7), split(jl, 0.25, seed=7)
    assert a.parts == b.parts and a.parts is not None
    dev, held = set(a.parts["dev"]), set(a.parts["held"])
    assert not dev & held and dev | held == set(jl.queries) and len(dev) == 10
    assert split(jl, 0.25, seed=8).parts != a.parts
    saved = store.save(a)
    assert saved.version == "v0002" and saved.derived_from == ("sf-test@v0001",)
    loaded = store.load("sf-test")
    assert loaded.parts == a.parts and loaded.rows == jl.rows
    assert loaded.build["split"] == {"dev_fraction": 0.25, "seed": 7, "of": "sf-test@v0001"}
    assert loaded.build["duplicates"] == jl.build["duplicates"]  # what the import did stays visible
    dev_split, held_split = loaded.judged_split("dev"), loaded.judged_split("held")
    assert set(dev_split.queries) == dev and set(held_split.qrels) == held
    with pytest.raises(InvalidInputError, match="no dev part"):
        store.load("sf-test@v0001").judged_split("dev")
    with pytest.raises(InvalidInputError, match="strictly between 0 and 1"):
        split(jl, 1.0, seed=7)


def test_rows_naming_passages_not_in_the_index_are_counted_listed_and_the_rest_kept(
    scifact_slice: Path, index: SearchIndex
) -> None:
    rows = list(iter_qrels(scifact_slice / "qrels" / "test.tsv"))
    q = rows[0].query_id
    extra = [QrelRow("x:1", q, "no-such-doc", 1.0), QrelRow("x:2", "q-orphan", "nor-this", 2.0)]
    queries = {**read_queries(scifact_slice / "queries.jsonl"), "q-orphan": "a query"}
    jl = from_qrels("with-holes", index, rows + extra, queries, IMPORTED)
    assert len(jl.rows) == len(rows)
    assert jl.build["not_in_index"] == 2
    assert jl.build["not_in_index_rows"] == [[q, "no-such-doc"], ["q-orphan", "nor-this"]]
    assert jl.build["queries_without_rows"] == ["q-orphan"] and "q-orphan" not in jl.queries
    with pytest.raises(InvalidInputError, match="none of the 2 judged passages is in index 'sf'"):
        from_qrels("only-holes", index, extra, queries, IMPORTED)


def test_duplicate_rows_last_wins_and_are_counted(scifact_slice: Path, index: SearchIndex) -> None:
    rows = list(iter_qrels(scifact_slice / "qrels" / "test.tsv"))
    first = rows[0]
    again = [
        dataclasses.replace(first, where="x:1", grade=3.0),
        dataclasses.replace(first, where="x:2", grade=2.0),
    ]
    jl = from_qrels("dups", index, rows + again, read_queries(scifact_slice / "queries.jsonl"), IMPORTED)
    assert jl.build["duplicates"] == 2 and len(jl.rows) == len(rows)
    assert [r.grade for r in jl.rows if (r.query_id, r.passage_id) == (first.query_id, first.doc_id)] == [2]


def test_grades_outside_0_to_3_name_the_rows_and_write_nothing(
    scifact_slice: Path, index: SearchIndex, tmp_path: Path
) -> None:
    rows = list(iter_qrels(scifact_slice / "qrels" / "test.tsv"))
    r = rows[0]
    bad = [dataclasses.replace(r, where="f.tsv:7", grade=4.0), dataclasses.replace(r, where="f.tsv:9", grade=-1.0),
           dataclasses.replace(r, where="f.tsv:11", grade=1.5)]  # fmt: skip
    store = JudgmentStore(tmp_path / "home")
    queries = read_queries(scifact_slice / "queries.jsonl")
    with pytest.raises(InvalidInputError) as exc:
        store.save(from_qrels("bad", index, rows + bad, queries, IMPORTED))
    msg = str(exc.value)
    assert "3 judgment(s) have grades outside 0-3" in msg and "nothing was written" in msg
    assert all(f"f.tsv:{n} ({r.query_id} {r.doc_id}" in msg for n in (7, 9, 11))
    assert store.names() == [] and not (tmp_path / "home" / "judgments").exists()
    # a stated mapping makes another scale importable (Cranfield grades 0-4)
    mapped = from_qrels("mapped", index, [*rows, bad[0]], queries, IMPORTED, parse_grade_map("4=3"))
    assert mapped.build["grade_map"] == {"4": 3} and mapped.grade_counts()["3"] == 1


def test_unknown_list_names_the_lists_there_are(
    scifact_slice: Path, index: SearchIndex, tmp_path: Path
) -> None:
    store = JudgmentStore(tmp_path / "home")
    with pytest.raises(InvalidInputError, match="there are none under"):
        store.load("nope")
    store.save(slice_list(scifact_slice, index, "alpha"))
    store.save(slice_list(scifact_slice, index, "beta"))
    with pytest.raises(UnknownNameError, match="unknown judgment list 'nope': valid choices are alpha, beta"):
        store.load("nope")
    with pytest.raises(UnknownNameError, match="valid choices are v0001"):
        store.load("alpha@v0009")
    with pytest.raises(InvalidInputError, match="judgment list name"):
        slice_list(scifact_slice, index, "../escape")


def test_merge_last_wins_counts_and_refuses_another_index(scifact_slice: Path, index: SearchIndex) -> None:
    a = slice_list(scifact_slice, index, "a")
    regraded = tuple(dataclasses.replace(r, grade=3) for r in a.rows[:5])
    b = dataclasses.replace(
        a, name="b", rows=regraded, provenance=(Provenance("llm", "", "qwen2.5-7b", "p1"),)
    )
    c = merge(a, b, "c")
    assert c.build["duplicates"] == 5 and len(c.rows) == len(a.rows)
    assert c.grade_counts()["3"] == 5 and [p.source for p in c.provenance] == ["imported", "llm"]
    with pytest.raises(InvalidInputError, match="merge lists of one index"):
        merge(a, dataclasses.replace(b, index="other"), "c")
    with pytest.raises(InvalidInputError, match="model and the prompt version"):
        Provenance("llm")


def test_rows_count_for_their_document_with_its_best_grade(tmp_path: Path) -> None:
    emb = FakeHashEmbedder()
    idx = EmbeddedBackend(tmp_path / "idx").create("chunks", IndexSpec(emb.name, emb.dim))
    try:
        parts = [Passage(f"d1#{i}", "T", f"part {i}", doc_id="d1") for i in range(2)]
        ingest_records(parts, idx, emb)
        rows = [QrelRow("x:1", "q", "d1#0", 1.0), QrelRow("x:2", "q", "d1#1", 3.0)]
        jl = from_qrels("chunks", idx, rows, {"q": "what"}, IMPORTED)
    finally:
        idx.close()
    assert jl.judged_split().qrels == {"q": {"d1": 3}}


def test_versions_are_numbered_and_a_torn_write_is_invisible(
    scifact_slice: Path, index: SearchIndex, tmp_path: Path
) -> None:
    store = JudgmentStore(tmp_path / "home")
    jl = slice_list(scifact_slice, index)
    (store.root / "sf-test" / ".tmp-crashed").mkdir(parents=True)
    (store.root / "sf-test" / "v0001").mkdir()  # a folder without a manifest is not a version
    assert store.names() == []
    assert [store.save(jl).version for _ in range(2)] == ["v0002", "v0003"]
    assert store.versions("sf-test") == ["v0002", "v0003"]
    manifest = json.loads((store.root / "sf-test" / "v0003" / "manifest.json").read_text())
    assert manifest["index"] == "sf" and manifest["provenance"] == [
        {"source": "imported", "origin": "scifact slice test"}
    ]
