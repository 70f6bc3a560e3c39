"""The `ragsearch` command: ingest, search, eval, train, models, indexes, datasets, demo."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from app.answering import Answer, AnswerStart
from app.llm import TextDelta
from app.logs import configure_logging
from app.services import (
    make_answerer,
    make_backend,
    make_chunker,
    make_embedder,
    make_feature_logger,
    make_llm,
    make_registry,
    make_reranker,
    make_retriever,
    manifest_path,
    open_or_create_index,
    train_params,
)
from app.settings import Settings, get_settings
from eval.answers import answer_split, score_answers
from eval.data import JudgedSplit, load_extra_judgments, load_split, merge_splits, splits
from eval.evaluate import EvalReport, compare_systems, run_system, save_runs
from eval.metrics import DEFAULT_MEASURES
from eval.subsets import SUBSETS, subset_queries
from ingest.datasets import download_dataset, local_dataset
from ingest.manifest import Manifest
from ingest.pipeline import IngestReport
from ingest.runner import IngestOptions, IngestStatus, ingest_paths
from rerank.encoder_tuning import EncoderRegistry, TuneParams, finetune_encoder
from rerank.ltr import LtrReranker, ltr_search
from rerank.pipeline import cross_validate_split, train_ltr
from retrieval.errors import InvalidInputError, RagsearchError, UnknownNameError
from retrieval.index import SearchIndex
from retrieval.searcher import FIRST_STAGE_MODES, check_mode
from retrieval.types import Candidate, Vector

app = typer.Typer(help="ragsearch: retrieval-augmented search with evaluation.", no_args_is_help=True)
indexes_app = typer.Typer(help="List, describe and drop indexes.", no_args_is_help=True)
datasets_app = typer.Typer(help="Get public BEIR datasets.", no_args_is_help=True)
feedback_app = typer.Typer(help="User feedback from the UI and API.", no_args_is_help=True)
app.add_typer(indexes_app, name="indexes")
app.add_typer(datasets_app, name="datasets")
app.add_typer(feedback_app, name="feedback")
models_app = typer.Typer(
    help="Learning-to-rank models: list, show, promote, roll back.", no_args_is_help=True
)
app.add_typer(models_app, name="models")

SEARCH_MODES = (*FIRST_STAGE_MODES, "ltr")

out = Console()
err = Console(stderr=True)

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


def settings(backend: str | None = None) -> Settings:
    s = get_settings()
    if backend is not None:
        if backend not in BACKENDS:
            raise UnknownNameError("backend", backend, BACKENDS)
        s = s.model_copy(update={"backend": backend})
    configure_logging(s.log_level)
    return s


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Progress]:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal and total is None,
    ) as progress:
        progress.add_task(description, total=total, rate="")
        yield progress


def do_ingest(
    paths: list[Path], index_name: str, s: Settings, options: IngestOptions | None = None
) -> IngestReport:
    """Ingest files, folders, JSONL files and BEIR folders, with live progress on stderr."""
    opts = dataclasses.replace(
        options or IngestOptions(batch_size=s.ingest.batch_size),
        max_file_bytes=int(s.ingest.max_file_mb * 1024 * 1024),
    )
    backend = make_backend(s)
    embedder = make_embedder(s)
    index = open_or_create_index(backend, index_name, embedder, s)
    try:
        chunker = make_chunker(embedder, s)
        with (
            Manifest(manifest_path(s, index_name)) as manifest,
            Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[files]} files"),
                TextColumn("{task.fields[passages]} passages"),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=err,
                disable=not err.is_terminal,
            ) as bar,
        ):
            task = bar.add_task(f"ingest -> {index_name}", total=None, files="", passages=0, rate="")

            def show(st: IngestStatus) -> None:
                bar.update(
                    task,
                    total=st.bytes_total or None,
                    completed=st.bytes_done,
                    files=f"{st.files_done}/{st.files_total}",
                    passages=st.passages,
                    rate=f"{st.passages_per_second:.0f} passages/s",
                )

            return ingest_paths(paths, index, embedder, chunker, manifest, opts, progress=show)
    finally:
        index.close()


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
    if report.ignored:
        sys.stderr.write(
            f"ignored {report.ignored} files (unsupported extension, hidden, or by --include/--exclude)\n"
        )


@app.command()
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
    report = do_ingest(paths, index, s, options)
    if as_json:
        out.print_json(json.dumps({"index": index, **report.to_dict()}))
    else:
        print_ingest_report(report, index)
    if report.failed:
        raise typer.Exit(1)


@app.command()
def delete(
    doc_ids: Annotated[list[str], typer.Argument(help="document ids, e.g. guide/install.md")],
    index: IndexOpt = "default",
    backend: BackendOpt = None,
) -> None:
    """Delete documents and all their passages."""
    s = settings(backend)
    idx = make_backend(s).open(index)
    try:
        with Manifest(manifest_path(s, index)) as manifest:
            missing = []
            for doc_id in doc_ids:
                n = idx.delete_documents([doc_id])
                manifest.remove([doc_id])
                if n:
                    out.print(f"deleted {doc_id} ({n} passages)")
                else:
                    missing.append(doc_id)
    finally:
        idx.close()
    if missing:
        raise InvalidInputError(
            f"no document {', '.join(map(repr, missing))} in index {index!r}: document ids are paths "
            "relative to the ingested folder (e.g. guide/install.md) or the ids of JSONL records"
        )


@app.command()
def search(
    text: Annotated[str, typer.Argument(help="the query")],
    index: IndexOpt = "default",
    mode: Annotated[str, typer.Option(help=f"one of {', '.join(SEARCH_MODES)}")] = "hybrid",
    k: Annotated[int, typer.Option(min=1, max=1000)] = 10,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    model: ModelOpt = None,
    backend: BackendOpt = None,
) -> None:
    """Search an index and print the top passages with every first-stage score (and the LTR score)."""
    s = settings(backend)
    check_mode(mode, SEARCH_MODES)
    idx = make_backend(s).open(index)
    try:
        retriever = make_retriever(idx, make_embedder(s), s)
        if mode == "ltr":
            result = ltr_search(retriever, make_reranker(idx, s, model), text, k=k)
        else:
            result = retriever.search(text, mode=mode, k=k)
        passages = {p.id: p for p in idx.get([h.id for h in result.hits])}
    finally:
        idx.close()
    if as_json:
        hits = []
        for rank, h in enumerate(result.hits, start=1):
            p = passages.get(h.id)
            hits.append(
                {"rank": rank, **h.to_dict(), "title": p.title if p else "", "text": p.text if p else ""}
            )
        payload = {"query": text, "mode": mode, "k": k, "timings_ms": result.timings_ms, "hits": hits}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
        return
    table = Table(title=f"{mode} results for {text!r} ({result.timings_ms['total_ms']:.1f} ms)")
    for col in ("#", "id", "score", "bm25", "dense", "title"):
        table.add_column(col)
    for rank, h in enumerate(result.hits, start=1):
        p = passages.get(h.id)
        table.add_row(
            str(rank),
            h.id,
            f"{h.score:.4f}",
            "" if h.bm25_score is None else f"{h.bm25_score:.3f} (#{h.bm25_rank})",
            "" if h.dense_score is None else f"{h.dense_score:.3f} (#{h.dense_rank})",
            (p.title if p else "")[:60],
        )
    out.print(table)


@app.command()
def answer(
    question: Annotated[str, typer.Argument(help="the question")],
    index: IndexOpt = "default",
    stream: Annotated[bool, typer.Option("--stream/--no-stream", help="print tokens as they arrive")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the answer object as JSON")] = False,
    backend: BackendOpt = None,
) -> None:
    """Answer a question from the indexed passages, citing them as [n]."""
    s = settings(backend)
    idx = make_backend(s).open(index)
    try:
        answerer = make_answerer(
            idx, make_retriever(idx, make_embedder(s), s), s, make_llm(s), promoted_reranker(idx, s)
        )
        final: Answer | None = None
        for event in answerer.stream(question):
            if isinstance(event, TextDelta) and stream and not as_json:
                sys.stdout.write(event.text)
                sys.stdout.flush()
            elif isinstance(event, AnswerStart):
                pass
            elif isinstance(event, Answer):
                final = event
    finally:
        idx.close()
    assert final is not None
    if as_json:
        sys.stdout.write(json.dumps(final.to_dict(), ensure_ascii=False) + "\n")
        return
    if stream and final.status == "generated":
        sys.stdout.write("\n")
    else:
        out.print(final.text, highlight=False, markup=False)
    if final.generation_error:
        err.print(f"note: {final.generation_error}", highlight=False, markup=False)
    for src in final.cited:
        out.print(f"[{src.n}] {src.title or src.id} ({src.id})", highlight=False, markup=False)
    if final.invalid_citations:
        err.print(f"dropped citations to passages that were not supplied: {final.invalid_citations}")
    m = final.metrics
    if m.ttft_ms is not None:
        err.print(
            f"retrieval {m.retrieval_ms:.0f} ms, first token {m.ttft_ms:.0f} ms, "
            f"{m.tokens_per_s or 0:.1f} tokens/s, {m.prompt_tokens} prompt + {m.completion_tokens} completion tokens"
            f" ({m.model})"
        )


def promoted_reranker(idx: SearchIndex, s: Settings) -> LtrReranker | None:
    """The LTR reranker answers use: RAGSEARCH_RERANK_MODEL or the promoted model, if any."""
    if s.rerank.model is None and make_registry(s).promoted is None:
        return None
    return make_reranker(idx, s)


def do_eval(
    dataset_dir: Path,
    index_name: str,
    split_name: str,
    systems: list[str],
    s: Settings,
    runs_dir: Path | None,
    model: str | None = None,
    subset: str | None = None,
) -> EvalReport:
    for system in systems:
        check_mode(system, SEARCH_MODES)
    split = load_split(dataset_dir, split_name)
    subset_qids = subset_queries(subset, dataset_dir, split_name, split.qrels) if subset else None
    idx = make_backend(s).open(index_name)
    try:
        retriever = make_retriever(idx, make_embedder(s), s)
        reranker = make_reranker(idx, s, model) if "ltr" in systems else None
        if reranker is not None:
            refuse_seen_judgments(reranker, split)
        queries = split.queries if subset_qids is None else {q: split.queries[q] for q in subset_qids}
        qids = list(queries)
        vectors = dict(zip(qids, retriever.encode([queries[q] for q in qids]), strict=True))
        depth = 100
        runs = {}
        for system in systems:
            with progress_bar(f"eval {system}", len(qids)) as bar:

                def rank(text: str, vec: Vector, mode: str = system) -> list[Candidate]:
                    if mode == "ltr" and reranker is not None:
                        return reranker.rerank(text, retriever.candidates(text, vec), vec)
                    return retriever.search(text, mode=mode, k=depth, query_vector=vec).hits

                runs[system] = run_system(rank, queries, vectors, lambda n: bar.advance(bar.task_ids[0], n))
    finally:
        idx.close()
    if runs_dir:
        save_runs(runs, runs_dir, split.dataset, split.split)
    return compare_systems(split, runs, DEFAULT_MEASURES, subset_qids, subset)


def refuse_seen_judgments(reranker: LtrReranker, split: JudgedSplit) -> None:
    m = reranker.model.manifest
    if m.dataset == split.dataset and split.split in m.trained_on:
        raise InvalidInputError(
            f"model {m.version} was trained on {m.dataset}/{', '.join(sorted(m.trained_on))}: evaluating it on "
            f"{split.split} measures nothing; evaluate on held-out judgments or pick another --model"
        )


def print_eval(report: EvalReport) -> None:
    scope = f" ({report.subset})" if report.subset else ""
    table = Table(title=f"{report.dataset} / {report.split}{scope}: {report.n_queries} judged queries")
    table.add_column("system")
    for m in report.measures:
        table.add_column(m, justify="right")
    table.add_column(f"p vs {next(iter(report.systems))} ({report.measures[0]})", justify="right")
    for name, r in report.systems.items():
        table.add_row(
            name,
            *(f"{r.means[m]:.4f}" for m in report.measures),
            "" if r.p_value is None else f"{r.p_value:.4f}",
        )
    out.print(table)


def parse_systems(systems: str) -> list[str]:
    names = [x.strip() for x in systems.split(",") if x.strip()]
    if not names:
        raise InvalidInputError("--systems is empty: name at least one of " + ", ".join(SEARCH_MODES))
    return names


@app.command("eval")
def eval_cmd(
    dataset_dir: DatasetArg,
    index: IndexOpt = "default",
    split: Annotated[str, typer.Option(help="qrels split to evaluate on")] = "test",
    systems: Annotated[str, typer.Option(help="comma-separated systems; the first is the baseline")] = (
        "bm25,dense,hybrid"
    ),
    json_path: Annotated[Path | None, typer.Option("--json", help="write the metrics as JSON here")] = None,
    runs: Annotated[Path | None, typer.Option(help="write TREC run files into this folder")] = None,
    model: ModelOpt = None,
    subset: Annotated[
        str | None, typer.Option(help=f"evaluate only a subset of the queries: {', '.join(SUBSETS)}")
    ] = None,
    backend: BackendOpt = None,
) -> None:
    """Evaluate systems on judged queries: nDCG@10, R@100, RR@10 and a paired t-test against the first."""
    s = settings(backend)
    report = do_eval(dataset_dir, index, split, parse_systems(systems), s, runs, model, subset)
    print_eval(report)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n")


@app.command("eval-answers")
def eval_answers(
    dataset_dir: DatasetArg,
    index: IndexOpt = "default",
    split: Annotated[str, typer.Option(help="qrels split")] = "test",
    limit: Annotated[int, typer.Option(min=1, help="how many judged queries to answer")] = 30,
    json_path: Annotated[Path | None, typer.Option("--json", help="write the figures as JSON here")] = None,
) -> None:
    """Citation coverage and precision of generated answers on judged queries."""
    s = settings()
    judged = load_split(dataset_dir, split)
    idx = make_backend(s).open(index)
    try:
        answerer = make_answerer(
            idx, make_retriever(idx, make_embedder(s), s), s, make_llm(s), promoted_reranker(idx, s)
        )
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
    out.print(table)
    if json_path:
        json_path.write_text(json.dumps(quality.to_dict(), indent=2) + "\n")


@app.command()
def demo(
    dataset: Annotated[str, typer.Option(help="BEIR dataset name")] = "scifact",
    index: Annotated[str | None, typer.Option(help="index name (default: the dataset name)")] = None,
) -> None:
    """The quick start: get SciFact, ingest it into the embedded index, evaluate bm25, dense and hybrid."""
    s = settings()
    path = local_dataset(s.data_dir, dataset) or local_dataset(s.home / "datasets", dataset)
    if path is None:
        path = get_dataset(dataset, s)
    name = index or dataset
    print_ingest_report(do_ingest([path], name, s), name)
    report = do_eval(path, name, "test", list(FIRST_STAGE_MODES), s, s.home / "runs")
    print_eval(report)
    (s.home / "eval").mkdir(parents=True, exist_ok=True)
    (s.home / "eval" / f"{dataset}.test.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")


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


@indexes_app.command("list")
def indexes_list(backend: BackendOpt = None) -> None:
    s = settings(backend)
    for name in make_backend(s).list():
        out.print(name)


@indexes_app.command("info")
def indexes_info(name: Annotated[str, typer.Argument()], backend: BackendOpt = None) -> None:
    s = settings(backend)
    sys.stdout.write(json.dumps(make_backend(s).describe(name), indent=2) + "\n")


@indexes_app.command("drop")
def indexes_drop(
    name: Annotated[str, typer.Argument()],
    yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False,
    backend: BackendOpt = None,
) -> None:
    s = settings(backend)
    if not yes:
        typer.confirm(f"drop index {name!r} and everything in it?", abort=True)
    make_backend(s).drop(name)
    out.print(f"dropped {name}")


@app.command()
def drift(
    recent: Annotated[int, typer.Option(min=10, help="queries in the recent window")] = 500,
    reference: Annotated[
        int, typer.Option(min=10, help="queries in the reference window (just before it)")
    ] = 500,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Compare recent served queries with the ones before them; exit 2 when drift is flagged."""
    from app.querylog import QueryLog
    from eval.drift import compare_windows

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


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="default: RAGSEARCH_API_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default: RAGSEARCH_API_PORT")] = None,
) -> None:
    """Run the JSON API (uvicorn)."""
    import uvicorn

    from app.api.main import create_app

    s = settings()
    uvicorn.run(create_app(s), host=host or s.api.host, port=port or s.api.port, log_level=s.log_level)


