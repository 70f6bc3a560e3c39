"""`ragsearch eval`, `eval-answers` and `datasets get`: judged queries in, figures out."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ragsearch.answer.quality import answer_split, score_answers
from ragsearch.app.cli.common import (
    BackendOpt,
    DatasetArg,
    IndexOpt,
    ModelOpt,
    cli,
    datasets_app,
    out,
    progress_bar,
    progress_steps,
    settings,
)
from ragsearch.app.services import (
    answer_search_config,
    default_search_config,
    make_answerer,
    make_backend,
    make_embedder,
    make_engine,
    make_llm,
    served,
)
from ragsearch.app.settings import Settings
from ragsearch.app.usecases import EVAL_DEPTH, evaluate_runs, run_config
from ragsearch.eval.data import JudgedSplit, load_split, read_topics
from ragsearch.eval.evaluate import EvalReport, SystemResult
from ragsearch.eval.judgment_store import JudgmentStore
from ragsearch.eval.judgments import JudgmentList, freshness
from ragsearch.eval.metrics import DEFAULT_MEASURES, format_p, parse_measures
from ragsearch.eval.runs import trec_lines, write_trec
from ragsearch.eval.subsets import SUBSETS, subset_queries
from ragsearch.ingest.datasets import download_dataset, local_dataset
from ragsearch.retrieval.errors import InvalidInputError
from ragsearch.search.config import MODES, SearchConfig, parse_system


def do_eval(
    dataset_dir: Path,
    index_name: str,
    split_name: str,
    systems: list[str],
    s: Settings,
    runs_dir: Path | None,
    model: str | None = None,
    subset: str | None = None,
    exclude_training_queries: bool = False,
    measures: Sequence[str] = DEFAULT_MEASURES,
) -> EvalReport:
    parse_measures(measures)  # a typo fails before any search runs
    base = default_search_config(s).replace(ltr_model=model)
    configs = [parse_system(name, base) for name in systems]
    split = load_split(dataset_dir, split_name)
    subset_qids = subset_queries(subset, dataset_dir, split_name, split.qrels) if subset else None
    return run_eval(
        split, index_name, configs, s, runs_dir, subset, subset_qids, exclude_training_queries, measures
    )


def run_eval(
    split: JudgedSplit,
    index_name: str,
    configs: list[SearchConfig],
    s: Settings,
    runs_dir: Path | None,
    subset: str | None = None,
    subset_qids: list[str] | None = None,
    exclude_training_queries: bool = False,
    measures: Sequence[str] = DEFAULT_MEASURES,
    notes: Sequence[str] = (),
) -> EvalReport:
    idx = make_backend(s).open(index_name)
    try:
        engine = make_engine(idx, make_embedder(s), s)
        with progress_bar("eval", None) as bar:
            report, _ = evaluate_runs(
                engine,
                split,
                configs,
                None if subset is None or subset_qids is None else (subset, subset_qids),
                progress_steps(bar),
                runs_dir,
                exclude_training_queries,
                measures,
            )
        return dataclasses.replace(report, notes=(*notes, *report.notes))
    finally:
        idx.close()


def do_eval_judgments(
    ref: str,
    index_name: str | None,
    part: str | None,
    systems: list[str],
    s: Settings,
    runs_dir: Path | None,
    model: str | None = None,
    exclude_training_queries: bool = False,
    measures: Sequence[str] = DEFAULT_MEASURES,
) -> EvalReport:
    """`eval --judgments J`: the list's queries and rows (document level) on the list's own index."""
    parse_measures(measures)
    base = default_search_config(s).replace(ltr_model=model)
    configs = [parse_system(name, base) for name in systems]
    jl = JudgmentStore(s.home).load(ref)
    if index_name is not None and index_name != jl.index:
        raise InvalidInputError(
            f"judgment list {jl.ref} judges index {jl.index!r}, not {index_name!r}: "
            f"leave out --index, or import judgments for {index_name!r}"
        )
    split = jl.judged_split(part)
    notes = freshness_notes(jl, s)
    return run_eval(
        split, jl.index, configs, s, runs_dir, None, None, exclude_training_queries, measures, notes
    )


def freshness_notes(jl: JudgmentList, s: Settings) -> list[str]:
    """Notes on the list's rows whose passage changed since judged (stale) or left the index (missing)."""
    idx = make_backend(s).open(jl.index)
    try:
        fresh = freshness(jl, idx)
    finally:
        idx.close()
    return [
        f"{what}: {len(rows)} of {len(jl.rows)} judged rows ({why})"
        for what, rows, why in (
            ("stale", fresh.stale, "their passage changed since judged"),
            ("missing", fresh.missing, "their passage is no longer in the index"),
        )
        if rows
    ]


