"""`ragsearch demo` (`make demo`): the quick start, from a judged dataset to a learned ranker that says why."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from ragsearch.app.cli.common import cli, out, say, settings
from ragsearch.app.cli.documents import ingest_with_progress, print_ingest_report
from ragsearch.app.cli.evaluation import do_eval, get_dataset, print_eval
from ragsearch.app.cli.ltr import train
from ragsearch.app.cli.querying import explanation_table
from ragsearch.app.services import (
    default_search_config,
    make_backend,
    make_embedder,
    make_engine,
    make_registry,
)
from ragsearch.app.settings import Settings
from ragsearch.eval.data import load_split, splits
from ragsearch.ingest.datasets import local_dataset
from ragsearch.rerank.errors import ModelNotFoundError, ModelUnavailableError
from ragsearch.search.config import FIRST_STAGE_MODES, Mode

EXPLAIN_FROM = 20
"""The explained result: the first of this many test queries whose ltr top result is judged relevant."""


@cli.command()
def demo(
    dataset: Annotated[str, typer.Option(help="BEIR dataset name")] = "scifact",
    index: Annotated[str | None, typer.Option(help="index name (default: the dataset name)")] = None,
    ltr: Annotated[
        bool, typer.Option("--ltr/--no-ltr", help="train the learned ranker on the train split and explain")
    ] = True,
) -> None:
    """The quick start: get SciFact, ingest it into the embedded index, train the learned ranker on its train
    queries, evaluate bm25, dense, hybrid and ltr on test, and show why ltr ranks one result first."""
    s = settings()
    path = local_dataset(s.data_dir, dataset) or local_dataset(s.home / "datasets", dataset)
    if path is None:
        path = get_dataset(dataset, s)
    name = index or dataset
    print_ingest_report(ingest_with_progress([path], name, s), name)
    systems = list(FIRST_STAGE_MODES)
    if ltr and "train" in splits(path):
        t0 = time.perf_counter()
        demo_model(path, dataset, name, s)
        say(f"ranker ready in {time.perf_counter() - t0:.0f} s")
        systems.append(Mode.LTR)
    elif ltr:
        say(f"{dataset} has no train split: no learned ranker to train, evaluating the first stage only")
    report = do_eval(path, name, "test", systems, s, s.home / "runs")
    print_eval(report)
    (s.home / "eval").mkdir(parents=True, exist_ok=True)
    (s.home / "eval" / f"{dataset}.test.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
    if Mode.LTR in systems:
        show_explained(path, name, s)


def demo_model(path: Path, dataset: str, index: str, s: Settings) -> None:
    """`ragsearch train DATASET --index INDEX --promote-if-better`, unless the promoted model was already
    trained on this index from this dataset's train split (a second `make demo` does not retrain)."""
    registry = make_registry(s)
    try:
        m = registry.verify()
        if (m.index, m.dataset, m.train_split) == (index, dataset, "train"):
            say(f"model {m.version} (promoted) was trained on {dataset}/train for {index}: reused "
                "(`ragsearch train` trains another)")  # fmt: skip
            return
    except (ModelNotFoundError, ModelUnavailableError):
        pass  # nothing promoted yet (or not loadable): train one
    say(f"training the learned ranker on {dataset}/train (`ragsearch train`) ...")
    train(path, index=index, promote_if_better=True)


def show_explained(path: Path, index: str, s: Settings) -> None:
    """Why ltr ranks its first result first, for the first test query whose first result is judged relevant."""
    split = load_split(path, "test")
    idx = make_backend(s).open(index)
    try:
        engine = make_engine(idx, make_embedder(s), s)
        config = default_search_config(s).replace(mode=Mode.LTR, k=3)
        for qid, text in list(split.queries.items())[:EXPLAIN_FROM]:
            result = engine.search(text, config, explain=True)
            top = result.hits[0]
            if split.qrels.get(qid, {}).get(top.doc_id, 0) > 0:
                break
        title = next((p.title for p in idx.get([top.id])), "")
    finally:
        idx.close()
    relevant = split.qrels.get(qid, {}).get(top.doc_id, 0) > 0
    say(f"\nquery {qid}: {text!r}")
    say(f"ltr ranks {top.id} first{' (judged relevant)' if relevant else ''}: {title[:100]}")
    out.print(explanation_table(1, top.id, result.explanations[top.id]))
    say(f"(`ragsearch search {text[:30]!r}... --index {index} --mode ltr --explain` shows every result's)")
