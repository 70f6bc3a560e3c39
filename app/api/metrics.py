"""Prometheus metrics of one app instance (a registry of its own, so tests can build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3, 0.6, 1.2, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ragsearch_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ragsearch_http_request_seconds", "HTTP request latency", ["method", "route"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.search_stage = Histogram(
            "ragsearch_search_stage_seconds", "time per search stage", ["stage"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.ttft = Histogram(
            "ragsearch_llm_ttft_seconds", "LLM time to first token",
            buckets=(0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 3, 6, 12, 30), registry=self.registry,
        )  # fmt: skip
        self.tokens_per_s = Histogram(
            "ragsearch_llm_tokens_per_second", "LLM decode speed",
            buckets=(1, 2, 5, 10, 20, 40, 80, 160, 320), registry=self.registry,
        )  # fmt: skip
        self.log_write_failures = Counter(
            "ragsearch_log_write_failures_total",
            "query-log and feedback writes that failed (full disk, unwritable home); the request was served",
            ["log"],
            registry=self.registry,
        )
        self.online_impressions = Counter(
            "ragsearch_online_impressions_total",
            "interleaved result lists served by an online experiment",
            ["index"],
            registry=self.registry,
        )
        self.online_stops = Counter(
            "ragsearch_online_stops_total",
            "online experiments stopped by a failing or slow candidate",
            ["index"],
            registry=self.registry,
        )
        self.ingest_disconnects = Counter(
            "ragsearch_ingest_disconnects_total",
            "API ingests stopped between batches because the client disconnected (whole batches kept)",
            ["route"],
            registry=self.registry,
        )
        self.answers = Counter(
            "ragsearch_answers_total", "answers by status", ["status"], registry=self.registry
        )