def print_eval(report: EvalReport) -> None:
    scope = f" ({report.subset})" if report.subset else ""
    table = Table(title=f"{report.dataset} / {report.split}{scope}: {report.n_queries} judged queries")
    table.add_column("system")
    for m in report.measures:
        table.add_column(m, justify="right")
    compared = sum(r.p_value is not None for r in report.systems.values())
    holm = ", Holm-corrected" if compared > 1 else ""
    table.add_column(
        f"vs {next(iter(report.systems))} ({report.measures[0]}, paired t-test{holm})", justify="right"
    )
    for name, r in report.systems.items():
        table.add_row(name, *(f"{r.means[m]:.4f}" for m in report.measures), versus(r, compared > 1))
    out.print(table)
    for note in report.notes:
        out.print(f"note: {note}")


def versus(r: SystemResult, several: bool) -> str:
    """'+0.0587 (p 0.0003)', with the Holm-corrected p-value beside it when several systems are compared."""
    if r.p_value is None or r.delta is None:
        return ""
    holm = f", Holm {format_p(r.p_holm)}" if several and r.p_holm is not None else ""
    return f"{r.delta:+.4f} (p {format_p(r.p_value)}{holm})"


def parse_list(value: str, what: str) -> list[str]:
    names = [x.strip() for x in value.split(",") if x.strip()]
    if not names:
        raise InvalidInputError(f"{what} is empty")
    return names


def write_json(payload: object, as_json: bool, output: Path | None) -> None:
    """`--json` prints to stdout, `--output PATH` writes a file; both may be given."""
    text = json.dumps(payload, indent=2) + "\n"
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
    if as_json:
        sys.stdout.write(text)


JsonFlag = Annotated[bool, typer.Option("--json", help="print the results as JSON (no table)")]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="also write the JSON to this file")]


def parse_systems(systems: str) -> list[str]:
    names = [x.strip() for x in systems.split(",") if x.strip()]
    if not names:
        raise InvalidInputError("--systems is empty: name at least one of " + ", ".join(MODES))
    return names


@cli.command("eval")
def eval_cmd(
    dataset_dir: Annotated[
        Path | None,
        typer.Argument(help="BEIR folder with queries.jsonl and qrels/<split>.tsv (or give --judgments)"),
    ] = None,
    index: Annotated[
        str | None, typer.Option("--index", "-i", help="index name (default: default, or the list's index)")
    ] = None,
    split: Annotated[str, typer.Option(help="qrels split to evaluate on")] = "test",
    judgments: Annotated[
        str | None, typer.Option(help="a judgment list (NAME or NAME@vNNNN) instead of DATASET and --split")
    ] = None,
    part: Annotated[
        str | None, typer.Option(help="with --judgments: only the dev or held queries of a split list")
    ] = None,
    systems: Annotated[
        str, typer.Option(help="comma-separated systems (modes, or ltr:VERSION); the first is the baseline")
    ] = ("bm25,dense,hybrid"),
    measures: Annotated[
        str, typer.Option(help="comma-separated ir-measures names, e.g. nDCG@10,R@100,RR@10,P@5,AP")
    ] = ",".join(DEFAULT_MEASURES),
    as_json: JsonFlag = False,
    output: OutputOpt = None,
    runs: Annotated[Path | None, typer.Option(help="write TREC run files into this folder")] = None,
    model: ModelOpt = None,
    subset: Annotated[
        str | None, typer.Option(help=f"evaluate only a subset of the queries: {', '.join(SUBSETS)}")
    ] = None,
    exclude_training_queries: Annotated[
        bool,
        typer.Option(
            "--exclude-training-queries",
            help="leave out the queries an ltr model was trained or early-stopped on (else refused)",
        ),
    ] = False,
    backend: BackendOpt = None,
) -> None:
    """Evaluate systems (modes or ltr:VERSION) on judged queries: the measures, and against the first system
    the difference and a paired t-test (Holm-corrected when several are compared). JSON has per-query values."""
    s = settings(backend)
    if (dataset_dir is None) == (judgments is None):
        raise InvalidInputError("give either DATASET (with --split) or --judgments NAME, not both or neither")
    if judgments is not None:
        if subset is not None:
            raise InvalidInputError(
                "--subset needs a dataset's train judgments: use DATASET, not --judgments"
            )
        report = do_eval_judgments(
            judgments,
            index,
            part,
            parse_systems(systems),
            s,
            runs,
            model,
            exclude_training_queries,
            parse_list(measures, "--measures"),
        )
    elif dataset_dir is not None:
        if part is not None:
            raise InvalidInputError(
                "--part picks the dev or held queries of a judgment list: give --judgments"
            )
        report = do_eval(
            dataset_dir,
            index or "default",
            split,
            parse_systems(systems),
            s,
            runs,
            model,
            subset,
            exclude_training_queries,
            parse_list(measures, "--measures"),
        )
    if not as_json:
        print_eval(report)
    write_json(report.to_json(), as_json, output)