@app.command()
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


# ---- learning to rank ---------------------------------------------------------------------------


@app.command()
def train(
    dataset_dir: DatasetArg,
    index: IndexOpt = "default",
    split: TrainSplitOpt = "train",
    dev_split: Annotated[
        str | None, typer.Option(help="split for early stopping (default: a deterministic hold-out of train)")
    ] = None,
    test_split: Annotated[
        str | None, typer.Option(help="split whose metrics are recorded in the manifest (default: test)")
    ] = None,
    cv: Annotated[
        int | None,
        typer.Option(
            min=2, help="K-fold CV over the split's queries; reports out-of-fold, registers nothing"
        ),
    ] = None,
    promote_if_better: Annotated[
        bool, typer.Option("--promote-if-better", help="promote when dev nDCG@10 beats the promoted model")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the manifest (or CV metrics) as JSON")
    ] = False,
    extra_qrels: Annotated[
        list[Path] | None,
        typer.Option(help="more training judgments in BEIR layout, e.g. from `ragsearch feedback export`"),
    ] = None,
    backend: BackendOpt = None,
) -> None:
    """Train a LambdaMART reranker on judged queries and register it as a new model version."""
    s = settings(backend)
    have = splits(dataset_dir)
    train_split = load_split(dataset_dir, split)
    for extra in extra_qrels or []:
        train_split = merge_splits(train_split, load_extra_judgments(extra))
    idx = make_backend(s).open(index)
    try:
        retriever = make_retriever(idx, make_embedder(s), s)
        logger = make_feature_logger(idx, s)
        with progress_bar("train", None) as bar:

            def progress(description: str, total: int) -> Callable[[int], None]:
                task = bar.add_task(description, total=total, rate="")
                return lambda n: bar.advance(task, n)

            if cv:
                report = cross_validate_split(
                    retriever, logger, train_split, cv, train_params(s), s.rerank.holdout_fraction, progress
                )
            else:
                test_name = test_split or (
                    "test" if "test" in have and split != "test" and dev_split != "test" else None
                )
                outcome = train_ltr(
                    retriever,
                    logger,
                    make_registry(s),
                    train_split,
                    load_split(dataset_dir, dev_split) if dev_split else None,
                    load_split(dataset_dir, test_name) if test_name else None,
                    train_params(s),
                    s.rerank.holdout_fraction,
                    promote_if_better,
                    progress,
                )
    finally:
        idx.close()
    if cv:
        if as_json:
            sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
        else:
            print_eval(report)
        return
    m = outcome.manifest
    if as_json:
        payload = {**m.to_dict(), "promoted": bool(outcome.gate and outcome.gate.promote)}
        if outcome.gate:
            payload["gate"] = outcome.gate.reason
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    out.print(
        f"model {m.version}: {m.best_iteration} trees in {m.train_seconds:.1f}s; metrics {json.dumps(m.metrics)}"
    )
    if outcome.gate:
        out.print(
            f"{'promoted' if outcome.gate.promote else 'not promoted'} {m.version}: {outcome.gate.reason}"
        )


