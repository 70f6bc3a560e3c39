"""`ragsearch judgments from-clicks` and `ragsearch impressions ...`: the impression log and what it yields."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Annotated

import typer

from ragsearch.app.cli.common import BackendOpt, cli, judgments_app, out, settings
from ragsearch.app.clicks import click_judgments
from ragsearch.app.impressions import ImpressionLog
from ragsearch.app.services import make_backend
from ragsearch.eval.click_models import MODELS, PBM_PRIOR, Prior
from ragsearch.eval.judgment_store import JudgmentStore
from ragsearch.retrieval.errors import InvalidInputError, UnknownNameError

impressions_app = typer.Typer(
    help="The impression log: stats, purge.", no_args_is_help=True, rich_markup_mode=None
)
cli.add_typer(impressions_app, name="impressions")


def parse_since(since: str | None) -> float | None:
    if since is None:
        return None
    try:
        return datetime.fromisoformat(since).timestamp()
    except ValueError:
        raise InvalidInputError(
            f"--since {since!r}: an ISO date or time, e.g. 2026-12-01 or 2026-12-01T08:00"
        ) from None


def parse_prior(text: str | None) -> Prior | None:
    if text is None:
        return None
    try:
        a, b = (float(x) for x in text.split(","))
    except ValueError:
        raise InvalidInputError(f"--prior {text!r}: two numbers A,B, e.g. 1,4 (or 0,0 for none)") from None
    return a, b


@judgments_app.command("from-clicks")
def judgments_from_clicks(
    index: Annotated[str, typer.Option("--index", "-i", help="the index whose impressions are read")],
    name: Annotated[str, typer.Option(help="name of the new judgment list (a new version if it exists)")],
    model: Annotated[
        str, typer.Option(help=f"click model: {', '.join(MODELS)} (ctr: raw, no position correction)")
    ] = "pbm",
    min_impressions: Annotated[int, typer.Option(min=1, help="pairs shown fewer times get no grade")] = 5,
    since: Annotated[str | None, typer.Option(help="only impressions from this ISO date/time on")] = None,
    prior: Annotated[
        str | None,
        typer.Option(
            help="Beta pseudo-counts on attractiveness, 'A,B' (attractive, unattractive); 0,0 for none "
            f"(default: pbm {PBM_PRIOR[0]:g},{PBM_PRIOR[1]:g}; ctr 0,0, the raw rate)"
        ),
    ] = None,
    query_ids_from: Annotated[
        str | None, typer.Option(help="a judgment list whose query ids are used for the same query texts")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the list's manifest as JSON")] = False,
    backend: BackendOpt = None,
) -> None:
    """Grade (query, passage) pairs from logged impressions and clicks with a click model (position-based
    by default: EM over examination by rank and attractiveness), into a judgment list of source `clicks`."""
    if model not in MODELS:
        raise UnknownNameError("click model", model, MODELS)
    s = settings(backend)
    store = JudgmentStore(s.home)
    ids = store.load(query_ids_from).queries if query_ids_from else None
    log = ImpressionLog(s.home / "impressions.sqlite")
    idx = make_backend(s).open(index)
    try:
        built = click_judgments(log, idx, name, model, min_impressions, parse_since(since),
                                {t: q for q, t in ids.items()} if ids else None, parse_prior(prior))  # fmt: skip
    finally:
        idx.close()
        log.close()
    saved = store.save(built)
    if as_json:
        sys.stdout.write(json.dumps(saved.manifest(), indent=2) + "\n")
        return
    b = saved.build
    out.print(f"saved {saved.ref}: {len(saved.rows)} graded pairs over {len(saved.queries)} queries from "
              f"{b['impressions']} impressions and {b['clicks']} clicks ({model}); grades {saved.grade_counts()}",
              markup=False, highlight=False, soft_wrap=True)  # fmt: skip


@impressions_app.command("stats")
def impressions_stats(
    index: Annotated[str | None, typer.Option("--index", "-i", help="one index (default: all)")] = None,
) -> None:
    """How many impressions and events the log holds (for one index or all), as JSON."""
    log = ImpressionLog(settings().home / "impressions.sqlite")
    try:
        events = log.events(index)
        actions = {a: sum(e.action_name == a for e in events) for a in ("click", "dwell", "up", "down")}
        sys.stdout.write(json.dumps({"impressions": len(log.impressions(index)), "events": actions}) + "\n")
    finally:
        log.close()


@impressions_app.command("purge")
def impressions_purge(
    older_than_days: Annotated[
        float | None, typer.Option(help="default: RAGSEARCH_IMPRESSIONS_RETENTION_DAYS")
    ] = None,
) -> None:
    """Delete impressions (and their events) older than the retention."""
    s = settings()
    log = ImpressionLog(s.home / "impressions.sqlite")
    try:
        gone = log.purge(older_than_days if older_than_days is not None else s.impressions.retention_days)
    finally:
        log.close()
    out.print(f"deleted {gone} impressions")