@cli.command("run")
def run_cmd(
    topics: Annotated[Path, typer.Argument(help="queries: BEIR queries.jsonl or a TSV file of qid<TAB>text")],
    index: IndexOpt = "default",
    config: Annotated[str, typer.Option(help="the system: a mode (hybrid) or ltr:VERSION")] = "hybrid",
    k: Annotated[int, typer.Option(min=1, max=10_000, help="hits per query")] = EVAL_DEPTH,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write the run here (default: stdout)")
    ] = None,
    backend: BackendOpt = None,
) -> None:
    """Rank topics without judgments into a TREC run (`qid Q0 docid rank score tag`, tag = the system), for
    trec_eval, ir-measures or any other tool."""
    s = settings(backend)
    queries = read_topics(topics)
    system = parse_system(config, default_search_config(s))
    idx = make_backend(s).open(index)
    try:
        engine = make_engine(idx, make_embedder(s), s)
        with progress_bar("run", None) as bar:
            run = run_config(engine, system, queries, depth=k, progress=progress_steps(bar))
    finally:
        idx.close()
    if output:
        write_trec(run, output, system.label)
    else:
        sys.stdout.writelines(trec_lines(run, system.label))


@cli.command("eval-answers")
def eval_answers(
    dataset_dir: DatasetArg,
    index: IndexOpt = "default",
    split: Annotated[str, typer.Option(help="qrels split")] = "test",
    limit: Annotated[int, typer.Option(min=1, help="how many judged queries to answer")] = 30,
    as_json: JsonFlag = False,
    output: OutputOpt = None,
) -> None:
    """Citation coverage and precision of generated answers on judged queries."""
    s = settings()
    judged = load_split(dataset_dir, split)
    idx = make_backend(s).open(index)
    try:
        config: SearchConfig = answer_search_config(s, served(s, index).config)
        answerer = make_answerer(make_engine(idx, make_embedder(s), s), config, s, make_llm(s))
        if answerer.llm is None:
            raise InvalidInputError(
                "no LLM is configured: set RAGSEARCH_LLM_BASE_URL (and _MODEL) or OPENAI_API_KEY"
            )
        with progress_bar("answer", min(limit, len(judged.queries))) as bar:
            answers = answer_split(answerer, judged, limit, lambda n: bar.advance(bar.task_ids[0], n))
    finally:
        idx.close()
    quality = score_answers(answers, judged)
    table = Table(title=f"answers on {judged.dataset} / {split} ({quality.answers} queries, {quality.model})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in quality.to_dict().items():
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    if not as_json:
        out.print(table)
    write_json(quality.to_dict(), as_json, output)


def get_dataset(name: str, s: Settings, dest: Path | None = None) -> Path:
    target = dest or s.home / "datasets"
    with progress_bar(f"download {name}", None) as bar:
        return download_dataset(
            name,
            target,
            s.datasets_url,
            lambda done, total: bar.update(bar.task_ids[0], completed=done, total=total),
        )


@datasets_app.command("get")
def datasets_get(
    name: Annotated[str, typer.Argument(help="BEIR dataset name, e.g. scifact")],
    dest: Annotated[
        Path | None, typer.Option(help="folder to unpack into (default: <home>/datasets)")
    ] = None,
) -> None:
    """Use the copy under RAGSEARCH_DATA_DIR if it has one; otherwise download the public BEIR archive."""
    s = settings()
    local = local_dataset(s.data_dir, name)
    if local is not None and dest is None:
        out.print(f"{name}: using the local copy at {local}")
        return
    path = get_dataset(name, s, dest)
    out.print(f"{name}: ready at {path}")
