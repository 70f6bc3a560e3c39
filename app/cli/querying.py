"""`ragsearch search` and `ragsearch answer`: one configuration, one entry point, for both."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from ragsearch.answer.answering import Answer
from ragsearch.answer.protocol import TextDelta
from ragsearch.app.cli.common import BackendOpt, IndexOpt, ModelOpt, cli, err, out, settings
from ragsearch.app.services import (
    answer_search_config,
    make_answerer,
    make_backend,
    make_embedder,
    make_engine,
    make_llm,
    named_config,
    request_config,
)
from ragsearch.rerank.explain import Explanation
from ragsearch.retrieval.errors import InvalidInputError
from ragsearch.retrieval.index import parse_filters
from ragsearch.search.config import MODES
from ragsearch.search.snippets import snippet

ModeOpt = Annotated[
    str | None,
    typer.Option(help=f"one of {', '.join(MODES)}, on top of the configuration (default: its own)"),
]
ConfigOpt = Annotated[
    str | None,
    typer.Option("--config", help="a configuration stored for the index (default: the one the index serves)"),
]
SNIPPET_CHARS = 160


@cli.command()
def search(
    text: Annotated[str, typer.Argument(help="the query")],
    index: IndexOpt = "default",
    mode: ModeOpt = None,
    config: ConfigOpt = None,
    k: Annotated[int, typer.Option(min=1, max=1000, help="how many hits")] = 10,
    filter_: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            help="metadata equality filter key:value, as in the API (repeatable; all must hold), e.g. "
            "format:pdf or doc_title:Install",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the hits (with snippets) as JSON")] = False,
    model: ModelOpt = None,
    backend: BackendOpt = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="say why each of the top 10 scores what it does: ltr, the fused-score prior and each feature "
            "family's TreeSHAP contribution; hybrid, the fusion arithmetic",
        ),
    ] = False,
) -> None:
    """Search an index and print the top passages with every first-stage score (and the LTR score) and a
    snippet: the part of each passage with the most query terms."""
    s = settings(backend)
    try:
        filters = parse_filters(filter_)
    except InvalidInputError as exc:
        raise typer.BadParameter(str(exc), param_hint="--filter") from None
    ranking = request_config(named_config(s, index, config)[1], mode, model, k=k)
    idx = make_backend(s).open(index)
    try:
        engine = make_engine(idx, make_embedder(s), s)
        result = engine.search(text, ranking, filters=filters or None, explain=explain)
        passages = {p.id: p for p in idx.get([h.id for h in result.hits])}
    finally:
        idx.close()
    for notice in result.notices:
        err.print(f"note: {notice}", markup=False, highlight=False)
    if as_json:
        hits = []
        for rank, h in enumerate(result.hits, start=1):
            p = passages.get(h.id)
            body = p.text if p else ""
            hits.append(
                {"rank": rank, **h.to_dict(), "title": p.title if p else "", "text": body,
                 "snippet": snippet(body, text, SNIPPET_CHARS)}
            )  # fmt: skip
            if h.id in result.explanations:
                hits[-1]["explanation"] = result.explanations[h.id].to_dict()
        payload = {"query": text, "mode": result.mode, "k": k, "filters": filters, "timings_ms": result.timings_ms,
                   "notices": result.notices, "config": result.config.model_dump(mode="json"), "hits": hits}  # fmt: skip
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
        return
    table = Table(
        title=f"{result.mode} results for {text!r} ({result.timings_ms['total_ms']:.1f} ms)", show_lines=True
    )
    for col in ("#", "id", "score", "bm25", "dense", "title"):
        table.add_column(col)
    table.add_column("snippet", ratio=1, min_width=30)
    for rank, h in enumerate(result.hits, start=1):
        p = passages.get(h.id)
        table.add_row(
            str(rank),
            h.id,
            f"{h.score:.4f}",
            "" if h.bm25_score is None else f"{h.bm25_score:.3f} (#{h.bm25_rank})",
            "" if h.dense_score is None else f"{h.dense_score:.3f} (#{h.dense_rank})",
            Text((p.title if p else "")[:60]),  # Text: no rich markup in document text
            Text(snippet(p.text, text, SNIPPET_CHARS) if p else ""),
        )
    out.print(table)
    for rank, h in enumerate(result.hits, start=1):
        if h.id in result.explanations:
            out.print(explanation_table(rank, h.id, result.explanations[h.id]))


BAR_WIDTH = 20


def explanation_table(rank: int, hit_id: str, e: Explanation) -> Table:
    """One result's score as its parts, each with a bar (green adds, red takes away) and how it was made."""
    table = Table(title=f"why #{rank} ({hit_id}) scores {e.score:.4f}: {e.method} parts, sum {e.total:.4f}",
                  title_justify="left", box=None, pad_edge=False)  # fmt: skip
    table.add_column("part")
    table.add_column("contribution", justify="right")
    table.add_column("", no_wrap=True, min_width=BAR_WIDTH)
    table.add_column("how")
    scale = max((abs(p.contribution) for p in e.parts), default=0.0) or 1.0
    for p in e.parts:
        n = round(BAR_WIDTH * abs(p.contribution) / scale)
        bar = Text(
            "█" * n or ("▏" if p.contribution else ""), style="green" if p.contribution >= 0 else "red"
        )
        how = p.formula
        if p.normalized is not None:
            how += f" ({p.name} {p.raw:.4f})" if p.raw is not None else f" (not in {p.name}'s list)"
        top = [f for f in e.features if f.family == p.name][:2]
        if top:
            how = ", ".join(f"{f.name} {f.contribution:+.3f}" for f in top)
        table.add_row(p.name, f"{p.contribution:+.4f}", bar, Text(how))
    if e.detail:
        table.caption, table.caption_justify = e.detail, "left"
    return table


