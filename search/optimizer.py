"""The first-stage optimizer: a seeded random search over fusion, dense weight, depths and BM25 field
weights, scored on judged queries.

It is fast because a first stage is two lists and a pure fusion: for every judged query the dense list is
fetched once at the largest depth searched, and the BM25 list once per distinct (title boost, text boost,
tie-breaker), then each trial truncates, fuses and orders them exactly as `Retriever.candidates` does
(the same `retrieval.searcher.fused_candidates`), so a trial's run is the run the search entry point
gives for that configuration (a test holds the two equal). Learned rankers are scored by the caller through
the entry point: they need features, not just lists.

It proposes; it never serves.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ragsearch.eval.data import Qrels
from ragsearch.eval.evaluate import rank_documents
from ragsearch.eval.metrics import evaluate
from ragsearch.eval.runs import Run, to_run
from ragsearch.retrieval.index import SearchIndex
from ragsearch.retrieval.searcher import bm25_candidates, dense_candidates, fused_candidates
from ragsearch.retrieval.types import Candidate, ScoredId, Vector
from ragsearch.search.config import Mode, SearchConfig

RUN_DEPTH = 100
"""Hits per query in a scored run (as in evaluation: R@100 needs 100)."""


@dataclass(frozen=True, slots=True)
class Space:
    """The values searched. Depths below RUN_DEPTH are left out: a run of 100 hits fetches 100 anyway."""

    fusions: tuple[str, ...] = ("minmax", "rrf", "zscore")
    dense_weights: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))
    rrf_ks: tuple[float, ...] = (10.0, 30.0, 60.0, 100.0)
    depths: tuple[int, ...] = (100, 200, 300)
    title_boosts: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 3.0)
    tie_breakers: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    single_modes: float = 0.1
    """Share of trials that try BM25 alone or dense alone instead of a fusion."""

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def sample_configs(base: SearchConfig, space: Space, trials: int, seed: int) -> list[SearchConfig]:
    """`base` in mode hybrid first, then up to `trials` distinct random configurations (seeded)."""
    rng = random.Random(seed)
    first = base.replace(mode=Mode.HYBRID, ltr_model=None)
    out, seen = [first], {first}
    attempts = 0
    while len(out) < trials + 1 and attempts < 50 * (trials + 1):
        attempts += 1
        changes: dict[str, Any] = {
            "title_boost": rng.choice(space.title_boosts),
            "tie_breaker": rng.choice(space.tie_breakers),
        }
        if rng.random() < space.single_modes:
            changes["mode"] = rng.choice((Mode.BM25, Mode.DENSE))
        else:
            fusion = rng.choice(space.fusions)
            changes.update(
                mode=Mode.HYBRID,
                fusion=fusion,
                dense_weight=rng.choice(space.dense_weights),
                bm25_depth=rng.choice(space.depths),
                dense_depth=rng.choice(space.depths),
            )
            if fusion == "rrf":
                changes["rrf_k"] = rng.choice(space.rrf_ks)
        config = first.replace(**changes)
        if config not in seen:
            seen.add(config)
            out.append(config)
    return out


@dataclass
class FirstStageCache:
    """Each judged query's dense list at `depth`, and its BM25 list at `depth` per field weighting."""

    index: SearchIndex
    queries: Mapping[str, str]
    vectors: Mapping[str, Vector]
    depth: int
    dense: dict[str, list[ScoredId]] = field(default_factory=dict)
    bm25: dict[tuple[float, float, float], dict[str, list[ScoredId]]] = field(default_factory=dict)
    progress: Callable[[int], None] | None = None

    def dense_lists(self) -> dict[str, list[ScoredId]]:
        if not self.dense:
            for qid in self.queries:
                self.dense[qid] = self.index.vector_search(self.vectors[qid], self.depth)
                if self.progress:
                    self.progress(1)
        return self.dense

    def bm25_lists(self, config: SearchConfig) -> dict[str, list[ScoredId]]:
        key = (config.title_boost, config.text_boost, config.tie_breaker)
        if key not in self.bm25:
            lists = {}
            for qid, text in self.queries.items():
                lists[qid] = self.index.bm25_search(text, self.depth, config.boosts)
                if self.progress:
                    self.progress(1)
            self.bm25[key] = lists
        return self.bm25[key]


def first_stage_hits(
    bm25: Sequence[ScoredId], dense: Sequence[ScoredId], config: SearchConfig, k: int
) -> list[Candidate]:
    """The top `k` of `config`'s first stage from lists fetched deeper: what `SearchEngine.search` returns
    for a bm25, dense or hybrid configuration with k hits."""
    if config.mode is Mode.BM25:
        return bm25_candidates(bm25[:k])
    if config.mode is Mode.DENSE:
        return dense_candidates(dense[:k])
    if config.mode is not Mode.HYBRID:
        raise ValueError(f"mode {config.mode.value} is not a first stage")
    b, d = bm25[: max(config.bm25_depth, k)], dense[: max(config.dense_depth, k)]
    return fused_candidates(b, d, config.fusion, config.dense_weight, config.rrf_k)[:k]


def fast_run(cache: FirstStageCache, config: SearchConfig, k: int = RUN_DEPTH) -> Run:
    """`config`'s document run over the cached queries."""
    bm25 = cache.bm25_lists(config) if config.mode is not Mode.DENSE else {}
    dense = cache.dense_lists() if config.mode is not Mode.BM25 else {}
    ranked = {
        qid: rank_documents(first_stage_hits(bm25.get(qid, []), dense.get(qid, []), config, k))
        for qid in cache.queries
    }
    return to_run(ranked)


@dataclass(frozen=True, slots=True)
class Trial:
    config: SearchConfig
    score: float
    """The measure's mean on the dev queries."""
    per_query: dict[str, float]


def search_first_stage(
    cache: FirstStageCache,
    qrels: Qrels,
    configs: Sequence[SearchConfig],
    measure: str,
    progress: Callable[[int], None] | None = None,
) -> list[Trial]:
    """Every configuration scored on `qrels` (the dev queries), best first (ties: the earlier trial)."""
    trials = []
    for config in configs:
        ev = evaluate(qrels, fast_run(cache, config), [measure])
        key = next(iter(ev.means))
        trials.append(Trial(config, ev.means[key], ev.per_query[key]))
        if progress:
            progress(1)
    order_of = {id(t): i for i, t in enumerate(trials)}
    return sorted(trials, key=lambda t: (-t.score, order_of[id(t)]))
