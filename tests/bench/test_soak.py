"""`bench.soak` end to end at toy size: a real `ragsearch serve`, real CLI ingest and delete processes, the
real model, a SciFact slice; the writes acknowledged during the run must be exactly what the index holds.
Timings are not asserted (the machine is shared); `checks` are, except the latency ratio."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import soak
from tests.slices import make_slice

pytestmark = pytest.mark.slow
LATENCY = "search p95 under load within 2x of idle (all modes pooled)"


def test_soak_keeps_the_index_equal_to_the_acknowledged_writes(shared_data: Path, tmp_path: Path) -> None:
    # judged train queries for the LTR model the script trains, and unindexed abstracts for the writers
    data = make_slice(shared_data / "scifact", tmp_path / "scifact", {"train": 30, "test": 10}, 150)
    out = tmp_path / "soak.json"
    argv = ["--home", str(tmp_path / "home"), "--dataset-dir", str(data), "--docs", "60",
            "--minutes", "0.33", "--idle-queries", "5", "--json", str(out)]  # fmt: skip
    code = soak.main(argv)
    result = json.loads(out.read_text())
    assert code == (0 if result["checks"][LATENCY] else 1)
    assert {k: v for k, v in result["checks"].items() if k != LATENCY} == {
        "no server errors (5xx)": True,
        "no errors at all (transport, unexpected status, CLI failures)": True,
        "server alive throughout": True,
        "index holds exactly the acknowledged writes": True,
        "ragsearch indexes check: consistent": True,
    }, result["errors"]
    assert result["modes"] == ["bm25", "dense", "hybrid", "ltr"]  # the script trained and promoted a model
    kinds = result["kinds"]
    for kind in (
        "api add",
        "api delete",
        "cli ingest",
        "cli delete",
        "answer",
        *(f"search {m}" for m in result["modes"]),
    ):
        assert kinds[kind]["ok"] >= 1, kind
    assert set(result["answer_status"]) <= {"extractive", "not_found"}  # the LLM is down: fallbacks, all 200
    c = result["consistency"]
    assert c["problems"] == [] and c["uncertain"] == [] and c["deleted"] >= 2
    assert c["passages"] == c["expected_passages"] == 60 + c["live"] == c["check"]["passages"]
