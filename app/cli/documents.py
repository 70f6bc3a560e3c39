"""`ragsearch ingest` and `ragsearch delete`: documents in and out of an index."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ragsearch.app.cli.common import BackendOpt, IndexOpt, cli, live_progress, out, settings
from ragsearch.app.services import make_backend
from ragsearch.app.settings import Settings
from ragsearch.app.usecases import delete_items, ingest_files
from ragsearch.ingest.pipeline import IngestReport
from ragsearch.ingest.runner import IngestOptions, IngestStatus
from ragsearch.retrieval.errors import InvalidInputError


def ingest_with_progress(
    paths: list[Path], index_name: str, s: Settings, options: IngestOptions | None = None
) -> IngestReport:
    """The ingest use case with a live progress bar on stderr (plain periodic lines when not a terminal)."""
    with live_progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[files]}"),
        TextColumn("{task.fields[passages]}"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        counts=False,  # the total is in bytes: the percentage and the file count say it better
    ) as bar:
        task = bar.add_task(f"ingest -> {index_name}", total=None, files="", passages="", rate="")

        def show(st: IngestStatus) -> None:
            bar.update(
                task,
                total=st.bytes_total or None,
                completed=st.bytes_done,
                files=f"{st.files_done}/{st.files_total} files",
                passages=f"{st.passages} passages",
                rate=f"{st.passages_per_second:.0f} passages/s",
            )

        return ingest_files(paths, index_name, s, options, progress=show)


def print_ingest_report(report: IngestReport, index_name: str) -> None:
    out.print(
        f"index {index_name}: added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
        f"removed {report.removed}, skipped {len(report.skipped)}, failed {len(report.failed)} "
        f"({report.passages} passages written, {report.embedded} embedded in {report.seconds:.1f}s, "
        f"{report.passages_per_second:.0f} passages/s)"
    )
    for label, items in (
        ("failed", report.failed),
        ("skipped", report.skipped),
        ("warning", report.warnings),
    ):
        for e in items[:50]:
            sys.stderr.write(f"{label}: {e}\n")
        if len(items) > 50:
            sys.stderr.write(f"... and {len(items) - 50} more {label}\n")
    if set(report.encodings) - {"utf-8"}:
        counts = ", ".join(f"{enc} {n}" for enc, n in sorted(report.encodings.items()))
        sys.stderr.write(f"encodings (detected where not UTF-8): {counts}\n")
    if report.ignored:
        sys.stderr.write(
            f"ignored {report.ignored} files (unsupported extension, hidden, or by --include/--exclude)\n"
        )


@cli.command()
def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="files and folders: .md .html .pdf .txt, .jsonl, BEIR folders (with corpus.jsonl)"
        ),
    ],
    index: IndexOpt = "default",
    include: Annotated[
        list[str] | None, typer.Option(help="only files matching this glob (repeatable), e.g. '*.md'")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option(help="skip files matching this glob (repeatable), e.g. 'drafts/*'")
    ] = None,
    prune: Annotated[
        bool, typer.Option("--prune", help="delete documents whose files are gone from the given folders")
    ] = False,
    batch_size: Annotated[
        int | None, typer.Option(min=1, max=100_000, help="passages per index write")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    backend: BackendOpt = None,
) -> None:
    """Ingest documents; unchanged ones are skipped, changed ones replaced whole, bad ones reported.

    Exits 1 when a file or record failed; the rest is ingested all the same.
    """
    s = settings(backend)
    options = IngestOptions(
        include=tuple(include or ()),
        exclude=tuple(exclude or ()),
        prune=prune,
        batch_size=batch_size or s.ingest.batch_size,
    )
    report = ingest_with_progress(paths, index, s, options)
    if as_json:
        out.print_json(json.dumps({"index": index, **report.to_dict()}))
    else:
        print_ingest_report(report, index)
    if report.failed:
        raise typer.Exit(1)


@cli.command()
def delete(
    doc_ids: Annotated[list[str], typer.Argument(help="document ids (e.g. guide/install.md) or passage ids")],
    index: IndexOpt = "default",
    backend: BackendOpt = None,
) -> None:
    """Delete documents (all their passages) or single passages; the same use case as DELETE /documents/ID."""
    s = settings(backend)
    idx = make_backend(s).open(index)
    missing = []
    try:
        for doc_id in doc_ids:
            n = delete_items(idx, s, doc_id)
            if n:
                out.print(f"deleted {doc_id} ({n} passages)", markup=False, highlight=False)
            else:
                missing.append(doc_id)
    finally:
        idx.close()
    if missing:
        raise InvalidInputError(
            f"no document {', '.join(map(repr, missing))} in index {index!r}: document ids are paths "
            "relative to the ingested folder (e.g. guide/install.md) or the ids of JSONL records"
        )
