"""`ragsearch optimize`: a seeded search over first stages and offered models on a judgment list's dev part,
the winner reported against what the index serves on the held part. It proposes; `serve-config promote`
decides."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ragsearch.app.cli.common import BackendOpt, cli, err, out, progress_bar, progress_steps, say, settings
from ragsearch.app.cli.evaluation import JsonFlag, OutputOpt, parse_list, write_json
from ragsearch.app.cli.experiments import IndexReq, describe
from ragsearch.app.services import (
    default_search_config,
    make_backend,
    make_embedder,
    make_engine,
    make_registry,
)
from ragsearch.app.usecases import Optimization, optimize
from ragsearch.eval.experiments import ExperimentStore, new_id
from ragsearch.eval.judgment_store import JudgmentStore
from ragsearch.eval.judgments import split as split_judgments
from ragsearch.eval.metrics import parse_measures
from ragsearch.retrieval.errors import InvalidInputError
from ragsearch.search.config import MODES, Mode, build_config
from ragsearch.search.configs import SERVED, ConfigStore, check_name
from ragsearch.search.optimizer import Space
from ragsearch.search.serving import ServingStore, fresh_default


@cli.command("optimize")
def optimize_cmd(
    index: IndexReq,
    judgments: Annotated[str, typer.Option(help="a judgment list of this index (NAME or NAME@vNNNN)")],
    trials: Annotated[
        int, typer.Option(min=1, max=5000, help="random first-stage configurations tried")
    ] = 60,
    seed: Annotated[int, typer.Option(help="seed of the trials and of the dev/held split")] = 1,
    dev_fraction: Annotated[
        float, typer.Option(help="dev share of a seeded query split, for a list with no parts")
    ] = 0.5,
    models: Annotated[
        str,
        typer.Option(help="LTR versions offered: comma-separated, `all` (every registered one) or `none`"),
    ] = "all",
    measure: Annotated[str, typer.Option(help="the measure selected on (ir-measures name)")] = "nDCG@10",
    save: Annotated[str, typer.Option(help="store the winner for the index under this name")] = "optimized",
    as_json: JsonFlag = False,
    output: OutputOpt = None,
    backend: BackendOpt = None,
) -> None:
    """Search fusion (min-max, RRF, z-score), dense weight, depths, BM25 title boost and tie-breaker, and
    the offered LTR models, selecting only on the dev part of the judgments; report the winner against what
    the index serves on the held part (paired test). Stores the winner as a configuration (--save); serving
    it takes `ragsearch serve-config promote`."""
    s = settings(backend)
    jl = JudgmentStore(s.home).load_for(judgments, index, "optimizing")
    parse_measures([measure])
    check_name(save)
    if save in MODES or save == SERVED:
        raise InvalidInputError(
            f"--save {save!r} names a mode or the served configuration: pick another name"
        )
    registry = make_registry(s)
    versions = (
        registry.versions() if models == "all" else [] if models == "none" else parse_list(models, "--models")
    )
    for v in versions:
        registry.manifest(v)  # an unknown version fails here, before any work
    if jl.parts is None:  # the split is stored, so promotion measures on the same held queries
        jl = JudgmentStore(s.home).save(split_judgments(jl, dev_fraction, seed))
        err.print(f"split {jl.derived_from[0]} into {jl.ref}: {len((jl.parts or {})['dev'])} dev queries (fraction "
                  f"{dev_fraction:g}, seed {seed}); promotion measures on its held part",
                  markup=False, highlight=False, soft_wrap=True)  # fmt: skip
    default = default_search_config(s)
    now = ServingStore(s.home).served(index, default)
    idx = make_backend(s).open(index)
    try:
        engine = make_engine(idx, make_embedder(s), s)
        with progress_bar("optimize", None) as bar:
            found = optimize(engine, jl, now.config, fresh_default(default), Space(), trials, seed, dev_fraction,
                             measure, versions, progress_steps(bar))  # fmt: skip
    finally:
        idx.close()
    winner = found.winner.config.replace(k=now.config.k)
    path = ConfigStore(s.home).save(index, save, winner)
    result: dict[str, Any] = {
        "id": new_id(),
        "kind": "optimize",
        "index": index,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "judgments": {"ref": jl.ref, "name": jl.name, "version": jl.version},
        "measure": measure,
        "split": found.split_from,
        "dev_queries": found.dev_queries,
        "held_queries": found.held_queries,
        "trials": trials,
        "seed": seed,
        "space": Space().to_dict(),
        "served": {"name": now.name, "config": now.config.model_dump(mode="json"), "dev": found.served_dev},
        "winner": {
            "saved_as": save,
            "label": describe(winner),
            "dev": found.winner.score,
            "config": winner.model_dump(mode="json"),
        },
        "held": found.held.to_dict(),
        "models_offered": {t.config.ltr_model: t.score for t in found.trials if t.config.mode is Mode.LTR},
        "models_skipped": found.skipped,
        "top": [{"label": describe(t.config), "dev": t.score} for t in found.trials[:20]],
        "notes": found.notes,
    }
    saved = ExperimentStore(s.home).save(index, result)
    if not as_json:
        print_optimization(result, found, path, saved)
    write_json(result, as_json, output)


def print_optimization(result: dict[str, Any], found: Optimization, path: Path, saved: Path) -> None:
    m = result["measure"]
    table = Table(title=f"optimize {result['index']} on {result['judgments']['ref']}: dev {found.dev_queries} "
                        f"queries ({found.split_from})")  # fmt: skip
    table.add_column("#", justify="right")
    table.add_column("configuration")
    table.add_column(f"dev {m}", justify="right")
    for i, t in enumerate(found.trials[:10], start=1):
        table.add_row(str(i), describe(t.config), f"{t.score:.4f}")
    out.print(table)
    for version, dev in result["models_offered"].items():
        say(f"model {version} (on the best fusion): dev {m} {dev:.4f}")
    for version, why in found.skipped.items():
        say(f"model {version} not offered: {why}")
    served = result["served"]
    say(
        f"served now: {served['name']} ({describe(build_config(served['config']))}), dev {m} {served['dev']:.4f}"
    )
    h = found.held
    say(f"winner: {result['winner']['label']}, dev {m} {found.winner.score:.4f}")
    say(f"held ({h.queries} queries): winner {h.candidate:.4f} vs served {h.served:.4f} ({h.delta:+.4f}, "
        f"paired t-test p={h.p_value:.3g})")  # fmt: skip
    for note in found.notes:
        say(f"note: {note}")
    say(f"saved as configuration {result['winner']['saved_as']}: {path}")
    say(f"to serve it: ragsearch serve-config promote {result['winner']['saved_as']} --index {result['index']} "
        f"--judgments {result['judgments']['ref']}")  # fmt: skip
    say(f"optimization {result['id']} saved: {saved}")
