"""The LLM judge's orchestration (`app.judging.judge_pool`) against real HTTP servers on loopback speaking
the OpenAI chat format: one that returns fixed garbage, one that fails mid-run, one that records how many
requests are in flight; and the `ragsearch judgments generate` command without an LLM configured. The
command against the real llama.cpp server is in tests/app/test_judging_llm.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ragsearch.answer.judging import JudgeCache
from ragsearch.answer.llm import OpenAIChatClient
from ragsearch.answer.protocol import LLMUnavailableError
from ragsearch.app.judging import PoolPair, build_list, judge_pool
from ragsearch.retrieval.index import SearchIndex
from tests.app.test_cli import cli
from tests.fake_openai import FakeOpenAI
from tests.net import REPO


def pairs(n: int) -> list[PoolPair]:
    return [
        PoolPair(
            f"q{i % 3}", f"query {i % 3}", f"p{i}", f"d{i}", f"title {i}", f"text of passage {i}", f"h{i}"
        )
        for i in range(n)
    ]


def client(url: str) -> OpenAIChatClient:
    return OpenAIChatClient("judge-model", base_url=url, max_tokens=16)


def test_garbage_replies_are_asked_again_once_then_counted_unjudged(
    serve: Callable[..., FakeOpenAI], tmp_path: Path
) -> None:
    # the second ask of every pair parses for pairs p0..p2 (requests 2, 4, 6), never afterwards
    server = serve(lambda n: "Grade: 1" if n in (2, 4, 6) else "I think it is quite relevant, maybe.")
    cache = JudgeCache(tmp_path / "cache.sqlite")
    stats = judge_pool(client(server.url), cache, pairs(5), concurrency=1)
    assert server.requests == 10  # every pair asked twice: none parsed the first time
    assert (stats.asked, stats.judged, stats.unjudged, stats.retried, stats.cached) == (5, 3, 2, 5, 0)
    assert stats.prompt_tokens == 1000 and stats.completion_tokens == 40
    jl = build_list("llm", "sf", pairs(5), stats, "judge-model", "test", {"concurrency": 1})
    assert [(r.passage_id, r.grade) for r in jl.rows] == [("p0", 1), ("p1", 1), ("p2", 1)]
    assert jl.build["unjudged"] == 2 and jl.build["unjudged_rows"] == [["q0", "p3"], ["q1", "p4"]]
    assert jl.provenance[0].source == "llm" and jl.provenance[0].model == "judge-model"

    # a rerun asks nothing: unparseable verdicts are cached too
    again = judge_pool(client(server.url), cache, pairs(5), concurrency=1)
    assert server.requests == 10 and (again.asked, again.cached, again.unjudged) == (0, 5, 2)


def test_llm_failing_mid_run_stops_cleanly_and_the_rerun_resumes(
    serve: Callable[..., FakeOpenAI], tmp_path: Path
) -> None:
    broken = serve(lambda n: "Grade: 2" if n <= 4 else None)  # HTTP 503 from the fifth request on
    cache = JudgeCache(tmp_path / "cache.sqlite")
    with pytest.raises(LLMUnavailableError) as exc:
        judge_pool(client(broken.url), cache, pairs(10), concurrency=1)
    message = str(exc.value)
    assert broken.url in message and "HTTP 503" in message
    assert "4 pair(s) judged in this run are cached (6 left)" in message
    assert cache.count() == 4

    healthy = serve(lambda n: "Grade: 3")
    stats = judge_pool(client(healthy.url), cache, pairs(10), concurrency=1)
    assert healthy.requests == 6 and (stats.cached, stats.asked, stats.judged) == (4, 6, 10)
    grades = {pid: v.grade for (_, pid), v in stats.verdicts.items()}
    assert [grades[f"p{i}"] for i in range(10)] == [2] * 4 + [3] * 6  # nothing judged twice or lost


def test_requests_in_flight_are_bounded_by_concurrency(
    serve: Callable[..., FakeOpenAI], tmp_path: Path
) -> None:
    server = serve(lambda n: "Grade: 0", delay_s=0.2)
    seen: list[int] = []
    stats = judge_pool(
        client(server.url), JudgeCache(tmp_path / "c.sqlite"), pairs(12), 3, lambda st: seen.append(st.asked)
    )
    assert stats.judged == 12 and server.max_in_flight == 3
    assert seen[0] == 0 and seen[-1] == 12 and seen == sorted(seen)  # progress reported as verdicts come


def test_same_text_for_one_query_is_asked_once(serve: Callable[..., FakeOpenAI], tmp_path: Path) -> None:
    server = serve(lambda n: "Grade: 2")
    twins = [PoolPair("q", "query", pid, pid, "t", "same text", "same-hash") for pid in ("a", "b")]
    stats = judge_pool(client(server.url), JudgeCache(tmp_path / "c.sqlite"), twins, 2)
    assert server.requests == 1 and stats.judged == 2 and (stats.asked, stats.cached) == (1, 1)


def test_generate_without_an_llm_names_the_settings(tmp_path: Path) -> None:
    r = cli(tmp_path, "judgments", "generate", "--index", "sf", "--queries", "s", "--pool", "bm25",
            "--name", "j", env={"OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""})  # fmt: skip
    assert r.returncode == 1
    assert "RAGSEARCH_LLM_BASE_URL" in r.stderr and "OPENAI_API_KEY" in r.stderr
    assert not (tmp_path / "judgments").exists()


def rows_in(db: Path) -> int:
    cache = JudgeCache(db)
    try:
        return cache.count()
    finally:
        cache.close()


@pytest.mark.slow
def test_generate_killed_mid_run_resumes_without_judging_anything_twice(
    serve: Callable[..., FakeOpenAI], scifact_index: SearchIndex, scifact_slice: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(scifact_index.path, home / "indexes" / "sf")
    (tmp_path / "q.jsonl").write_text(
        "\n".join((scifact_slice / "queries.jsonl").read_text().splitlines()[:4])
    )
    assert cli(home, "query-sets", "create", "s", "--from-file", str(tmp_path / "q.jsonl")).returncode == 0
    server = serve(lambda n: f"Grade: {n % 4}", delay_s=0.5)
    env = {**os.environ, "RAGSEARCH_HOME": str(home), "RAGSEARCH_LLM_BASE_URL": server.url,
           "RAGSEARCH_LLM_MODEL": "fake", "RAGSEARCH_JUDGE_CONCURRENCY": "2", "HF_HUB_OFFLINE": "1"}  # fmt: skip
    args = ["judgments", "generate", "--index", "sf", "--queries", "s", "--pool", "bm25", "--depth", "5",
            "--name", "j", "--json"]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", "from ragsearch.app.cli import main; main()", *args],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    db = home / "cache" / "llm_judgments.sqlite"
    deadline = time.time() + 120
    while time.time() < deadline and (not db.exists() or rows_in(db) < 4):
        time.sleep(0.1)
    proc.kill()  # SIGKILL: no cleanup of any kind
    proc.wait()
    before, asked_before = rows_in(db), server.requests
    assert 4 <= before < 20 and not (home / "judgments").exists()

    r = cli(home, *args, env={k: v for k, v in env.items() if k.startswith("RAGSEARCH_")})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["pairs"] == 20 and out["judged"] == 20 and out["cached"] == before
    assert out["asked"] == 20 - before == server.requests - asked_before
    # only the requests in flight at the kill (at most --concurrency) were asked twice
    assert server.requests - 20 <= 2
