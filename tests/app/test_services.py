"""The wiring of app/services.py: the one-shot search engine of CLI commands and benchmarks."""

from __future__ import annotations

from pathlib import Path

from ragsearch.app.services import registry_rerankers
from ragsearch.app.settings import Settings
from ragsearch.rerank.build import TrainOutcome
from ragsearch.rerank.ltr import LtrReranker
from ragsearch.retrieval.searcher import Retriever
from tests.rerank.conftest import ltr_env, ltr_first, scifact_ltr_slice

__all__ = ["ltr_env", "ltr_first", "scifact_ltr_slice"]  # fixtures (a real LightGBM model on a SciFact slice)


def test_a_one_shot_engine_loads_each_model_once(
    ltr_env: tuple[Retriever, Path], ltr_first: TrainOutcome
) -> None:
    """Loading (and compiling) the model on every query made `ragsearch eval` and bench.latency's ltr 2.6x
    slower (23 vs 9 ms a query on SciFact)."""
    retriever, home = ltr_env
    source = registry_rerankers(retriever.index, Settings(home=home, index="sf"))
    first = source(None)
    assert isinstance(first, LtrReranker) and first.name == f"ltr:{ltr_first.manifest.version}"
    assert source(None) is first and source(ltr_first.manifest.version) is first
