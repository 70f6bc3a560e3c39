"""Long-lived services for a server process: open indexes, the embedder, the LLM, feedback, metrics."""

from __future__ import annotations

import threading
import time
from typing import Any

from ragsearch.answer.answering import Answerer
from ragsearch.app.feedback import FeedbackStore
from ragsearch.app.impressions import ImpressionLog
from ragsearch.app.online import Admission, Experiment, LiveTally, OnlineStore, check, status_of
from ragsearch.app.querylog import QueryLog
from ragsearch.app.services import (
    answer_search_config,
    default_search_config,
    make_answerer,
    make_backend,
    make_embedder,
    make_engine,
    make_llm,
    make_registry,
    make_reranker,
    named_config,
    served,
)
from ragsearch.app.settings import Settings
from ragsearch.rerank.protocol import Reranker
from ragsearch.rerank.registry import ModelRegistry
from ragsearch.retrieval.embedding import Embedder
from ragsearch.retrieval.index import Filters, IndexBackend, SearchIndex
from ragsearch.search.config import SearchConfig
from ragsearch.search.engine import SearchEngine
from ragsearch.search.serving import Served, ServingStore

CHECK_EVERY_S = 2.0
"""How often a serving process checks whether a running online experiment is decided."""


class Runtime:
    """Opens each index once and keeps it; thread-safe. Built once per server from one Settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.backend: IndexBackend = make_backend(settings)
        self._embedder: Embedder | None = None
        self._indexes: dict[str, SearchIndex] = {}
        self._lock = threading.Lock()
        self.feedback = FeedbackStore(settings.home / "feedback.sqlite")
        self.querylog = QueryLog(settings.home / "querylog.sqlite", settings.querylog.store_text)
        self.impressions: ImpressionLog | None = None
        if settings.impressions.enabled:
            self.impressions = ImpressionLog(settings.home / "impressions.sqlite")
            self.impressions.purge(settings.impressions.retention_days)
        self.online = OnlineStore(settings.home)
        self._online_checked: dict[str, float] = {}
        self._candidate_searches: dict[str, int] = {}
        self._admissions: dict[str, Admission] = {}
        self._tallies: dict[str, LiveTally] = {}
        self.llm = make_llm(settings)
        self.registry: ModelRegistry = make_registry(settings)
        self._rerankers: dict[tuple[str, str], Reranker] = {}

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = make_embedder(self.settings)
            return self._embedder

    def index(self, name: str | None = None) -> SearchIndex:
        name = name or self.settings.index
        with self._lock:
            idx = self._indexes.get(name)
            if idx is None:
                idx = self.backend.open(name)
                self._indexes[name] = idx
            return idx

    def forget(self, name: str) -> None:
        """Close and drop a cached index (after a fault, so the next request reopens it)."""
        with self._lock:
            idx = self._indexes.pop(name, None)
        if idx is not None:
            idx.close()

    def engine(self, name: str | None = None) -> SearchEngine:
        """The search entry point for index `name`, with this server's cached LTR models."""
        return make_engine(
            self.index(name), self.embedder, self.settings, lambda version: self.reranker(name, version)
        )

    def default_config(self) -> SearchConfig:
        return default_search_config(self.settings)

    def served(self, name: str | None = None) -> Served:
        """What index `name` serves now (read from its serving record, so another process's promotion or
        rollback is followed at the next request)."""
        return served(self.settings, name or self.settings.index)

    def config(self, index: str | None, name: str | None) -> tuple[str, SearchConfig]:
        """A request's base configuration: index `index`'s served one (`name` None or `served`), else the
        configuration stored for it as `name`. An unknown or invalid index fails first, as it would for a search."""
        self.index(index)
        return named_config(self.settings, index or self.settings.index, name)

    def reranker(self, name: str | None = None, version: str | None = None) -> Reranker | None:
        """The LTR reranker for `version` (default: the promoted model), or None when there is none."""
        version = version or self.settings.rerank.model or self.registry.promoted
        if version is None:
            return None
        key = (name or self.settings.index, version)
        with self._lock:
            cached = self._rerankers.get(key)
        if cached is None:
            cached = make_reranker(self.index(name), self.settings, version)
            with self._lock:
                self._rerankers[key] = cached
        return cached

    def online_experiment(self, index: str, session_id: str | None) -> Experiment | None:
        """The running online experiment of `index` when this session takes part in it. Whether it has been
        decided is checked at most every CHECK_EVERY_S seconds (the counts come from the impression log)."""
        if self.impressions is None or not session_id:
            return None
        exp = self.online.running(index)
        if exp is None:
            return None
        if time.monotonic() - self._online_checked.get(index, 0.0) > CHECK_EVERY_S:
            self._online_checked[index] = time.monotonic()
            counts = self.live_tally(exp).update(self.impressions)
            exp = check(self.online, self.impressions, ServingStore(self.settings.home), exp, counts)
        if exp.status != "running":
            return None
        with self._lock:
            admission = self._admissions.get(exp.id)
            if admission is None:
                admission = self._admissions[exp.id] = Admission.from_log(self.impressions, exp)
            return exp if admission.admit(session_id) else None

    def online_status(self, index: str) -> dict[str, Any] | None:
        """The latest online experiment of `index` with its counts (checked for a decision first)."""
        exp = self.online.latest(index)
        if exp is None or self.impressions is None:
            return None
        counts = self.live_tally(exp).update(self.impressions)
        exp = check(self.online, self.impressions, ServingStore(self.settings.home), exp, counts)
        return status_of(exp, counts)

    def live_tally(self, exp: Experiment) -> LiveTally:
        """This process's incremental tally of `exp` (one per index: another experiment's is dropped)."""
        with self._lock:
            live = self._tallies.get(exp.index)
            if live is None or live.exp.id != exp.id:
                live = self._tallies[exp.index] = LiveTally(exp)
            return live

    def count_candidate_search(self, experiment_id: str) -> int:
        """How many candidate searches this process has run for an experiment, this one included."""
        with self._lock:
            self._candidate_searches[experiment_id] = self._candidate_searches.get(experiment_id, 0) + 1
            return self._candidate_searches[experiment_id]

    def stop_online(self, exp: Experiment, reason: str) -> None:
        self.online.end(exp.index, exp.id, "stopped", reason)

    def forget_rerankers(self) -> None:
        with self._lock:
            self._rerankers.clear()

    def answerer(
        self, name: str | None = None, config: SearchConfig | None = None, filters: Filters | None = None
    ) -> Answerer:
        """Answers from index `name`, ranked by `config` (default: RAGSEARCH_ANSWER_MODE's configuration), from
        the passages matching `filters` only."""
        engine = self.engine(name)  # an unknown or invalid index fails here first
        if config is None:
            config = answer_search_config(self.settings, self.served(name).config)
        return make_answerer(engine, config, self.settings, self.llm, filters)

    def close(self) -> None:
        with self._lock:
            for idx in self._indexes.values():
                idx.close()
            self._indexes.clear()
        self.feedback.close()
        self.querylog.close()
        if self.impressions is not None:
            self.impressions.close()
