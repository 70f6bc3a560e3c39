"""The LLM judge's use case: pool the top of several configurations per query, grade each pair once
(cached verdicts first, then the rest `concurrency` at a time), and build the judgment list."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ragsearch.answer.judging import PROMPT_VERSION, JudgeCache, Key, Verdict, judge_pair
from ragsearch.answer.protocol import LLMClient, LLMUnavailableError
from ragsearch.eval.judgments import Judgment, JudgmentList, Provenance, check_name
from ragsearch.retrieval.index import SearchIndex
from ragsearch.search.config import SearchConfig
from ragsearch.search.engine import SearchEngine

T = TypeVar("T")
R = TypeVar("R")
CACHE_FILE = Path("cache") / "llm_judgments.sqlite"
"""Under the home."""


@dataclass(frozen=True, slots=True)
class PoolPair:
    query_id: str
    query: str
    passage_id: str
    doc_id: str
    title: str
    text: str
    content_hash: str


def pool(
    engine: SearchEngine,
    index: SearchIndex,
    queries: dict[str, str],
    configs: Sequence[SearchConfig],
    depth: int,
    advance: Callable[[int], None] | None = None,
) -> list[PoolPair]:
    """The union of each configuration's top `depth` per query, in query order then first-seen rank."""
    ids_by_query: dict[str, list[str]] = {}
    for qid, text in queries.items():
        seen: dict[str, None] = {}
        for config in configs:
            for hit in engine.search(text, config.replace(k=depth)).hits:
                seen.setdefault(hit.id, None)
        ids_by_query[qid] = list(seen)
        if advance:
            advance(1)
    all_ids = sorted({i for ids in ids_by_query.values() for i in ids})
    passages = {p.id: p for p in index.get(all_ids)}
    hashes = index.content_hashes(all_ids)
    pairs = []
    for qid, ids in ids_by_query.items():
        for pid in ids:
            if pid in passages and pid in hashes:
                p = passages[pid]
                pairs.append(PoolPair(qid, queries[qid], pid, p.doc_id, p.title, p.text, hashes[pid]))
    return pairs


@dataclass
class JudgeStats:
    pairs: int = 0
    cached: int = 0
    """verdicts found in the cache (not asked)"""
    asked: int = 0
    """pairs sent to the LLM in this run"""
    judged: int = 0
    unjudged: int = 0
    """pairs whose replies could not be parsed, even when asked again"""
    retried: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    verdicts: dict[tuple[str, str], Verdict] = field(default_factory=dict)

    def count(self, pair: PoolPair, v: Verdict) -> None:
        self.verdicts[(pair.query_id, pair.passage_id)] = v
        if v.grade is None:
            self.unjudged += 1
        else:
            self.judged += 1

    def to_dict(self) -> dict[str, Any]:
        rate = self.asked / self.seconds if self.seconds > 0 and self.asked else None
        return {
            "pairs": self.pairs, "cached": self.cached, "asked": self.asked, "judged": self.judged,
            "unjudged": self.unjudged, "retried": self.retried, "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens, "seconds": round(self.seconds, 2),
            "pairs_per_s": None if rate is None else round(rate, 3),
        }  # fmt: skip


def ask_all(
    todo: Sequence[T],
    ask: Callable[[T], R],
    concurrency: int,
    record: Callable[[T, R], None],
    tick: Callable[[], None],
) -> BaseException | None:
    """Ask for each item, at most `concurrency` at once, `record`ing each answer as it comes (then
    `tick`). The first failure stops asking (and so does Ctrl-C); the answers already in flight are still
    recorded. Returns that failure, or None."""
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="llm") as pool_:
        futures: dict[Future[R], T] = {pool_.submit(ask, item): item for item in todo}
        pending = set(futures)
        try:
            while pending and failure is None:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    if f.exception() is None:
                        record(futures[f], f.result())
                    else:
                        failure = failure or f.exception()
                tick()
        finally:
            pool_.shutdown(wait=True, cancel_futures=True)
            for f in pending:
                if f.done() and not f.cancelled() and f.exception() is None:
                    record(futures[f], f.result())
    return failure


def key_of(pair: PoolPair, model: str) -> Key:
    return (pair.query, pair.content_hash, model, PROMPT_VERSION)


def judge_pool(
    llm: LLMClient,
    cache: JudgeCache,
    pairs: Sequence[PoolPair],
    concurrency: int,
    on_verdict: Callable[[JudgeStats], None] | None = None,
) -> JudgeStats:
    """Each pair's verdict: from the cache, else asked (at most `concurrency` at once) and cached as soon
    as it comes. An unreachable LLM stops the run with LLMUnavailableError; what was judged stays cached."""
    stats = JudgeStats(pairs=len(pairs))
    t0 = time.perf_counter()
    keys = {key_of(p, llm.model) for p in pairs}
    known = cache.get_many(keys)
    todo: list[PoolPair] = []
    queued: set[Key] = set()
    for p in pairs:
        k = key_of(p, llm.model)
        if k in known:
            stats.cached += 1
            stats.count(p, known[k])
        elif k not in queued:  # the same passage text twice for one query: asked once
            queued.add(k)
            todo.append(p)
    if on_verdict:
        on_verdict(stats)

    def record(p: PoolPair, v: Verdict) -> None:
        cache.put(key_of(p, llm.model), v)  # committed at once: a kill loses only pairs in flight
        stats.asked += 1
        stats.retried += v.attempts > 1
        stats.prompt_tokens += v.prompt_tokens
        stats.completion_tokens += v.completion_tokens
        stats.count(p, v)

    def tick() -> None:
        stats.seconds = time.perf_counter() - t0
        if on_verdict:
            on_verdict(stats)

    failure = ask_all(todo, lambda p: judge_pair(llm, p.query, p.title, p.text), concurrency, record, tick)
    if isinstance(failure, LLMUnavailableError):
        raise LLMUnavailableError(
            f"{failure}; {stats.asked} pair(s) judged in this run are cached "
            f"({stats.pairs - stats.cached - stats.asked} left): run the command again to resume"
        )
    if failure is not None:
        raise failure
    # pairs sharing a key with one asked above take its verdict
    for p in pairs:
        if (p.query_id, p.passage_id) not in stats.verdicts:
            shared = cache.get_many([key_of(p, llm.model)]).get(key_of(p, llm.model))
            if shared is not None:
                stats.cached += 1
                stats.count(p, shared)
    stats.seconds = time.perf_counter() - t0
    return stats


def build_list(
    name: str,
    index: str,
    pairs: Sequence[PoolPair],
    stats: JudgeStats,
    model: str,
    origin: str,
    settings: dict[str, Any],
) -> JudgmentList:
    """The judged pairs as a new list (not yet saved) of source llm; unjudged pairs are listed in `build`."""
    check_name(name)
    rows, unjudged, queries = [], [], {}
    for p in pairs:
        v = stats.verdicts.get((p.query_id, p.passage_id))
        if v is None:
            continue
        if v.grade is None:
            unjudged.append([p.query_id, p.passage_id])
            continue
        rows.append(Judgment(p.query_id, p.passage_id, v.grade, p.doc_id, p.content_hash))
        queries[p.query_id] = p.query
    build = {
        "pairs": stats.pairs,
        "judged": len(rows),
        "unjudged": len(unjudged),
        "unjudged_rows": unjudged,
        "judge": settings,
    }
    provenance = Provenance("llm", origin=origin, model=model, prompt_version=PROMPT_VERSION)
    return JudgmentList(name, index, tuple(rows), queries, (provenance,), build=build)
