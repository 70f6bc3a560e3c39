"""`ragsearch serve`, `ui`, `drift` and `feedback export`: running and watching the product."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ragsearch.app.cli.common import EXIT_DRIFT, cli, feedback_app, out, settings
from ragsearch.retrieval.extras import require


@cli.command()
def drift(
    recent: Annotated[int, typer.Option(min=10, help="queries in the recent window")] = 500,
    reference: Annotated[
        int, typer.Option(min=10, help="queries in the reference window (just before it)")
    ] = 500,
    index: Annotated[
        str | None,
        typer.Option("--index", "-i", help="index whose queries are compared (default: RAGSEARCH_INDEX)"),
    ] = None,
    mode: Annotated[str | None, typer.Option(help="only queries served in this mode")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    fail_on_drift: Annotated[
        bool,
        typer.Option(
            "--fail-on-drift/--no-fail-on-drift",
            help=f"exit {EXIT_DRIFT} when drift is flagged (for cron and CI); off: exit 0 and just report",
        ),
    ] = True,
) -> None:
    """Compare recent served queries with the ones before them; exits 3 when drift is flagged (not 2,
    which is a usage error), 0 when not."""
    from ragsearch.app.drift import compare_windows
    from ragsearch.app.querylog import QueryLog

    s = settings()
    log = QueryLog(s.home / "querylog.sqlite")
    try:
        name = index or s.index
        report = compare_windows(
            log.latest(reference, skip=recent, index=name, mode=mode),
            log.latest(recent, index=name, mode=mode),
            s.answer.min_dense_score,
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
    if report.drifted and fail_on_drift:
        raise typer.Exit(EXIT_DRIFT)


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="default: RAGSEARCH_API_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default: RAGSEARCH_API_PORT")] = None,
) -> None:
    """Run the JSON API (uvicorn); prints its URL first."""
    import uvicorn

    from ragsearch.app.api.main import create_app, server_config

    s = settings(batch=False)
    bind_host, bind_port = host or s.api.host, port or s.api.port
    app = create_app(s)
    url = http_url(bind_host, bind_port)
    sys.stdout.write(f"ragsearch API: {url} (docs: {url}/docs)\n")
    sys.stdout.flush()
    uvicorn.Server(server_config(app, bind_host, bind_port, s.log_level)).run()


def http_url(host: str, port: int) -> str:
    """The URL to open for a server bound to host:port (a wildcard bind is reached on localhost)."""
    shown = {"0.0.0.0": "localhost", "::": "localhost", "": "localhost"}.get(host, host)
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


@cli.command()
def ui(
    port: Annotated[int, typer.Option(help="port of the Streamlit UI")] = 8501,
    host: Annotated[
        str, typer.Option(help="address to listen on: loopback by default; 0.0.0.0 for every interface")
    ] = "127.0.0.1",
) -> None:
    """Run the Streamlit UI; it talks to the API at RAGSEARCH_API_URL. Prints its URL first. The process
    becomes the Streamlit server (stopping it stops the UI); Streamlit's developer menu is hidden."""
    from pathlib import Path as _Path

    import ragsearch.app as app_pkg

    require("streamlit")  # a clear error without the `ui` extra
    s = settings(batch=False)
    sys.stdout.write(f"ragsearch UI: {http_url(host, port)} (API: {s.api.url})\n")
    sys.stdout.flush()
    script = _Path(app_pkg.__file__).parent / "ui.py"
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
           "--server.port", str(port), "--server.address", host, "--browser.gatherUsageStats", "false",
           "--client.toolbarMode", "minimal"]  # fmt: skip
    os.execv(sys.executable, cmd)


@feedback_app.command("export")
def feedback_export(
    out_dir: Annotated[
        Path, typer.Argument(help="folder to write queries.jsonl and qrels/feedback.tsv into")
    ],
) -> None:
    """Write the feedback as judgments in BEIR layout, for `ragsearch train --extra-qrels OUT/qrels/feedback.tsv`."""
    from ragsearch.app.feedback import FeedbackStore, export_beir

    s = settings()
    store = FeedbackStore(s.home / "feedback.sqlite")
    try:
        n_queries, n_judgments = export_beir(store.judgments(), out_dir)
    finally:
        store.close()
    out.print(f"wrote {n_judgments} judgments for {n_queries} queries to {out_dir}")
