"""`ragsearch judgments ...` and `eval --judgments` end to end: real processes, the real packaged model, a
SciFact slice."""

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
    assert "imported sf-test@v0001 (index sf):" in r.stdout
    return h


def qrels_of(folder: Path, split: str) -> list[str]:
    return (folder / "qrels" / f"{split}.tsv").read_text().splitlines()


def test_eval_on_a_judgment_list_equals_eval_on_the_dataset_split(home: Path, scifact_slice: Path) -> None:
    by_split = cli(home, "eval", str(scifact_slice), "--split", "test", "--index", "sf",
                   "--systems", "bm25,hybrid", "--json")  # fmt: skip
    by_list = cli(home, "eval", "--judgments", "sf-test@v0001", "--systems", "bm25,hybrid", "--json")
    assert by_split.returncode == 0, by_split.stderr
    assert by_list.returncode == 0, by_list.stderr
    a, b = json.loads(by_split.stdout), json.loads(by_list.stdout)
    assert a["queries"] == 40 and (b["dataset"], b["split"], b["queries"]) == ("sf-test", "v0001", 40)
    for system in ("bm25", "hybrid"):
        assert b["systems"][system]["nDCG@10"] == a["systems"][system]["nDCG@10"] > 0.5
        assert b["systems"][system]["per_query"] == a["systems"][system]["per_query"]
    other = cli(home, "eval", "--judgments", "sf-test", "--index", "elsewhere")
    assert other.returncode == 1 and "judges index 'sf', not 'elsewhere'" in other.stderr
    neither = cli(home, "eval")
    assert neither.returncode == 1 and "give either DATASET" in neither.stderr


def test_list_show_export_and_reimport_round_trip(home: Path, scifact_slice: Path, tmp_path: Path) -> None:
    listed = json.loads(cli(home, "judgments", "list", "--json").stdout)["lists"]
    assert [(x["name"], x["version"], x["index"], x["rows"]) for x in listed] == [
        ("sf-test", "v0001", "sf", len(qrels_of(scifact_slice, "test")) - 1)
    ]
    shown = cli(home, "judgments", "show", "sf-test", "--json")
    assert shown.returncode == 0, shown.stderr
    s = json.loads(shown.stdout)
    assert s["provenance"][0]["source"] == "imported" and s["freshness"]["stale"] == 0
    assert s["freshness"]["missing"] == 0 and s["grades"]["1"] == s["rows"]
    r = cli(home, "judgments", "export", "sf-test", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert sorted(qrels_of(tmp_path / "out", "test")) == sorted(qrels_of(scifact_slice, "test"))
    for source in (str(tmp_path / "out"), str(tmp_path / "out" / "test.qrels")):
        r = cli(home, "judgments", "import", source, "--index", "sf", "--name", "again", "--json")
        assert r.returncode == 0, r.stderr
    rows = [(home / "judgments" / n / v / "rows.jsonl").read_text() for n, v in
            [("sf-test", "v0001"), ("again", "v0001"), ("again", "v0002")]]  # fmt: skip
    assert rows[0] == rows[1] == rows[2]


def test_split_merge_and_bad_input(home: Path, scifact_slice: Path, tmp_path: Path) -> None:
    one = json.loads(
        cli(home, "judgments", "split", "sf-test", "--dev-fraction", "0.3", "--seed", "4", "--json").stdout
    )
    two = json.loads(cli(home, "judgments", "split", "sf-test@v0001", "--dev-fraction", "0.3", "--seed", "4",
                         "--json").stdout)  # fmt: skip
    assert one["parts"] == two["parts"] and len(one["parts"]["dev"]) == 12
    assert not set(one["parts"]["dev"]) & set(one["parts"]["held"])
    held = cli(home, "eval", "--judgments", "sf-test", "--part", "held", "--systems", "bm25", "--json")
    assert held.returncode == 0, held.stderr
    assert json.loads(held.stdout)["queries"] == 28

    lines = qrels_of(scifact_slice, "test")
    q, doc, _ = lines[1].split("\t")
    bad = tmp_path / "bad.tsv"
    bad.write_text("\n".join([*lines, f"{q}\t{doc}\t7", f"{q}\tghost-doc\t1", f"{q}\t{doc}\t0"]) + "\n")
    r = cli(home, "judgments", "import", str(bad), "--queries", str(scifact_slice / "queries.jsonl"),
            "--index", "sf", "--name", "bad")  # fmt: skip
    assert r.returncode == 1 and f"{bad}:{len(lines) + 1} ({q} {doc} 7)" in r.stderr
    assert not (home / "judgments" / "bad").exists()
    r = cli(home, "judgments", "import", str(bad), "--queries", str(scifact_slice / "queries.jsonl"),
            "--index", "sf", "--name", "mapped", "--map-grades", "7=3")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "duplicates: 2 row(s)" in r.stdout and f"left out: {q} ghost-doc" in r.stdout
    r = cli(home, "judgments", "merge", "sf-test", "mapped", "--name", "both", "--json")
    assert r.returncode == 0, r.stderr
    merged = json.loads(r.stdout)
    assert merged["build"]["duplicates"] == len(lines) - 1 and merged["grades"]["0"] == 1
    r = cli(home, "judgments", "show", "nope")
    assert r.returncode == 1 and "unknown judgment list 'nope': valid choices are" in r.stderr
    assert "sf-test" in r.stderr


def test_show_reports_a_passage_changed_since_judging_as_stale(home: Path, scifact_slice: Path) -> None:
    """Last in the module: it changes the index the other tests read."""
    rows = (home / "judgments" / "sf-test" / "v0001" / "rows.jsonl").read_text().splitlines()
    judged = json.loads(rows[0])["passage_id"]
    record = next(
        json.loads(ln)
        for ln in (scifact_slice / "corpus.jsonl").read_text().splitlines()
        if json.loads(ln)["_id"] == judged
    )
    changed = home / "changed.jsonl"
    changed.write_text(
        json.dumps({**record, "text": record["text"] + " Corrected in a later version."}) + "\n"
    )
    r = cli(home, "ingest", str(changed), "--index", "sf", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["updated"] == 1, r.stderr
    s = json.loads(cli(home, "judgments", "show", "sf-test@v0001", "--json").stdout)["freshness"]
    judged_rows = [json.loads(ln) for ln in rows]
    assert s["stale_rows"] == [[r["query_id"], judged] for r in judged_rows if r["passage_id"] == judged]
    assert s["missing"] == 0
    text = cli(home, "judgments", "show", "sf-test@v0001").stdout
    assert f"stale: {s['stale']} row(s) whose passage changed since judged" in text
    evaluated = json.loads(
        cli(home, "eval", "--judgments", "sf-test@v0001", "--systems", "bm25", "--json").stdout
    )
    assert evaluated["notes"] == [
        f"stale: {s['stale']} of {len(rows)} judged rows (their passage changed since judged)"
    ]
