"""`ragsearch judgments ...`: import, list, show, export, merge and split judgment lists (eval.judgments)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from ragsearch.app.cli.common import BackendOpt, judgments_app, out, settings
from ragsearch.app.services import make_backend
from ragsearch.app.settings import Settings
from ragsearch.eval.data import iter_qrels, read_topics
from ragsearch.eval.judgment_store import JudgmentStore, export
from ragsearch.eval.judgments import (
    JudgmentList,
    Provenance,
    freshness,
    from_qrels,
    merge,
    parse_grade_map,
    shown,
    split,
    subset,
)
from ragsearch.retrieval.errors import InvalidInputError, RagsearchError
from ragsearch.retrieval.index import SearchIndex

ListArg = Annotated[str, typer.Argument(help="judgment list: NAME (its latest version) or NAME@vNNNN")]
NameOpt = Annotated[
    str, typer.Option("--name", help="name of the list to write (a new version if it exists)")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]


@contextmanager
def opened(s: Settings, name: str) -> Iterator[SearchIndex]:
    idx = make_backend(s).open(name)
    try:
        yield idx
    finally:
        idx.close()


def emit(payload: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    if as_json:
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        for line in lines:
            out.print(line, markup=False, highlight=False, soft_wrap=True)


def summary(jl: JudgmentList) -> str:
    grades = ", ".join(f"{g}: {n}" for g, n in jl.grade_counts().items())
    return f"{jl.ref} (index {jl.index}): {len(jl.rows)} rows, {len(jl.queries)} queries; grades {grades}"


def build_lines(jl: JudgmentList) -> list[str]:
    b = jl.build
    lines = []
    if b.get("duplicates"):
        lines.append(f"duplicates: {b['duplicates']} row(s) replaced by a later row of the same pair")
    if b.get("not_in_index"):
        pairs = [f"{q} {p}" for q, p in b["not_in_index_rows"]]
        lines.append(f"not in index {jl.index!r}: {b['not_in_index']} row(s) left out: {shown(pairs)}")
    return lines


@judgments_app.command("import")
def judgments_import(
    dataset: Annotated[
        Path,
        typer.Argument(help="BEIR folder (queries.jsonl + qrels/<split>.tsv), or a BEIR/TREC qrels file"),
    ],
    index: Annotated[str, typer.Option("--index", "-i", help="the index the judgments are about")],
    name: NameOpt,
    split_name: Annotated[str, typer.Option("--split", help="qrels split of a BEIR folder")] = "test",
    queries: Annotated[
        Path | None,
        typer.Option(
            help="query texts: queries.jsonl or qid<TAB>text (default: queries.jsonl beside the file or its BEIR folder's)"
        ),
    ] = None,
    map_grades: Annotated[
        str | None, typer.Option(help="rewrite grades before the 0-3 check, e.g. 4=3 or 1=0,2=1,3=2,4=3")
    ] = None,
    as_json: JsonFlag = False,
    backend: BackendOpt = None,
) -> None:
    """Import human judgments (BEIR or TREC qrels) for an index as a new version of list NAME. Rows naming
    passages the index lacks are left out and listed; a repeated (query, passage) keeps its last row; a
    grade outside 0-3 refuses the whole import."""
    s = settings(backend)
    grade_map = parse_grade_map(map_grades)
    if dataset.is_dir():
        qrels_path, queries_path = (
            dataset / "qrels" / f"{split_name}.tsv",
            queries or dataset / "queries.jsonl",
        )
        origin = f"{dataset.resolve()} split {split_name}"
    else:
        qrels_path, origin = dataset, str(dataset.resolve())
        beside = [d / "queries.jsonl" for d in (dataset.parent, dataset.parent.parent)]
        queries_path = queries or next((p for p in beside if p.is_file()), beside[0])
    if not qrels_path.is_file():
        have = sorted(p.stem for p in (dataset / "qrels").glob("*.tsv")) if dataset.is_dir() else []
        raise InvalidInputError(
            f"{qrels_path} does not exist" + (f" (splits: {', '.join(have)})" if have else "")
        )
    if not queries_path.is_file():
        raise InvalidInputError(f"no query texts at {queries_path}: pass --queries FILE")
    rows = list(iter_qrels(qrels_path))
    texts = read_topics(queries_path)
    with opened(s, index) as idx:
        # the dataset's folder name, as a model's manifest names the dataset it was trained on (leakage check)
        source = dataset.resolve().name if dataset.is_dir() else queries_path.resolve().parent.name
        jl = from_qrels(name, idx, rows, texts, Provenance("imported", origin, dataset=source), grade_map)
    saved = JudgmentStore(s.home).save(jl)
    emit(saved.manifest(), as_json, [f"imported {summary(saved)}", *build_lines(saved)])


@judgments_app.command("list")
def judgments_list(as_json: JsonFlag = False) -> None:
    """Every list with its latest version, index and size."""
    store = JudgmentStore(settings().home)
    lists = [store.load(n) for n in store.names()]
    emit(
        {"lists": [{**jl.manifest(), "versions": store.versions(jl.name)} for jl in lists]},
        as_json,
        [summary(jl) for jl in lists] or [f"no judgment lists under {store.root}"],
    )


@judgments_app.command("show")
def judgments_show(ref: ListArg, as_json: JsonFlag = False, backend: BackendOpt = None) -> None:
    """Counts, provenance, and the rows whose passage changed since it was judged (stale) or is gone."""
    s = settings(backend)
    jl = JudgmentStore(s.home).load(ref)
    payload = jl.manifest()
    lines = [summary(jl), f"created {jl.created_at}"]
    lines += [f"source: {p.source}" + "".join(f", {k} {v}" for k, v in
              (("from", p.origin), ("model", p.model), ("prompt", p.prompt_version)) if v)
              for p in jl.provenance]  # fmt: skip
    if jl.derived_from:
        lines.append(f"derived from {', '.join(jl.derived_from)}")
    if jl.parts:
        lines.append(f"split: {len(jl.parts['dev'])} dev queries, {len(jl.parts['held'])} held")
    lines += build_lines(jl)
    try:
        with opened(s, jl.index) as idx:
            fresh = freshness(jl, idx)
    except RagsearchError as exc:
        payload["freshness"] = {"error": str(exc)}
        lines.append(f"freshness unknown: {exc}")
    else:
        payload["freshness"] = {
            "stale": len(fresh.stale),
            "missing": len(fresh.missing),
            "stale_rows": [list(p) for p in fresh.stale],
            "missing_rows": [list(p) for p in fresh.missing],
        }
        lines.append(f"stale: {len(fresh.stale)} row(s) whose passage changed since judged")
        lines.append(f"missing: {len(fresh.missing)} row(s) whose passage is no longer in the index")
        lines += [f"  stale {q} {p}" for q, p in fresh.stale[:10]] + [
            f"  missing {q} {p}" for q, p in fresh.missing[:10]
        ]
    emit(payload, as_json, lines)


@judgments_app.command("export")
def judgments_export(
    ref: ListArg,
    out_dir: Annotated[Path, typer.Argument(help="folder to write")],
    split_name: Annotated[str, typer.Option("--split", help="name of the qrels file")] = "test",
) -> None:
    """Write a list in BEIR layout (queries.jsonl, qrels/<split>.tsv, and dev/held after a split) and as
    TREC qrels (<split>.qrels)."""
    jl = JudgmentStore(settings().home).load(ref)
    for path in export(jl, out_dir, split_name):
        out.print(f"wrote {path}", markup=False, highlight=False)


@judgments_app.command("merge")
def judgments_merge(a: ListArg, b: ListArg, name: NameOpt, as_json: JsonFlag = False) -> None:
    """A then B as list NAME: a (query, passage) judged in both keeps B's row (counted)."""
    store = JudgmentStore(settings().home)
    saved = store.save(merge(store.load(a), store.load(b), name))
    emit(saved.manifest(), as_json, [f"merged into {summary(saved)}", *build_lines(saved)])


