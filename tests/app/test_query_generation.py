"""Generated queries' orchestration (`app.query_generation`) and the `ragsearch queries generate` command
against real HTTP servers on loopback speaking the OpenAI chat format (tests/app/test_judging.FakeOpenAI):
one that returns garbage, one that fails mid-run. The command against the real llama.cpp server is in
tests/answer/test_query_generation_cli.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from ragsearch.answer.llm import OpenAIChatClient
from ragsearch.answer.protocol import LLMUnavailableError
from ragsearch.answer.query_generation import QueryCache
from ragsearch.app.query_generation import SourcePassage, build, generate
from ragsearch.eval.judgment_store import JudgmentStore
from ragsearch.eval.query_sets import QuerySetStore
from ragsearch.retrieval.embedded import EmbeddedBackend
from tests.app.test_cli import cli
from tests.fake_openai import FakeOpenAI
from tests.retrieval.contract import DOCS, SPEC, embed

SOURCES = [
    SourcePassage(f"p{i}", f"d{i}", f"Title {i}", f"Zebras migrate across plain {i} every year.", f"h{i}")
    for i in range(5)
]
REPLIES = {
    1: "Sure! Here is a great question about zebras.",  # p0: no Query: line...
    2: "I cannot answer that.",  # ...asked again, still none: unparseable
    3: "Query: how far do zebras migrate?",  # p1 kept
    4: "Query: Zebras migrate across",  # p2: the passage's first words: copied
    5: "**Query:** How far do ZEBRAS migrate",  # p3: the same words as p1's: a duplicate
    6: "Query: ",  # p4: empty
}


def client(url: str) -> OpenAIChatClient:
    return OpenAIChatClient("gen-model", base_url=url, max_tokens=48)


def test_garbage_is_dropped_and_counted_and_a_rerun_asks_nothing(
    serve: Callable[..., FakeOpenAI], tmp_path: Path
) -> None:
    server = serve(lambda n: REPLIES[n])
    cache = QueryCache(tmp_path / "cache.sqlite")
    stats = generate(client(server.url), cache, SOURCES, concurrency=1)
    assert server.requests == 6 and (stats.asked, stats.retried, stats.cached) == (5, 1, 0)
    qs, rows = build("gen", "ix", SOURCES, stats, "gen-model", 5, 7)
    assert list(qs.queries.values()) == ["how far do zebras migrate?"]
    b = qs.build
    assert (b.read, b.unparseable, b.copied, b.duplicates, b.empty, b.too_long) == (5, 1, 1, 1, 1, 0)
    assert [(r.query_id, r.passage_id, r.grade, r.doc_id, r.content_hash) for r in rows] == [
        (next(iter(qs.queries)), "p1", 2, "d1", "h1")
    ]
    assert (qs.source.source, qs.source.model, qs.source.sample, qs.source.seed) == (
        "generated",
        "gen-model",
        5,
        7,
    )

    again = generate(client(server.url), cache, SOURCES, concurrency=1)
    assert server.requests == 6 and (again.asked, again.cached) == (0, 5)


def test_llm_failing_mid_run_stops_cleanly_and_the_rerun_resumes(
    serve: Callable[..., FakeOpenAI], tmp_path: Path
) -> None:
    broken = serve(lambda n: "Query: what do zebras eat" if n <= 2 else None)  # HTTP 503 from the third on
    cache = QueryCache(tmp_path / "cache.sqlite")
    with pytest.raises(LLMUnavailableError) as exc:
        generate(client(broken.url), cache, SOURCES, concurrency=1)
    assert "HTTP 503" in str(exc.value) and "2 passage(s) asked in this run are cached (3 left)" in str(
        exc.value
    )
    healthy = serve(lambda n: f"Query: zebra question {n}")
    stats = generate(client(healthy.url), cache, SOURCES, concurrency=1)
    assert healthy.requests == 3 and (stats.cached, stats.asked) == (2, 3)


def tiny_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    idx = EmbeddedBackend(home).create("tiny", SPEC)
    idx.upsert(embed(DOCS))
    idx.close()
    return home


def test_command_saves_the_set_and_its_pseudo_list_or_nothing_when_all_is_garbage(
    serve: Callable[..., FakeOpenAI], tmp_path: Path
) -> None:
    home = tiny_home(tmp_path)
    garbage = serve(lambda n: "Grade: 3 !!! <|im_end|>")
    env = {"RAGSEARCH_LLM_BASE_URL": garbage.url, "RAGSEARCH_LLM_MODEL": "gen-model"}
    args = ("queries", "generate", "--index", "tiny", "--passages", "3", "--seed", "1", "--name", "g")
    r = cli(home, *args, env=env)
    assert r.returncode == 1 and "none of the 3 passages gave a usable query" in r.stderr
    assert "3 unparseable" in r.stderr and "Traceback" not in r.stderr
    assert garbage.requests == 6 and not (home / "query_sets").exists() and not (home / "judgments").exists()

    good = serve(lambda n: f"Query: question number {n}")
    r = cli(
        home, "query-sets", "generate", *args[2:], "--json", env={**env, "RAGSEARCH_LLM_BASE_URL": good.url}
    )
    assert r.returncode == 1 and good.requests == 0  # the unparseable replies are cached: asked for nothing
    assert "--retry-unparseable" in r.stderr
    r = cli(home, "query-sets", "generate", *args[2:], "--json", "--retry-unparseable",
            env={**env, "RAGSEARCH_LLM_BASE_URL": good.url})  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["queries"] == 3 and out["judgments"] == "g@v0001" and out["generation"]["asked"] == 3
    qs = QuerySetStore(home).load("g")
    jl = JudgmentStore(home).load("g")
    assert jl.queries == qs.queries and {r.grade for r in jl.rows} == {2}
    docs = {p.id: p.doc_id for p in DOCS}
    assert len({docs[r.passage_id] for r in jl.rows}) == 3  # three passages of three documents
    (p,) = jl.provenance
    assert (p.source, p.model, p.prompt_version) == ("pseudo", "gen-model", "query-v1")
    assert "query set g@v0001" in p.origin
