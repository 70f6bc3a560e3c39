"""`ragsearch online start|status|stop`: interleave what an index serves with a candidate, decided by clicks."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from ragsearch.app.cli.common import cli, say, settings
from ragsearch.app.cli.experiments import resolve_configs
from ragsearch.app.cli.serving import pin_model
from ragsearch.app.impressions import ImpressionLog
from ragsearch.app.online import OnlineStore, check, new_experiment, status_of, tally
from ragsearch.app.services import default_search_config
from ragsearch.eval.interleaving import PRIOR_STRENGTH
from ragsearch.retrieval.errors import InvalidInputError
from ragsearch.search.configs import ConfigStore
from ragsearch.search.serving import ServingStore

online_app = typer.Typer(
    help="Online experiments: team-draft interleaving of the served configuration and a candidate.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
cli.add_typer(online_app, name="online")
IndexReq = Annotated[str, typer.Option("--index", "-i", help="the index")]


def show(status: dict[str, Any]) -> None:
    say(f"experiment {status['id']} on {status['index']}: {status['candidate']} (candidate) against "
        f"{status['served']} (served), traffic {status['traffic']:g}, {status['status']}")  # fmt: skip
    say(f"{status['impressions']} interleaved impressions, {status['sessions']} sessions: {status['wins']} wins, "
        f"{status['losses']} losses, {status['ties']} ties; log LR {status['log_lr']:.2f} (boundary "
        f"{status['boundary']:.2f}, alpha {status['alpha']:g})")  # fmt: skip
    if status["status"] != "running":
        say(f"{status['decision'] or 'no decision'}: {status['reason']}"
            + (" (promoted)" if status["promoted"] else ""))  # fmt: skip


@online_app.command("start")
def online_start(
    index: IndexReq,
    candidate: Annotated[
        str | None, typer.Option(help="a configuration stored for the index, or a system (ltr:v0002)")
    ] = None,
    traffic: Annotated[
        float, typer.Option(help="share of sessions interleaved (sticky by session id), at most 0.5")
    ] = 0.2,
    max_sessions: Annotated[
        int, typer.Option(min=1, help="stop without a decision after this many sessions")
    ] = 10_000,
    min_sessions: Annotated[int, typer.Option(min=0, help="no decision before this many sessions")] = 50,
    alpha: Annotated[
        float, typer.Option(min=0.001, max=0.2, help="error rate of the sequential test")
    ] = 0.05,
    auto_promote: Annotated[
        bool, typer.Option("--auto-promote", help="promote a candidate that wins (else only recorded)")
    ] = False,
    prior_strength: Annotated[
        float,
        typer.Option(
            min=0.01,
            help="s of the test's Beta(s, s) prior on the win rate (1: uniform; larger: "
            "faster on small effects, slower on large ones)",
        ),
    ] = PRIOR_STRENGTH,
    aa: Annotated[
        bool,
        typer.Option(
            "--aa",
            help="an A/A calibration instead of a candidate: the served configuration against itself (any "
            "decision is a false one; never promotes)",
        ),
    ] = False,
) -> None:
    """Start interleaving the index's served configuration with CANDIDATE (or with itself: --aa) for a share
    of sessions."""
    s = settings()
    now = ServingStore(s.home).served(index, default_search_config(s))
    if aa == (candidate is not None):
        raise InvalidInputError(
            "give either --candidate CONFIG or --aa (the served configuration against itself)"
        )
    if candidate is None:
        candidate, config = f"{now.name} (A/A)", now.config
    else:
        resolved = resolve_configs([candidate], index, ConfigStore(s.home), default_search_config(s))
        config = pin_model(resolved[candidate][0].replace(k=now.config.k), s)
    exp = new_experiment(index, candidate, config, now.name, now.config, traffic, max_sessions, min_sessions,
                         alpha, auto_promote, prior_strength, aa)  # fmt: skip
    OnlineStore(s.home).start(exp)
    say(
        f"started online experiment {exp.id} on {index}: {candidate} against {now.name}, {traffic:g} of sessions"
    )


@online_app.command("status")
def online_status(
    index: IndexReq, as_json: Annotated[bool, typer.Option("--json", help="print the status as JSON")] = False
) -> None:
    """The latest experiment of the index: counts, the test, the decision (checked now)."""
    s = settings()
    store = OnlineStore(s.home)
    exp = store.latest(index)
    if exp is None:
        raise InvalidInputError(
            f"index {index!r} has no online experiment: start one with `ragsearch online start`"
        )
    log = ImpressionLog(s.home / "impressions.sqlite")
    try:
        exp = check(store, log, ServingStore(s.home), exp)
        status = status_of(exp, tally(log, exp))
    finally:
        log.close()
    if as_json:
        sys.stdout.write(json.dumps(status, indent=2) + "\n")
    else:
        show(status)


@online_app.command("stop")
def online_stop(index: IndexReq) -> None:
    """Stop the running experiment (no decision; the served configuration stays)."""
    store = OnlineStore(settings().home)
    exp = store.running(index)
    if exp is None:
        raise InvalidInputError(f"index {index!r} runs no online experiment")
    store.end(index, exp.id, "stopped", "stopped by the operator")
    say(f"stopped online experiment {exp.id} on {index}")