@judgments_app.command("split")
def judgments_split(
    ref: ListArg,
    dev_fraction: Annotated[float, typer.Option(help="share of the queries that go to dev")] = 0.5,
    seed: Annotated[int, typer.Option(help="random seed (same seed and list: same split)")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Part a list's queries into dev and held, recorded in a new version of the same list (eval, and
    later the optimizer, pick a part with --part dev|held)."""
    store = JudgmentStore(settings().home)
    saved = store.save(split(store.load(ref), dev_fraction, seed))
    parts = saved.parts or {}
    emit(
        saved.manifest(),
        as_json,
        [f"split {saved.ref}: {len(parts.get('dev', []))} dev queries, {len(parts.get('held', []))} held"],
    )


@judgments_app.command("subset")
def judgments_subset(
    ref: ListArg,
    part: Annotated[str, typer.Option(help="dev or held: the part whose queries the new list keeps")],
    name: Annotated[str, typer.Option(help="name of the new list")],
    as_json: JsonFlag = False,
) -> None:
    """A new list with only one part's queries of a split list: e.g. train a model on one part and tune and
    promote with the other, so no query serves both."""
    store = JudgmentStore(settings().home)
    saved = store.save(subset(store.load(ref), part, name))
    emit(
        saved.manifest(),
        as_json,
        [f"saved {saved.ref}: {len(saved.queries)} queries, {len(saved.rows)} rows"],
    )
