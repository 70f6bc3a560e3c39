"""What every command shares: the Typer apps, consoles, common options, settings and progress bars."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ragsearch.app.logs import configure_logging
from ragsearch.app.priority import lower_priority
from ragsearch.app.settings import Settings, get_settings
from ragsearch.retrieval.errors import UnknownNameError

# Help texts are plain text: rich markup would eat "[n]" and "[bold]".
cli = typer.Typer(
    help="ragsearch: retrieval-augmented search with evaluation.\n\n"
    "Exit codes: 0 success, 1 failure, 2 usage error, 3 drift found (drift).",
    no_args_is_help=True,
    rich_markup_mode=None,
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
judgments_app = typer.Typer(
    help="Judgment lists: import, list, show, export, merge, split.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
cli.add_typer(indexes_app, name="indexes")
cli.add_typer(datasets_app, name="datasets")
cli.add_typer(feedback_app, name="feedback")
cli.add_typer(models_app, name="models")
cli.add_typer(judgments_app, name="judgments")

out = Console()
err = Console(stderr=True)


def say(text: str) -> None:
    """One line of plain text on stdout: no rich markup or highlighting (it may hold names and query text)."""
    out.print(text, markup=False, highlight=False, soft_wrap=True)


EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_DRIFT = 0, 1, 2, 3
"""Exit codes of every command (README "Exit codes"): 2 is click's usage error; 3 is `drift` finding drift."""


def package_version() -> str:
    try:
        return version("ragsearch")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        out.print(f"ragsearch {package_version()}", markup=False, highlight=False)
        raise typer.Exit()


@cli.callback()
def root(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="print the version and exit"),
    ] = False,
) -> None:
    """ragsearch: retrieval-augmented search with evaluation."""


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
OLD_HOME = ".ragsearch"
"""The default home before 0.2 (relative to the working directory)."""


def settings(backend: str | None = None, *, batch: bool = True) -> Settings:
    """The validated settings of this command. A `batch` command (all but serve and ui) also lowers its
    CPU priority to RAGSEARCH_CLI_NICE, so that an ingest or a one-off search running next to a server
    takes the CPU the server's requests leave: on 2 cores, a loop of CLI commands beside a served index
    tripled the server's p95 latency (docs/benchmarks.md, soak)."""
    s = get_settings()
    if batch:
        lower_priority(s.cli_nice, s.cli_idle)
    if backend is not None:
        if backend not in BACKENDS:
            raise UnknownNameError("backend", backend, BACKENDS)
        s = s.model_copy(update={"backend": backend})
    configure_logging(s.log_level)
    if "home" not in s.model_fields_set and Path(OLD_HOME).is_dir():
        err.print(
            f"note: {OLD_HOME}/ here is the home of an earlier version; this command uses {s.home}. "
            f"To keep using it: export RAGSEARCH_HOME={Path(OLD_HOME).resolve()}",
            markup=False,
            highlight=False,
        )
    return s


PLAIN_EVERY_S = 10.0
"""How often a run whose stderr is not a terminal (a log file, CI, a pipe) writes a progress line."""


def plain_line(task: Task, counts: bool = True) -> str:
    """One task as a line of text: `train: 3/5 (60%), 12 s elapsed, ~8 s left` (fields appended)."""
    parts = [task.description]
    if task.total:
        done = f"{task.completed:.0f}/{task.total:.0f} " if counts else ""
        parts.append(f"{done}({task.percentage:.0f}%)")
    elif counts and task.completed:
        parts.append(f"{task.completed:.0f} done")
    parts += [str(v) for v in task.fields.values() if v not in ("", None)]
    parts.append(f"{task.elapsed or 0:.0f} s elapsed")
    if task.total and not task.finished and task.time_remaining is not None:
        parts.append(f"~{task.time_remaining:.0f} s left")
    return ", ".join(parts)


class PlainLines:
    """Progress for output that is not a terminal, where rich draws no bar: a line per task every
    `every` seconds while it runs, and one for each task at the end, so a long run is never silent."""

    def __init__(self, progress: Progress, stream: IO[str], every: float, counts: bool = True) -> None:
        self.progress, self.stream, self.every, self.counts = progress, stream, every, counts
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress-lines", daemon=True)

    def __enter__(self) -> PlainLines:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.emit(final=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.emit()

    def emit(self, final: bool = False) -> None:
        for task in self.progress.tasks:
            if final or not task.finished:
                self.stream.write(plain_line(task, self.counts) + "\n")
        self.stream.flush()


@contextmanager
def live_progress(
    *columns: str | ProgressColumn, every: float | None = None, counts: bool = True
) -> Iterator[Progress]:
    """A rich progress bar on stderr when it is a terminal, plain periodic lines (`PlainLines`) when not."""
    progress = Progress(*columns, console=err, transient=False, disable=not err.is_terminal)
    with progress:
        if err.is_terminal:
            yield progress
        else:
            with PlainLines(progress, err.file, PLAIN_EVERY_S if every is None else every, counts):
                yield progress


@contextmanager
def progress_bar(description: str, total: int | None, **fields: Any) -> Iterator[Progress]:
    with live_progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ) as progress:
        progress.add_task(description, total=total, rate="", **fields)
        yield progress


def progress_steps(bar: Progress) -> Callable[[str, int], Callable[[int], None]]:
    """A progress factory for use cases: each step gets its own task on `bar`."""

    def step(description: str, total: int) -> Callable[[int], None]:
        task = bar.add_task(description, total=total, rate="")
        return lambda n: bar.advance(task, n)

    return step
