"""Benchmark: search latency per mode (query encoding included) and ingest vs raw encoder throughput.

    python -m bench.latency [--dataset-dir DIR] [--index NAME] [--queries N] [--ingest-docs N] [--json FILE]

Prints figures; it asserts nothing. Run it on an otherwise idle machine: the numbers are wall-clock.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ragsearch.app.services import (
    default_search_config,
    make_backend,
    make_embedder,
    make_engine,
    make_registry,
)
from ragsearch.app.settings import get_settings
from ragsearch.eval.data import load_split
from ragsearch.ingest.pipeline import ingest_records
from ragsearch.ingest.readers import read_source
from ragsearch.retrieval.embedded import EmbeddedBackend
from ragsearch.retrieval.embedding import Embedder, passage_text
from ragsearch.retrieval.types import IndexSpec, Passage
from ragsearch.search.config import FIRST_STAGE_MODES, SearchConfig, parse_mode
from ragsearch.search.engine import SearchEngine


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    a = np.asarray(samples_ms)
    return {
        "p50_ms": float(np.percentile(a, 50)),
        "p95_ms": float(np.percentile(a, 95)),
        "p99_ms": float(np.percentile(a, 99)),
        "mean_ms": float(a.mean()),
        "n": len(samples_ms),
    }


def bench_search(
    engine: SearchEngine, queries: list[str], modes: list[str], base: SearchConfig
) -> dict[str, dict[str, float]]:
    configs = {mode: base.replace(mode=parse_mode(mode), k=10) for mode in modes}

    def run(q: str, mode: str) -> None:
        engine.search(q, configs[mode])

    for q in queries[:5]:  # warm-up: model load, caches
        for mode in modes:
            run(q, mode)
    out: dict[str, dict[str, float]] = {}
    enc: list[float] = []
    for q in queries:
        t0 = time.perf_counter()
        engine.encode([q])
        enc.append((time.perf_counter() - t0) * 1e3)
    out["query_encoding"] = percentiles(enc)
    for mode in modes:
        samples = []
        for q in queries:
            t0 = time.perf_counter()
            run(q, mode)
            samples.append((time.perf_counter() - t0) * 1e3)
        out[mode] = percentiles(samples)
    return out


def bench_ingest(embedder: Embedder, passages: list[Passage], batch_size: int) -> dict[str, float]:
    texts = [passage_text(p.title, p.text) for p in passages]
    embedder.embed_documents(texts[:batch_size], batch_size=batch_size)  # warm-up
    t0 = time.perf_counter()
    embedder.embed_documents(texts, batch_size=batch_size)
    raw = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        idx = EmbeddedBackend(Path(tmp)).create("bench", IndexSpec(embedder.name, embedder.dim))
        t0 = time.perf_counter()
        report = ingest_records(iter(passages), idx, embedder, batch_size=batch_size)
        total = time.perf_counter() - t0
        idx.close()
    assert report.embedded == len(passages)
    return {
        "passages": len(passages),
        "raw_encoder_passages_per_s": len(passages) / raw,
        "ingest_passages_per_s": len(passages) / total,
        "ingest_vs_raw": raw / total,
    }


def machine() -> dict[str, Any]:
    import torch

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": proc_field("/proc/cpuinfo", "model name"),
        "memory": proc_field("/proc/meminfo", "MemTotal"),
    }


def proc_field(path: str, key: str) -> str | None:
    """The value of the first `key: value` line of a /proc file (Linux), or None elsewhere."""
    try:
        with open(path) as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.strip() == key:
                    return value.strip()
    except OSError:
        return None
    return None


def main(argv: list[str] | None = None) -> int:
    s = get_settings()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset-dir", type=Path, default=s.data_dir / "scifact")
    ap.add_argument("--index", default="scifact", help="an index already built from the dataset")
    ap.add_argument("--split", default="test")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--ingest-docs", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    embedder = make_embedder(s)
    split = load_split(args.dataset_dir, args.split)
    queries = list(split.queries.values())[: args.queries]
    idx = make_backend(s).open(args.index)
    engine = make_engine(idx, embedder, s)
    ltr_model = s.rerank.model or make_registry(s).promoted
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "index": {"name": args.index, "passages": idx.count(), "dataset": str(args.dataset_dir)},
        "search_latency": bench_search(
            engine,
            queries,
            [*FIRST_STAGE_MODES, *(["ltr"] if ltr_model else [])],
            default_search_config(s),
        ),
        "ltr_model": f"ltr:{ltr_model}" if ltr_model else None,
    }
    idx.close()
    passages = [r for r in read_source(args.dataset_dir) if isinstance(r, Passage)][: args.ingest_docs]
    result["ingest"] = bench_ingest(embedder, passages, args.batch_size)

    lines = [f"# ragsearch benchmark, {result['date']}", "", f"machine: {result['machine']}", ""]
    lines += [
        f"search latency on {args.index} ({result['index']['passages']} passages), {len(queries)} queries, k=10:",
        "",
        "| stage | p50 ms | p95 ms | p99 ms | mean ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, p in result["search_latency"].items():
        lines.append(
            f"| {name} | {p['p50_ms']:.1f} | {p['p95_ms']:.1f} | {p['p99_ms']:.1f} | {p['mean_ms']:.1f} |"
        )
    ing = result["ingest"]
    lines += [
        "",
        f"ingest of {ing['passages']} passages (batch {args.batch_size}): "
        f"{ing['ingest_passages_per_s']:.1f} passages/s; raw encoder {ing['raw_encoder_passages_per_s']:.1f} "
        f"passages/s; ingest/raw = {ing['ingest_vs_raw']:.2f}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
