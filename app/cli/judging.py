"""`ragsearch judgments generate`: an LLM judges the pooled top results of several configurations on a
query set's queries, and the verdicts become a judgment list of source llm (`app.judging`)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import typer

from ragsearch.answer.judging import PROMPT_VERSION, JudgeCache
from ragsearch.answer.protocol import LLMClient
from ragsearch.app.cli.common import BackendOpt, judgments_app, progress_bar, settings
from ragsearch.app.cli.evaluation import parse_list
from ragsearch.app.cli.experiments import resolve_configs
from ragsearch.app.cli.judgments import JsonFlag, NameOpt, emit, opened, summary
from ragsearch.app.judging import CACHE_FILE, JudgeStats, build_list, judge_pool, pool
from ragsearch.app.services import default_search_config, make_embedder, make_engine, make_llm
from ragsearch.app.settings import Settings
from ragsearch.eval.judgment_store import JudgmentStore
from ragsearch.eval.query_sets import QuerySetStore
from ragsearch.retrieval.errors import InvalidInputError
from ragsearch.search.configs import ConfigStore


def judge_llm(s: Settings, max_tokens: int | None = None) -> LLMClient:
    """The configured LLM with the judge's reply length (or `max_tokens`); a clear error when none is
    configured."""
    limit = max_tokens or s.judge.max_tokens
    llm = make_llm(s.model_copy(update={"llm": s.llm.model_copy(update={"max_tokens": limit})}))
    if llm is None:
        raise InvalidInputError(
            "no LLM is configured: set RAGSEARCH_LLM_BASE_URL (any OpenAI-compatible server) and/or "
            "OPENAI_API_KEY, and RAGSEARCH_LLM_MODEL"
        )
    return llm


def rate_text(st: JudgeStats) -> str:
    rate = f"{st.asked / st.seconds:.2f} pairs/s" if st.seconds > 0 and st.asked else "- pairs/s"
    return (
        f"{rate}, {st.prompt_tokens + st.completion_tokens} tokens, "
        f"{st.cached} cached, {st.unjudged} unjudged"
    )


@judgments_app.command("generate")
def judgments_generate(
    index: Annotated[str, typer.Option("--index", "-i", help="the index whose passages are judged")],
    queries: Annotated[str, typer.Option(help="a query set (NAME or NAME@vNNNN; `ragsearch query-sets`)")],
    pool_: Annotated[
        str,
        typer.Option(
            "--pool",
            help="comma-separated configurations pooled: bm25, dense, hybrid, ltr:VERSION, stored names",
        ),
    ],
    name: NameOpt,
    depth: Annotated[int, typer.Option(min=1, max=1000, help="how many top results of each are judged")] = 10,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="pairs judged at once (default RAGSEARCH_JUDGE_CONCURRENCY)"),
    ] = None,
    retry_unjudged: Annotated[
        bool, typer.Option("--retry-unjudged", help="ask again for pairs cached as unparseable")
    ] = False,
    as_json: JsonFlag = False,
    backend: BackendOpt = None,
) -> None:
    """Grade each (query, passage) of the pooled top --depth of the --pool configurations 0-3 with the
    configured LLM (prompt version judge-v1) and save the verdicts as a judgment list of source llm.
    Verdicts are cached by (query, passage content hash, model, prompt version) under
    <home>/cache/llm_judgments.sqlite: a rerun or a larger pool asks only for new pairs, and a run killed
    or cut off (LLM unreachable) resumes where it stopped. Replies that cannot be parsed are asked again
    once, then counted as unjudged and left out of the list."""
    s = settings(backend)
    llm = judge_llm(s)
    qs = QuerySetStore(s.home).load(queries)
    if not qs.queries:
        raise InvalidInputError(f"query set {qs.ref} has no queries")
    names = parse_list(pool_, "--pool")
    repeated = sorted(n for n, c in Counter(names).items() if c > 1)
    if repeated:
        raise InvalidInputError(f"--pool names {', '.join(repeated)} more than once")
    resolved = resolve_configs(names, index, ConfigStore(s.home), default_search_config(s))
    workers = concurrency or s.judge.concurrency
    cache = JudgeCache(s.home / CACHE_FILE)
    try:
        with opened(s, index) as idx:
            engine = make_engine(idx, make_embedder(s), s)
            with progress_bar("pool", len(qs.queries)) as bar:
                task = bar.tasks[0].id
                pairs = pool(engine, idx, qs.queries, [c for c, _ in resolved.values()], depth,
                             lambda n: bar.advance(task, n))  # fmt: skip
        if retry_unjudged:
            cache.forget_unjudged(llm.model, PROMPT_VERSION)
        with progress_bar("judge", len(pairs)) as bar:
            task = bar.tasks[0].id

            def shown(st: JudgeStats) -> None:
                bar.update(task, completed=st.cached + st.asked, rate=rate_text(st))

            stats = judge_pool(llm, cache, pairs, workers, shown)
    finally:
        cache.close()
    settings_used = {
        "base_url": getattr(llm, "base_url", None),
        "temperature": s.llm.temperature,
        "max_tokens": s.judge.max_tokens,
        "concurrency": workers,
        "pool": {n: src for n, (_, src) in resolved.items()},
        "depth": depth,
        "queries": qs.ref,
    }
    origin = f"query set {qs.ref}, pool {','.join(names)} depth {depth}"
    jl = build_list(name, index, pairs, stats, llm.model, origin, settings_used)
    if not jl.rows:
        raise InvalidInputError(
            f"none of the {stats.pairs} pairs could be judged ({stats.unjudged} unparseable replies from "
            f"{llm.model}); nothing was written (retry them with --retry-unjudged, or use another model)"
        )
    saved = JudgmentStore(s.home).save(jl)
    payload = {"list": saved.ref, "model": llm.model, "prompt_version": PROMPT_VERSION, **stats.to_dict(),
               "grades": saved.grade_counts(), "settings": settings_used}  # fmt: skip
    emit(
        payload,
        as_json,
        [
            f"saved {summary(saved)}",
            f"{stats.pairs} pairs: {stats.judged} judged, {stats.unjudged} unjudged (unparseable after a "
            f"retry); {stats.cached} from the cache, {stats.asked} asked; {rate_text(stats)}",
        ],
    )