@cli.command()
def answer(
    question: Annotated[str, typer.Argument(help="the question")],
    index: IndexOpt = "default",
    mode: Annotated[
        str | None,
        typer.Option(
            help=f"rank the sources with one of {', '.join(MODES)} (default: RAGSEARCH_ANSWER_MODE)"
        ),
    ] = None,
    config: ConfigOpt = None,
    model: ModelOpt = None,
    stream: Annotated[bool, typer.Option("--stream/--no-stream", help="print tokens as they arrive")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the answer object as JSON")] = False,
    backend: BackendOpt = None,
) -> None:
    """Answer a question from the indexed passages, citing them as [n] (source n is search result n)."""
    s = settings(backend)
    base = named_config(s, index, config)[1]
    if mode is None and model is None:
        ranking = answer_search_config(s, base)
    else:
        ranking = request_config(base, mode, model)
    idx = make_backend(s).open(index)
    try:
        answerer = make_answerer(make_engine(idx, make_embedder(s), s), ranking, s, make_llm(s))
        final: Answer | None = None
        for event in answerer.stream(question):
            if isinstance(event, TextDelta) and stream and not as_json:
                sys.stdout.write(event.text)
                sys.stdout.flush()
            elif isinstance(event, Answer):
                final = event
    finally:
        idx.close()
    assert final is not None
    if as_json:
        sys.stdout.write(json.dumps(final.to_dict(), ensure_ascii=False) + "\n")
        return
    if stream and final.status == "generated":
        sys.stdout.write("\n")
    else:
        out.print(final.text, highlight=False, markup=False)
    for notice in final.notices:
        err.print(f"note: {notice}", highlight=False, markup=False)
    if final.generation_error:
        err.print(f"note: {final.generation_error}", highlight=False, markup=False)
    for src in final.cited:
        out.print(f"[{src.n}] {src.title or src.id} ({src.id})", highlight=False, markup=False)
    if final.invalid_citations:
        err.print(
            f"dropped citations to passages that were not supplied: {final.invalid_citations}", markup=False
        )
    m = final.metrics
    if m.ttft_ms is not None:
        err.print(
            f"retrieval {m.retrieval_ms:.0f} ms, first token {m.ttft_ms:.0f} ms, "
            f"{m.tokens_per_s or 0:.1f} tokens/s, {m.prompt_tokens} prompt + {m.completion_tokens} completion tokens"
            f" ({m.model})",
            markup=False,
        )
