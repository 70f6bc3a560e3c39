"""`ragsearch demo` (`make demo`) end to end on a SciFact slice with the real packaged model: ingest, train the
learned ranker on train, evaluate the four systems on test, explain one ltr result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.app.test_cli import cli
from tests.rerank.conftest import scifact_cli_slice
from tests.rerank.test_cli_ltr import FAST

__all__ = ["scifact_cli_slice"]  # fixture: 60 train and 20 test SciFact queries
pytestmark = pytest.mark.slow


def test_demo_trains_the_ranker_evaluates_it_and_explains_a_result(
    scifact_cli_slice: Path, tmp_path: Path
) -> None:
    fast = {**FAST, "RAGSEARCH_RERANK_NUM_BOOST_ROUND": "50", "RAGSEARCH_RERANK_TREE_FOLDS": "2"}
    env = {**fast, "RAGSEARCH_DATA_DIR": str(scifact_cli_slice.parent)}
    r = cli(tmp_path, "demo", env=env)
    assert r.returncode == 0, r.stderr
    assert "training the learned ranker on scifact/train" in r.stdout and "ranker ready in" in r.stdout
    report = json.loads((tmp_path / "eval" / "scifact.test.json").read_text())
    assert list(report["systems"]) == ["bm25", "dense", "hybrid", "ltr"] and report["queries"] == 20
    # one result explained: its parts, the prior first, summed to its score
    why = r.stdout[r.stdout.index("why #1 (") :]
    head = why.splitlines()[0]
    score, total = head.split(" scores ")[1].split(": ltr parts, sum ")
    assert abs(float(score) - float(total)) < 1e-4
    assert "prior (fused score)" in why and "lexical match" in why and "base" in why
