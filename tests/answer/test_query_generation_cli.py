"""`ragsearch queries generate` as a real process against the real llama.cpp server (SmolLM2-135M) on a
SciFact slice: sample, generate, save the set and its pseudo list; a rerun asks nothing; an unreachable
LLM fails cleanly and keeps what was asked."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from ragsearch.answer.query_generation import PROMPT_VERSION
from ragsearch.eval.judgment_store import JudgmentStore
from ragsearch.eval.query_sets import QuerySetStore
from ragsearch.retrieval.index import SearchIndex
from tests.app.test_cli import cli
from tests.net import free_port

pytestmark = [pytest.mark.llm, pytest.mark.slow]


def cached(home: Path) -> int:
    with sqlite3.connect(home / "cache" / "llm_queries.sqlite") as db:
        return int(db.execute("SELECT COUNT(*) FROM generated").fetchone()[0])


def test_generate_saves_queries_and_pseudo_judgments_and_resumes(
    llm_url: str, scifact_index: SearchIndex, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(scifact_index.path, home / "indexes" / "sf")
    env = {
        "RAGSEARCH_LLM_BASE_URL": llm_url,
        "RAGSEARCH_LLM_MODEL": "smollm2",
        # a CPU model on a loaded shared machine: generous timeouts (tests/answer/test_llm_server.py)
        "RAGSEARCH_LLM_FIRST_TOKEN_TIMEOUT_S": "180",
        "RAGSEARCH_LLM_TOTAL_TIMEOUT_S": "300",
        "RAGSEARCH_QUERYGEN_CONCURRENCY": "1",
    }
    args = ("queries", "generate", "--index", "sf", "--seed", "3", "--name", "gen", "--json")

    r = cli(home, *args, "--passages", "3", env=env)
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout)
    gen = first["generation"]
    assert (gen["passages"], gen["asked"], gen["cached"]) == (3, 3, 0) and gen["prompt_tokens"] > 0
    assert "passages/s" in r.stderr and "tokens" in r.stderr  # the progress line
    b = first["build"]
    assert (
        1
        <= first["queries"]
        == 3 - b["unparseable"] - b["empty"] - b["too_long"] - b["copied"] - b["duplicates"]
    )
    assert cached(home) == 3

    qs, jl = QuerySetStore(home).load("gen"), JudgmentStore(home).load("gen")
    assert qs.source.model == "smollm2" and qs.source.prompt_version == PROMPT_VERSION
    assert all(0 < len(text.split()) <= 32 for text in qs.queries.values())
    assert jl.queries == qs.queries and len(jl.rows) == len(qs.queries) and {r.grade for r in jl.rows} == {2}
    assert len({r.doc_id for r in jl.rows}) == len(jl.rows)  # one passage per document
    (p,) = jl.provenance
    assert (p.source, p.model, p.prompt_version) == ("pseudo", "smollm2", PROMPT_VERSION)

    # a rerun asks nothing new and writes the same set as the next version
    r = cli(home, *args, "--passages", "3", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["generation"]["asked"] == 0
    assert QuerySetStore(home).load("gen@v0002").queries == qs.queries

    # more passages while the LLM is unreachable: fails naming the URL; what was asked stays cached
    dead = f"http://127.0.0.1:{free_port()}/v1"
    r = cli(home, *args, "--passages", "5", env={**env, "RAGSEARCH_LLM_BASE_URL": dead})
    assert r.returncode == 1
    assert f"cannot connect to the LLM at {dead}" in r.stderr and "run the command again" in r.stderr
    assert "Traceback" not in r.stderr and cached(home) == 3
    assert QuerySetStore(home).versions("gen") == ["v0001", "v0002"]
