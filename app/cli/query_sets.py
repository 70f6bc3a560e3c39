"""`ragsearch query-sets ...`: create (from a queries file or sampled from the served-query log), list and
show query sets (eval.query_sets), the queries that judgments are generated for."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from ragsearch.app.cli.common import cli, out, settings
from ragsearch.app.querylog import QueryLog
from ragsearch.app.settings import Settings
from ragsearch.eval import versioned
from ragsearch.eval.query_sets import QuerySet, QuerySetStore, from_file, sample_from_log
from ragsearch.retrieval.errors import InvalidInputError

query_sets_app = typer.Typer(
    help="Query sets: named, versioned lists of queries (from a file or the served-query log) to judge.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
cli.add_typer(query_sets_app, name="query-sets")

SetArg = Annotated[str, typer.Argument(help="query set: NAME (its latest version) or NAME@vNNNN")]
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]
SHOWN = 10
"""How many queries `show` prints."""
STORE_TEXT_HINT = (
    "query texts are stored only while the server runs with RAGSEARCH_QUERYLOG_STORE_TEXT=true (off by "
    "default, for privacy): set it where `ragsearch serve` runs (environment or .env), restart the server, "
    "and sample once searches have come in"
)


def emit(payload: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    if as_json:
        sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    else:
        for line in lines:
            out.print(line, markup=False, highlight=False, soft_wrap=True)


def summary(qs: QuerySet) -> str:
    src = qs.source
    where = f"file {src.path}" if src.source == "file" else f"the query log of index {src.index!r}"
    return f"{qs.ref}: {len(qs.queries)} queries from {where}"


def detail_lines(qs: QuerySet) -> list[str]:
    src, b = qs.source, qs.build
    if src.source == "file":
        lines = [f"source: file {src.path} (sha256 {src.sha256})", f"read: {b.read} record(s)"]
    else:
        lines = [
            f"source: query log, index {src.index!r}, top {src.top}, sample {src.sample}, seed {src.seed}"
            + (f", since {src.since}" if src.since else ""),
            f"read: {b.read} log entries, {b.distinct} distinct queries after dropping; taken: the {b.top} "
            f"most frequent and {b.sampled} sampled from the other {b.distinct - b.top}",
        ]
    kinds = ", ".join(f"{k} {n}" for k, n in b.pii.items())
    lines += [
        f"dropped: {b.empty} empty",
        f"dropped: {b.duplicates} duplicate(s) of an earlier query (case-folded text)"
        + (f": ids {', '.join(b.duplicate_ids[:SHOWN])}" if b.duplicate_ids else ""),
        f"dropped: {b.pii_dropped} that look like personal data" + (f" ({kinds})" if kinds else ""),
    ]
    return lines


def first_queries(qs: QuerySet) -> list[dict[str, Any]]:
    return [
        {"id": qid, "text": text, **({"count": qs.counts[qid]} if qid in qs.counts else {})}
        for qid, text in list(qs.queries.items())[:SHOWN]
    ]


def parse_since(text: str | None) -> tuple[str | None, float | None]:
    if text is None:
        return None, None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an ISO date or time, e.g. 2026-12-01", param_hint="--since"
        ) from None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when.isoformat(timespec="seconds"), when.timestamp()


def log_texts(s: Settings, index: str, since: tuple[str | None, float | None]) -> list[str]:
    path = s.home / "querylog.sqlite"
    if not path.is_file():
        raise InvalidInputError(f"no query log at {path}: `ragsearch serve` writes it; {STORE_TEXT_HINT}")
    log = QueryLog(path)
    try:
        texts = log.texts(index, since[1])
        if not texts:
            scope = f"index {index!r}" + (f" since {since[0]}" if since[0] else "")
            raise InvalidInputError(
                f"the query log {path} holds no query texts for {scope} (it holds {log.count(index)} "
                f"search(es) of the index in all): {STORE_TEXT_HINT}"
            )
        return texts
    finally:
        log.close()


@query_sets_app.command("create")
def query_sets_create(
    name: Annotated[str, typer.Argument(help="name of the set (a new version if it exists)")],
    from_file_: Annotated[
        Path | None,
        typer.Option(
            "--from-file",
            help="BEIR queries.jsonl, TSV qid<TAB>text, or plain text with one query a line (ids q1..qn)",
        ),
    ] = None,
    from_log: Annotated[
        bool, typer.Option("--from-log", help="sample the served-query log (needs --index)")
    ] = False,
    index: Annotated[
        str | None, typer.Option("--index", "-i", help="the index whose searches to sample")
    ] = None,
    top: Annotated[int, typer.Option(min=0, help="take the N most frequent queries")] = 50,
    sample: Annotated[int, typer.Option(min=0, help="and a random sample of M of the others")] = 50,
    seed: Annotated[int, typer.Option(help="random seed of the sample (same log and seed: same set)")] = 0,
    since: Annotated[
        str | None, typer.Option(help="only searches from this ISO date or time on (UTC unless it says)")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """A new version of query set NAME, from a queries file or sampled from the searches the server logged:
    the most frequent plus a seeded random sample of the rest, PII-looking ones (e-mail addresses, phone
    numbers, long digit runs, IP addresses, URLs with credentials) dropped. Bad input writes nothing."""
    if (from_file_ is None) == (not from_log):
        raise typer.BadParameter("give either --from-file F or --from-log --index I", param_hint="source")
    if from_file_ is not None and index is not None:
        raise typer.BadParameter("--index goes with --from-log", param_hint="--index")
    if from_log and index is None:
        raise typer.BadParameter("--from-log needs --index I", param_hint="--index")
    versioned.check_name(name, "query set name")
    s = settings()
    if from_file_ is not None:
        qs = from_file(from_file_, name)
    else:
        assert index is not None
        when = parse_since(since)
        qs = sample_from_log(
            log_texts(s, index, when), top, sample, seed, name=name, index=index, since=when[0]
        )
        if not qs.queries:
            raise InvalidInputError(
                f"no query of index {index!r} is left to sample: of {qs.build.read} logged, "
                f"{qs.build.empty} are empty and {qs.build.pii_dropped} look like personal data"
            )
    saved = QuerySetStore(s.home).save(qs)
    emit(saved.manifest(), as_json, [f"created {summary(saved)}", *detail_lines(saved)])


@query_sets_app.command("list")
def query_sets_list(as_json: JsonFlag = False) -> None:
    """Every set with its latest version, size and source."""
    store = QuerySetStore(settings().home)
    sets = [store.load(n) for n in store.names()]
    emit(
        {"sets": [{**qs.manifest(), "versions": store.versions(qs.name)} for qs in sets]},
        as_json,
        [f"{summary(qs)} (versions: {', '.join(store.versions(qs.name))})" for qs in sets]
        or [f"no query sets under {store.root}"],
    )


@query_sets_app.command("show")
def query_sets_show(ref: SetArg, as_json: JsonFlag = False) -> None:
    """Counts, provenance, what building the set dropped and why, and its first queries."""
    qs = QuerySetStore(settings().home).load(ref)
    first = first_queries(qs)
    lines = [summary(qs), f"created {qs.created_at}", *detail_lines(qs), f"first {len(first)} queries:"]
    lines += [
        f"  {q['id']}\t{q['text']}" + (f"\t(served {q['count']}x)" if "count" in q else "") for q in first
    ]
    emit({**qs.manifest(), "first_queries": first}, as_json, lines)
