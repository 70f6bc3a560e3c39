"""The added latency of "why this result": `python -m bench.explain`.

For each query the served LTR model reranks the first-stage candidates of the default configuration once
(untimed); then explaining its top 10 (`LtrReranker.explain`: TreeSHAP on their 10 feature rows, grouped
into families) is timed, the step `search(..., explain=True)` adds to an ltr search. Also timed: the
fusion arithmetic of a hybrid top 10 (`explain_fusion`), and whole ltr searches with and without explain
(interleaved, so load on the machine hits both alike). p50/p95 over the queries; the ltr explanation's
thread CPU time too, which a busy machine does not inflate. TreeSHAP's cost grows with the trees (and
leaves x depth^2 each): about 1.4 ms of CPU per 100 trees of 15 leaves for 10 rows here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from bench.latency import percentiles
from ragsearch.app.services import default_search_config, make_backend, make_embedder, make_engine
from ragsearch.app.settings import get_settings
from ragsearch.eval.data import load_split
from ragsearch.rerank.explain import EXPLAIN_TOP, explain_fusion
from ragsearch.rerank.ltr import LtrReranker, rescored
from ragsearch.retrieval.searcher import order
from ragsearch.search.config import Mode


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dataset", type=Path, default=None, help="BEIR folder (default: <data_dir>/scifact)")
    p.add_argument("--index", default="scifact")
    p.add_argument("--split", default="test")
    p.add_argument("--model", default=None, help="model version (default: the promoted one)")
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--json", type=Path, help="also write the figures here")
    a = p.parse_args(argv)
    s = get_settings()
    split = load_split(a.dataset or s.data_dir / "scifact", a.split)
    texts = [split.queries[q] for q in list(split.queries)[: a.queries]]
    idx = make_backend(s).open(a.index)
    try:
        engine = make_engine(idx, make_embedder(s), s)
        config = default_search_config(s).replace(mode=Mode.LTR, ltr_model=a.model, k=EXPLAIN_TOP)
        reranker = engine.reranker(config)
        assert isinstance(reranker, LtrReranker), f"{reranker.name} is not an LTR model"
        retriever = engine.retriever(config)
        vectors = engine.encode(texts)
        ltr_ms: list[float] = []
        ltr_cpu_ms: list[float] = []
        fusion_ms: list[float] = []
        plain_ms: list[float] = []
        explained_ms: list[float] = []
        for text, vec in zip(texts, vectors, strict=True):
            cands = retriever.candidates(text, vec)
            fused = np.array([c.fused_score or 0.0 for c in cands])
            features = reranker.logger.features(text, cands, vec)
            scores = reranker.model.predict(features, fused)
            hits = order([rescored(c, float(x)) for c, x in zip(cands, scores.tolist(), strict=True)])
            t0, c0 = time.perf_counter(), time.thread_time()
            why = reranker.explain(cands, features, fused, hits[:EXPLAIN_TOP])
            t1, c1 = time.perf_counter(), time.thread_time()
            ltr_cpu_ms.append((c1 - c0) * 1e3)
            explain_fusion(
                cands, config.fusion, config.dense_weight, config.rrf_k, [c.id for c in cands[:10]]
            )
            t2 = time.perf_counter()
            assert all(abs(e.total - e.score) < 1e-6 for e in why.values())
            ltr_ms.append((t1 - t0) * 1e3)
            fusion_ms.append((t2 - t1) * 1e3)
            for explain, into in ((False, plain_ms), (True, explained_ms)):
                t = time.perf_counter()
                engine.search(text, config, query_vector=vec, explain=explain)
                into.append((time.perf_counter() - t) * 1e3)
    finally:
        idx.close()
    m = reranker.model.manifest
    result = {
        "model": m.version,
        "trees": m.best_iteration,
        "features": len(m.feature_names),
        "tree_runtime": reranker.model.trees.name,
        "queries": len(texts),
        "explain_ltr_top10": percentiles(ltr_ms),
        "explain_ltr_top10_cpu": percentiles(ltr_cpu_ms),
        "explain_fusion_top10": percentiles(fusion_ms),
        "ltr_search": percentiles(plain_ms),
        "ltr_search_explained": percentiles(explained_ms),
    }
    out = sys.stdout.write
    out(f"model {m.version}: {m.best_iteration} trees, {len(m.feature_names)} features, index {a.index}, "
        f"{len(texts)} queries\n")  # fmt: skip
    for key, label in (("explain_ltr_top10", "explain ltr top 10"), ("explain_ltr_top10_cpu", "  (its CPU time)"),
                       ("explain_fusion_top10", "explain hybrid top 10"),
                       ("ltr_search", "ltr search"), ("ltr_search_explained", "ltr search, explain=True")):  # fmt: skip
        f = result[key]
        assert isinstance(f, dict)
        out(f"  {label:26s} p50 {f['p50_ms']:7.2f} ms   p95 {f['p95_ms']:7.2f} ms\n")
    if a.json:
        a.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
