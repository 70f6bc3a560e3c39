"""`ragsearch configs ...` (search configurations stored per index) and `ragsearch experiment`
(configurations compared on a judgment list, with each one's unjudged rate)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ragsearch.app.cli.common import BackendOpt, cli, out, progress_bar, progress_steps, settings
from ragsearch.app.cli.evaluation import (
    JsonFlag,
    OutputOpt,
    freshness_notes,
    parse_list,
    versus,
    write_json,
)
from ragsearch.app.services import (
    default_search_config,
    make_backend,
    make_embedder,
    make_engine,
)
from ragsearch.app.usecases import evaluate_runs
from ragsearch.eval.experiments import UNJUDGED_DEPTH, ExperimentStore, new_id, unjudged_rate
from ragsearch.eval.judgment_store import JudgmentStore
from ragsearch.eval.metrics import DEFAULT_MEASURES, parse_measures
from ragsearch.retrieval.errors import InvalidInputError, UnknownNameError
from ragsearch.search.config import MODES, SearchConfig, parse_mode, parse_system
from ragsearch.search.configs import SERVED, ConfigStore, config_from_json
from ragsearch.search.serving import ServingStore

configs_app = typer.Typer(
    help="Search configurations stored per index by name: save, list, show.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
cli.add_typer(configs_app, name="configs")

IndexReq = Annotated[str, typer.Option("--index", "-i", help="the index the configuration is for")]
UNJUDGED = f"unjudged@{UNJUDGED_DEPTH}"


def given(**options: Any) -> dict[str, Any]:
    return {k: v for k, v in options.items() if v is not None}


@configs_app.command("save")
def configs_save(
    name: Annotated[str, typer.Argument(help="name of the configuration (replaces one of that name)")],
    index: IndexReq,
    from_json: Annotated[
        Path | None, typer.Option("--from-json", help="a JSON object of SearchConfig fields (the base)")
    ] = None,
    mode: Annotated[str | None, typer.Option(help=f"one of {', '.join(MODES)}")] = None,
    k: Annotated[int | None, typer.Option(help="how many hits")] = None,
    fusion: Annotated[str | None, typer.Option(help="minmax or rrf")] = None,
    rrf_k: Annotated[float | None, typer.Option(help="the k of reciprocal rank fusion")] = None,
    dense_weight: Annotated[float | None, typer.Option(help="weight of dense scores in fusion, 0-1")] = None,
    bm25_depth: Annotated[int | None, typer.Option(help="BM25 candidates")] = None,
    dense_depth: Annotated[int | None, typer.Option(help="dense candidates")] = None,
    title_boost: Annotated[float | None, typer.Option(help="BM25 title boost")] = None,
    text_boost: Annotated[float | None, typer.Option(help="BM25 text boost")] = None,
    tie_breaker: Annotated[float | None, typer.Option(help="BM25 best_fields tie-breaker, 0-1")] = None,
    model: Annotated[str | None, typer.Option("--model", help="LTR model version (mode ltr)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Store a search configuration for an index: the --from-json file (else the default configuration
    of the settings) with the options given on top. An unknown field or a bad value writes nothing."""
    s = settings()
    base = (
        config_from_json(from_json.read_text(encoding="utf-8"), str(from_json))
        if from_json
        else default_search_config(s)
    )
    changes = given(
        mode=None if mode is None else parse_mode(mode),
        k=k,
        fusion=fusion,
        rrf_k=rrf_k,
        dense_weight=dense_weight,
        bm25_depth=bm25_depth,
        dense_depth=dense_depth,
        title_boost=title_boost,
        text_boost=text_boost,
        tie_breaker=tie_breaker,
        ltr_model=model,
    )
    config = base.replace(**changes) if changes else base
    path = ConfigStore(s.home).save(index, name, config)
    if as_json:
        sys.stdout.write(json.dumps({"name": name, "index": index, "path": str(path),
                                     "config": config.model_dump(mode="json")}, indent=2) + "\n")  # fmt: skip
    else:
        out.print(
            f"saved {name} (index {index}): {describe(config)}", markup=False, highlight=False, soft_wrap=True
        )


def describe(c: SearchConfig) -> str:
    parts = [c.label]
    if c.mode.value in ("hybrid", "ltr"):
        parts.append(f"{c.fusion} dense {c.dense_weight:g}" if c.fusion == "minmax" else f"rrf k {c.rrf_k:g}")
        parts.append(f"depths {c.bm25_depth}+{c.dense_depth}")
    if c.mode.value != "dense":
        parts.append(f"boosts title {c.title_boost:g} text {c.text_boost:g} tie {c.tie_breaker:g}")
    return ", ".join(parts)


@configs_app.command("list")
def configs_list(index: IndexReq, as_json: JsonFlag = False) -> None:
    """The configurations stored for an index."""
    store = ConfigStore(settings().home)
    configs = {name: store.load(index, name) for name in store.names(index)}
    if as_json:
        payload = {"index": index, "configs": {n: c.model_dump(mode="json") for n, c in configs.items()}}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    if not configs:
        out.print(f"no configurations stored for index {index}", markup=False)
    for name, c in configs.items():
        out.print(f"{name}: {describe(c)}", markup=False, highlight=False, soft_wrap=True)


