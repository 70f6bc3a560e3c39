"""Query sets: reading queries files, sampling the served-query log (PII dropped, top-N, seeded tail) and the
versioned store, on real SciFact queries where a file is needed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ragsearch.eval.data import read_queries
from ragsearch.eval.query_sets import (
    QuerySet,
    QuerySetStore,
    from_file,
    pii_kind,
    sample_from_log,
    text_id,
)
from ragsearch.retrieval.errors import InvalidInputError, UnknownNameError

CLEAN = [
    "vitamin D and bone health",
    "vitamin D 400 800 1000 IU",
    "IL-6 100-1000 mg in COVID-19 2020-2021",
    "p53 mutation GSE123456 pmid 12345678",
    "10.1016/j.cell.2015.05.002",
]


def sample(texts: list[str], top: int, n: int, seed: int) -> QuerySet:
    return sample_from_log(texts, top, n, seed, name="s", index="sf")


# ---- PII ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("reset password for jane.doe+work@example.co.uk", "email"),
        ("call me on +1 415 555 0132 about statins", "phone"),
        ("(415) 555-0132", "phone"),
        ("415-555-0132 opening hours", "phone"),
        ("+33 1 23 45 67 89", "phone"),
        ("card 4111111111111111 refund", "long_number"),
        ("4111 1111 1111 1111", "long_number"),
        ("iban GB82WEST12345698765432", "long_number"),
        ("ssn 078-05-1120", "ssn"),
        ("why is 192.168.10.20 blocked", "ipv4"),
        ("https://admin:hunter2@db.example.org/x", "url_credentials"),
    ],
)
def test_pii_looking_strings_are_recognised(text: str, kind: str) -> None:
    assert pii_kind(text) == kind


@pytest.mark.parametrize("text", CLEAN)
def test_scientific_numbers_are_not_pii(text: str) -> None:
    assert pii_kind(text) is None


def test_pii_entries_are_dropped_counted_by_kind_and_never_kept() -> None:
    texts = [*CLEAN, "mail bob@example.com the results", "phone 415-555-0132", "4111111111111111", "  "]
    qs = sample(texts, 100, 0, 0)
    assert sorted(qs.queries.values()) == sorted(CLEAN)
    assert qs.build.pii == {"email": 1, "long_number": 1, "phone": 1} and qs.build.empty == 1
    assert "bob@example.com" not in json.dumps(qs.manifest())


# ---- frequency and sample -----------------------------------------------------------------------------
def test_top_n_by_frequency_with_ties_by_text_and_case_folded_counts() -> None:
    texts = ["b"] * 3 + ["a"] * 3 + ["Statins  and\tLDL", "statins and ldl", "STATINS AND LDL"] + ["c"] * 2
    texts += ["d", "e"]
    qs = sample(texts, 3, 0, 0)
    # statins (3, spelled three ways), a (3) and b (3) tie: by case-folded text; c (2) is left out
    assert list(qs.queries.values()) == ["a", "b", "STATINS AND LDL"]
    assert list(qs.counts.values()) == [3, 3, 3]
    assert qs.build.read == len(texts) and qs.build.distinct == 6 and qs.build.duplicates == len(texts) - 6
    assert (qs.build.top, qs.build.sampled) == (3, 0)
    assert list(qs.queries) == [text_id("a"), text_id("b"), text_id("statins and ldl")]


def test_tail_sample_is_stable_for_a_seed_and_differs_across_seeds() -> None:
    texts = ["head"] * 5 + [f"tail query {i}" for i in range(200)]
    a, again = sample(texts, 1, 10, 7), sample(list(reversed(texts)), 1, 10, 7)
    assert a.queries == again.queries  # same texts in another order, same seed: same set
    assert next(iter(a.queries.values())) == "head" and len(a.queries) == 11
    others = {tuple(sample(texts, 1, 10, seed).queries) for seed in range(5)}
    assert len(others) == 5
    whole = sample(texts, 1, 500, 0)
    assert len(whole.queries) == 201 and whole.build.sampled == 200


def test_nothing_to_take_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="not both 0"):
        sample(["x"], 0, 0, 0)
    with pytest.raises(InvalidInputError, match="query set name"):
        sample_from_log(["x"], 1, 0, 0, name="../x", index="sf")


# ---- files --------------------------------------------------------------------------------------------
def test_beir_queries_file_of_real_scifact(scifact_slice: Path) -> None:
    path = scifact_slice / "queries.jsonl"
    qs = from_file(path, "sf")
    assert qs.queries == {q: " ".join(t.split()) for q, t in read_queries(path).items()}
    assert qs.source.source == "file" and len(qs.source.sha256 or "") == 64
    assert qs.build.read == len(qs.queries) and qs.build.duplicates == 0


def test_tsv_and_plain_text_with_duplicates_and_empties(tmp_path: Path) -> None:
    tsv = tmp_path / "topics.tsv"
    tsv.write_text("1\tStatins and LDL\n\n2\t  \n3\tstatins  and ldl\n4\tvitamin D\n", encoding="utf-8")
    qs = from_file(tsv, "t")
    assert qs.queries == {"1": "Statins and LDL", "4": "vitamin D"}
    assert (qs.build.read, qs.build.empty, qs.build.duplicates, qs.build.duplicate_ids) == (4, 1, 1, ["3"])
    txt = tmp_path / "queries.txt"
    txt.write_text("\ufeffvitamin D\n\nzinc and colds\r\nVitamin D\n", encoding="utf-8")
    plain = from_file(txt, "p")
    assert plain.queries == {"q1": "vitamin D", "q2": "zinc and colds"} and plain.build.duplicate_ids == [
        "q3"
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("q.jsonl", '{"_id": "1", "text": "a"}\n{"_id": "2"}\n', r"q.jsonl:2: expected a JSON object"),
        ("q.jsonl", '{"_id": "1", "text": "a"}\n\nnot json\n', r"q.jsonl:3: expected a JSON object"),
        (
            "q.jsonl",
            '{"_id": "1", "text": "a"}\n{"_id": "1", "text": "b"}\n',
            "q.jsonl:2: query id '1' is already on line 1",
        ),
        ("q.tsv", "1\ta\n2 b\n", "q.tsv:2: expected 'qid<TAB>text'"),
        ("q.tsv", "1\ta\n\tb\n", "q.tsv:2: expected 'qid<TAB>text'"),
        ("q.txt", "\n  \n", "holds no queries"),
        ("q.jsonl", '{"_id": "1", "text": " "}\n', "every query is empty"),
    ],
)
def test_bad_files_name_the_line(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInputError, match=message):
        from_file(path, "bad")


def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_bytes(b"fine\nlatin-1 caf\xe9\n")
    with pytest.raises(InvalidInputError, match=r"q.txt:2: not UTF-8"):
        from_file(path, "bad")
    with pytest.raises(InvalidInputError, match="does not exist"):
        from_file(tmp_path / "missing.txt", "bad")


# ---- store --------------------------------------------------------------------------------------------
def test_store_round_trip_versions_and_references(tmp_path: Path, scifact_slice: Path) -> None:
    store = QuerySetStore(tmp_path / "home")
    with pytest.raises(InvalidInputError, match="make one with `ragsearch query-sets create`"):
        store.load("nothing")
    first = store.save(from_file(scifact_slice / "queries.jsonl", "sf"))
    logged = sample(["a", "a", "b", "mail x@example.com", *CLEAN], 2, 2, 3)
    second = store.save(QuerySet("sf", logged.queries, logged.source, logged.build, logged.counts))
    assert (first.version, second.version) == ("v0001", "v0002")
    assert store.versions("sf") == ["v0001", "v0002"] and store.names() == ["sf"]
    assert store.load("sf") == second and store.load("sf@v0001") == first
    assert store.load("sf").counts == logged.counts and store.load("sf").build.pii == {"email": 1}
    folder = tmp_path / "home" / "query_sets" / "sf" / "v0001"
    assert read_queries(folder / "queries.jsonl") == first.queries
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["source"]["sha256"] == first.source.sha256 and manifest["queries"] == len(first.queries)
    with pytest.raises(UnknownNameError, match="valid choices are v0001, v0002"):
        store.load("sf@v0009")
    with pytest.raises(UnknownNameError, match="unknown query set 'other': valid choices are sf"):
        store.load("other")
    # a torn write (a temporary folder, or a version folder without its manifest) is not a version
    os.mkdir(folder.parent / "v0003")
    assert store.load("sf").version == "v0002" and store.save(first).version == "v0004"
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".tmp")]


def test_a_failed_write_leaves_no_version(tmp_path: Path) -> None:
    store = QuerySetStore(tmp_path / "home")
    qs = sample(["a"], 1, 0, 0)
    (tmp_path / "home" / "query_sets").mkdir(parents=True)
    (tmp_path / "home" / "query_sets" / "s").write_text("a file where the set's folder goes")
    with pytest.raises(OSError):
        store.save(qs)
    assert store.names() == []
