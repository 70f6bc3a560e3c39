"""Online experiments over real HTTP: a real server process on a SciFact slice, SIMULATED users
(bench.click_simulator: position-based examination, clicks by human grade, seeded) sending their clicks to
the real API, the experiment decided from the impression log, resumed after kill -9, stopped by a failing
candidate."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import httpx
import pytest

from bench.click_simulator import run_sessions
from ragsearch.app.impressions import ImpressionLog
from ragsearch.eval.data import load_split
from ragsearch.retrieval.index import SearchIndex
from ragsearch.search.config import Mode, SearchConfig
from ragsearch.search.serving import ServingStore
from tests.app.test_cli import cli
from tests.net import serve_process

pytestmark = pytest.mark.slow
KEY = "test-key-0123456789"
POOR = SearchConfig(mode=Mode.BM25, text_boost=0.0, title_boost=0.0)  # all matches score 0: id order


@pytest.fixture()
def home(scifact_index: SearchIndex, tmp_path: Path) -> Path:
    h = tmp_path / "home"
    shutil.copytree(scifact_index.path, h / "indexes" / "sf")
    return h


def status(home: Path) -> dict:  # type: ignore[type-arg]
    r = cli(home, "online", "status", "--index", "sf", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def test_a_worse_candidate_loses_and_the_counts_survive_kill_9(home: Path, scifact_slice: Path) -> None:
    # BM25 with every field weighted 0: all matches score 0 and come in id order, unrelated to relevance
    r = cli(
        home,
        "configs",
        "save",
        "flat",
        "--index",
        "sf",
        "--mode",
        "bm25",
        "--text-boost",
        "0",
        "--title-boost",
        "0",
    )
    assert r.returncode == 0, r.stderr
    r = cli(home, "online", "start", "--index", "sf", "--candidate", "flat", "--traffic", "0.5",
            "--min-sessions", "10", "--max-sessions", "2000")  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = cli(home, "online", "start", "--index", "sf", "--candidate", "bm25")
    assert r.returncode == 1 and "one at a time" in r.stderr
    split = load_split(scifact_slice, "test")
    proc, url = serve_process(home, "sf", KEY)
    try:
        with httpx.Client(base_url=url, timeout=60) as api:
            run_sessions(api, split.queries, split.qrels, sessions=120, seed=3, k=10)
            online = api.get("/online").json()["experiment"]
            assert "ragsearch_online_impressions_total" in api.get("/metrics").text
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(20)
    assert (
        online["impressions"] > 20
        and online["wins"] + online["losses"] + online["ties"] == online["impressions"]
    )
    # the interleaved share is capped at the traffic setting (and near it: a sticky hash of the session id)
    assert 0.3 < online["sessions"] / 120 <= 0.5
    log = ImpressionLog(home / "impressions.sqlite")
    mixed = [i for i in log.impressions("sf") if i.sources]
    assert len(mixed) == online["impressions"] and all(
        i.config_name == "online:" + online["id"] for i in mixed
    )
    for i in mixed:  # team sizes differ by at most one at every prefix
        assert all(
            abs(i.sources[:n].count("a") - i.sources[:n].count("b")) <= 1
            for n in range(1, len(i.sources) + 1)
        )
    log.close()
    after = status(home)  # after kill -9: the same counts, from the log, nothing counted twice
    assert {k: after[k] for k in ("impressions", "wins", "losses", "ties")} == {
        k: online[k] for k in ("impressions", "wins", "losses", "ties")
    } or after["status"] == "decided"
    proc, url = serve_process(home, "sf", KEY)
    try:
        with httpx.Client(base_url=url, timeout=60) as api:
            for seed in range(4, 12):
                if api.get("/online").json()["experiment"]["status"] != "running":
                    break
                run_sessions(api, split.queries, split.qrels, sessions=100, seed=seed, k=10)
    finally:
        proc.terminate()
        proc.wait(20)
    final = status(home)
    assert final["status"] == "decided" and final["decision"] == "keep", final
    assert final["losses"] > final["wins"] and final["log_lr"] >= final["boundary"]
    assert not final["promoted"] and ServingStore(home).stack("sf") == []
    assert "the served configuration won" in cli(home, "online", "status", "--index", "sf").stdout


def test_a_better_candidate_is_promoted_with_the_online_evidence(home: Path, scifact_slice: Path) -> None:
    # setup: the index serves a poor configuration (recorded directly, as test setup)
    ServingStore(home).promote("sf", "flat", POOR, {"note": "test setup"})
    r = cli(home, "online", "start", "--index", "sf", "--candidate", "hybrid", "--traffic", "0.5",
            "--min-sessions", "10", "--auto-promote")  # fmt: skip
    assert r.returncode == 0, r.stderr
    split = load_split(scifact_slice, "test")
    proc, url = serve_process(home, "sf", KEY)
    try:
        with httpx.Client(base_url=url, timeout=60) as api:
            for seed in range(20, 30):
                run_sessions(api, split.queries, split.qrels, sessions=100, seed=seed, k=10)
                if api.get("/online").json()["experiment"]["status"] != "running":
                    break
    finally:
        proc.terminate()
        proc.wait(20)
    final = status(home)
    assert (final["status"], final["decision"], final["promoted"]) == ("decided", "promote", True), final
    top = ServingStore(home).stack("sf")[-1]
    assert top.name == "hybrid" and top.evidence["online"]["experiment"] == final["id"]
    assert top.evidence["online"]["wins"] == final["wins"] > final["losses"]
    assert (
        "by online experiment"
        in json.loads(cli(home, "serve-config", "show", "--index", "sf", "--json").stdout)["reason"]
    )


def test_a_failing_candidate_stops_the_experiment_and_users_get_the_served_results(home: Path) -> None:
    r = cli(home, "online", "start", "--index", "sf", "--candidate", "ltr:v0099", "--traffic", "0.5")
    assert r.returncode == 0, r.stderr
    proc, url = serve_process(home, "sf", KEY)
    try:
        with httpx.Client(base_url=url, timeout=60) as api:
            for i in range(12):  # some of these sessions fall in the experiment's share
                r = api.get("/search", params={"q": "vitamin D", "k": 5, "session_id": f"s{i}"})
                assert r.status_code == 200 and len(r.json()["hits"]) == 5
            online = api.get("/online").json()["experiment"]
    finally:
        proc.terminate()
        proc.wait(20)
    assert online["status"] == "stopped" and "the candidate" in online["reason"], online
    assert online["impressions"] == 0


def test_a_slow_candidate_is_stopped_after_the_warm_up(home: Path) -> None:
    r = cli(home, "online", "start", "--index", "sf", "--candidate", "bm25", "--traffic", "0.5")
    assert r.returncode == 0, r.stderr
    proc, url = serve_process(home, "sf", KEY, RAGSEARCH_ONLINE_MAX_CANDIDATE_LATENCY_MS="0.001")
    try:
        with httpx.Client(base_url=url, timeout=60) as api:
            for i in range(40):
                assert (
                    api.get("/search", params={"q": "vitamin D", "k": 5, "session_id": f"s{i}"}).status_code
                    == 200
                )
            online = api.get("/online").json()["experiment"]
    finally:
        proc.terminate()
        proc.wait(20)
    assert online["status"] == "stopped" and "over the budget of 0.001 ms" in online["reason"], online
    assert online["impressions"] == 3  # the three warm-up searches were interleaved, the fourth stopped it


def test_an_aa_run_interleaves_the_served_configuration_with_itself_and_never_promotes(
    home: Path, scifact_slice: Path
) -> None:
    r = cli(home, "online", "start", "--index", "sf", "--aa", "--candidate", "bm25")
    assert r.returncode == 1 and "either --candidate CONFIG or --aa" in r.stderr
    r = cli(home, "online", "start", "--index", "sf", "--aa", "--auto-promote")
    assert r.returncode == 1 and "never promotes" in r.stderr
    r = cli(home, "online", "start", "--index", "sf", "--candidate", "hybrid")
    assert r.returncode == 1 and "--aa" in r.stderr  # the served configuration is refused as a candidate
    r = cli(home, "online", "start", "--index", "sf", "--aa", "--traffic", "0.5", "--min-sessions", "0")
    assert r.returncode == 0, r.stderr
    split = load_split(scifact_slice, "test")
    proc, url = serve_process(home, "sf", KEY)
    try:
        with httpx.Client(base_url=url, timeout=60) as api:
            run_sessions(api, split.queries, split.qrels, sessions=60, seed=5, k=10)
            online = api.get("/online").json()["experiment"]
            q = next(iter(split.queries.values()))
            plain = [h["id"] for h in api.get("/search", params={"q": q, "k": 10}).json()["hits"]]
            mixed = {
                tuple(h["id"] for h in body["hits"])
                for i in range(30)
                if (body := api.get("/search", params={"q": q, "k": 10, "session_id": f"aa{i}"}).json())[
                    "config_name"
                ].startswith("online:")
            }
    finally:
        proc.terminate()
        proc.wait(20)
    assert (
        online["aa"] and online["candidate"] == f"{online['served']} (A/A)" and online["impressions"] > 10
    ), online
    assert online["wins"] + online["losses"] + online["ties"] == online["impressions"]
    # two identical lists interleave into that list: users of an A/A run see exactly the served ranking
    assert mixed == {tuple(plain)}
    log = ImpressionLog(home / "impressions.sqlite")
    teams = [i.sources for i in log.impressions("sf") if i.sources]
    log.close()
    assert {"a", "b"} <= {t for s in teams for t in s}  # clicks are credited to both sides at random
    assert not online["promoted"] and ServingStore(home).stack("sf") == []
