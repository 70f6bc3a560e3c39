"""`ragsearch judgments generate` as a real process against the real llama.cpp server (SmolLM2-135M) on a
SciFact slice: pool, judge, save with provenance; a rerun asks nothing; an unreachable LLM fails cleanly
and keeps what was judged."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from ragsearch.answer.judging import PROMPT_VERSION
from ragsearch.eval.judgment_store import JudgmentStore
from ragsearch.retrieval.index import SearchIndex
from tests.app.test_cli import cli
from tests.net import free_port

pytestmark = [pytest.mark.llm, pytest.mark.slow]


def cached(home: Path) -> int:
    with sqlite3.connect(home / "cache" / "llm_judgments.sqlite") as db:
        return int(db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0])


def test_generate_judges_the_pool_once_and_resumes_after_the_llm_goes_away(
    llm_url: str, scifact_index: SearchIndex, scifact_slice: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(scifact_index.path, home / "indexes" / "sf")
    queries = (scifact_slice / "queries.jsonl").read_text().splitlines()[:3]
    (tmp_path / "q.jsonl").write_text("\n".join(queries) + "\n")
    assert cli(home, "query-sets", "create", "s", "--from-file", str(tmp_path / "q.jsonl")).returncode == 0
    env = {
        "RAGSEARCH_LLM_BASE_URL": llm_url,
        "RAGSEARCH_LLM_MODEL": "smollm2",
        # a CPU model on a loaded shared machine: generous timeouts (tests/answer/test_llm_server.py)
        "RAGSEARCH_LLM_FIRST_TOKEN_TIMEOUT_S": "180",
        "RAGSEARCH_LLM_TOTAL_TIMEOUT_S": "300",
        "RAGSEARCH_JUDGE_CONCURRENCY": "1",
    }
    args = ("judgments", "generate", "--index", "sf", "--queries", "s", "--pool", "bm25,hybrid",
            "--name", "llm", "--json")  # fmt: skip

    r = cli(home, *args, "--depth", "2", env=env)
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout)
    assert 3 * 2 <= first["pairs"] <= 3 * 4  # bm25 and hybrid top 2, overlapping
    assert first["judged"] + first["unjudged"] == first["pairs"] == first["asked"] + first["cached"]
    assert first["asked"] >= 1 and first["prompt_tokens"] > 0 and first["judged"] >= 1
    assert "pairs/s" in r.stderr and "tokens" in r.stderr  # the progress line
    assert cached(home) == first["asked"]

    jl = JudgmentStore(home).load("llm")
    assert jl.ref == first["list"] == "llm@v0001" and len(jl.rows) == first["judged"]
    (p,) = jl.provenance
    assert (p.source, p.model, p.prompt_version) == ("llm", "smollm2", PROMPT_VERSION)
    assert "query set s@v0001" in p.origin and "bm25,hybrid depth 2" in p.origin
    assert jl.build["judge"]["depth"] == 2 and jl.build["judge"]["concurrency"] == 1
    assert jl.build["unjudged"] == first["unjudged"] and all(r.grade in (0, 1, 2, 3) for r in jl.rows)
    assert set(jl.queries) <= {json.loads(q)["_id"] for q in queries}

    # a rerun asks nothing new and writes the same rows as the next version
    r = cli(home, *args, "--depth", "2", env=env)
    assert r.returncode == 0, r.stderr
    again = json.loads(r.stdout)
    assert (again["asked"], again["cached"], again["judged"]) == (0, first["pairs"], first["judged"])
    assert JudgmentStore(home).load("llm").rows == jl.rows

    # a larger pool while the LLM is unreachable: fails naming the URL; what was judged stays cached
    dead = f"http://127.0.0.1:{free_port()}/v1"
    r = cli(home, *args, "--depth", "4", env={**env, "RAGSEARCH_LLM_BASE_URL": dead})
    assert r.returncode == 1
    assert f"cannot connect to the LLM at {dead}" in r.stderr and "run the command again" in r.stderr
    assert "Traceback" not in r.stderr
    assert cached(home) == first["asked"] and JudgmentStore(home).versions("llm") == ["v0001", "v0002"]
