"""`ragsearch train`, `finetune` and `models ...`: learned rankers and encoders, versioned."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ragsearch.app.cli.common import (
    BackendOpt,
    DatasetArg,
    IndexOpt,
    TrainSplitOpt,
    cli,
    models_app,
    out,
    progress_bar,
    progress_steps,
    settings,
)
from ragsearch.app.cli.evaluation import print_eval
from ragsearch.app.cli.ltr_sources import SOURCE_HELP, TREES_BY, train_sources
from ragsearch.app.services import (
    default_search_config,
    make_backend,
    make_embedder,
    make_engine,
    make_feature_logger,
    make_registry,
    train_params,
)
from ragsearch.eval.data import load_extra_judgments, load_split, merge_splits, splits
from ragsearch.eval.judgment_store import JudgmentStore
from ragsearch.eval.judgments import training_split
from ragsearch.rerank.build import cross_validate_split, train_ltr
from ragsearch.rerank.encoder_tuning import EncoderRegistry, TuneParams, finetune_encoder
from ragsearch.retrieval.errors import InvalidInputError


@cli.command()
def train(
    dataset_dir: Annotated[
        Path | None,
        typer.Argument(help="BEIR folder with queries.jsonl and qrels/<split>.tsv (or give --judgments)"),
    ] = None,
    index: IndexOpt = "default",
    split: TrainSplitOpt = "train",
    judgments: Annotated[
        str | None, typer.Option(help="a judgment list (NAME or NAME@vNNNN) instead of DATASET and --split")
    ] = None,
    part: Annotated[
        str | None, typer.Option(help="with --judgments: train on the dev or held queries of a split list")
    ] = None,
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
    folds: Annotated[
        int | None,
        typer.Option(
            min=2,
            help="choose the number of trees by K-fold CV over the training queries (default: "
            "RAGSEARCH_RERANK_TREE_FOLDS, 5); zero trees, the fused ranking, when none beats it",
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
    source: Annotated[list[str] | None, typer.Option(help=SOURCE_HELP)] = None,
    trees_by: Annotated[
        str | None,
        typer.Option(
            help="what the CV that chooses the number of trees leaves out: 'queries' (K folds; the default "
            "for one collection, RAGSEARCH_RERANK_TREE_SPLIT), 'documents' (K folds of queries that share no "
            "relevant document: trees that help on documents never judged in training) or, with --source, "
            "'collections' (one at a time: trees that help on a collection the model did not see; the "
            "default for several)"
        ),
    ] = None,
    backend: BackendOpt = None,
) -> None:
    """Train a LambdaMART reranker on judged queries and register it as a new model version."""
    s = settings(backend)
    if trees_by is not None and trees_by not in TREES_BY:
        raise InvalidInputError(f"--trees-by {trees_by!r}: one of {', '.join(TREES_BY)}")
    if trees_by == "collections" and not source:
        raise InvalidInputError("--trees-by collections leaves out one of several collections: give --source")
    if trees_by == "collections" and folds is not None:
        raise InvalidInputError("--folds counts folds of queries: not with --trees-by collections")
    if source:
        if dataset_dir is not None or judgments is not None or cv or dev_split or test_split or extra_qrels:
            raise InvalidInputError(
                "--source trains on its sources alone: not with DATASET, --judgments, --cv, --dev-split, "
                "--test-split or --extra-qrels"
            )
        params = train_params(s) if folds is None else replace(train_params(s), tree_folds=folds)
        by = trees_by or ("queries" if folds is not None else "collections")
        if by != "collections":
            params = replace(params, tree_split=by)
        train_sources(s, source, split, part, params, promote_if_better, as_json, by)
        return
    if (dataset_dir is None) == (judgments is None):
        raise InvalidInputError("give a DATASET folder or --judgments NAME (one of them)")
    if judgments is not None:
        if dev_split or test_split:
            raise InvalidInputError("--dev-split and --test-split name dataset splits: not with --judgments")
        jl = JudgmentStore(s.home).load(judgments)
        if index != jl.index:
            if index != "default":
                raise InvalidInputError(f"judgment list {jl.ref} judges index {jl.index!r}, not {index!r}")
            index = jl.index
        have, train_split = [], training_split(jl, part)
    else:
        assert dataset_dir is not None
        if part is not None:
            raise InvalidInputError("--part picks a part of a judgment list: give --judgments")
        have = splits(dataset_dir)
        train_split = load_split(dataset_dir, split)
    for extra in extra_qrels or []:
        train_split = merge_splits(train_split, load_extra_judgments(extra))
    params = train_params(s)
    if folds is not None:
        params = replace(params, tree_folds=folds)
    if trees_by is not None:
        params = replace(params, tree_split=trees_by)
    idx = make_backend(s).open(index)
    try:
        retriever = make_engine(idx, make_embedder(s), s).retriever(default_search_config(s))
        logger = make_feature_logger(idx, s)
        with progress_bar("train", None) as bar:
            progress = progress_steps(bar)
            if cv:
                report = cross_validate_split(retriever, logger, train_split, cv, params, progress)
            else:
                test_name = test_split or (
                    "test" if "test" in have and split != "test" and dev_split != "test" else None
                )
                outcome = train_ltr(
                    retriever,
                    logger,
                    make_registry(s),
                    train_split,
                    load_split(dataset_dir, dev_split) if dataset_dir and dev_split else None,
                    load_split(dataset_dir, test_name) if dataset_dir and test_name else None,
                    params,
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
        if outcome.selection is not None:
            payload["tree_selection"] = outcome.selection.message
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    out.print(
        f"model {m.version}: {m.best_iteration} trees in {m.train_seconds:.1f}s; metrics {json.dumps(m.metrics)}"
    )
    if outcome.selection is not None:
        out.print(f"model {m.version}: {outcome.selection.message}")
    if outcome.gate:
        out.print(
            f"{'promoted' if outcome.gate.promote else 'not promoted'} {m.version}: {outcome.gate.reason}"
        )


@cli.command()
def finetune(
    dataset_dir: DatasetArg,
    index: IndexOpt = "default",
    split: TrainSplitOpt = "train",
    dev_split: Annotated[
        str | None, typer.Option(help="split to measure on (default: a deterministic hold-out of train)")
    ] = None,
    epochs: Annotated[int, typer.Option(min=1, max=20, help="passes over the training triples")] = 1,
    learning_rate: Annotated[float, typer.Option(min=1e-7, max=1e-3, help="AdamW learning rate")] = 2e-5,
    batch_size: Annotated[
        int, typer.Option(min=2, max=1024, help="triples per step (in-batch negatives)")
    ] = 32,
    seed: Annotated[int, typer.Option(help="random seed (shuffling, hold-out)")] = 0,
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
        retriever = make_engine(idx, make_embedder(s), s).retriever(default_search_config(s))
        with progress_bar("finetune", None) as bar:
            progress = progress_steps(bar)
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
def models_list(
    as_json: Annotated[bool, typer.Option("--json", help="print the rows as JSON")] = False,
) -> None:
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
                # legacy manifests: their test figure was never checked against the training queries
                "test_checked": m.seen_queries is not None,
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
            test_cell(r["test_nDCG@10"], bool(r["test_checked"])),
        )
    out.print(table)
    if not all(r["test_checked"] for r in rows):
        out.print("unchecked: a legacy manifest without training query ids; its test figure may include them")


def test_cell(value: Any, checked: bool) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if checked else f"{value:.4f} (unchecked)"


@models_app.command("show")
def models_show(version: Annotated[str, typer.Argument(help="e.g. v0001")]) -> None:
    """The manifest and feature importance of one version, as JSON."""
    registry = make_registry(settings())
    m = registry.manifest(version)
    payload = {
        **m.to_dict(),
        "leakage_check": "query ids" if m.seen_queries is not None else "split names only (legacy manifest)",
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
