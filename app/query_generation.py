"""Generated queries' use case: sample passages spread over documents, ask the LLM for one query each
(cached replies first, then the rest `concurrency` at a time), filter the queries, and build the query set
and its judgment list of source pseudo (each kept query judges its source passage grade 2)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragsearch.answer.protocol import LLMClient, LLMUnavailableError
from ragsearch.answer.query_generation import (
    PROMPT_VERSION,
    Generated,
    QueryCache,
    generate_query,
    rejection,
    words,
)
from ragsearch.app.judging import ask_all
from ragsearch.eval.judgments import Judgment, JudgmentList, Provenance, check_name
from ragsearch.eval.query_sets import BuildStats, QuerySet, QuerySource, text_id
from ragsearch.retrieval.index import SearchIndex, sample_passages

CACHE_FILE = Path("cache") / "llm_queries.sqlite"
"""Under the home."""
PSEUDO_GRADE = 2
"""The grade a generated query gives the passage it was generated from."""


@dataclass(frozen=True, slots=True)
class SourcePassage:
    passage_id: str
    doc_id: str
    title: str
    text: str
    content_hash: str


def sampled(index: SearchIndex, k: int, seed: int) -> list[SourcePassage]:
    """`k` passages of `index` spread over documents (`sample_passages`), in draw order."""
    ids = sample_passages(index, k, seed)
    found = {p.id: p for p in index.get(ids)}
    hashes = index.content_hashes(ids)
    return [
        SourcePassage(pid, found[pid].doc_id, found[pid].title, found[pid].text, hashes[pid])
        for pid in ids
        if pid in found and pid in hashes
    ]


@dataclass
class GenerationStats:
    passages: int = 0
    cached: int = 0
    asked: int = 0
    retried: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    replies: dict[str, Generated] = field(default_factory=dict)
    """by passage id"""

    def to_dict(self) -> dict[str, Any]:
        rate = self.asked / self.seconds if self.seconds > 0 and self.asked else None
        return {
            "passages": self.passages, "cached": self.cached, "asked": self.asked, "retried": self.retried,
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "seconds": round(self.seconds, 2), "passages_per_s": None if rate is None else round(rate, 3),
        }  # fmt: skip


def generate(
    llm: LLMClient,
    cache: QueryCache,
    sources: Sequence[SourcePassage],
    concurrency: int,
    on_reply: Callable[[GenerationStats], None] | None = None,
) -> GenerationStats:
    """Each passage's reply: from the cache, else asked (at most `concurrency` at once) and cached as soon
    as it comes. An unreachable LLM stops the run with LLMUnavailableError; what was asked stays cached."""
    stats = GenerationStats(passages=len(sources))
    t0 = time.perf_counter()

    def key(p: SourcePassage) -> tuple[str, str, str]:
        return (p.content_hash, llm.model, PROMPT_VERSION)

    known = cache.get_many({key(p) for p in sources})
    todo: dict[tuple[str, str, str], SourcePassage] = {}
    for p in sources:
        if key(p) in known:
            stats.cached += 1
            stats.replies[p.passage_id] = known[key(p)]
        else:
            todo.setdefault(key(p), p)  # passages of the same content are asked once
    if on_reply:
        on_reply(stats)

    def record(p: SourcePassage, g: Generated) -> None:
        cache.put(key(p), g)  # committed at once: a kill loses only the passages in flight
        stats.asked += 1
        stats.retried += g.attempts > 1
        stats.prompt_tokens += g.prompt_tokens
        stats.completion_tokens += g.completion_tokens
        stats.replies[p.passage_id] = g

    def tick() -> None:
        stats.seconds = time.perf_counter() - t0
        if on_reply:
            on_reply(stats)

    failure = ask_all(list(todo.values()), lambda p: generate_query(llm, p.title, p.text), concurrency,
                      record, tick)  # fmt: skip
    if isinstance(failure, LLMUnavailableError):
        left = stats.passages - stats.cached - stats.asked
        raise LLMUnavailableError(
            f"{failure}; {stats.asked} passage(s) asked in this run are cached ({left} left): run the "
            "command again to resume"
        )
    if failure is not None:
        raise failure
    for p in sources:  # passages sharing their content with one asked above take its reply
        if p.passage_id not in stats.replies and key(p) in (got := cache.get_many([key(p)])):
            stats.cached += 1
            stats.replies[p.passage_id] = got[key(p)]
    stats.seconds = time.perf_counter() - t0
    return stats


def build(
    name: str,
    index: str,
    sources: Sequence[SourcePassage],
    stats: GenerationStats,
    model: str,
    k: int,
    seed: int,
) -> tuple[QuerySet, list[Judgment]]:
    """The kept queries as a new query set (not yet saved) and their pseudo-judgment rows. Dropped, in this
    order, and counted: unparseable replies, then (`rejection`) empty, too long and copied queries, then a
    query whose words (case-folded, punctuation ignored) came before: the first passage keeps it. A query's
    id is derived from those words (`text_id`)."""
    check_name(name)
    queries: dict[str, str] = {}
    rows: list[Judgment] = []
    dropped = {"unparseable": 0, "empty": 0, "too_long": 0, "copied": 0}
    duplicates: list[str] = []
    for p in sources:
        g = stats.replies.get(p.passage_id)
        if g is None:
            continue
        why = "unparseable" if g.query is None else rejection(g.query, p.title, p.text)
        if why is not None:
            dropped[why] += 1
            continue
        assert g.query is not None
        qid = text_id(" ".join(words(g.query)))
        if qid in queries:
            duplicates.append(qid)
            continue
        queries[qid] = g.query
        rows.append(Judgment(qid, p.passage_id, PSEUDO_GRADE, p.doc_id, p.content_hash))
    source = QuerySource(
        "generated", index=index, sample=k, seed=seed, model=model, prompt_version=PROMPT_VERSION
    )
    read = sum(p.passage_id in stats.replies for p in sources)
    build_stats = BuildStats(read, dropped["empty"], len(duplicates), duplicate_ids=duplicates,
                             unparseable=dropped["unparseable"], too_long=dropped["too_long"],
                             copied=dropped["copied"])  # fmt: skip
    return QuerySet(name, queries, source, build_stats), rows


def pseudo_list(qs: QuerySet, index: str, rows: Sequence[Judgment], settings: dict[str, Any]) -> JudgmentList:
    """The judgment list accompanying a saved generated set: each query judges its source passage grade 2."""
    origin = f"query set {qs.ref}: each query's source passage, grade {PSEUDO_GRADE}"
    provenance = Provenance("pseudo", origin=origin, model=qs.source.model, prompt_version=PROMPT_VERSION)
    build = {"query_set": qs.ref, "generation": settings}
    return JudgmentList(qs.name, index, tuple(rows), dict(qs.queries), (provenance,), build=build)
