"""What every command shares: the Typer apps, consoles, common options, settings and progress bars."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from app.logs import configure_logging
from app.settings import Settings, get_settings
from retrieval.errors import UnknownNameError

# Help texts are plain text: rich markup would eat "[n]" and "[bold]".
cli = typer.Typer(
    help="ragsearch: retrieval-augmented search with evaluation.", no_args_is_help=True, rich_markup_mode=None
)
indexes_app = typer.Typer(
    help="List, describe, check, repair, compact and drop indexes.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
datasets_app = typer.Typer(help="Get public BEIR datasets.", no_args_is_help=True, rich_markup_mode=None)
feedback_app = typer.Typer(
    help="User feedback from the UI and API.", no_args_is_help=True, rich_markup_mode=None
)
models_app = typer.Typer(
    help="Learning-to-rank models: list, show, promote, roll back.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
cli.add_typer(indexes_app, name="indexes")
cli.add_typer(datasets_app, name="datasets")
cli.add_typer(feedback_app, name="feedback")
cli.add_typer(models_app, name="models")

out = Console()
err = Console(stderr=True)

IndexOpt = Annotated[str, typer.Option("--index", "-i", help="index name")]
DatasetArg = Annotated[Path, typer.Argument(help="BEIR folder with queries.jsonl and qrels/<split>.tsv")]
TrainSplitOpt = Annotated[str, typer.Option(help="qrels split to train on")]
ModelOpt = Annotated[
    str | None, typer.Option("--model", help="LTR model version for mode ltr (default: the promoted one)")
]
BackendOpt = Annotated[
    str | None,
    typer.Option("--backend", help="embedded or elasticsearch (default: RAGSEARCH_BACKEND, else embedded)"),
]
BACKENDS = ("embedded", "elasticsearch")


def settings(backend: str | None = None) -> Settings:
    s = get_settings()
    if backend is not None:
        if backend not in BACKENDS:
            raise UnknownNameError("backend", backend, BACKENDS)
        s = s.model_copy(update={"backend": backend})
    configure_logging(s.log_level)
    return s


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Progress]:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal and total is None,
    ) as progress:
        progress.add_task(description, total=total, rate="")
        yield progress


def progress_steps(bar: Progress) -> Callable[[str, int], Callable[[int], None]]:
    """A progress factory for use cases: each step gets its own task on `bar`."""

    def step(description: str, total: int) -> Callable[[int], None]:
        task = bar.add_task(description, total=total, rate="")
        return lambda n: bar.advance(task, n)

    return step
