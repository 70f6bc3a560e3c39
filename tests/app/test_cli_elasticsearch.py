"""`ragsearch ingest/search/eval --backend elasticsearch` end to end, with the real model on a SciFact slice.

Runs against RAGSEARCH_ES_URL; on CI that is the noida-db Elasticsearch-API EMULATOR, not a real cluster.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from tests.app.test_cli import cli, corpus_size

ES_URL = os.environ.get("RAGSEARCH_ES_URL", "")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.skipif(not ES_URL, reason="set RAGSEARCH_ES_URL (e.g. scripts/es-emulator.sh) to run"),
]
ES = {"RAGSEARCH_ES_URL": ES_URL}


@pytest.fixture(scope="module")
def es_index(scifact_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    home = tmp_path_factory.mktemp("home")
    name = f"rs-cli-{uuid.uuid4().hex[:10]}"
    try:
        r = cli(
            home,
            "ingest",
            str(scifact_slice),
            "--index",
            name,
            "--backend",
            "elasticsearch",
            "--json",
            env=ES,
        )
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["added"] == corpus_size(scifact_slice)
        yield home, name
    finally:
        Elasticsearch(ES_URL).indices.delete(index=name, ignore_unavailable=True)


def test_reingest_skips_unchanged(es_index: tuple[Path, str], scifact_slice: Path) -> None:
    home, name = es_index
    env = {**ES, "RAGSEARCH_BACKEND": "elasticsearch"}  # the setting works as well as the flag
    r = cli(home, "ingest", str(scifact_slice), "--index", name, "--json", env=env)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert (report["added"], report["unchanged"], report["embedded"]) == (0, corpus_size(scifact_slice), 0)
    info = json.loads(cli(home, "indexes", "info", name, env=env).stdout)
    assert (info["backend"], info["passages"], info["dim"]) == (
        "elasticsearch",
        corpus_size(scifact_slice),
        384,
    )


def test_search_and_eval(es_index: tuple[Path, str], scifact_slice: Path, tmp_path: Path) -> None:
    home, name = es_index
    be = ("--index", name, "--backend", "elasticsearch")
    r = cli(
        home, "search", "Vitamin D deficiency and bone", *be, "--mode", "hybrid", "--k", "5", "--json", env=ES
    )
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)["hits"]
    assert len(hits) == 5 and hits[0]["title"] and any(h["bm25_rank"] and h["dense_rank"] for h in hits)
    r = cli(home, "eval", str(scifact_slice), *be, "--output", str(tmp_path / "m.json"), env=ES)
    assert r.returncode == 0, r.stderr
    systems = json.loads((tmp_path / "m.json").read_text())["systems"]
    assert all(systems[s]["nDCG@10"] > 0.5 for s in ("bm25", "dense", "hybrid")), systems


def test_errors_on_elasticsearch(tmp_path: Path) -> None:
    home = tmp_path
    be = ("--backend", "elasticsearch")
    r = cli(home, "search", "x", "--index", "nosuch-index", *be, env=ES)
    assert r.returncode == 1 and "index 'nosuch-index' does not exist on Elasticsearch" in r.stderr
    # (the model-mismatch check on an ES index is tested without the model in test_elasticsearch.py)
    r = cli(
        home,
        "indexes",
        "list",
        *be,
        env={"RAGSEARCH_ES_URL": "http://127.0.0.1:9", "RAGSEARCH_ES_MAX_RETRIES": "0"},
    )
    assert r.returncode == 1 and "cannot reach Elasticsearch at http://127.0.0.1:9" in r.stderr
    assert "Traceback" not in r.stderr
    r = cli(home, "indexes", "list", "--backend", "solr")
    assert r.returncode == 1 and "unknown backend 'solr'" in r.stderr
