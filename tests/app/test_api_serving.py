"""`GET /serving/history` and `POST /serving/rollback` over real HTTP: a rollback behind the write key, the
same record the CLI writes (`ragsearch serve-config rollback`), what is served after it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ragsearch.retrieval.index import SearchIndex
from ragsearch.search.config import Mode, build_config
from ragsearch.search.serving import ServingStore
from tests.app.test_api import KEY, serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(scifact_index: SearchIndex, tmp_path_factory: pytest.TempPathFactory) -> Path:
    h = tmp_path_factory.mktemp("serving-api-home")
    shutil.copytree(scifact_index.path, h / "indexes" / "sf")
    return h


@pytest.fixture(scope="module")
def url(home: Path) -> Iterator[str]:
    yield from serve({"api": {"api_key": KEY}}, home)


def test_rollback_needs_the_key_and_serves_what_was_served_before(url: str, home: Path) -> None:
    assert httpx.get(f"{url}/serving/history").json() == []
    r = httpx.post(f"{url}/serving/rollback", headers={"X-API-Key": KEY})
    assert r.status_code == 422 and "no promotion to roll back" in r.json()["error"]["message"]

    fresh = build_config(httpx.get(f"{url}/serving").json()["config"])
    store = ServingStore(home)  # two promotions, as `serve-config promote` records them
    store.promote(
        "sf", "bm25", fresh.replace(mode=Mode.BM25), {"judgments": "sf@v0001", "measure": "nDCG@10"}
    )
    store.promote("sf", "dense", fresh.replace(mode=Mode.DENSE), {"judgments": "sf@v0001"})
    assert httpx.get(f"{url}/serving").json()["name"] == "dense"

    for headers in ({}, {"X-API-Key": "wrong"}):  # refused, nothing changes
        r = httpx.post(f"{url}/serving/rollback", headers=headers)
        assert r.status_code == 401 and r.json()["error"]["type"] == "unauthorized"
    assert httpx.get(f"{url}/serving").json()["name"] == "dense"

    r = httpx.post(f"{url}/serving/rollback", params={"index": "sf"}, headers={"X-API-Key": KEY})
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["label"]) == ("bm25", "bm25")
    assert httpx.get(f"{url}/serving").json() == r.json()
    assert httpx.get(f"{url}/search", params={"q": "vitamin D"}).json()["mode"] == "bm25"
    log = httpx.get(f"{url}/serving/history", params={"index": "sf"}).json()
    assert [e["evidence"]["action"] for e in log] == ["promote", "promote", "rollback"]
    assert log[-1]["name"] == "bm25" and log[-1]["evidence"]["undid"] == 2 == log[1]["number"]

    r = httpx.post(f"{url}/serving/rollback", headers={"X-API-Key": KEY})
    assert r.json()["name"] == "default" and r.json()["label"] == "hybrid"
    r = httpx.post(f"{url}/serving/rollback", params={"index": "nope"}, headers={"X-API-Key": KEY})
    assert r.status_code == 404 and not (home / "serving" / "nope.json").exists()