@configs_app.command("show")
def configs_show(
    name: Annotated[str, typer.Argument(help="name of the configuration")], index: IndexReq
) -> None:
    """A stored configuration as JSON (every field)."""
    config = ConfigStore(settings().home).load(index, name)
    sys.stdout.write(json.dumps(config.model_dump(mode="json"), indent=2) + "\n")


def resolve_configs(
    names: list[str], index: str, store: ConfigStore, base: SearchConfig
) -> dict[str, tuple[SearchConfig, str]]:
    """name -> (configuration, where from): `served` is what `index` serves, a configuration stored for
    `index` by that name, else a system spec as `eval --systems` takes (a mode, or ltr:VERSION) on the
    default configuration."""
    resolved = {}
    for name in names:
        if name == SERVED:
            now = ServingStore(store.home).served(index, base)
            resolved[name] = (now.config, f"served ({now.name})")
            continue
        if ":" not in name and store.has(index, name):
            resolved[name] = (store.load(index, name), "stored")
            continue
        try:
            resolved[name] = (parse_system(name, base), "system")
        except UnknownNameError:
            valid = [SERVED, *store.names(index), *MODES, "ltr:VERSION"]
            raise UnknownNameError(f"configuration of index {index!r}", name, valid) from None
    return resolved


@cli.command("experiment")
def experiment_cmd(
    index: IndexReq,
    judgments: Annotated[str, typer.Option(help="a judgment list of this index (NAME or NAME@vNNNN)")],
    configs: Annotated[
        str,
        typer.Option(
            help="comma-separated: names of stored configurations and/or systems (hybrid, ltr:VERSION)"
        ),
    ],
    baseline: Annotated[
        str | None,
        typer.Option(
            help="the configuration the others are tested against, added to --configs when not listed "
            "(default: `served`, what the index serves)"
        ),
    ] = None,
    part: Annotated[str | None, typer.Option(help="only the dev or held queries of a split list")] = None,
    measures: Annotated[
        str, typer.Option(help="comma-separated ir-measures names; the first is tested")
    ] = ",".join(DEFAULT_MEASURES),
    as_json: JsonFlag = False,
    output: OutputOpt = None,
    runs: Annotated[Path | None, typer.Option(help="write TREC run files into this folder")] = None,
    backend: BackendOpt = None,
) -> None:
    """Run configurations on a judgment list's queries: the measures, a paired t-test against the baseline
    (Holm-corrected when several are compared) and each one's unjudged rate (share of its top 10 with no
    judgment in the list). Saved under <home>/experiments/<index>/<id>/result.json."""
    s = settings(backend)
    jl = JudgmentStore(s.home).load_for(judgments, index, "an experiment")
    names = parse_list(configs, "--configs")
    repeated = sorted(n for n, c in Counter(names).items() if c > 1)
    if repeated:
        raise InvalidInputError(f"--configs names {', '.join(repeated)} more than once")
    baseline = baseline or SERVED
    names = [baseline, *(n for n in names if n != baseline)]
    wanted = parse_list(measures, "--measures")
    parse_measures(wanted)
    resolved = resolve_configs(names, index, ConfigStore(s.home), default_search_config(s))
    split = jl.judged_split(part)
    notes = freshness_notes(jl, s)
    idx = make_backend(s).open(index)
    try:
        engine = make_engine(idx, make_embedder(s), s)
        with progress_bar("experiment", None) as bar:
            report, ran = evaluate_runs(
                engine, split, [c for c, _ in resolved.values()], None, progress_steps(bar), runs,
                measures=wanted, labels=names,
            )  # fmt: skip
    finally:
        idx.close()
    evaluation = report.to_json()
    for name, (config, source) in resolved.items():
        evaluation["systems"][name] = {
            UNJUDGED: unjudged_rate(ran[name], split.qrels),
            **evaluation["systems"][name],
            "source": source,
            "config": config.model_dump(mode="json"),
        }
    result: dict[str, Any] = {
        "id": new_id(),
        "index": index,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "judgments": {"ref": jl.ref, "name": jl.name, "version": jl.version, "part": part},
        "baseline": names[0],
        **{k: v for k, v in evaluation.items() if k not in ("dataset", "split")},
        "notes": [*notes, *report.notes],
    }
    path = ExperimentStore(s.home).save(index, result)
    if not as_json:
        print_experiment(result, report, path)
    write_json(result, as_json, output)


def print_experiment(result: dict[str, Any], report: Any, path: Path) -> None:
    j = result["judgments"]
    scope = f" ({j['part']} part)" if j["part"] else ""
    table = Table(
        title=f"experiment on {result['index']}: {j['ref']}{scope}, {report.n_queries} judged queries"
    )
    table.add_column("configuration")
    for m in report.measures:
        table.add_column(m, justify="right")
    table.add_column(UNJUDGED, justify="right")
    compared = sum(r.p_value is not None for r in report.systems.values())
    holm = ", Holm-corrected" if compared > 1 else ""
    table.add_column(f"vs {result['baseline']} ({report.measures[0]}, paired t-test{holm})", justify="right")
    for name, r in report.systems.items():
        table.add_row(
            name,
            *(f"{r.means[m]:.4f}" for m in report.measures),
            f"{result['systems'][name][UNJUDGED]:.3f}",
            versus(r, compared > 1),
        )
    out.print(table)
    for note in result["notes"]:
        out.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    out.print(f"experiment {result['id']} saved: {path}", markup=False, highlight=False, soft_wrap=True)
