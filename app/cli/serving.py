"""`ragsearch serve-config ...`: what each index serves, promoted only on evidence from that index."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from ragsearch.app.cli.common import BackendOpt, cli, progress_bar, progress_steps, say, settings
from ragsearch.app.cli.experiments import describe, resolve_configs
from ragsearch.app.services import (
    default_search_config,
    make_backend,
    make_embedder,
    make_engine,
    make_registry,
    rollback_served,
)
from ragsearch.app.settings import Settings
from ragsearch.app.usecases import promotion_figures
from ragsearch.eval.judgment_store import JudgmentStore
from ragsearch.eval.metrics import parse_measures
from ragsearch.eval.promotion import DEFAULT_LEVEL, TEST, PartFigures, decide
from ragsearch.retrieval.errors import InvalidInputError
from ragsearch.search.config import Mode, SearchConfig
from ragsearch.search.configs import SERVED, ConfigStore
from ragsearch.search.serving import Served, ServingStore

serving_app = typer.Typer(
    help="The search configuration each index serves: show, promote (on evidence), history, rollback.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
cli.add_typer(serving_app, name="serve-config")

IndexReq = Annotated[str, typer.Option("--index", "-i", help="the index")]
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON")]
PROMOTE_MEASURE = "nDCG@10"


def show_served(now: Served) -> None:
    say(f"index {now.index} serves {now.name}: {describe(now.config)}")
    say(f"why: {now.reason}")


@serving_app.command("show")
def serving_show(index: IndexReq, as_json: JsonFlag = False) -> None:
    """What the index serves, and why."""
    s = settings()
    now = ServingStore(s.home).served(index, default_search_config(s))
    if as_json:
        sys.stdout.write(json.dumps(now.to_dict(), indent=2) + "\n")
    else:
        show_served(now)


def pin_model(config: SearchConfig, s: Settings) -> SearchConfig:
    """An ltr candidate with its model version pinned (the promoted one when it names none): the evidence
    is about one model, so the served configuration must not change when another model is promoted."""
    if config.mode is not Mode.LTR or config.ltr_model:
        return config
    version = s.rerank.model or make_registry(s).promoted
    if version is None:
        raise InvalidInputError("an ltr candidate needs a model: name one (ltr:v0001) or promote one")
    return config.replace(ltr_model=version)


def figures_line(f: PartFigures, measure: str, served_name: str, candidate: str) -> str:
    return (
        f"{f.part} ({f.queries} queries): {candidate} {measure} {f.candidate:.4f} vs {served_name} "
        f"{f.served:.4f} ({f.delta:+.4f}, p={f.p_value:.3g})"
    )


@serving_app.command("promote")
def serving_promote(
    candidate: Annotated[
        str, typer.Argument(help="a configuration stored for the index, or a system (hybrid, ltr:v0002)")
    ],
    index: IndexReq,
    judgments: Annotated[str, typer.Option(help="a judgment list of this index (NAME or NAME@vNNNN)")],
    level: Annotated[
        float, typer.Option(min=0.0001, max=0.5, help="the paired test's level on the held part")
    ] = DEFAULT_LEVEL,
    measure: Annotated[str, typer.Option(help="the measure compared (ir-measures name)")] = PROMOTE_MEASURE,
    as_json: JsonFlag = False,
    backend: BackendOpt = None,
) -> None:
    """Serve CANDIDATE on the index, only if it beats what the index serves on the judgment list's held part
    (the whole list when it has no parts) by a paired test at --level. Both figures are printed either way;
    a refusal exits 1 and changes nothing."""
    s = settings(backend)
    jl = JudgmentStore(s.home).load_for(judgments, index, "promotion")
    parse_measures([measure])
    store = ServingStore(s.home)
    default = default_search_config(s)
    now = store.served(index, default)
    if candidate == SERVED:
        raise InvalidInputError(f"{SERVED!r} is what the index serves already; name another configuration")
    resolved = resolve_configs([candidate], index, ConfigStore(s.home), default)
    config = pin_model(resolved[candidate][0].replace(k=now.config.k), s)
    if config == now.config:
        raise InvalidInputError(
            f"index {index} serves that configuration already ({now.name}); nothing changed"
        )
    idx = make_backend(s).open(index)
    try:
        engine = make_engine(idx, make_embedder(s), s)
        with progress_bar("promotion check", None) as bar:
            held, dev, notes = promotion_figures(engine, jl, now.config, config, measure, progress_steps(bar))
    finally:
        idx.close()
    decision = decide(held, dev, level)
    evidence: dict[str, Any] = {
        "judgments": jl.ref,
        "part": "held" if jl.parts else None,
        "measure": measure,
        "test": TEST,
        "level": level,
        "replaced": now.name,
        "replaced_config": now.config.model_dump(mode="json"),
        "held": held.to_dict(),
        "dev": dev.to_dict() if dev else None,
        "notes": notes,
    }
    entry = store.promote(index, candidate, config, evidence) if decision.promote else None
    if as_json:
        payload = {"promoted": decision.promote, "reason": decision.reason, "index": index,
                   "candidate": candidate, "config": config.model_dump(mode="json"), "evidence": evidence,
                   "entry": entry.number if entry else None}  # fmt: skip
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        for f in (held, dev):
            if f is not None:
                say(figures_line(f, measure, now.name, candidate))
        for note in notes:
            say(f"note: {note}")
        say(decision.reason + (f": index {index} now serves {candidate}" if decision.promote else
                               f"; index {index} still serves {now.name}"))  # fmt: skip
    if not decision.promote:
        raise typer.Exit(1)


@serving_app.command("history")
def serving_history(index: IndexReq, as_json: JsonFlag = False) -> None:
    """Every promotion and rollback of the index, oldest first, with its evidence."""
    log = ServingStore(settings().home).log(index)
    if as_json:
        sys.stdout.write(json.dumps(log, indent=2) + "\n")
        return
    if not log:
        say(f"index {index}: no promotion yet (serves the default configuration)")
    for e in log:
        ev = e["evidence"]
        if ev.get("action") == "rollback":
            say(
                f"#{e['number']} {e['at']} rollback of #{ev['undid']} ({ev['undid_name']}): serves {e['name']}"
            )
            continue
        if ev.get("online"):
            o = ev["online"]
            say(f"#{e['number']} {e['at']} promoted {e['name']} over {ev.get('replaced')} by online experiment "
                f"{o['experiment']}: {o['wins']} wins, {o['losses']} losses, {o['ties']} ties")  # fmt: skip
            continue
        h = ev.get("held") or {}
        say(f"#{e['number']} {e['at']} promoted {e['name']} over {ev.get('replaced')} on {ev.get('judgments')}: "
            f"{ev.get('measure')} {h.get('candidate', 0):.4f} vs {h.get('served', 0):.4f}, "
            f"p={h.get('p_value', 1):.3g}")  # fmt: skip


@serving_app.command("rollback")
def serving_rollback(index: IndexReq) -> None:
    """Serve what was served before the last promotion (the default configuration after the first)."""
    show_served(rollback_served(settings(), index))
