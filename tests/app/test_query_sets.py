"""Query sets end to end: the real API (uvicorn on loopback, the real model, a SciFact slice index) logs
searches sent over HTTP, with or without their text as `querylog.store_text` says, and the real
`ragsearch query-sets` command samples and stores a set from that log."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import httpx
import pytest

from ragsearch.app.querylog import LoggedQuery, QueryLog
from ragsearch.app.settings import load_settings
from tests.app.test_api import serve
from tests.app.test_cli import cli

HEAD = ["vitamin D and bone health"] * 3 + ["statin therapy and LDL cholesterol"] * 2
TAIL = ["zinc for the common cold", "BRCA1 and breast cancer risk", "gut microbiome in obesity"]
PII = ["email me at jane.doe@example.com about vitamin D", "card 4111 1111 1111 1111 refund"]


@pytest.fixture()
def home(scifact_index, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    h = tmp_path / "home"
    shutil.copytree(scifact_index.path, h / "indexes" / "sf")
    return h


def search_all(url: str, queries: list[str]) -> None:
    with httpx.Client(base_url=url, timeout=60) as api:
        for q in queries:
            r = api.get("/search", params={"q": q, "k": 3, "mode": "bm25"})
            assert r.status_code == 200, r.text


@pytest.mark.slow
def test_a_set_sampled_from_served_traffic(home: Path) -> None:
    sent = HEAD + TAIL + PII + ["Vitamin  D and bone HEALTH"]
    for url in serve({"querylog": {"store_text": True}}, home):
        search_all(url, sent)
        r = cli(home, "query-sets", "create", "traffic", "--from-log", "--index", "sf",
                "--top", "2", "--sample", "2", "--seed", "1", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    assert (made["name"], made["version"], made["queries"]) == ("traffic", "v0001", 4)
    assert made["source"] == {"source": "log", "index": "sf", "top": 2, "sample": 2, "seed": 1,
                              "entries_read": len(sent)}  # fmt: skip
    b = made["build"]
    assert (
        b["pii"] == {"email": 1, "long_number": 1}
        and b["distinct"] == 5
        and (b["top"], b["sampled"]) == (2, 2)
    )
    assert b["duplicates"] == 4  # three repeats of vitamin D (one in other case and spacing), one of statins

    shown = cli(home, "query-sets", "show", "traffic", "--json")
    assert shown.returncode == 0, shown.stderr
    first = json.loads(shown.stdout)["first_queries"]
    assert [(q["text"], q["count"]) for q in first[:2]] == [(HEAD[0], 4), (HEAD[3], 2)]
    assert {q["text"] for q in first[2:]} < set(TAIL)
    stored = (home / "query_sets" / "traffic" / "v0001" / "queries.jsonl").read_text()
    assert "example.com" not in stored and "4111" not in stored

    again = cli(home, "query-sets", "create", "traffic", "--from-log", "--index", "sf",
                "--top", "2", "--sample", "2", "--seed", "1", "--json")  # fmt: skip
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert second["version"] == "v0002"
    v1 = cli(home, "query-sets", "show", "traffic@v0001", "--json").stdout
    v2 = cli(home, "query-sets", "show", "traffic", "--json").stdout
    assert json.loads(v1)["first_queries"] == json.loads(v2)["first_queries"]  # same log and seed: same set

    text = cli(home, "query-sets", "show", "traffic")
    assert "dropped: 2 that look like personal data (email 1, long_number 1)" in text.stdout
    assert "the 2 most frequent and 2 sampled from the other 3" in text.stdout
    listed = cli(home, "query-sets", "list")
    assert (
        listed.returncode == 0
        and "traffic@v0002: 4 queries from the query log of index 'sf'" in listed.stdout
    )


@pytest.mark.slow
def test_with_the_setting_off_no_text_is_stored_and_the_cli_says_how_to_turn_it_on(home: Path) -> None:
    for url in serve({}, home):
        search_all(url, HEAD + PII)
    with sqlite3.connect(home / "querylog.sqlite") as db:
        rows = db.execute("SELECT index_name, query_chars, query_text FROM queries").fetchall()
    assert [(i, n) for i, n, _ in rows] == [("sf", len(q)) for q in HEAD + PII]
    assert [t for _, _, t in rows] == [None] * len(rows)
    raw = b"".join(p.read_bytes() for p in home.glob("querylog.sqlite*"))
    assert b"jane.doe" not in raw and b"vitamin" not in raw
    r = cli(home, "query-sets", "create", "traffic", "--from-log", "--index", "sf")
    assert r.returncode == 1
    assert "holds no query texts for index 'sf' (it holds 7 search(es)" in r.stderr
    assert "RAGSEARCH_QUERYLOG_STORE_TEXT=true" in r.stderr
    assert not (home / "query_sets").exists()


@pytest.mark.slow
def test_create_from_a_file_and_bad_input_writes_nothing(
    home: Path, scifact_slice: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("1\tvitamin D\n2 zinc\n", encoding="utf-8")
    r = cli(home, "query-sets", "create", "mine", "--from-file", str(bad))
    assert r.returncode == 1 and f"{bad}:2: expected 'qid<TAB>text'" in r.stderr
    for args in (
        ["--from-file", str(bad), "--from-log"],
        [],
        ["--from-log"],
        ["--from-file", str(bad), "-i", "sf"],
    ):
        usage = cli(home, "query-sets", "create", "mine", *args)
        assert usage.returncode == 2, (args, usage.stderr)
    nolog = cli(home, "query-sets", "create", "mine", "--from-log", "--index", "sf")
    assert nolog.returncode == 1 and "no query log at" in nolog.stderr
    assert cli(home, "query-sets", "create", "../x", "--from-file", str(bad)).returncode == 1
    assert not (home / "query_sets").exists() and not (home / "querylog.sqlite").exists()
    ok = cli(
        home, "query-sets", "create", "sf-test", "--from-file", str(scifact_slice / "queries.jsonl"), "--json"
    )
    assert ok.returncode == 0, ok.stderr
    made = json.loads(ok.stdout)
    assert made["source"]["source"] == "file" and made["queries"] == len(
        (scifact_slice / "queries.jsonl").read_text().splitlines()
    )
    unknown = cli(home, "query-sets", "show", "nope")
    assert unknown.returncode == 1 and "valid choices are sf-test" in unknown.stderr


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().querylog.store_text is False
    monkeypatch.setenv("RAGSEARCH_QUERYLOG_STORE_TEXT", "true")
    assert load_settings().querylog.store_text is True


def entry(index: str, text: str | None) -> LoggedQuery:
    return LoggedQuery(2.0, "search", "bm25", 5, 1, 3, 1.0, None, None, 2.0, index, text)


def test_an_old_log_gains_the_text_column_and_keeps_working(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE queries (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL, kind TEXT NOT NULL,"
        " mode TEXT NOT NULL, query_chars INTEGER NOT NULL, query_terms INTEGER NOT NULL, hits INTEGER NOT NULL,"
        " top_score REAL, top_dense REAL, top_rerank REAL, latency_ms REAL NOT NULL,"
        " index_name TEXT NOT NULL DEFAULT '')"
    )
    old.execute(
        "INSERT INTO queries VALUES (NULL, 1.0, 'search', 'bm25', 6, 1, 3, 1.0, NULL, NULL, 2.0, 'sf')"
    )
    old.commit()
    old.close()
    log = QueryLog(path, store_text=True)
    assert log.add(entry("sf", "zinc")) and log.add(entry("kb", "other"))
    assert log.texts() == ["zinc", "other"] and log.texts("sf") == ["zinc"]
    assert log.texts("sf", since=3.0) == [] and log.texts("sf", since=2.0) == ["zinc"]
    assert [e.index for e in log.latest(10)] == ["sf", "sf", "kb"] and log.failures == 0
    log.close()
    off = QueryLog(path)  # store_text off: a text passed in is dropped
    assert off.add(entry("sf", "secret")) and off.texts("sf") == ["zinc"] and off.count("sf") == 3
    off.close()
