"""Benchmarks: latency, load, rerank, scale and ingest studies, and the report that runs them all."""
