"""`ragsearch configs ...` and `ragsearch experiment` end to end: real processes, the real packaged model,
a SciFact slice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.app.test_cli import cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(scifact_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    h = tmp_path_factory.mktemp("home")
    r = cli(h, "ingest", str(scifact_slice), "--index", "sf", "--json")
    assert r.returncode == 0, r.stderr
    r = cli(
        h, "judgments", "import", str(scifact_slice), "--split", "test", "--index", "sf", "--name", "sf-test"
    )
    assert r.returncode == 0, r.stderr
    return h


def test_configs_save_list_show_round_trip_and_unknown_field(home: Path, tmp_path: Path) -> None:
    r = cli(home, "configs", "save", "rrf30", "--index", "sf", "--fusion", "rrf", "--rrf-k", "30", "--json")
    assert r.returncode == 0, r.stderr
    saved = json.loads(r.stdout)["config"]
    assert (saved["mode"], saved["fusion"], saved["rrf_k"]) == ("hybrid", "rrf", 30.0)
    spec = tmp_path / "bm25-title.json"
    spec.write_text(json.dumps({"mode": "bm25", "title_boost": 2.0, "tie_breaker": 0.2}))
    r = cli(home, "configs", "save", "title2", "--index", "sf", "--from-json", str(spec), "--k", "20")
    assert r.returncode == 0, r.stderr
    assert "saved title2 (index sf): bm25" in r.stdout
    shown = json.loads(cli(home, "configs", "show", "title2", "--index", "sf").stdout)
    assert (shown["mode"], shown["title_boost"], shown["tie_breaker"], shown["k"]) == ("bm25", 2.0, 0.2, 20)
    assert json.loads(cli(home, "configs", "show", "rrf30", "--index", "sf").stdout) == saved
    listed = json.loads(cli(home, "configs", "list", "--index", "sf", "--json").stdout)["configs"]
    assert sorted(listed) == ["rrf30", "title2"] and listed["title2"] == shown
    assert (
        "no configurations stored for index other" in cli(home, "configs", "list", "--index", "other").stdout
    )

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"mode": "hybrid", "colour": "red"}))
    r = cli(home, "configs", "save", "bad", "--index", "sf", "--from-json", str(bad))
    assert r.returncode == 1 and "colour: Extra inputs are not permitted" in r.stderr
    assert "valid fields: mode, k, fusion, rrf_k, dense_weight, bm25_depth" in r.stderr
    r = cli(home, "configs", "save", "heavy", "--index", "sf", "--dense-weight", "1.5")
    assert r.returncode == 1 and "dense_weight" in r.stderr
    assert sorted(p.name for p in (home / "configs" / "sf").iterdir()) == ["rrf30.json", "title2.json"]
    r = cli(home, "configs", "show", "nope", "--index", "sf")
    assert r.returncode == 1 and "valid choices are rrf30, title2" in r.stderr


def test_experiment_reports_what_eval_reports_and_saves_its_inputs(home: Path, tmp_path: Path) -> None:
    r = cli(home, "configs", "save", "w03", "--index", "sf", "--dense-weight", "0.3")
    assert r.returncode == 0, r.stderr
    by_eval = cli(home, "eval", "--judgments", "sf-test", "--systems", "bm25,hybrid", "--json")
    assert by_eval.returncode == 0, by_eval.stderr
    r = cli(home, "experiment", "--index", "sf", "--judgments", "sf-test", "--configs", "bm25,hybrid,w03",
            "--json", "--output", str(tmp_path / "x.json"), "--runs", str(tmp_path / "runs"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    x, e = json.loads(r.stdout), json.loads(by_eval.stdout)
    assert x == json.loads((tmp_path / "x.json").read_text())
    assert x["judgments"] == {"ref": "sf-test@v0001", "name": "sf-test", "version": "v0001", "part": None}
    # the baseline is what the index serves (a fresh index: the default hybrid), tested against each one
    assert (x["baseline"], x["queries"]) == ("served", 40)
    assert list(x["systems"]) == ["served", "bm25", "hybrid", "w03"]
    assert x["systems"]["served"]["source"] == "served (default)"
    assert x["systems"]["served"]["config"] == x["systems"]["hybrid"]["config"]
    for name in ("bm25", "hybrid"):
        assert x["systems"][name]["nDCG@10"] == e["systems"][name]["nDCG@10"] > 0.5
        assert x["systems"][name]["per_query"] == e["systems"][name]["per_query"]
        assert x["systems"][name]["source"] == "system"
    assert x["systems"]["hybrid"]["p_holm_vs_first"] >= x["systems"]["hybrid"]["p_value_vs_first"]
    w03 = x["systems"]["w03"]
    assert w03["source"] == "stored" and w03["config"]["dense_weight"] == 0.3
    for s in x["systems"].values():  # 40 queries with 1-2 judged documents each: most of a top 10 is unjudged
        assert 0.7 < s["unjudged@10"] < 1.0 and set(s) >= {"nDCG@10", "R@100", "RR@10"}
    saved = home / "experiments" / "sf" / x["id"] / "result.json"
    assert json.loads(saved.read_text()) == x
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
        f"sf-test.v0001.{n}.trec" for n in ("bm25", "hybrid", "served", "w03")
    ]

    table = cli(home, "experiment", "--index", "sf", "--judgments", "sf-test", "--configs", "bm25,w03",
                "--baseline", "w03")  # fmt: skip
    assert table.returncode == 0, table.stderr
    assert "vs w03" in table.stdout and "unjudged@10" in table.stdout
    assert table.stdout.index("│ w03") < table.stdout.index("│ bm25")  # the baseline comes first
    assert len(list((home / "experiments" / "sf").iterdir())) == 2


def test_experiment_refuses_another_index_list_and_unknown_configs(home: Path) -> None:
    before = sorted((home / "experiments").rglob("*")) if (home / "experiments").exists() else []
    r = cli(home, "experiment", "--index", "other", "--judgments", "sf-test", "--configs", "bm25,hybrid")
    assert r.returncode == 1
    assert "judgment list sf-test@v0001 judges index 'sf', not 'other'" in r.stderr
    r = cli(home, "experiment", "--index", "sf", "--judgments", "sf-test", "--configs", "bm25,nope")
    assert r.returncode == 1 and "unknown configuration of index 'sf' 'nope'" in r.stderr
    r = cli(home, "experiment", "--index", "sf", "--judgments", "sf-test", "--configs", "bm25,bm25")
    assert r.returncode == 1 and "--configs names bm25 more than once" in r.stderr
    after = sorted((home / "experiments").rglob("*")) if (home / "experiments").exists() else []
    assert after == before
