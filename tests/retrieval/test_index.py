"""The shared input checks of `retrieval.index` (metadata values, filter keys) and what they protect:
one NaN in stored metadata used to break every filtered dense search of the index."""

from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path
from typing import cast

import pytest

from ragsearch.retrieval.embedded import EmbeddedBackend
from ragsearch.retrieval.embedded.lock import WriteLock
from ragsearch.retrieval.errors import IndexLockedError, InvalidInputError
from ragsearch.retrieval.index import (
    CheckableIndex,
    SearchIndex,
    check_filters,
    check_metadata,
    sample_passages,
)
from ragsearch.retrieval.types import Passage
from tests.retrieval.contract import DOCS, EMB, SPEC, embed


@pytest.mark.parametrize(
    ("metadata", "key"),
    [
        ({"score": math.nan}, "score"),
        ({"score": math.inf}, "score"),
        ({"nested": {"deep": [1.0, -math.inf]}}, "nested.deep[1]"),
    ],
)
def test_check_metadata_refuses_nan_and_infinity_naming_passage_and_key(metadata: dict, key: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        check_metadata("doc-7#3", metadata)
    assert "doc-7#3" in str(err.value) and repr(key) in str(err.value)
    assert "nothing was written" in str(err.value)


def test_check_metadata_accepts_json_values() -> None:
    check_metadata("p", {"a": 1.5, "b": "x", "c": [1, 2], "d": {"e": None}, "f": True})


@pytest.mark.parametrize("key", ["", "a\x00b", "line\nbreak", 'quo"te', "tab\t", "del\x7f"])
def test_check_filters_refuses_unsafe_keys(key: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid filter key"):
        check_filters({key: "x"})


def test_check_filters_refuses_nan_values_and_accepts_plain_ones() -> None:
    with pytest.raises(InvalidInputError, match="NaN"):
        check_filters({"n": math.nan})
    check_filters({"lang": "en", "n": 2, "ok": True, "café.x-y": 1.5})
    check_filters(None)


def test_embedded_upsert_refuses_nan_metadata_and_writes_nothing(tmp_path: Path) -> None:
    with EmbeddedBackend(tmp_path).create("kb", SPEC) as idx:
        idx.upsert(embed(DOCS))
        bad = [Passage("n1", "A", "fine"), Passage("n2", "B", "bad", metadata={"score": math.nan})]
        with pytest.raises(InvalidInputError, match=r"'n2'.*'score'"):
            idx.upsert(embed(bad))
        assert idx.count() == 5 and idx.get(["n1", "n2"]) == []
        assert idx.vector_search(EMB.embed_queries(["coffee"])[0], 3, filters={"lang": "fr"})


def test_embedded_filters_refuse_control_characters_in_keys(tmp_path: Path) -> None:
    with EmbeddedBackend(tmp_path).create("kb", SPEC) as idx:
        idx.upsert(embed(DOCS))
        q = EMB.embed_queries(["coffee"])[0]
        for search in (
            lambda f: idx.vector_search(q, 3, filters=f),
            lambda f: idx.bm25_search("coffee", 3, filters=f),
        ):
            with pytest.raises(InvalidInputError, match="invalid filter key"):
                search({"la\x00ng": "fr"})


def test_a_stored_row_with_invalid_json_does_not_break_filtered_search(tmp_path: Path) -> None:
    """As left by an index written before NaN was refused: json.dumps wrote NaN into the row."""
    with EmbeddedBackend(tmp_path).create("kb", SPEC) as idx:
        idx.upsert(embed(DOCS))
    db = sqlite3.connect(tmp_path / "indexes" / "kb" / "store.sqlite")
    db.execute("""UPDATE passages SET metadata='{"lang": "en", "n": NaN}' WHERE id='p1'""")
    db.commit()
    db.close()
    with EmbeddedBackend(tmp_path).open("kb") as idx:
        q = EMB.embed_queries(["zebra migration"])[0]
        assert {h.id for h in idx.vector_search(q, 10, filters={"lang": "en"})} == {"p2", "p5"}
        assert {h.id for h in idx.vector_search(q, 10, filters={"lang": "fr"})} == {"p3", "p4"}
        assert len(idx.vector_search(q, 10)) == 5


def test_the_embedded_index_offers_check_and_repair_through_the_protocol(tmp_path: Path) -> None:
    with EmbeddedBackend(tmp_path).create("kb", SPEC) as idx:
        assert isinstance(idx, CheckableIndex)
        idx.upsert(embed(DOCS))
        check = idx.check()
        assert check.consistent and check.problems == []
        assert (check.passages, check.bm25_docs, check.vector_rows_needed, check.vector_rows_present) == (
            5,
            5,
            5,
            5,
        )
        assert check.pending_changes == 0 and check.dead_vector_rows == 0 and check.generation > 0
        report = idx.repair(EMB)
        assert not report.bm25_rebuilt and report.reembedded == 0 and report.after == idx.check()


def test_check_can_refuse_at_once_while_another_writer_holds_the_index(tmp_path: Path) -> None:
    """/health checks with wait_s=0: a probe must not hang for the lock timeout behind a long CLI ingest."""
    with EmbeddedBackend(tmp_path, lock_timeout_s=30).create("kb", SPEC) as idx:
        idx.upsert(embed(DOCS))
        other_writer = WriteLock(tmp_path / "indexes" / "kb" / "write.lock", "kb", 30)
        with other_writer.hold():  # another open file: flock conflicts as with another process
            t0 = time.perf_counter()
            with pytest.raises(IndexLockedError, match="is being written by process"):
                idx.check(wait_s=0)
            assert time.perf_counter() - t0 < 1.0
        assert idx.check(wait_s=0).consistent


class Refs:
    """Only the listing `sample_passages` reads: one document of 20 passages and 9 of one passage each."""

    def passage_refs(self) -> list[tuple[str, str]]:
        return [(f"big{i}", "big") for i in range(20)] + [(f"s{i}", f"d{i}") for i in range(9)]


def test_sampling_draws_documents_uniformly_not_passages() -> None:
    index = cast(SearchIndex, Refs())
    # one passage drawn, 400 seeds: the big document holds 20 of 29 passages but is 1 of 10 documents
    big = sum(sample_passages(index, 1, seed)[0].startswith("big") for seed in range(400))
    assert 20 <= big <= 65  # expected 40 (uniform over documents); 276 if passages were drawn uniformly
    assert sample_passages(index, 3, 7) == sample_passages(index, 3, 7) != sample_passages(index, 3, 8)
