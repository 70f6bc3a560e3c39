"""`ragsearch train`, `models` and `eval --systems ...,ltr` end to end, with the real packaged model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.app.test_cli import REPO, cli
from tests.slices import make_slice

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(scifact_cli_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    h = tmp_path_factory.mktemp("ltrclihome")
    r = cli(h, "ingest", str(scifact_cli_slice), "--index", "sf", "--json")
    assert r.returncode == 0, r.stderr
    return h


FAST = {
    "RAGSEARCH_RERANK_LEARNING_RATE": "0.1",
    "RAGSEARCH_RERANK_NUM_BOOST_ROUND": "200",
    "RAGSEARCH_RERANK_EARLY_STOPPING_ROUNDS": "20",
    "RAGSEARCH_RETRIEVAL_BM25_DEPTH": "50",
    "RAGSEARCH_RETRIEVAL_DENSE_DEPTH": "50",
}


def test_train_models_eval_search(home: Path, scifact_cli_slice: Path, tmp_path: Path) -> None:
    r = cli(home, "models", "list", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == []
    r = cli(home, "search", "vitamin", "--index", "sf", "--mode", "ltr")
    assert r.returncode == 1 and "mode ltr needs a trained model" in r.stderr and "Traceback" not in r.stderr

    r = cli(home, "train", str(scifact_cli_slice), "--index", "sf", "--promote-if-better", "--json", env=FAST)
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m["version"] == "v0001" and m["promoted"] and "no model was promoted" in m["gate"]
    assert m["metrics"]["test"]["split"] == "test" and m["candidates"]["bm25_depth"] == 50
    assert m["embedding_model"] == "all-MiniLM-L6-v2"
    assert str(m["chosen_trees"]) in m["tree_selection"] or "fused ranking" in m["tree_selection"]

    r = cli(home, "eval", str(scifact_cli_slice), "--index", "sf", "--systems", "hybrid,ltr",
            "--output", str(tmp_path / "m.json"), env=FAST)  # fmt: skip
    assert r.returncode == 0, r.stderr
    ev = json.loads((tmp_path / "m.json").read_text())
    assert set(ev["systems"]) == {"hybrid", "ltr"} and ev["queries"] == 20
    # eval reranks the same candidates the manifest's test metrics were computed on
    assert ev["systems"]["ltr"]["nDCG@10"] == pytest.approx(m["metrics"]["test"]["ltr_nDCG@10"], abs=1e-4)
    assert ev["systems"]["ltr"]["nDCG@10"] > 0.5

    r = cli(home, "eval", str(scifact_cli_slice), "--index", "sf", "--systems", "hybrid,ltr",
            "--subset", "held-apart", "--output", str(tmp_path / "h.json"), env=FAST)  # fmt: skip
    assert r.returncode == 0, r.stderr
    held = json.loads((tmp_path / "h.json").read_text())
    assert held["subset"] == "held-apart" and 0 < held["queries"] < 20

    r = cli(home, "eval", str(scifact_cli_slice), "--index", "sf", "--split", "train", "--systems", "ltr")
    assert r.returncode == 1 and "ltr was trained or early-stopped on 60 of 60 queries" in r.stderr

    r = cli(
        home,
        "search",
        "Vitamin D deficiency and bone",
        "--index",
        "sf",
        "--mode",
        "ltr",
        "--k",
        "5",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)["hits"]
    assert len(hits) == 5 and all(h["rerank_score"] == h["score"] for h in hits)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert all(h["fused_score"] is not None for h in hits) and hits[0]["title"]

    r = cli(home, "train", str(scifact_cli_slice), "--index", "sf", "--promote-if-better", env=FAST)
    assert r.returncode == 0 and "not promoted v0002" in r.stdout, r.stdout + r.stderr
    assert cli(home, "models", "promote", "v0002").returncode == 0
    rows = json.loads(cli(home, "models", "list", "--json").stdout)
    assert [(x["version"], x["promoted"]) for x in rows] == [("v0001", False), ("v0002", True)]
    r = cli(home, "models", "rollback")
    assert r.returncode == 0 and "v0001 is promoted" in r.stdout
    shown = json.loads(cli(home, "models", "show", "v0001").stdout)
    assert shown["promoted"] and set(shown["importance"]) == set(shown["feature_names"])
    # the CV curve that chose the number of trees (0: the fused ranking) is shown with the manifest
    curve = shown["cv_curve"]
    assert curve[0]["trees"] == 0 and curve[-1]["trees"] == 200 and shown["cv_folds"] == 5
    assert shown["chosen_trees"] == shown["best_iteration"] in [p["trees"] for p in curve]
    assert shown["fallback_to_fused"] == (shown["chosen_trees"] == 0)

    manifest = home / "models" / "ltr" / "v0001" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["feature_names"] = list(reversed(data["feature_names"]))
    manifest.write_text(json.dumps(data))
    r = cli(home, "search", "vitamin", "--index", "sf", "--mode", "ltr")
    assert r.returncode == 1 and "does not match the running code's features" in r.stderr
    assert "Traceback" not in r.stderr


def test_cross_validation_reports_out_of_fold(home: Path, scifact_cli_slice: Path) -> None:
    r = cli(
        home,
        "train",
        str(scifact_cli_slice),
        "--index",
        "sf",
        "--split",
        "test",
        "--cv",
        "2",
        "--folds",
        "3",
        "--json",
        env=FAST,
    )
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["subset"] == "2-fold CV, out-of-fold" and set(rep["systems"]) == {"hybrid", "ltr"}
    assert rep["queries"] == 20 and rep["systems"]["ltr"]["nDCG@10"] > 0.3
    assert any(n.startswith("trees per fold, chosen by 3-fold CV") for n in rep["notes"])


def test_finetune_registers_an_encoder_that_serves_a_new_index(home: Path, scifact_cli_slice: Path) -> None:
    """`ragsearch finetune` on the slice's train judgments (real model, a few steps), then the tuned encoder
    builds and serves a new index; the old model is refused on it."""
    r = cli(home, "finetune", str(scifact_cli_slice), "--index", "sf", "--split", "test")
    assert r.returncode == 1 and "never reads test judgments" in r.stderr

    r = cli(home, "finetune", str(scifact_cli_slice), "--index", "sf", "--batch-size", "16", "--dev-depth", "20",
            "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m["version"] == "e0001" and m["base_model"] == "all-MiniLM-L6-v2"
    assert (
        m["train_split"] == "train" and m["dev"].startswith("holdout") and m["training_data"]["triples"] > 20
    )
    assert {"dev_candidate_nDCG@10_20_base", "dev_candidate_nDCG@10_20_tuned"} <= set(m["metrics"])
    steps = m["trainer"]["steps"]
    assert m["trainer"]["args"]["batch_sampler"] == "no_duplicates" and steps >= 2
    assert f"fine-tune {steps} steps, {steps}/{steps} (100%)" in r.stderr  # the trainer reports its steps
    folder = Path(m["path"])
    assert (folder / "manifest.json").is_file() and (folder / "model.safetensors").is_file()

    r = cli(home, "models", "encoders")
    assert r.returncode == 0 and [e["version"] for e in json.loads(r.stdout)] == ["e0001"]

    tuned = {"RAGSEARCH_EMBEDDING_MODEL": str(folder)}
    r = cli(home, "ingest", str(scifact_cli_slice), "--index", "sf-tuned", "--json", env=tuned)
    assert r.returncode == 0, r.stderr
    r = cli(
        home, "search", "vitamin D deficiency", "--index", "sf-tuned", "--mode", "dense", "--json", env=tuned
    )
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["hits"]) > 0
    r = cli(home, "search", "vitamin D deficiency", "--index", "sf-tuned", "--mode", "dense")
    assert r.returncode == 1 and "was built with" in r.stderr and str(folder) in r.stderr


def test_one_command_writes_the_whole_benchmark_report(
    home: Path, scifact_cli_slice: Path, tmp_path: Path
) -> None:
    """`python -m bench.report` at toy sizes: every part runs (search, rerank, ingest, scale, memory, load on
    both indexes) and lands in one Markdown + JSON report. Timings are printed, not asserted."""
    r = cli(home, "train", str(scifact_cli_slice), "--index", "sf", "--json", env=FAST)
    assert r.returncode == 0, r.stderr
    version = json.loads(r.stdout)["version"]
    assert cli(home, "models", "promote", version).returncode == 0
    out = tmp_path / "report"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSEARCH_")}
    env.update({"RAGSEARCH_HOME": str(home), "HF_HUB_OFFLINE": "1", **FAST})
    args = ["--index", "sf", "--dataset-dir", str(scifact_cli_slice), "--queries", "5", "--ingest-docs", "8",
            "--scale-home", str(tmp_path / "scale"), "--passages", "600", "--scale-queries", "5",
            "--clients", "2", "--load-seconds", "3", "--no-fuzz", "--out", str(out)]  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "bench.report", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900)  # fmt: skip
    assert out.with_suffix(".json").is_file(), done.stderr[-3000:]
    report = json.loads(out.with_suffix(".json").read_text())
    parts = report["parts"]
    assert {k: v["exit"] for k, v in parts.items()} == dict.fromkeys(
        ["search", "rerank_100", "rerank_200", "load_sf_hybrid", "load_sf_ltr", "scale", "memory",
         "load_synthetic-600_hybrid", "load_synthetic-600_ltr"], 0,
    ), done.stderr[-3000:]  # fmt: skip
    assert set(parts["search"]["search_latency"]) == {"query_encoding", "bm25", "dense", "hybrid", "ltr"}
    assert parts["rerank_200"]["tree_runtime"] == "compiled" and parts["search"]["ingest"]["passages"] == 8
    assert parts["scale"]["passages"] == 600 and 0 < parts["scale"]["recall_at_100"]["ivf"] <= 1
    assert parts["memory"]["memory"]["passages"] == 600
    loads = [parts[k] for k in parts if k.startswith("load_")]
    assert all(x["requests"] > 0 and x["errors"] == 0 and x["tool"].startswith("locust") for x in loads)
    assert [t["measured"] is not None for t in report["targets"]] == [True] * 8
    assert report["ltr_model"] == version and report["machine"]["cpus"]
    md = out.with_suffix(".md").read_text()
    for heading in ("## Targets", "## Search latency", "## Reranking", "## Ingest", "## At 600 synthetic",
                    "## API under concurrent load"):  # fmt: skip
        assert heading in md
    assert done.stdout.endswith(md)  # the Markdown is also what the command prints


def test_train_on_two_collections(
    home: Path, scifact_cli_slice: Path, shared_data: Path, tmp_path: Path
) -> None:
    """`train --source` x2: one model from a SciFact slice (60 train queries) and a Cranfield slice (20 fold1
    queries), each collection's queries weighing the same in total; the manifest lists both sources, and
    evaluation refuses the model on the queries it learned from, in either collection."""
    cran = make_slice(shared_data / "cranfield", tmp_path / "cranfield", {"fold1": 20}, 60, seed=7)
    assert cli(home, "ingest", str(cran), "--index", "cr").returncode == 0
    env = {**FAST, "RAGSEARCH_RERANK_THREADS": "1"}
    r = cli(
        home,
        "train",
        "--source",
        f"sf={scifact_cli_slice}",
        "--source",
        f"cr={cran}@fold1",
        "--json",
        env=env,
    )
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    src = {s["index"]: s for s in m["sources"]}
    assert [(s["index"], s["dataset"], s["split"]) for s in m["sources"]] == [
        ("sf", "scifact", "train"), ("cr", "cranfield", "fold1")]  # fmt: skip
    assert (src["sf"]["queries"], src["cr"]["queries"]) == (60, 20)
    assert src["sf"]["query_weight"] == pytest.approx(80 / 120) and src["cr"][
        "query_weight"
    ] == pytest.approx(2.0)
    assert m["source_weights"] == {"sf": pytest.approx(40.0), "cr": pytest.approx(40.0)}
    assert m["index"] == "sf+cr" and m["dataset"] == "scifact+cranfield"
    assert m["metrics"]["test sf"]["queries"] == 20 and "test cr" not in m["metrics"]
    assert src["sf"]["train_queries"] + src["sf"]["dev_queries"] == 60
    # the trees were chosen leaving one collection out (the default for several collections)
    assert m["cv_split_by"] == "collections" and m["cv_folds"] == 2
    assert "leave-one-collection-out CV" in m["tree_selection"]
    bad = cli(home, "train", "--source", f"sf={scifact_cli_slice}", "--source", f"cr={cran}@fold1",
              "--trees-by", "docs")  # fmt: skip
    assert bad.returncode == 1 and "one of queries, documents, collections" in bad.stderr
    bad = cli(home, "train", str(scifact_cli_slice), "--index", "sf", "--trees-by", "collections")
    assert bad.returncode == 1 and "give --source" in bad.stderr
    # one collection, document-disjoint folds: queries sharing a relevant abstract never straddle two folds
    r = cli(
        home, "train", str(scifact_cli_slice), "--index", "sf", "--trees-by", "documents", "--json", env=env
    )
    assert r.returncode == 0, r.stderr
    one = json.loads(r.stdout)
    assert one["cv_split_by"] == "documents" and one["params"]["tree_split"] == "documents"
    assert "5-fold document-disjoint CV" in one["tree_selection"]

    r = cli(home, "eval", str(cran), "--index", "cr", "--split", "fold1", "--systems", f"ltr:{m['version']}")
    assert r.returncode == 1 and "trained or early-stopped on 20 of 20 queries" in r.stderr, r.stderr
    r = cli(home, "train", "--source", f"sf={scifact_cli_slice}", "--cv", "2")
    assert r.returncode == 1 and "--source trains on its sources alone" in r.stderr
