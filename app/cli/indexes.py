"""`ragsearch indexes ...`: list, describe, check, repair, compact and drop indexes."""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Annotated

import typer

from ragsearch.app.cli.common import BackendOpt, indexes_app, out, settings
from ragsearch.app.services import make_backend, make_embedder, served
from ragsearch.retrieval.errors import RagsearchError
from ragsearch.retrieval.index import CheckableIndex, IndexCheck, SearchIndex

NameArg = Annotated[str, typer.Argument(help="index name")]


@indexes_app.command("list")
def indexes_list(backend: BackendOpt = None) -> None:
    """The names of the indexes, one a line."""
    s = settings(backend)
    for name in make_backend(s).list():
        out.print(name)


@indexes_app.command("show")
def indexes_show(name: NameArg, backend: BackendOpt = None) -> None:
    """Counts, model, analyzer and size of one index, and the configuration it serves and why, as JSON."""
    s = settings(backend)
    described = make_backend(s).describe(name)
    sys.stdout.write(json.dumps({**described, "serving": served(s, name).to_dict()}, indent=2) + "\n")


@indexes_app.command("info", hidden=True)
def indexes_info(name: NameArg, backend: BackendOpt = None) -> None:
    """The same as `indexes show` (its earlier name)."""
    indexes_show(name, backend)


@indexes_app.command("drop")
def indexes_drop(
    name: NameArg,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False,
    backend: BackendOpt = None,
) -> None:
    """Delete an index and everything in it."""
    s = settings(backend)
    if not yes:
        typer.confirm(f"drop index {name!r} and everything in it?", abort=True)
    make_backend(s).drop(name)
    out.print(f"dropped {name}")


def checkable(idx: SearchIndex) -> CheckableIndex:
    if not isinstance(idx, CheckableIndex):
        raise RagsearchError(
            f"index {idx.name!r}: check, repair and compact are for the embedded backend (Elasticsearch "
            "checks its own shards: GET _cluster/health)"
        )
    return idx


def print_check(name: str, c: IndexCheck) -> None:
    state = "consistent" if c.consistent else "NOT consistent"
    out.print(
        f"index {name}: {state}; {c.passages} passages, {c.bm25_docs} in BM25, vector rows {c.vector_rows_present} "
        f"present / {c.vector_rows_needed} needed ({c.dead_vector_rows} dead), {c.pending_changes} pending "
        f"changes, generation {c.generation}",
        markup=False,
        highlight=False,
    )
    for problem in c.problems:
        out.print(f"problem: {problem}", markup=False, highlight=False)


@indexes_app.command("check")
def indexes_check(
    name: NameArg,
    as_json: Annotated[bool, typer.Option("--json", help="print the check as JSON")] = False,
    backend: BackendOpt = None,
) -> None:
    """Verify that the store, the BM25 index and the vectors agree; exits 1 when they do not."""
    s = settings(backend)
    idx = make_backend(s).open(name)
    try:
        result = checkable(idx).check()
    finally:
        idx.close()
    if as_json:
        sys.stdout.write(json.dumps(dataclasses.asdict(result), indent=2) + "\n")
    else:
        print_check(name, result)
    if not result.consistent:
        raise typer.Exit(1)


@indexes_app.command("repair")
def indexes_repair(name: NameArg, backend: BackendOpt = None) -> None:
    """Rebuild what can be derived from the store: the BM25 index, missing vectors (re-embedded with the
    configured model), pending changes. Exits 1 if the index is still inconsistent afterwards."""
    s = settings(backend)
    idx = make_backend(s).open(name)
    try:
        report = checkable(idx).repair(make_embedder(s))
    finally:
        idx.close()
    out.print(
        f"repaired {name}: BM25 {'rebuilt' if report.bm25_rebuilt else 'kept'}, {report.reembedded} passages "
        f"re-embedded, {report.changes_applied} pending changes applied"
        + (", store restored" if report.store_restored else ""),
        markup=False,
    )
    print_check(name, report.after)
    if not report.after.consistent:
        raise typer.Exit(1)


@indexes_app.command("compact")
def indexes_compact(name: NameArg, backend: BackendOpt = None) -> None:
    """Free the vector rows of replaced and deleted passages (safe while the index is being served)."""
    s = settings(backend)
    idx = make_backend(s).open(name)
    try:
        freed = checkable(idx).compact()
    finally:
        idx.close()
    out.print(f"compacted {name}: {freed} vector rows freed", markup=False)
