"""Leakage is checked by query, not by split name: the Cranfield case where `test` is `fold1` + `fold2`.

A model trained on fold1 and early-stopped on fold2 must not be measured on `test` (all its queries were seen),
neither by `eval` nor in the test metrics `train` records; one trained on fold1 alone can be measured on the
fold2 half of `test`, and that figure equals the one on `--split fold2`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import ir_measures
import pytest

from ragsearch.eval.data import read_qrels
from tests.app.test_cli import cli
from tests.rerank.test_cli_ltr import FAST
from tests.slices import make_slice

pytestmark = pytest.mark.slow

N = 25  # per fold: fold1 = 1, 3, ..., 49 and fold2 = 2, 4, ..., 50; test (first 2N) = 1..50 = both


@pytest.fixture(scope="module")
def cranfield(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("leak") / "cranfield"
    return make_slice(shared_data / "cranfield", dest, {"fold1": N, "fold2": N, "test": 2 * N}, 150, seed=3)


@pytest.fixture(scope="module")
def home(cranfield: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    h = tmp_path_factory.mktemp("leakhome")
    r = cli(h, "ingest", str(cranfield), "--index", "cf", "--json")
    assert r.returncode == 0, r.stderr
    return h


def fold(i: int) -> list[str]:
    return [str(q) for q in range(i, 2 * N + 1, 2)]


def test_a_model_is_never_measured_on_its_training_or_early_stopping_queries(
    home: Path, cranfield: Path, tmp_path: Path
) -> None:
    data = str(cranfield)
    r = cli(
        home, "train", data, "--index", "cf", "--split", "fold1", "--dev-split", "fold2", "--json", env=FAST
    )
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    test = m["metrics"]["test"]  # test = fold1 + fold2: no honest test figure exists
    assert "ltr_nDCG@10" not in test and test["excluded_training_queries"] == 2 * N
    assert m["seen_queries"] == {"train": fold(1), "dev": fold(2)}
    assert "50 of 50 queries (ids 1, 2, 3, 4, 5, ...)" in test["note"] and "no test figure" in test["note"]
    rows = json.loads(cli(home, "models", "list", "--json").stdout)
    row = next(x for x in rows if x["version"] == m["version"])
    assert row["test_nDCG@10"] is None and row["test_checked"]

    r = cli(
        home,
        "eval",
        data,
        "--index",
        "cf",
        "--split",
        "test",
        "--systems",
        f"hybrid,ltr:{m['version']}",
        env=FAST,
    )
    assert r.returncode == 1, r.stdout
    assert (
        f"ltr:{m['version']} was trained or early-stopped on 50 of 50 queries (ids 1, 2, 3, 4, 5, ...)"
        in r.stderr
    )
    r = cli(home, "eval", data, "--index", "cf", "--split", "test", "--systems", f"hybrid,ltr:{m['version']}",
            "--exclude-training-queries", env=FAST)  # fmt: skip
    assert r.returncode == 1 and "no other query is left" in r.stderr
    # the same judgments as a judgment list (another name than the dataset's): still refused
    r = cli(home, "judgments", "import", data, "--split", "test", "--index", "cf", "--name", "cf-test",
            "--map-grades", "4=3")  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = cli(home, "eval", "--judgments", "cf-test", "--systems", f"hybrid,ltr:{m['version']}", env=FAST)
    assert r.returncode == 1, r.stdout
    assert f"ltr:{m['version']} was trained or early-stopped on 50 of 50 queries" in r.stderr

    # trained on fold1 only (early stopping on a hold-out of it): fold2's half of test is fair
    r = cli(home, "train", data, "--index", "cf", "--split", "fold1", "--json", env=FAST)
    assert r.returncode == 0, r.stderr
    m2 = json.loads(r.stdout)
    assert sorted(m2["seen_queries"]["train"] + m2["seen_queries"]["dev"], key=int) == fold(1)
    test2 = m2["metrics"]["test"]
    assert test2["excluded_training_queries"] == N and test2["queries"] == N and "ltr_nDCG@10" in test2

    r = cli(
        home,
        "eval",
        data,
        "--index",
        "cf",
        "--split",
        "test",
        "--systems",
        f"hybrid,ltr:{m2['version']}",
        env=FAST,
    )
    assert r.returncode == 1 and "25 of 50 queries (ids 1, 3, 5, 7, 9, ...)" in r.stderr
    assert "--exclude-training-queries" in r.stderr
    r = cli(home, "eval", data, "--index", "cf", "--split", "test", "--systems", f"hybrid,ltr:{m2['version']}",
            "--exclude-training-queries", "--output", str(tmp_path / "t.json"), env=FAST)  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = cli(home, "eval", data, "--index", "cf", "--split", "fold2", "--systems", f"hybrid,ltr:{m2['version']}",
            "--output", str(tmp_path / "f2.json"), env=FAST)  # fmt: skip
    assert r.returncode == 0, r.stderr
    on_test, on_fold2 = (json.loads((tmp_path / f).read_text()) for f in ("t.json", "f2.json"))
    assert on_test["queries"] == N and on_test["subset"] == f"without {N} training queries"
    assert on_test["systems"] == on_fold2["systems"]
    assert on_test["systems"][f"ltr:{m2['version']}"]["nDCG@10"] == pytest.approx(
        test2["ltr_nDCG@10"], abs=1e-4
    )


def test_a_legacy_manifest_falls_back_to_split_names_and_says_so(home: Path, cranfield: Path) -> None:
    r = cli(home, "train", str(cranfield), "--index", "cf", "--split", "fold1", "--dev-split", "fold2", "--json",
            env=FAST)  # fmt: skip
    assert r.returncode == 0, r.stderr
    version = json.loads(r.stdout)["version"]
    path = home / "models" / "ltr" / version / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["seen_queries"]
    path.write_text(json.dumps(manifest))

    system = f"ltr:{version}"
    r = cli(home, "eval", str(cranfield), "--index", "cf", "--split", "fold2", "--systems", system, env=FAST)
    assert r.returncode == 1 and f"{system} was trained on cranfield/fold1, fold2" in r.stderr
    r = cli(home, "eval", str(cranfield), "--index", "cf", "--split", "test", "--systems", system, env=FAST)
    assert r.returncode == 0, r.stderr
    assert "only split names were compared" in " ".join(r.stdout.split())
    shown = json.loads(cli(home, "models", "show", version).stdout)
    assert shown["leakage_check"] == "split names only (legacy manifest)"


def test_two_models_in_one_table(home: Path, cranfield: Path) -> None:
    """`--systems ltr:A,ltr:B` compares two registered models on the queries neither saw."""
    versions = []
    for leaves in ("7", "15"):
        env = {**FAST, "RAGSEARCH_RERANK_NUM_LEAVES": leaves}
        r = cli(home, "train", str(cranfield), "--index", "cf", "--split", "fold1", "--json", env=env)
        assert r.returncode == 0, r.stderr
        versions.append(json.loads(r.stdout)["version"])
    systems = ",".join(f"ltr:{v}" for v in versions)
    r = cli(home, "eval", str(cranfield), "--index", "cf", "--split", "fold2", "--systems", systems, "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert list(report["systems"]) == [f"ltr:{v}" for v in versions] and report["queries"] == N
    second = report["systems"][f"ltr:{versions[1]}"]
    first = report["systems"][f"ltr:{versions[0]}"]
    assert second["delta_vs_first"] == pytest.approx(second["nDCG@10"] - first["nDCG@10"])


def test_measures_json_and_trec_runs_for_other_tools(home: Path, cranfield: Path, tmp_path: Path) -> None:
    data = str(cranfield)
    args = ("--index", "cf", "--split", "test", "--systems", "bm25,dense,hybrid", "--measures",
            "nDCG@10,R@100,RR@10,P@5")  # fmt: skip
    r = cli(home, "eval", data, *args, "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)  # nothing but JSON on stdout
    assert report["measures"] == ["nDCG@10", "R@100", "RR@10", "P@5"] and report["queries"] == 2 * N
    bm25, hybrid = report["systems"]["bm25"], report["systems"]["hybrid"]
    assert set(hybrid["per_query"]) == {str(q) for q in range(1, 2 * N + 1)}
    assert sum(v["P@5"] for v in hybrid["per_query"].values()) / (2 * N) == pytest.approx(hybrid["P@5"])
    assert hybrid["delta_vs_first"] == pytest.approx(hybrid["nDCG@10"] - bm25["nDCG@10"])
    assert hybrid["p_holm_vs_first"] >= hybrid["p_value_vs_first"] and bm25["p_value_vs_first"] is None

    r = cli(home, "eval", data, *args, env={"COLUMNS": "200"})  # one table row per line
    assert r.returncode == 0, r.stderr
    table = " ".join(r.stdout.split())
    assert "Holm" in table and re.search(
        r"[+-]0\.\d{4} \(p (<0\.0001|\d\.\d{4}), Holm (<0\.0001|\d\.\d{4})\)", table
    )
    assert "0.0000" not in table

    r = cli(home, "eval", data, "--index", "cf", "--measures", "nDCG@10,Bogus@3")
    assert r.returncode == 1 and "Bogus@3" in r.stderr

    # a TREC run without judgments, from a TSV topics file and from queries.jsonl; scored by ir-measures
    topics = tmp_path / "topics.tsv"
    queries = [json.loads(ln) for ln in (cranfield / "queries.jsonl").read_text().splitlines()]
    topics.write_text("".join(f"{q['_id']}\t{q['text']}\n" for q in queries))
    r = cli(
        home, "run", str(topics), "--index", "cf", "--config", "hybrid", "--output", str(tmp_path / "h.trec")
    )
    assert r.returncode == 0, r.stderr
    r = cli(home, "run", str(cranfield / "queries.jsonl"), "--index", "cf", "--config", "hybrid")
    assert r.returncode == 0, r.stderr
    assert r.stdout == (tmp_path / "h.trec").read_text()
    assert {ln.split()[5] for ln in r.stdout.splitlines()} == {"hybrid"}
    qrels = read_qrels(cranfield / "qrels" / "test.tsv")
    run = list(ir_measures.read_trec_run(str(tmp_path / "h.trec")))
    ndcg = ir_measures.calc_aggregate([ir_measures.nDCG @ 10], qrels, run)[ir_measures.nDCG @ 10]
    assert ndcg == pytest.approx(hybrid["nDCG@10"], abs=1e-9)