@app.command()
def finetune(
    dataset_dir: DatasetArg,
    index: IndexOpt = "default",
    split: TrainSplitOpt = "train",
    dev_split: Annotated[
        str | None, typer.Option(help="split to measure on (default: a deterministic hold-out of train)")
    ] = None,
    epochs: Annotated[int, typer.Option(min=1, max=20)] = 1,
    learning_rate: Annotated[float, typer.Option(min=1e-7, max=1e-3)] = 2e-5,
    batch_size: Annotated[int, typer.Option(min=2, max=1024)] = 32,
    seed: Annotated[int, typer.Option()] = 0,
    dev_depth: Annotated[
        int, typer.Option(min=10, max=1000, help="dev metric: first-stage candidates reordered per query")
    ] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="print the manifest as JSON")] = False,
    backend: BackendOpt = None,
) -> None:
    """Fine-tune the embedding model on judged queries (in-batch + mined hard negatives); registers a version
    under <home>/models/encoders/ to ingest a new index with."""
    s = settings(backend)
    if split == "test" or dev_split == "test":
        raise InvalidInputError("fine-tuning never reads test judgments: pick train (and dev) splits")
    train_split = load_split(dataset_dir, split)
    dev = load_split(dataset_dir, dev_split) if dev_split else None
    params = TuneParams(
        epochs=epochs, learning_rate=learning_rate, batch_size=batch_size, seed=seed, dev_depth=dev_depth
    )
    idx = make_backend(s).open(index)
    try:
        retriever = make_retriever(idx, make_embedder(s), s)
        with progress_bar("finetune", None) as bar:

            def progress(description: str, total: int) -> Callable[[int], None]:
                task = bar.add_task(description, total=total, rate="")
                return lambda n: bar.advance(task, n)

            m = finetune_encoder(
                dataset_dir,
                retriever,
                EncoderRegistry(s.home),
                train_split,
                dev,
                s.embedding.model,
                index,
                params,
                s.rerank.holdout_fraction,
                progress,
            )
    finally:
        idx.close()
    folder = EncoderRegistry(s.home).path(m.version)
    if as_json:
        sys.stdout.write(json.dumps({**m.to_dict(), "path": str(folder)}, indent=2) + "\n")
        return
    out.print(
        f"encoder {m.version}: {m.training_data['triples']} triples, {m.train_seconds:.0f}s; {json.dumps(m.metrics)}"
    )
    out.print(f"use it: RAGSEARCH_EMBEDDING_MODEL={folder} ragsearch ingest {dataset_dir} --index NEW_INDEX")


