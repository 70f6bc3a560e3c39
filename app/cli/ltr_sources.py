"""`ragsearch train --source ...`: one model from several (index, judged queries) sources."""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from pathlib import Path

from ragsearch.app.cli.common import out, progress_bar, progress_steps
from ragsearch.app.services import (
    default_search_config,
    make_backend,
    make_embedder,
    make_engine,
    make_feature_logger,
    make_registry,
)
from ragsearch.app.settings import Settings
from ragsearch.eval.data import JudgedSplit, load_split, splits
from ragsearch.eval.judgment_store import JudgmentStore
from ragsearch.eval.judgments import training_split
from ragsearch.rerank.many import TrainingSource, source_weights, train_many
from ragsearch.rerank.train import TrainParams
from ragsearch.retrieval.errors import InvalidInputError

SOURCE_HELP = (
    "train one model on several collections (repeat, two or more): INDEX=DATASET_DIR[@SPLIT] (split: "
    "--split; its test split is measured when it has one) or judgments:NAME[@vNNNN] (the list's index; "
    "--part applies); each collection's queries weigh the same in total"
)
TREES_BY = ("queries", "documents", "collections")
"""What the CV that chooses the trees leaves out (`rerank.selection.FOLD_SPLITS`)."""


def parse_source(
    spec: str, s: Settings, split: str, part: str | None
) -> tuple[str, JudgedSplit, JudgedSplit | None]:
    """(index, training judgments, test judgments or None) of one `--source`."""
    if spec.startswith("judgments:"):
        jl = JudgmentStore(s.home).load(spec.removeprefix("judgments:"))
        return jl.index, training_split(jl, part), None
    index, sep, where = spec.partition("=")
    if not sep or not index or not where:
        raise InvalidInputError(f"--source {spec!r}: write INDEX=DATASET_DIR[@SPLIT] or judgments:NAME")
    folder, _, own_split = where.partition("@")
    name = own_split or split
    test = "test" if "test" in splits(Path(folder)) and name != "test" else None
    return index, load_split(Path(folder), name), load_split(Path(folder), test) if test else None


def train_sources(
    s: Settings, specs: list[str], split: str, part: str | None, params: TrainParams,
    promote_if_better: bool, as_json: bool, trees_by: str = "collections",
) -> None:  # fmt: skip
    parsed = [parse_source(spec, s, split, part) for spec in specs]
    with ExitStack() as stack:
        embedder = make_embedder(s)
        sources = []
        for index, train, test in parsed:
            idx = make_backend(s).open(index)
            stack.callback(idx.close)
            retriever = make_engine(idx, embedder, s).retriever(default_search_config(s))
            sources.append(TrainingSource(retriever, make_feature_logger(idx, s), train, test))
        with progress_bar("train", None) as bar:
            outcome = train_many(
                sources, make_registry(s), params, s.rerank.holdout_fraction, promote_if_better,
                progress_steps(bar), split_by="collections" if trees_by == "collections" else None,
            )  # fmt: skip
    m = outcome.manifest
    if as_json:
        payload = {**m.to_dict(), "promoted": bool(outcome.gate and outcome.gate.promote)}
        payload["source_weights"] = source_weights(m)
        if outcome.gate:
            payload["gate"] = outcome.gate.reason
        if outcome.selection is not None:
            payload["tree_selection"] = outcome.selection.message
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    out.print(
        f"model {m.version}: {m.best_iteration} trees in {m.train_seconds:.1f}s; metrics {json.dumps(m.metrics)}"
    )
    for src in m.sources or []:
        out.print(
            f"  source {src['index']} ({src['dataset']}/{src['split']}): {src['queries']} queries, "
            f"{src['rows']} rows, weight {src['query_weight']:.3f} a query"
        )
    if outcome.selection is not None:
        out.print(f"model {m.version}: {outcome.selection.message}")
    if outcome.gate:
        out.print(
            f"{'promoted' if outcome.gate.promote else 'not promoted'} {m.version}: {outcome.gate.reason}"
        )
