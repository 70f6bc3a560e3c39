"""A process holding one embedded index open, driven by JSON commands on stdin (one per line); each answer
is one stdout line starting with `@@ ` (other output, e.g. logs, is ignored by the driver).

Usage: python -m tests.retrieval.index_worker HOME NAME [--real] [--lock-timeout S] [--vector-index KIND]
test_embedded_processes.py starts it as "another process" that serves, writes, crashes or holds the lock.
Vectors come from the FAKE hash embedder (the contract's, dim 64) unless --real (all-MiniLM-L6-v2).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from ragsearch.retrieval.embedded import EmbeddedBackend, EmbeddedIndex
from ragsearch.retrieval.embedding import Embedder, passage_text
from ragsearch.retrieval.types import EmbeddedPassage, Passage


def passages(rows: list[list[str]]) -> list[Passage]:
    return [Passage(r[0], r[1], r[2], r[3] if len(r) > 3 else r[0]) for r in rows]


def embedded(embedder: Embedder, ps: list[Passage]) -> list[EmbeddedPassage]:
    vecs = embedder.embed_documents([passage_text(p.title, p.text) for p in ps])
    return [EmbeddedPassage(p, v, p.content_hash()) for p, v in zip(ps, vecs, strict=True)]


def audit(index: EmbeddedIndex, embedder: Embedder, ps: list[Passage], bm25_k: int) -> list[str]:
    """Each passage must be its own top dense hit and among the top `bm25_k` BM25 hits for its own text."""
    failures = []
    queries = embedder.embed_queries([passage_text(p.title, p.text) for p in ps])
    for p, q in zip(ps, queries, strict=True):
        dense = [h.id for h in index.vector_search(q, 1)]
        if dense != [p.id]:
            failures.append(f"{p.id}: dense top hit {dense}")
        bm25 = [h.id for h in index.bm25_search(passage_text(p.title, p.text), bm25_k)]
        if p.id not in bm25:
            failures.append(f"{p.id}: not in BM25 top {bm25_k} {bm25}")
    return failures


def search_loop(
    index: EmbeddedIndex, embedder: Embedder, texts: list[str], seconds: float, until: str | None
) -> dict[str, Any]:
    """Search bm25 and dense until the file `until` exists (or `seconds` pass); answers "searching" once
    started, then how many searches ran, any errors, and the count seen at the end."""
    q = embedder.embed_queries(texts)
    print("@@ " + json.dumps({"ok": "searching"}), flush=True)
    done, errors, deadline = 0, [], time.monotonic() + seconds
    while time.monotonic() < deadline and not (until and Path(until).exists()):
        i = done % len(texts)
        try:
            index.bm25_search(texts[i], 10)
            index.vector_search(q[i], 10)
            index.get([h.id for h in index.bm25_search(texts[i], 3)])
        except Exception as exc:  # reported to the test, which fails on any
            errors.append(f"{type(exc).__name__}: {exc}")
        done += 1
    return {"searches": done, "errors": errors[:5], "count": index.count()}


def run(index: EmbeddedIndex, embedder: Embedder, cmd: dict[str, Any]) -> Any:
    op = cmd["op"]
    if op == "upsert":
        index.upsert(embedded(embedder, passages(cmd["passages"])))
        return index.count()
    if op == "upsert_batches":  # many small writes, racing another writer
        ps = passages(cmd["passages"])
        for i in range(0, len(ps), cmd["size"]):
            index.upsert(embedded(embedder, ps[i : i + cmd["size"]]))
        return index.count()
    if op == "delete":
        return index.delete(cmd["ids"])
    if op == "count":
        return index.count()
    if op == "bm25":
        return [h.id for h in index.bm25_search(cmd["q"], cmd.get("k", 10))]
    if op == "dense":
        return [h.id for h in index.vector_search(embedder.embed_queries([cmd["q"]])[0], cmd.get("k", 10))]
    if op == "audit":
        return audit(index, embedder, passages(cmd["passages"]), cmd.get("bm25_k", 3))
    if op == "search_loop":
        return search_loop(index, embedder, cmd["texts"], cmd["seconds"], cmd.get("until"))
    if op == "compact":
        return index.compact()
    if op == "check":
        return dataclasses.asdict(index.check())
    if op == "repair":
        return dataclasses.asdict(index.repair(embedder))
    if op == "hold_lock":  # hold the write lock as a long write would
        with index._write_lock.hold():
            print("@@ " + json.dumps({"ok": "locked"}), flush=True)
            time.sleep(cmd["seconds"])
        return "released"
    if op == "die_after_append":  # SIGKILL between the vector append and the SQLite commit
        from ragsearch.retrieval.embedded.store import Store

        Store.put = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)  # type: ignore[method-assign]
        index.upsert(embedded(embedder, passages(cmd["passages"])))
        return "not reached"
    if op == "die_in_compact":  # SIGKILL after the next generation's file is written, before the switch
        from ragsearch.retrieval.embedded.store import Store

        Store.move_slots = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)  # type: ignore[method-assign]
        index.compact()
        return "not reached"
    raise ValueError(f"unknown op {op!r}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("home", type=Path)
    ap.add_argument("name")
    ap.add_argument("--real", action="store_true")
    ap.add_argument("--lock-timeout", type=float, default=30.0)
    ap.add_argument("--vector-index", default="exact")
    args = ap.parse_args()
    embedder: Embedder
    if args.real:
        from ragsearch.retrieval.embedding import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder("all-MiniLM-L6-v2")
    else:
        from tests.retrieval.contract import EMB

        embedder = EMB
    index = EmbeddedBackend(args.home, args.vector_index, lock_timeout_s=args.lock_timeout).open(args.name)
    print("@@ " + json.dumps({"ok": os.getpid()}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "quit":
            break
        try:
            answer = {"ok": run(index, embedder, cmd)}
        except Exception as exc:
            answer = {"error": type(exc).__name__, "message": str(exc)}
        print("@@ " + json.dumps(answer), flush=True)
    index.close()


if __name__ == "__main__":
    main()
