"""`ragsearch indexes ...`: list, describe, check, repair, compact and drop indexes."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from app.cli.common import BackendOpt, indexes_app, out, settings
from app.services import make_backend

NameArg = Annotated[str, typer.Argument(help="index name")]


@indexes_app.command("list")
def indexes_list(backend: BackendOpt = None) -> None:
    """The names of the indexes, one a line."""
    s = settings(backend)
    for name in make_backend(s).list():
        out.print(name)


@indexes_app.command("info")
def indexes_info(name: NameArg, backend: BackendOpt = None) -> None:
    """Counts, model, analyzer and size of one index, as JSON."""
    s = settings(backend)
    sys.stdout.write(json.dumps(make_backend(s).describe(name), indent=2) + "\n")


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
