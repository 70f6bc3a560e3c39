"""`ragsearch judgments agree`: real CLI processes on a SciFact slice, a second list made by changing grades."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ragsearch.retrieval.index import SearchIndex
from tests.app.test_cli import cli

pytestmark = pytest.mark.slow


def test_agreement_per_pair_and_per_system_ordering(
    scifact_index: SearchIndex, scifact_slice: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(scifact_index.path, home / "indexes" / "sf")
    r = cli(
        home, "judgments", "import", str(scifact_slice), "--split", "test", "--index", "sf", "--name", "human"
    )
    assert r.returncode == 0, r.stderr
    # a second judge: the same pairs, every third row's grade changed, plus one pair the humans did not judge
    rows = [line.split("\t") for line in (scifact_slice / "qrels" / "test.tsv").read_text().splitlines()[1:]]
    lines = [f"{q} 0 {d} {0 if i % 3 == 0 else int(g)}" for i, (q, d, g) in enumerate(rows)]
    extra = next(json.loads(x)["_id"] for x in (scifact_slice / "corpus.jsonl").read_text().splitlines()
                 if json.loads(x)["_id"] not in {d for _, d, _ in rows})  # fmt: skip
    lines.append(f"{rows[0][0]} 0 {extra} 2")
    (tmp_path / "other.qrels").write_text("\n".join(lines) + "\n")
    r = cli(home, "judgments", "import", str(tmp_path / "other.qrels"), "--queries",
            str(scifact_slice / "queries.jsonl"), "--index", "sf", "--name", "other")  # fmt: skip
    assert r.returncode == 0, r.stderr

    same = json.loads(cli(home, "judgments", "agree", "human", "human", "--json").stdout)
    # SciFact's qrels hold only grade-1 rows: one label, so kappa is undefined (null), not 1
    assert same["pairs"]["exact"] == 1.0 and same["pairs"]["kappa"] is None

    r = cli(home, "judgments", "agree", "human", "other", "--systems", "bm25,dense,hybrid", "--json")
    assert r.returncode == 0, r.stderr
    x = json.loads(r.stdout)
    p = x["pairs"]
    assert (p["pairs"], p["only_a"], p["only_b"]) == (len(rows), 0, 1)
    changed = sum(1 for i, (_, _, g) in enumerate(rows) if i % 3 == 0 and int(g) != 0)
    assert p["exact"] == pytest.approx(1 - changed / len(rows))
    # against a judge who grades everything 1, chance-corrected agreement is 0 whatever the other says
    assert p["kappa_ge1"] == 0.0 and p["kappa_ge2"] is None
    s = x["systems"]
    assert s["queries"] == 40 and set(s["under_a"]) == {"bm25", "dense", "hybrid"}
    assert all(s["under_b"][n] <= s["under_a"][n] for n in s["under_a"])  # fewer relevant rows: lower nDCG
    assert -1 <= s["tau"] <= 1

    text = cli(home, "judgments", "agree", "human", "other", "--systems", "bm25,hybrid").stdout
    assert "Cohen's kappa" in text and "Kendall's tau between the orderings" in text
    r = cli(home, "judgments", "agree", "human", "other", "--systems", "bm25")
    assert r.returncode == 1 and "at least two" in r.stderr
