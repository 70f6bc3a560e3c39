"""The optimizer's fast first stage gives the run the search entry point gives (real index, real model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragsearch.app.usecases import run_config
from ragsearch.eval.data import load_split
from ragsearch.retrieval.embedding import SentenceTransformerEmbedder
from ragsearch.retrieval.index import SearchIndex
from ragsearch.search.config import Mode, SearchConfig
from ragsearch.search.engine import SearchEngine
from ragsearch.search.optimizer import FirstStageCache, Space, fast_run, sample_configs, search_first_stage

CONFIGS = [
    SearchConfig(),
    SearchConfig(fusion="rrf", rrf_k=30, bm25_depth=200, title_boost=2.0, tie_breaker=0.0),
    SearchConfig(fusion="zscore", dense_weight=0.7, dense_depth=300, title_boost=0.5, tie_breaker=1.0),
    SearchConfig(mode=Mode.BM25, title_boost=3.0, tie_breaker=0.25),
    SearchConfig(mode=Mode.DENSE),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.mode.value}-{c.fusion}")
def test_fast_run_equals_the_engine_run(
    config: SearchConfig,
    scifact_index: SearchIndex,
    real_embedder: SentenceTransformerEmbedder,
    scifact_slice: Path,
) -> None:
    split = load_split(scifact_slice, "test")
    engine = SearchEngine(scifact_index, real_embedder)
    vectors = dict(zip(split.queries, engine.encode(list(split.queries.values())), strict=True))
    cache = FirstStageCache(scifact_index, split.queries, vectors, 300)
    fast = fast_run(cache, config)
    slow = run_config(engine, config, split.queries, vectors)
    assert fast.keys() == slow.keys() and len(fast) == 40
    for qid in slow:
        assert list(fast[qid]) == list(slow[qid]), qid  # the same documents in the same order
        assert fast[qid] == pytest.approx(slow[qid])


def test_random_search_is_seeded_starts_from_the_default_and_ranks_by_the_measure(
    scifact_index: SearchIndex, real_embedder: SentenceTransformerEmbedder, scifact_slice: Path
) -> None:
    base = SearchConfig(mode=Mode.LTR, ltr_model="v0001")
    configs = sample_configs(base, Space(), 25, seed=3)
    assert configs == sample_configs(base, Space(), 25, seed=3) != sample_configs(base, Space(), 25, seed=4)
    assert configs[0] == SearchConfig() and len(set(configs)) == 26
    assert {c.mode for c in configs} <= {Mode.HYBRID, Mode.BM25, Mode.DENSE}
    assert {c.fusion for c in configs if c.mode is Mode.HYBRID} == {"minmax", "rrf", "zscore"}
    split = load_split(scifact_slice, "test")
    vectors = dict(zip(split.queries, real_embedder.embed_queries(list(split.queries.values())), strict=True))
    cache = FirstStageCache(scifact_index, split.queries, vectors, 300)
    trials = search_first_stage(cache, split.qrels, configs, "nDCG@10")
    scores = [t.score for t in trials]
    assert scores == sorted(scores, reverse=True) and len(trials) == 26
    assert trials[0].score > trials[-1].score > 0
    assert len(cache.bm25) <= 25  # one BM25 pass per distinct field weighting, not per trial
