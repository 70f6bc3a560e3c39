"""Search at scale: a synthetic index of N passages (default 1M), latency per mode and HNSW recall.

    python -m bench.scale --home /tmp/scale [--passages 1000000] [--queries 200] [--json FILE]

How the synthetic passages are made (no encoder run, which would take hours here): words are drawn from
SciFact's unigram distribution (a 6-word title, a 40-word text); each vector is a unit-normalised mix of
two real SciFact document embeddings (0.7/0.3) plus Gaussian noise (sigma 0.01 per dimension), taken from
an existing real index (`--source-index`, default `scifact` under RAGSEARCH_HOME). Queries are real SciFact
test claims encoded by the real model at query time, so latencies include query encoding.
The build is done once and reused (`--rebuild` to redo it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from bench.latency import machine, percentiles
from ragsearch.app.services import make_backend, make_embedder, make_engine
from ragsearch.app.settings import get_settings
from ragsearch.eval.data import load_split
from ragsearch.ingest.readers import read_source
from ragsearch.retrieval.embedded import EmbeddedBackend
from ragsearch.retrieval.types import EmbeddedPassage, IndexSpec, Passage
from ragsearch.search.config import SearchConfig, parse_mode
from ragsearch.search.engine import SearchEngine


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def build(target: EmbeddedBackend, name: str, n: int, dataset_dir: Path, source_vectors: np.ndarray, dim: int,
          model: str, batch: int = 20_000) -> float:  # fmt: skip
    rng = np.random.default_rng(7)
    counts: Counter[str] = Counter()
    for rec in read_source(dataset_dir):
        if isinstance(rec, Passage):
            counts.update(re.findall(r"[A-Za-z][A-Za-z\-]+", f"{rec.title} {rec.text}".lower()))
    words = np.array(list(counts))
    probs = np.array([counts[w] for w in words], dtype=np.float64)
    probs /= probs.sum()
    idx = target.create(name, IndexSpec(model, dim))
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        m = min(batch, n - start)
        toks = words[rng.choice(len(words), size=(m, 46), p=probs)]
        a = source_vectors[rng.integers(0, len(source_vectors), m)]
        b = source_vectors[rng.integers(0, len(source_vectors), m)]
        vecs = 0.7 * a + 0.3 * b + rng.normal(0, 0.01, size=(m, dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        items = []
        for i in range(m):
            p = Passage(f"s{start + i}", " ".join(toks[i, :6]), " ".join(toks[i, 6:]))
            items.append(EmbeddedPassage(p, vecs[i].astype(np.float32), f"h{start + i}"))
        idx.upsert(items)
        done = start + m
        rate = done / (time.perf_counter() - t0)
        sys.stderr.write(f"\rbuilt {done}/{n} passages ({rate:.0f}/s)")
    sys.stderr.write("\n")
    idx.close()
    return time.perf_counter() - t0


def memory_of(
    home: Path, name: str, vector_index: str, embedder: Any, queries: list[str], rss0: float
) -> dict[str, Any]:
    """Serving memory alone: this process opens the index one way, answers the queries, reports RSS growth."""
    idx = EmbeddedBackend(home, vector_index=vector_index).open(name)
    engine = SearchEngine(idx, embedder)
    for q in queries:
        engine.search(q, SearchConfig(mode=parse_mode("hybrid"), k=10))
    rss = rss_mb()
    passages = idx.count()
    sys.stdout.write(
        f"{passages:,} passages, vector index {vector_index}: RSS {rss0:.0f} MB before opening (model loaded), "
        f"{rss:.0f} MB after {len(queries)} hybrid queries: +{rss - rss0:.0f} MB for the index\n"
    )
    idx.close()
    return {
        "vector_index": vector_index,
        "passages": passages,
        "rss_before_open_mb": rss0,
        "rss_after_queries_mb": rss,
        "mb_per_million_passages": (rss - rss0) * 1e6 / max(passages, 1),
    }


def main(argv: list[str] | None = None) -> int:
    s = get_settings()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, required=True, help="where the synthetic index lives")
    ap.add_argument("--passages", type=int, default=1_000_000)
    ap.add_argument("--dataset-dir", type=Path, default=s.data_dir / "scifact")
    ap.add_argument("--source-index", default="scifact")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument(
        "--ann",
        type=lambda v: [x for x in v.split(",") if x],
        default=["ivf"],
        help="approximate indexes to measure against exact: ivf, hnsw (comma-separated)",
    )
    ap.add_argument(
        "--memory",
        choices=["exact", "ivf", "hnsw"],
        default=None,
        help="only measure this process's memory serving hybrid queries with this vector index",
    )
    ap.add_argument("--ltr-model", default=None,
                    help="LTR model version in RAGSEARCH_HOME's registry: adds mode ltr (100 + 100 candidates)")  # fmt: skip
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    name = f"synthetic-{args.passages}"
    embedder = make_embedder(s)
    target = EmbeddedBackend(args.home, vector_index="exact")
    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
                              "passages": args.passages}  # fmt: skip
    if args.rebuild and target.exists(name):
        target.drop(name)
    if not target.exists(name):
        src = make_backend(s).open(args.source_index)
        ids = [r.id for r in read_source(args.dataset_dir) if isinstance(r, Passage)]
        vectors = np.stack(list(src.vectors(ids).values()))
        src.close()
        result["build_seconds"] = build(target, name, args.passages, args.dataset_dir, vectors, embedder.dim,
                                        embedder.name)  # fmt: skip
    result["disk_mb"] = dir_mb(target.root / name)

    queries = list(load_split(args.dataset_dir, "test").queries.values())[: args.queries]
    embedder.embed_queries(queries[:2])
    rss0 = rss_mb()
    if args.memory:
        mem = memory_of(args.home, name, args.memory, embedder, queries, rss0)
        if args.json:
            args.json.write_text(json.dumps({**result, "memory": mem}, indent=2) + "\n")
        return 0
    latency: dict[str, Any] = {}
    recall: dict[str, float] = {}
    rss: dict[str, float] = {"before_open": rss0}
    exact_idx = EmbeddedBackend(args.home, vector_index="exact").open(name)
    exact_idx.vector_search(embedder.embed_queries(queries[:1])[0], 10)  # maps the vector file
    truth = [{h.id for h in exact_idx.vector_search(v, 100)} for v in embedder.embed_queries(queries)]
    for vector_index in ("exact", *args.ann):
        t_open = time.perf_counter()
        idx = (
            exact_idx
            if vector_index == "exact"
            else EmbeddedBackend(args.home, vector_index=vector_index).open(name)
        )
        engine = make_engine(idx, embedder, s)
        base = SearchConfig(k=10, ltr_model=args.ltr_model)
        engine.search(queries[0], base.replace(mode=parse_mode("dense")))  # builds or loads the ANN index
        latency[f"open_and_warm_{vector_index}_s"] = time.perf_counter() - t_open
        use_ltr = bool(args.ltr_model) and vector_index != "exact"
        modes = ["bm25", "dense", "hybrid"] if vector_index != "exact" else ["dense", "hybrid"]
        for mode in [*modes, *(["ltr"] if use_ltr else [])]:
            samples = []
            config = base.replace(mode=parse_mode(mode))
            for q in queries:
                t0 = time.perf_counter()
                engine.search(q, config)
                samples.append((time.perf_counter() - t0) * 1e3)
            latency[f"{mode} ({vector_index} vectors)"] = percentiles(samples)
        if vector_index != "exact":
            got = [{h.id for h in idx.vector_search(v, 100)} for v in embedder.embed_queries(queries)]
            recall[vector_index] = float(
                np.mean([len(t & g) / len(t) for t, g in zip(truth, got, strict=True)])
            )
        rss[f"after_{vector_index}"] = rss_mb()
        if idx is not exact_idx:
            idx.close()  # saves the ANN index beside the vectors
    exact_idx.close()
    result["latency_ms"] = latency
    result["recall_at_100"] = recall
    result["rss_mb"] = rss
    result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    lines = [f"# ragsearch at scale: {args.passages:,} synthetic passages, {result['date']}", "",
             f"machine: {result['machine']}", f"index on disk: {result['disk_mb']:.0f} MB", ""]  # fmt: skip
    if "build_seconds" in result:
        lines.append(
            f"build: {result['build_seconds']:.0f} s ({args.passages / result['build_seconds']:.0f} passages/s, no encoder)"
        )
    lines += [
        "",
        f"| {len(queries)} real SciFact queries, k=10 | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---:|",
    ]
    for key, p in latency.items():
        if isinstance(p, dict):
            lines.append(f"| {key} | {p['p50_ms']:.1f} | {p['p95_ms']:.1f} | {p['p99_ms']:.1f} |")
    lines += [""]
    for kind, r in recall.items():
        lines.append(f"{kind} recall@100 against exact search: {r:.3f}")
    opened = ", ".join(
        f"{k.split('_')[3]} {v:.1f} s" for k, v in latency.items() if k.startswith("open_and_warm")
    )
    lines += [f"open + warm (builds an ANN index that is not on disk yet): {opened}",
              f"RSS MB: {json.dumps({k: round(v) for k, v in result['rss_mb'].items()})}, max {result['max_rss_mb']:.0f}"]  # fmt: skip
    sys.stdout.write("\n".join(lines) + "\n")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    raise SystemExit(main())
