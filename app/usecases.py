"""The use cases both front doors call: ingest, delete, evaluate. The CLI and the API only parse and format.

A rule enforced here holds for every door: a delete updates the `--prune` manifest whichever door it came
through; an evaluation refuses to measure a model on the judgments it was trained on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from app.services import make_backend, make_chunker, make_embedder, manifest_path, open_or_create_index
from app.settings import Settings
from eval.data import JudgedSplit
from eval.evaluate import EvalReport, compare_systems, run_system, save_runs
from eval.metrics import DEFAULT_MEASURES
from ingest.manifest import Manifest
from ingest.pipeline import IngestReport, ingest_records
from ingest.readers import Record
from ingest.runner import IngestOptions, IngestStatus, ingest_paths
from retrieval.embedding import Embedder
from retrieval.errors import InvalidInputError
from retrieval.index import SearchIndex
from retrieval.types import Candidate, Vector
from search.config import Mode, SearchConfig
from search.engine import SearchEngine

EVAL_DEPTH = 100
"""Hits per query in an evaluation run (R@100 needs 100)."""

ProgressFactory = Callable[[str, int], Callable[[int], None]]
"""(description, total) -> advance(n): how a door shows progress of a long step."""


def ingest_files(
    paths: Sequence[Path],
    index_name: str,
    settings: Settings,
    options: IngestOptions | None = None,
    progress: Callable[[IngestStatus], None] | None = None,
) -> IngestReport:
    """Ingest files, folders, JSONL files and BEIR folders into `index_name` (created when missing)."""
    opts = dataclasses.replace(
        options or IngestOptions(batch_size=settings.ingest.batch_size),
        max_file_bytes=int(settings.ingest.max_file_mb * 1024 * 1024),
    )
    embedder = make_embedder(settings)
    index = open_or_create_index(make_backend(settings), index_name, embedder, settings)
    try:
        with Manifest(manifest_path(settings, index_name)) as manifest:
            chunker = make_chunker(embedder, settings)
            return ingest_paths(list(paths), index, embedder, chunker, manifest, opts, progress=progress)
    finally:
        index.close()


def add_records(index: SearchIndex, embedder: Embedder, records: Sequence[Record]) -> IngestReport:
    """Add or replace records (API bodies and uploads): unchanged ones are skipped by content hash."""
    return ingest_records(list(records), index, embedder)


def delete_items(index: SearchIndex, settings: Settings, item_id: str) -> int:
    """Delete a document (every passage of it, and its manifest entry) or, failing that, one passage by id.
    Returns the passages deleted (0: nothing had that id)."""
    deleted = index.delete_documents([item_id])
    if deleted:
        with Manifest(manifest_path(settings, index.name)) as manifest:
            manifest.remove([item_id])
        return deleted
    return index.delete([item_id])


def refuse_seen_judgments(engine: SearchEngine, config: SearchConfig, split: JudgedSplit) -> None:
    """Evaluating a learned ranker on its own training judgments measures nothing: refuse it."""
    trained = engine.reranker(config).training_data()
    if trained is not None and trained.dataset == split.dataset and split.split in trained.splits:
        raise InvalidInputError(
            f"{config.label} was trained on {trained.dataset}/{', '.join(sorted(trained.splits))}: evaluating "
            f"it on {split.split} measures nothing; evaluate on held-out judgments or pick another model"
        )


def evaluate(
    engine: SearchEngine,
    split: JudgedSplit,
    systems: Sequence[SearchConfig],
    subset: tuple[str, Sequence[str]] | None = None,
    progress: ProgressFactory | None = None,
    runs_dir: Path | None = None,
) -> EvalReport:
    """Run every configuration over the judged queries (each through the one search entry point) and
    compare them against the first: metrics and paired tests. `subset` = (name, query ids)."""
    for config in systems:
        if config.mode is Mode.LTR:
            refuse_seen_judgments(engine, config, split)
    qids = list(split.queries) if subset is None else [q for q in subset[1] if q in split.queries]
    queries = {q: split.queries[q] for q in qids}
    vectors = dict(zip(qids, engine.encode([queries[q] for q in qids]), strict=True))
    runs = {}
    for config in systems:
        ranking = config.replace(k=EVAL_DEPTH)

        def rank(text: str, vector: Vector, ranking: SearchConfig = ranking) -> list[Candidate]:
            return engine.search(text, ranking, query_vector=vector).hits

        advance = progress(f"eval {config.label}", len(qids)) if progress else None
        runs[config.label] = run_system(rank, queries, vectors, advance)
    if runs_dir:
        save_runs(runs, runs_dir, split.dataset, split.split)
    return compare_systems(
        split,
        runs,
        DEFAULT_MEASURES,
        None if subset is None else subset[1],
        None if subset is None else subset[0],
    )
