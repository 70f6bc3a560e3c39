"""Per-index serving chosen by evidence, end to end: real CLI processes, the real model, a SciFact slice, and
the API over real HTTP reading what the CLI promoted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest

from ragsearch.retrieval.index import SearchIndex
from tests.app.test_api import serve
from tests.app.test_cli import cli

pytestmark = pytest.mark.slow

# A deployment whose default is poor: BM25 on titles only, no dense. A configuration stored with the usual
# fusion beats it clearly, so its promotion must pass the gate.
POOR_DEFAULT = {"RAGSEARCH_RETRIEVAL_DENSE_WEIGHT": "0", "RAGSEARCH_BM25_TEXT_BOOST": "0"}


@pytest.fixture(scope="module")
def home(scifact_index: SearchIndex, tmp_path_factory: pytest.TempPathFactory, scifact_slice: Path) -> Path:
    h = tmp_path_factory.mktemp("serving-home")
    shutil.copytree(scifact_index.path, h / "indexes" / "sf")
    r = cli(h, "judgments", "import", str(scifact_slice), "--split", "test", "--index", "sf", "--name", "sf")
    assert r.returncode == 0, r.stderr
    r = cli(h, "judgments", "split", "sf", "--dev-fraction", "0.5", "--seed", "1")
    assert r.returncode == 0, r.stderr
    return h


def served(home: Path, env: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    r = cli(home, "serve-config", "show", "--index", "sf", "--json", env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def test_promotion_refused_prints_both_numbers_and_changes_nothing(home: Path) -> None:
    assert served(home)["name"] == "default" and served(home)["label"] == "hybrid"
    r = cli(home, "serve-config", "promote", "bm25", "--index", "sf", "--judgments", "sf")
    assert r.returncode == 1, r.stderr
    assert "held (20 queries): bm25 nDCG@10 " in r.stdout and " vs default " in r.stdout
    assert "dev (20 queries): bm25 nDCG@10 " in r.stdout
    assert "refused: not better on the held part" in r.stdout and "index sf still serves default" in r.stdout
    assert cli(home, "serve-config", "history", "--index", "sf", "--json").stdout.strip() == "[]"
    r = cli(home, "serve-config", "promote", "bm25", "--index", "other", "--judgments", "sf")
    assert r.returncode == 1 and "judges index 'sf', not 'other'" in r.stderr
    r = cli(home, "serve-config", "promote", "nope", "--index", "sf", "--judgments", "sf")
    assert r.returncode == 1 and "unknown configuration of index 'sf' 'nope'" in r.stderr
    assert served(home)["name"] == "default"


def test_promotion_on_evidence_is_served_everywhere_and_rolls_back(home: Path) -> None:
    assert served(home, POOR_DEFAULT)["config"]["text_boost"] == 0.0
    r = cli(home, "configs", "save", "usual", "--index", "sf", "--dense-weight", "0.5", "--text-boost", "1",
            env=POOR_DEFAULT)  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = cli(home, "serve-config", "promote", "usual", "--index", "sf", "--judgments", "sf", "--json",
            env=POOR_DEFAULT)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    ev = out["evidence"]
    assert out["promoted"] and ev["judgments"] == "sf@v0002" and ev["part"] == "held" and ev["level"] == 0.05
    assert ev["held"]["candidate"] > ev["held"]["served"] and ev["held"]["p_value"] < 0.05
    assert ev["dev"]["queries"] == ev["held"]["queries"] == 20 and ev["replaced"] == "default"
    now = served(home)  # without the poor default: what was promoted is served, whatever the settings
    assert (
        now["name"] == "usual" and now["config"]["dense_weight"] == 0.5 and now["config"]["text_boost"] == 1.0
    )
    assert now["evidence"]["held"] == ev["held"] and "sf@v0002 (held part): nDCG@10" in now["reason"]

    shown = json.loads(cli(home, "indexes", "show", "sf").stdout)
    assert shown["serving"]["name"] == "usual" and shown["passages"] > 0
    r = cli(home, "search", "vitamin D and bone density", "--index", "sf", "--json", env=POOR_DEFAULT)
    assert json.loads(r.stdout)["config"] == now["config"]
    r = cli(home, "search", "vitamin D", "--index", "sf", "--mode", "bm25", "--json", env=POOR_DEFAULT)
    assert json.loads(r.stdout)["config"] == {**now["config"], "mode": "bm25"}

    for url in serve({}, home):
        health = httpx.get(f"{url}/health", timeout=60).json()
        assert health["serving"]["sf"]["name"] == "usual" and health["serving"]["sf"]["evidence"]["held"]
        assert httpx.get(f"{url}/serving", timeout=60).json() == health["serving"]["sf"]
        assert httpx.get(f"{url}/serving", params={"index": "nope"}, timeout=60).status_code == 404
        body = httpx.get(f"{url}/search", params={"q": "vitamin D", "k": 3}, timeout=60).json()
        assert body["config_name"] == "usual" and body["config"] == {**now["config"], "k": 3}
        body = httpx.get(f"{url}/search", params={"q": "vitamin D", "mode": "bm25"}, timeout=60).json()
        assert body["mode"] == "bm25" and body["config"]["title_boost"] == now["config"]["title_boost"]
        r = httpx.get(f"{url}/search", params={"q": "vitamin D", "config": "nope"}, timeout=60)
        assert r.status_code == 422 and "valid choices are usual" in r.json()["error"]["message"]
        answer = httpx.post(
            f"{url}/answer", json={"question": "vitamin D and bone density"}, timeout=60
        ).json()
        hits = httpx.get(
            f"{url}/search", params={"q": "vitamin D and bone density", "k": 5}, timeout=60
        ).json()
        assert [s["id"] for s in sorted(answer["cited"] + answer["uncited"], key=lambda s: s["n"])] == [
            h["id"] for h in hits["hits"]
        ]

    r = cli(home, "serve-config", "history", "--index", "sf")
    assert "#1 " in r.stdout and "promoted usual over default on sf@v0002" in r.stdout
    r = cli(home, "serve-config", "rollback", "--index", "sf")
    assert r.returncode == 0 and "index sf serves default" in r.stdout
    assert served(home)["name"] == "default"
    assert "rollback of #1 (usual)" in cli(home, "serve-config", "history", "--index", "sf").stdout


def test_optimize_selects_on_dev_reports_held_and_never_offers_a_model_its_training_queries(
    home: Path,
) -> None:
    r = cli(home, "train", "--judgments", "sf", "--part", "dev", "--json")
    assert r.returncode == 0, r.stderr
    version = json.loads(r.stdout)["version"]
    r = cli(home, "optimize", "--index", "sf", "--judgments", "sf", "--trials", "6", "--json")
    assert r.returncode == 0, r.stderr
    x = json.loads(r.stdout)
    assert (x["kind"], x["dev_queries"], x["held_queries"]) == ("optimize", 20, 20)
    assert x["judgments"]["ref"] == "sf@v0002" and x["split"] == "the list's own dev and held parts"
    assert x["models_skipped"][version].startswith("trained or early-stopped on 20 of 40 queries")
    assert x["models_offered"] == {}
    assert x["winner"]["dev"] == x["top"][0]["dev"] >= x["served"]["dev"]
    assert all(not t["label"].startswith("ltr") for t in x["top"])
    assert {"candidate", "served", "p_value", "queries"} <= set(x["held"]) and x["held"]["queries"] == 20
    stored = json.loads(cli(home, "configs", "show", "optimized", "--index", "sf").stdout)
    assert stored == x["winner"]["config"]
    saved = home / "experiments" / "sf" / x["id"] / "result.json"
    assert json.loads(saved.read_text()) == x
    assert served(home)["name"] == "default"  # it proposes; it does not serve

    before = sorted(p.name for p in (home / "experiments" / "sf").iterdir())
    r = cli(home, "optimize", "--index", "other", "--judgments", "sf")
    assert r.returncode == 1 and "judges index 'sf', not 'other'" in r.stderr
    r = cli(home, "optimize", "--index", "sf", "--judgments", "sf", "--models", "v0099")
    assert r.returncode == 1 and "v0099" in r.stderr
    assert sorted(p.name for p in (home / "experiments" / "sf").iterdir()) == before
