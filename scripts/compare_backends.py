"""BM25 through the Elasticsearch backend vs the embedded backend on one judged dataset.

Copies an embedded index (passages and their stored vectors, so nothing is re-embedded) into an
Elasticsearch index, then runs every judged query's BM25 top-k on both and reports, for the queries
both analyzers tokenize the same: top-10 overlap, identical top-10 order, and nDCG@10 of each.

    python scripts/compare_backends.py --embedded-home /tmp/home --index scifact \
        --dataset ../shared/data/scifact --es-url http://127.0.0.1:9200 [--docs-check]

Against the noida-db emulator this measures the emulator, not a real Elasticsearch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from ragsearch.eval.data import load_split
from ragsearch.eval.metrics import evaluate
from ragsearch.eval.runs import to_run
from ragsearch.ingest.readers import read_source
from ragsearch.retrieval.elasticsearch import ElasticsearchBackend, ElasticsearchIndex
from ragsearch.retrieval.embedded import EmbeddedBackend
from ragsearch.retrieval.es_connection import EsConnection
from ragsearch.retrieval.es_requests import ANALYZER
from ragsearch.retrieval.types import EmbeddedPassage, ScoredId


def es_tokens(index: ElasticsearchIndex, texts: list[str]) -> list[list[str]]:
    return [
        [
            t["token"]
            for t in index.client.indices.analyze(index=index.name, analyzer=ANALYZER, text=x)["tokens"]
        ]
        for x in texts
    ]


def copy_index(
    src: EmbeddedBackend, name: str, es: ElasticsearchBackend, es_name: str, ids: list[str]
) -> float:
    emb = src.open(name)
    if es.exists(es_name):
        es.client.indices.delete(index=es_name)
    dst = es.create(es_name, emb.spec)
    t0 = time.perf_counter()
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        vecs = emb.vectors(chunk)
        hashes = emb.content_hashes(chunk)
        dst.upsert([EmbeddedPassage(p, vecs[p.id], hashes[p.id]) for p in emb.get(chunk)])
    emb.close()
    return time.perf_counter() - t0


def doc_run(hits: list[ScoredId]) -> list[tuple[str, float]]:
    return [(h.doc_id, h.score) for h in hits]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--embedded-home", type=Path, required=True)
    ap.add_argument("--index", required=True)
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--es-url", required=True)
    ap.add_argument("--es-index", default=None)
    ap.add_argument("--skip-copy", action="store_true", help="the ES index is already filled")
    ap.add_argument("--docs-check", action="store_true", help="also compare the analyzers on every passage")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    es_name = args.es_index or args.index
    src = EmbeddedBackend(args.embedded_home)
    es = ElasticsearchBackend(EsConnection(url=args.es_url, request_timeout=300, max_retries=1))
    ids = [r.id for r in read_source(args.dataset) if not isinstance(r, BaseException) and hasattr(r, "id")]
    copy_s = 0.0 if args.skip_copy else copy_index(src, args.index, es, es_name, ids)
    emb = src.open(args.index)
    dst = es.open(es_name)
    report: dict[str, object] = {
        "passages": dst.count(),
        "embedded_passages": emb.count(),
        "copy_seconds": round(copy_s, 1),
    }

    split = load_split(args.dataset, args.split)
    qids = list(split.queries)
    q_es = es_tokens(dst, [split.queries[q] for q in qids])
    same_tok = [q for q, toks in zip(qids, q_es, strict=True) if toks == emb.analyze(split.queries[q])]
    report["queries"] = len(qids)
    report["queries_same_tokens"] = len(same_tok)
    report["queries_other_tokens"] = {q: split.queries[q] for q in qids if q not in same_tok}

    if args.docs_check:
        diff = []
        for p in emb.get(ids):
            for field in (p.title, p.text):
                if es_tokens(dst, [field])[0] != emb.analyze(field):
                    diff.append(p.id)
                    break
        report["passages_other_tokens"] = diff

    runs: dict[str, dict[str, list[tuple[str, float]]]] = {"embedded": {}, "elasticsearch": {}}
    overlap, same_order, ratios = [], 0, []
    t_es = t_emb = 0.0
    for q in qids:
        text = split.queries[q]
        t0 = time.perf_counter()
        a = emb.bm25_search(text, 100)
        t1 = time.perf_counter()
        b = dst.bm25_search(text, 100)
        t2 = time.perf_counter()
        t_emb += t1 - t0
        t_es += t2 - t1
        runs["embedded"][q], runs["elasticsearch"][q] = doc_run(a), doc_run(b)
        if q in same_tok:
            ta, tb = [h.id for h in a[:10]], [h.id for h in b[:10]]
            overlap.append(len(set(ta) & set(tb)) / max(1, min(10, len(ta), len(tb))))
            same_order += ta == tb
            if a and b:
                ratios.append(b[0].score / a[0].score)
    report["top10_overlap_mean"] = round(statistics.fmean(overlap), 4)
    report["top10_overlap_min"] = round(min(overlap), 4)
    report["top10_identical_order"] = same_order
    report["top1_score_ratio_es_over_embedded_median"] = round(statistics.median(ratios), 4)
    report["bm25_ms_per_query"] = {
        "embedded": round(1e3 * t_emb / len(qids), 1),
        "elasticsearch": round(1e3 * t_es / len(qids), 1),
    }
    for name, ranked in runs.items():
        ev_all = evaluate(split.qrels, to_run(ranked), ["nDCG@10", "R@100"])
        sub = {q: split.qrels[q] for q in same_tok}
        ev_same = evaluate(sub, to_run({q: ranked[q] for q in same_tok}), ["nDCG@10"])
        report[f"{name}_nDCG@10"] = round(ev_all.means["nDCG@10"], 4)
        report[f"{name}_R@100"] = round(ev_all.means["R@100"], 4)
        report[f"{name}_nDCG@10_same_token_queries"] = round(ev_same.means["nDCG@10"], 4)
    out = json.dumps(report, indent=2, ensure_ascii=False)
    sys.stdout.write(out + "\n")
    if args.json:
        args.json.write_text(out + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
