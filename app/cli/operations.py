"""`ragsearch serve`, `ui`, `drift` and `feedback export`: running and watching the product."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from app.cli.common import cli, feedback_app, out, settings


@cli.command()
def drift(
    recent: Annotated[int, typer.Option(min=10, help="queries in the recent window")] = 500,
    reference: Annotated[
        int, typer.Option(min=10, help="queries in the reference window (just before it)")
    ] = 500,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Compare recent served queries with the ones before them; exit 2 when drift is flagged."""
    from app.drift import compare_windows
    from app.querylog import QueryLog

    s = settings()
    log = QueryLog(s.home / "querylog.sqlite")
    try:
        report = compare_windows(
            log.latest(reference, skip=recent), log.latest(recent), s.answer.min_dense_score
        )
    finally:
        log.close()
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        table = Table(title=f"drift: {report.current_n} recent vs {report.reference_n} reference queries")
        for col in ("signal", "reference", "recent", "PSI", "p", "drift"):
            table.add_column(col)
        for sig in report.signals:
            table.add_row(sig.signal, f"{sig.reference_mean:.3f}", f"{sig.current_mean:.3f}",
                          "" if sig.psi is None else f"{sig.psi:.3f}", f"{sig.p_value:.4f}",
                          "YES" if sig.drifted else "")  # fmt: skip
        out.print(table)
    if report.drifted:
        raise typer.Exit(2)


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="default: RAGSEARCH_API_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default: RAGSEARCH_API_PORT")] = None,
) -> None:
    """Run the JSON API (uvicorn)."""
    import uvicorn

    from app.api.main import create_app

    s = settings()
    uvicorn.run(create_app(s), host=host or s.api.host, port=port or s.api.port, log_level=s.log_level)


@cli.command()
def ui(
    port: Annotated[int, typer.Option(help="port of the Streamlit UI")] = 8501,
) -> None:
    """Run the Streamlit UI; it talks to the API at RAGSEARCH_API_URL."""
    import subprocess
    from pathlib import Path as _Path

    import app as app_pkg

    script = _Path(app_pkg.__file__).parent / "ui.py"
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
           "--server.port", str(port), "--browser.gatherUsageStats", "false"]  # fmt: skip
    raise typer.Exit(subprocess.call(cmd))


@feedback_app.command("export")
def feedback_export(
    out_dir: Annotated[
        Path, typer.Argument(help="folder to write queries.jsonl and qrels/feedback.tsv into")
    ],
) -> None:
    """Write the feedback as judgments in BEIR layout, for `ragsearch train --extra-qrels OUT/qrels/feedback.tsv`."""
    from app.feedback import FeedbackStore, export_beir

    s = settings()
    store = FeedbackStore(s.home / "feedback.sqlite")
    try:
        n_queries, n_judgments = export_beir(store.judgments(), out_dir)
    finally:
        store.close()
    out.print(f"wrote {n_judgments} judgments for {n_queries} queries to {out_dir}")
