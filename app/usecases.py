"""The use cases both front doors call: ingest, delete, evaluate. The CLI and the API only parse and format.

A rule enforced here holds for every door: a delete updates the `--prune` manifest whichever door it came
through; an evaluation refuses to measure a model on the judgments it was trained on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ragsearch.app.services import (
    make_backend,
    make_chunker,
    make_embedder,
    manifest_path,
    open_or_create_index,
)
from ragsearch.app.settings import Settings
from ragsearch.eval.data import JudgedSplit
from ragsearch.eval.evaluate import EvalReport, compare_systems, run_system, save_runs
from ragsearch.eval.judgments import JudgmentList
from ragsearch.eval.judgments import split as split_judgments
from ragsearch.eval.leakage import describe, overlap
from ragsearch.eval.metrics import DEFAULT_MEASURES, evaluate
from ragsearch.eval.promotion import PartFigures
from ragsearch.eval.runs import Run
from ragsearch.ingest.manifest import Manifest
from ragsearch.ingest.pipeline import IngestReport, ingest_records
from ragsearch.ingest.readers import Record
from ragsearch.ingest.runner import IngestOptions, IngestStatus, ingest_paths
from ragsearch.retrieval.embedding import Embedder
from ragsearch.retrieval.errors import InvalidInputError
from ragsearch.retrieval.index import SearchIndex
from ragsearch.retrieval.types import Candidate, Vector
from ragsearch.search.config import Mode, SearchConfig
from ragsearch.search.engine import SearchEngine
from ragsearch.search.optimizer import (
    RUN_DEPTH,
    FirstStageCache,
    Space,
    Trial,
    fast_run,
    sample_configs,
    search_first_stage,
)

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


ADD_BATCH = 256
"""Records per batch of `add_records`: each batch is embedded, then written in one index write."""


class IngestStopped(Exception):
    """`add_records` stopped between batches because `stop()` said so; `report` counts the whole batches
    written before (each one index write: all of its passages are stored, none of the later ones)."""

    def __init__(self, report: IngestReport, batches: int) -> None:
        super().__init__(f"stopped after {batches} batches ({report.passages} passages written)")
        self.report = report
        self.batches = batches


def add_records(
    index: SearchIndex,
    embedder: Embedder,
    records: Sequence[Record],
    stop: Callable[[], bool] | None = None,
    batch_size: int = ADD_BATCH,
) -> IngestReport:
    """Add or replace records (API bodies and uploads): unchanged ones are skipped by content hash.

    `stop` is asked before each batch of `batch_size` records (a client that went away); when it says
    True, `IngestStopped` is raised: whole batches only are written, in order, so the batch in progress
    finishes and nothing after it starts."""
    total = IngestReport()
    for n, start in enumerate(range(0, len(records), batch_size)):
        if stop is not None and stop():
            raise IngestStopped(total, n)
        part = ingest_records(records[start : start + batch_size], index, embedder, batch_size)
        total.added += part.added
        total.updated += part.updated
        total.unchanged += part.unchanged
        total.embedded += part.embedded
        total.passages += part.passages
        total.seconds += part.seconds
        total.failed += part.failed
        total.skipped += part.skipped
    return total


def delete_items(index: SearchIndex, settings: Settings, item_id: str) -> int:
    """Delete a document (every passage of it, and its manifest entry) or, failing that, one passage by id.
    Returns the passages deleted (0: nothing had that id)."""
    deleted = index.delete_documents([item_id])
    if deleted:
        with Manifest(manifest_path(settings, index.name)) as manifest:
            manifest.remove([item_id])
        return deleted
    return index.delete([item_id])


def training_overlap(
    engine: SearchEngine, config: SearchConfig, split: JudgedSplit, qids: Sequence[str]
) -> tuple[list[str], str | None]:
    """The ids of `qids` the learned ranker of `config` was trained or early-stopped on, and a note when its
    manifest predates recorded query ids (then only split names can be compared; a match is refused)."""
    learned = engine.reranker(config).training_data()
    trained = learned.about({split.dataset, *split.origins}) if learned else None
    if trained is None:
        return [], None
    if trained.queries is not None:
        return overlap(qids, trained.queries), None
    where = f"{trained.dataset}/{', '.join(sorted(trained.splits))}"
    if set(split.split.split("+")) & trained.splits:
        raise InvalidInputError(
            f"{config.label} was trained on {where}: evaluating it on {split.split} measures nothing; "
            "evaluate on held-out judgments or pick another model"
        )
    return [], (
        f"{config.label}: its manifest predates recorded training queries, so only split names were "
        f"compared (trained on {where}); a split that shares queries with those goes unnoticed: retrain it"
    )


def exclude_seen(
    engine: SearchEngine, split: JudgedSplit, systems: Sequence[SearchConfig], qids: list[str], exclude: bool
) -> tuple[list[str], list[str]]:
    """(the queries to evaluate, notes). A learned ranker's training or early-stopping queries among `qids`
    are refused, naming them, or with `exclude` left out of the evaluation for every system."""
    notes: list[str] = []
    seen: dict[str, list[str]] = {}
    for config in systems:
        if config.mode is Mode.LTR:
            clash, note = training_overlap(engine, config, split, qids)
            notes += [note] if note else []
            if clash:
                seen[config.label] = clash
    if not seen:
        return qids, notes
    named = "; ".join(
        f"{label} was trained or early-stopped on {describe(clash, len(qids))} of {split.dataset}/{split.split}"
        for label, clash in seen.items()
    )
    if not exclude:
        raise InvalidInputError(
            f"{named}: evaluating it on them measures nothing; evaluate on held-out judgments, or pass "
            "--exclude-training-queries to measure every system on the other queries only"
        )
    drop = set().union(*seen.values())
    kept = [q for q in qids if q not in drop]
    if not kept:
        raise InvalidInputError(f"{named}: no other query is left to evaluate on")
    return kept, [*notes, f"left out {len(drop)} training or early-stopping queries: {named}"]


def run_config(
    engine: SearchEngine,
    config: SearchConfig,
    queries: dict[str, str],
    vectors: dict[str, Vector] | None = None,
    depth: int = EVAL_DEPTH,
    progress: ProgressFactory | None = None,
    label: str | None = None,
) -> Run:
    """One configuration over `queries` (qid -> text) through the search entry point: a TREC run."""
    if vectors is None:
        vectors = dict(zip(queries, engine.encode(list(queries.values())), strict=True))
    ranking = config.replace(k=depth)

    def rank(text: str, vector: Vector) -> list[Candidate]:
        return engine.search(text, ranking, query_vector=vector).hits

    return run_system(
        rank, queries, vectors, progress(f"run {label or config.label}", len(queries)) if progress else None
    )


def evaluate_runs(
    engine: SearchEngine,
    split: JudgedSplit,
    systems: Sequence[SearchConfig],
    subset: tuple[str, Sequence[str]] | None = None,
    progress: ProgressFactory | None = None,
    runs_dir: Path | None = None,
    exclude_training_queries: bool = False,
    measures: Sequence[str] = DEFAULT_MEASURES,
    labels: Sequence[str] | None = None,
) -> tuple[EvalReport, dict[str, Run]]:
    """Run every configuration over the judged queries (each through the one search entry point) and
    compare them against the first: (metrics and paired tests, the runs). `subset` = (name, query ids);
    `labels` name the systems (default: each config's label).

    A learned ranker is never measured on queries it was trained or early-stopped on: refused, or with
    `exclude_training_queries` those queries are left out for every system (the report says so)."""
    names = list(labels) if labels is not None else [c.label for c in systems]
    if len(names) != len(systems) or len(set(names)) != len(names):
        raise InvalidInputError(f"systems need distinct names, one each: {', '.join(names)}")
    qids = list(split.queries) if subset is None else [q for q in subset[1] if q in split.queries]
    asked = len(qids)
    qids, notes = exclude_seen(engine, split, systems, qids, exclude_training_queries)
    subset_name = None if subset is None else subset[0]
    if len(qids) < asked:
        subset_name = ", ".join(
            x for x in (subset_name, f"without {asked - len(qids)} training queries") if x
        )
    queries = {q: split.queries[q] for q in qids}
    vectors = dict(zip(qids, engine.encode([queries[q] for q in qids]), strict=True))
    runs = {
        name: run_config(engine, config, queries, vectors, EVAL_DEPTH, progress, name)
        for name, config in zip(names, systems, strict=True)
    }
    if runs_dir:
        save_runs(runs, runs_dir, split.dataset, split.split)
    report = compare_systems(split, runs, measures, qids, subset_name)
    return dataclasses.replace(report, notes=tuple(notes)), runs


def promotion_figures(
    engine: SearchEngine,
    jl: JudgmentList,
    served_config: SearchConfig,
    candidate: SearchConfig,
    measure: str,
    progress: ProgressFactory | None = None,
) -> tuple[PartFigures, PartFigures | None, list[str]]:
    """The served configuration and the candidate on `jl`: (held figures, dev figures, notes). A split list
    gives both parts; an unsplit one is measured whole (as the held part) and the notes say so. A learned
    ranker is never measured on its own training queries (refused, as in `evaluate_runs`)."""
    if jl.parts is None:
        parts: list[str | None] = [None]
        notes = [
            f"{jl.ref} has no held part: measured on all its queries (`ragsearch judgments split` makes one)"
        ]
    else:
        parts, notes = ["held", "dev"], []
    figures: dict[str | None, PartFigures] = {}
    for part in parts:
        split = jl.judged_split(part)
        report, _ = evaluate_runs(
            engine, split, [served_config, candidate], progress=progress, measures=[measure],
            labels=["served", "candidate"],
        )  # fmt: skip
        key = report.measures[0]
        s, c = report.systems["served"], report.systems["candidate"]
        p = c.p_value if c.p_value is not None else float("nan")
        figures[part] = PartFigures(part or "all", report.n_queries, s.means[key], c.means[key], p)
        notes += list(report.notes)
    held = figures.get("held") or figures[None]
    return held, figures.get("dev"), notes


@dataclass(frozen=True)
class Optimization:
    """What `optimize` found: every trial on the dev part, the winner, and the winner against the served
    configuration on the held part."""

    dev_queries: int
    held_queries: int
    split_from: str
    """`the list's parts`, or the seeded split made for this run"""
    trials: list[Trial]
    """first-stage trials and learned rankers, best first (dev measure)"""
    skipped: dict[str, str]
    """model version -> why it was not offered (its training queries are among these judgments)"""
    served_dev: float
    winner: Trial
    held: PartFigures
    notes: list[str]


def optimize(
    engine: SearchEngine,
    jl: JudgmentList,
    served_config: SearchConfig,
    base: SearchConfig,
    space: Space,
    trials: int,
    seed: int,
    dev_fraction: float,
    measure: str,
    models: Sequence[str],
    progress: ProgressFactory | None = None,
) -> Optimization:
    """Choose a configuration on the dev part of `jl` (the list's own, else a seeded query-level split) from
    seeded random first stages and each of `models` on the best fusion, then measure the winner against
    `served_config` on the held part (paired test). A model trained on any of the list's queries is not
    offered. Proposes only: nothing is stored or served here."""
    if jl.parts is not None:
        parted, split_from = jl, "the list's own dev and held parts"
    else:
        parted = split_judgments(jl, dev_fraction, seed)
        split_from = f"a seeded query split (dev fraction {dev_fraction:g}, seed {seed})"
    dev, held = parted.judged_split("dev"), parted.judged_split("held")
    if not dev.queries or not held.queries:
        raise InvalidInputError(f"{jl.ref}: the dev and the held part both need judged queries")
    vectors = dict(zip(dev.queries, engine.encode(list(dev.queries.values())), strict=True))
    candidates = sample_configs(base, space, trials, seed)
    if served_config.mode is not Mode.LTR and served_config.replace(k=base.k) not in candidates:
        candidates.append(served_config.replace(k=base.k))
    cache = FirstStageCache(engine.index, dev.queries, vectors, max(space.depths))
    cache.progress = progress("first-stage lists", len(dev.queries)) if progress else None
    ranked = search_first_stage(
        cache, dev.qrels, candidates, measure, progress("trials", len(candidates)) if progress else None
    )
    best_fusion = next((t.config for t in ranked if t.config.mode is Mode.HYBRID), base)
    skipped: dict[str, str] = {}
    every_query = [*dev.queries, *held.queries]
    for version in models:
        config = best_fusion.replace(mode=Mode.LTR, ltr_model=version)
        clash, note = training_overlap(engine, config, dev, every_query)
        if clash or note:
            skipped[version] = (
                f"trained or early-stopped on {describe(clash, len(every_query))} of {jl.ref}"
                if clash
                else str(note)
            )
            continue
        ev = evaluate(
            dev.qrels, run_config(engine, config, dev.queries, vectors, RUN_DEPTH, progress), [measure]
        )
        key = next(iter(ev.means))
        ranked.append(Trial(config, ev.means[key], ev.per_query[key]))
    ranked.sort(key=lambda t: -t.score)  # stable: among equals the earlier trial (the default first) wins
    if served_config.mode is Mode.LTR:
        ev = evaluate(
            dev.qrels, run_config(engine, served_config, dev.queries, vectors, RUN_DEPTH), [measure]
        )
    else:
        ev = evaluate(dev.qrels, fast_run(cache, served_config), [measure])
    winner = ranked[0]
    report, _ = evaluate_runs(
        engine, held, [served_config, winner.config.replace(k=served_config.k)], progress=progress,
        measures=[measure], labels=["served", "winner"],
    )  # fmt: skip
    key = report.measures[0]
    s, w = report.systems["served"], report.systems["winner"]
    figures = PartFigures("held", report.n_queries, s.means[key], w.means[key],
                          w.p_value if w.p_value is not None else float("nan"))  # fmt: skip
    return Optimization(len(dev.queries), len(held.queries), split_from, ranked, skipped,
                        next(iter(ev.means.values())), winner, figures, list(report.notes))  # fmt: skip
