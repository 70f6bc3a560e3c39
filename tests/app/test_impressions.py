"""Impressions and events over real HTTP (a real server process on a SciFact slice), kill -9 durability,
retention, and click judgments from SIMULATED users (bench.click_simulator) through the real API."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
from pathlib import Path

import httpx
import pytest

from bench.click_simulator import run_sessions
from ragsearch.app.impressions import ImpressionLog
from ragsearch.eval.data import load_split
from ragsearch.eval.judgment_store import JudgmentStore
from ragsearch.retrieval.index import SearchIndex
from tests.app.test_cli import cli
from tests.net import serve_process

pytestmark = pytest.mark.slow
KEY = "test-key-0123456789"


@pytest.fixture(scope="module")
def home(scifact_index: SearchIndex, scifact_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    h = tmp_path_factory.mktemp("impressions-home")
    shutil.copytree(scifact_index.path, h / "indexes" / "sf")
    r = cli(
        h, "judgments", "import", str(scifact_slice), "--split", "test", "--index", "sf", "--name", "human"
    )
    assert r.returncode == 0, r.stderr
    return h


def rows(home: Path, table: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(home / "impressions.sqlite") as db:
        return list(db.execute(f"SELECT * FROM {table}"))


def test_searches_are_impressions_events_refer_to_them_and_bad_events_store_nothing(home: Path) -> None:
    proc, url = serve_process(home, "sf", KEY)
    try:
        with httpx.Client(base_url=url, timeout=60) as api:
            body = api.get(
                "/search", params={"q": "vitamin D and bone density", "k": 5, "session_id": "s1"}
            ).json()
            imp = body["impression_id"]
            assert imp and len(body["hits"]) == 5
            page2 = api.get("/search", params={"q": "vitamin D and bone density", "k": 5, "offset": 5}).json()
            first = body["hits"][0]
            ok = api.post("/events", json={"impression_id": imp, "action_name": "click", "position": 1,
                                           "object_id": first["id"], "session_id": "s1"})  # fmt: skip
            assert ok.status_code == 200, ok.text
            dwell = {"impression_id": imp, "action_name": "dwell", "position": 2, "dwell_time": 12.5}
            assert api.post("/events", json=dwell).status_code == 200
            assert api.post("/events", json={"impression_id": page2["impression_id"], "action_name": "click",
                                             "position": 6}).status_code == 200  # fmt: skip
            bad = [
                ({"impression_id": "nope", "action_name": "click", "position": 1}, "no impression 'nope'"),
                ({"impression_id": imp, "action_name": "click", "position": 6}, "position 6 was not shown"),
                ({"impression_id": imp, "action_name": "click", "position": 2, "object_id": first["id"]},
                 "showed another passage"),
                ({"impression_id": imp, "action_name": "purchase", "position": 1}, "action_name"),
                ({"impression_id": imp, "action_name": "click", "position": 0}, "position"),
                ({"impression_id": imp, "action_name": "click"}, "position: Field required"),
                ({"impression_id": imp, "action_name": "dwell", "position": 1, "dwell_time": -1}, "dwell_time"),
            ]  # fmt: skip
            for payload, message in bad:
                r = api.post("/events", json=payload)
                assert r.status_code == 422 and message in r.json()["error"]["message"], (payload, r.text)
            assert (
                api.post(
                    "/events", content=b"{not json", headers={"content-type": "application/json"}
                ).status_code
                == 422
            )
        logged = {r[0]: r for r in rows(home, "ubi_queries")}
        assert set(logged) >= {imp, page2["impression_id"]}
        shown = logged[imp]
        assert (
            json.loads(str(shown[10])) == [h["id"] for h in body["hits"]] and shown[9] == 1
        )  # hit ids, first position
        assert (shown[4], shown[5], shown[7]) == (
            "s1",
            "vitamin D and bone density",
            "default",
        )  # session, query, config
        assert logged[page2["impression_id"]][9] == 6
        events = rows(home, "ubi_events")
        assert [(e[2], e[6], e[8]) for e in events] == [("click", first["id"], 1), ("dwell", body["hits"][1]["id"], 2),
                                                        ("click", page2["hits"][0]["id"], 6)]  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(20)


def test_acknowledged_impressions_and_events_survive_kill_9(home: Path) -> None:
    proc, url = serve_process(home, "sf", KEY)
    acknowledged = []
    try:
        with httpx.Client(base_url=url, timeout=60) as api:
            for i in range(15):
                body = api.get("/search", params={"q": f"cancer cells {i}", "k": 3}).json()
                r = api.post("/events", json={"impression_id": body["impression_id"], "action_name": "click",
                                              "position": 1 + i % 3})  # fmt: skip
                assert r.status_code == 200
                acknowledged.append((body["impression_id"], r.json()["id"]))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(20)
    queries = {r[0] for r in rows(home, "ubi_queries")}
    events = {r[0] for r in rows(home, "ubi_events")}
    assert all(q in queries and e in events for q, e in acknowledged)


def test_retention_purge_deletes_old_impressions_and_their_events(home: Path, tmp_path: Path) -> None:
    own = Path(shutil.copytree(home, tmp_path / "h"))
    log = ImpressionLog(own / "impressions.sqlite")
    before = len(log.impressions())
    assert before > 0 and log.purge(older_than_days=30) == 0 and len(log.impressions()) == before
    assert log.purge(older_than_days=1e-9) == before and log.impressions() == [] and log.events() == []
    log.close()


def test_click_judgments_from_simulated_users_through_the_api(
    home: Path, scifact_slice: Path, tmp_path: Path
) -> None:
    own = Path(shutil.copytree(home, tmp_path / "h"))
    (own / "impressions.sqlite").unlink()
    split = load_split(scifact_slice, "test")
    proc, url = serve_process(own, "sf", KEY)
    try:
        with httpx.Client(base_url=url, timeout=60) as api:
            report = run_sessions(api, split.queries, split.qrels, sessions=400, seed=1, k=10)
    finally:
        proc.terminate()
        proc.wait(20)
    assert report.sessions == 400 and report.clicks > 100 and report.refused == 0
    for model in ("pbm", "ctr"):
        r = cli(own, "judgments", "from-clicks", "--index", "sf", "--name", model, "--model", model,
                "--min-impressions", "3", "--query-ids-from", "human", "--json")  # fmt: skip
        assert r.returncode == 0, r.stderr
        m = json.loads(r.stdout)
        assert m["provenance"][0]["source"] == "clicks" and m["build"]["impressions"] == 400
        assert m["build"]["clicks"] == report.clicks and m["rows"] > 0
        assert m["build"]["prior"] == ([1.0, 4.0] if model == "pbm" else [0.0, 0.0])
    r = cli(own, "judgments", "from-clicks", "--index", "sf", "--name", "pbm-ml", "--prior", "0,0",
            "--min-impressions", "3", "--json")  # fmt: skip
    assert r.returncode == 0 and json.loads(r.stdout)["build"]["prior"] == [0.0, 0.0]
    r = cli(own, "judgments", "from-clicks", "--index", "sf", "--name", "x", "--prior", "-1,4")
    assert r.returncode == 1 and "pseudo-counts must be >= 0" in r.stderr
    agree = json.loads(cli(own, "judgments", "agree", "human", "pbm", "--json").stdout)
    # the human list holds only relevant (grade 1) rows: the click grades on those pairs should mostly say so
    assert agree["pairs"]["pairs"] > 10
    clicked = JudgmentStore(own).load("pbm")
    assert set(clicked.queries) <= set(split.queries)  # the human list's query ids, matched by text
    assert {r.grade for r in clicked.rows} >= {0, 1}
    r = cli(own, "judgments", "from-clicks", "--index", "sf", "--name", "x", "--min-impressions", "100000")
    assert r.returncode == 1 and "no (query, passage) pair was shown 100000 times" in r.stderr
    r = cli(own, "judgments", "from-clicks", "--index", "sf", "--name", "x", "--model", "cascade")
    assert r.returncode == 1 and "cascade" in r.stderr