@models_app.command("encoders")
def models_encoders() -> None:
    """Fine-tuned embedding models (`ragsearch finetune`), as JSON."""
    registry = EncoderRegistry(settings().home)
    rows = [{**registry.manifest(v).to_dict(), "path": str(registry.path(v))} for v in registry.versions()]
    sys.stdout.write(json.dumps(rows, indent=2) + "\n")


@models_app.command("list")
def models_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every registered version, the promoted one marked."""
    registry = make_registry(settings())
    promoted = registry.promoted
    rows = []
    for v in registry.versions():
        m = registry.manifest(v)
        rows.append(
            {
                "version": v,
                "promoted": v == promoted,
                "created_at": m.created_at,
                "dataset": m.dataset,
                "train_split": m.train_split,
                "dev": m.dev,
                "dev_nDCG@10": m.metrics.get("dev", {}).get("ltr_nDCG@10"),
                "test_nDCG@10": m.metrics.get("test", {}).get("ltr_nDCG@10"),
            }
        )
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title=f"LTR models in {registry.root}")
    for col in ("", "version", "created_at", "dataset/split", "dev nDCG@10", "test nDCG@10"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            "*" if r["promoted"] else "",
            str(r["version"]),
            str(r["created_at"]),
            f"{r['dataset']}/{r['train_split']}",
            "" if r["dev_nDCG@10"] is None else f"{r['dev_nDCG@10']:.4f}",
            "" if r["test_nDCG@10"] is None else f"{r['test_nDCG@10']:.4f}",
        )
    out.print(table)


@models_app.command("show")
def models_show(version: Annotated[str, typer.Argument(help="e.g. v0001")]) -> None:
    """The manifest and feature importance of one version, as JSON."""
    registry = make_registry(settings())
    payload = {
        **registry.manifest(version).to_dict(),
        "promoted": registry.promoted == version,
        "importance": registry.importance(version),
    }
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")


@models_app.command("promote")
def models_promote(version: Annotated[str, typer.Argument(help="e.g. v0001")]) -> None:
    """Serve this version from now on (it must load with the running code's features)."""
    registry = make_registry(settings())
    registry.load(version)
    registry.promote(version)
    out.print(f"promoted {version}")


@models_app.command("rollback")
def models_rollback() -> None:
    """Promote the previously promoted version again."""
    registry = make_registry(settings())
    out.print(f"rolled back: {registry.rollback()} is promoted")


def main() -> None:
    try:
        app()
    except RagsearchError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(1)
    except OSError as exc:  # disk full, permissions, missing files: what was committed before stays
        sys.stderr.write(
            f"error: {exc.strerror or exc} ({exc.filename or 'storage'}); nothing committed was lost\n"
        )
        sys.exit(1)
