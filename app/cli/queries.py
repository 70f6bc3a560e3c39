"""`ragsearch query-sets generate` (also `ragsearch queries generate`): an LLM writes one query for each of
K sampled passages; the kept queries become a query set, and each query's source passage (grade 2) a
judgment list of source pseudo of the same name (`app.query_generation`)."""

from __future__ import annotations

from typing import Annotated

import typer

from ragsearch.answer.query_generation import MAX_QUERY_WORDS, PROMPT_VERSION, QueryCache
from ragsearch.app.cli.common import BackendOpt, cli, progress_bar, settings
from ragsearch.app.cli.judging import judge_llm
from ragsearch.app.cli.judgments import JsonFlag, opened
from ragsearch.app.cli.judgments import summary as list_summary
from ragsearch.app.cli.query_sets import detail_lines, emit, query_sets_app, summary
from ragsearch.app.query_generation import CACHE_FILE, GenerationStats, build, generate, pseudo_list, sampled
from ragsearch.eval import versioned
from ragsearch.eval.judgment_store import JudgmentStore
from ragsearch.eval.query_sets import QuerySetStore
from ragsearch.retrieval.errors import InvalidInputError

queries_app = typer.Typer(
    help="Generated queries (the same command as `ragsearch query-sets generate`).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
cli.add_typer(queries_app, name="queries")


def rate_text(st: GenerationStats) -> str:
    rate = f"{st.asked / st.seconds:.2f} passages/s" if st.seconds > 0 and st.asked else "- passages/s"
    return f"{rate}, {st.prompt_tokens + st.completion_tokens} tokens, {st.cached} cached"


@query_sets_app.command("generate")
@queries_app.command("generate")
def query_sets_generate(
    index: Annotated[str, typer.Option("--index", "-i", help="the index whose passages are sampled")],
    passages: Annotated[int, typer.Option(min=1, max=100_000, help="how many passages to sample")],
    name: Annotated[
        str, typer.Option("--name", help="name of the query set and of its pseudo judgment list")
    ],
    seed: Annotated[
        int, typer.Option(help="random seed of the sample (same index and seed: same passages)")
    ] = 0,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="passages asked at once (default RAGSEARCH_QUERYGEN_CONCURRENCY)"),
    ] = None,
    retry_unparseable: Annotated[
        bool, typer.Option("--retry-unparseable", help="ask again for passages cached as unparseable")
    ] = False,
    as_json: JsonFlag = False,
    backend: BackendOpt = None,
) -> None:
    """Sample --passages passages of the index (documents drawn uniformly with --seed, one passage each),
    ask the configured LLM (prompt version query-v1) for one search query each, and save the kept queries
    as a new version of query set NAME, with a judgment list NAME of source pseudo in which each query
    judges its source passage grade 2. Dropped and counted: replies with no `Query:` line after a retry,
    empty queries, queries over 32 words, queries that are the first words of their passage or title, and
    repeats. Replies are cached by (passage content hash, model, prompt version) under
    <home>/cache/llm_queries.sqlite: a run killed or cut off (LLM unreachable) resumes where it stopped."""
    versioned.check_name(name, "query set name")
    s = settings(backend)
    llm = judge_llm(s, s.querygen.max_tokens)
    workers = concurrency or s.querygen.concurrency
    with opened(s, index) as idx:
        sources = sampled(idx, passages, seed)
    if not sources:
        raise InvalidInputError(f"index {index!r} holds no passages to generate queries from")
    cache = QueryCache(s.home / CACHE_FILE)
    try:
        if retry_unparseable:
            cache.forget_unparseable(llm.model, PROMPT_VERSION)
        with progress_bar("generate", len(sources)) as bar:
            task = bar.tasks[0].id

            def shown(st: GenerationStats) -> None:
                bar.update(task, completed=st.cached + st.asked, rate=rate_text(st))

            stats = generate(llm, cache, sources, workers, shown)
    finally:
        cache.close()
    qs, rows = build(name, index, sources, stats, llm.model, passages, seed)
    if not qs.queries:
        b = qs.build
        raise InvalidInputError(
            f"none of the {len(sources)} passages gave a usable query from {llm.model} ({b.unparseable} "
            f"unparseable, {b.empty} empty, {b.too_long} over {MAX_QUERY_WORDS} words, {b.copied} copied, "
            f"{b.duplicates} repeats); nothing was written (retry with --retry-unparseable, or use another model)"
        )
    settings_used = {
        "base_url": getattr(llm, "base_url", None), "temperature": s.llm.temperature,
        "max_tokens": s.querygen.max_tokens, "concurrency": workers, "passages": passages, "seed": seed,
    }  # fmt: skip
    saved = QuerySetStore(s.home).save(qs)
    jl = JudgmentStore(s.home).save(pseudo_list(saved, index, rows, settings_used))
    payload = {**saved.manifest(), "judgments": jl.ref, "prompt_version": PROMPT_VERSION,
               "generation": stats.to_dict(), "settings": settings_used}  # fmt: skip
    emit(
        payload,
        as_json,
        [
            f"created {summary(saved)}",
            f"saved {list_summary(jl)}",
            *detail_lines(saved),
            f"{len(sources)} passages: {stats.cached} from the cache, {stats.asked} asked; {rate_text(stats)}",
        ],
    )
