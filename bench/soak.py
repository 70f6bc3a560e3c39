"""Soak: mixed load on `ragsearch serve` while a CLI ingest adds and deletes documents on the same index.

    python -m bench.soak --home DIR [--index soak] [--minutes 10] [--docs 2000] [--dataset-dir DIR]
                         [--clients 2] [--think-ms 100] [--idle-queries 100] [--no-train] [--writers api,cli] [--json FILE]

1. Builds the home if needed: the first `--docs` SciFact abstracts ingested by `ragsearch ingest`, and an LTR
   model trained and promoted (`ragsearch train`) so mode ltr is served, not refused. The abstracts after
   them are the pool the writers draw real, distinct texts from (`<home>/soak-pool.json` keeps the cursor,
   so a second run on the same home never writes a text that an earlier run left in the index).
2. Starts `ragsearch serve` on a free loopback port, the LLM pointed at a closed port (answers fall back).
3. Idle: `--idle-queries` real queries per mode, one at a time, nothing else of ours running; half before
   the load and half after it (the loops stopped), so a drift in what else runs on the machine hits both.
4. For `--minutes`: `--clients` search clients (modes at random, real queries, `--think-ms` pauses: a steady
   mixed load, not saturation, which is `bench.load`'s measure), one `/answer` client, one API writer (POST
   /documents, DELETE /documents/ID) and one loop of `ragsearch ingest` / `ragsearch delete` processes (2 in,
   1 out per step), each writer keeping a ledger of the writes acknowledged (HTTP 200, exit 0).
5. Then, with the loops stopped: every acknowledged-live document is fetched by id with its text and found
   by its own text in bm25 and dense (in the top 3: SciFact has near-duplicate abstracts), every
   acknowledged-deleted one is gone (404, and not in the bm25 hits for its text), the index holds exactly the
   base passages plus the live ones, and `ragsearch indexes check` says consistent, with the server up.

Requirements (exit 1 on a miss): no 5xx, no transport error, no other unexpected status, the server alive
throughout, search p95 under load (all modes pooled, the same mode mix as idle) within 2x of idle, and
the consistency checks above. Per-mode ratios are printed too.

Why a threaded httpx client and not locust (`bench.load`): the point is a stateful workload whose writes
go into a ledger that is checked against the index at the end, plus a CLI process loop; locust's users
measure throughput of independent requests and would need the same ledger code around them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.latency import percentiles
from bench.load import free_port, start_server
from bench.soakwork import (
    KEY,
    REPO,
    Ledger,
    Pool,
    Stats,
    answerer,
    api_writer,
    cli,
    cli_reader,
    cli_writer,
    idle_latency,
    searcher,
    verify,
    worker,
)
from ragsearch.app.settings import get_settings
from ragsearch.rerank.registry import ModelRegistry

MODES = ("bm25", "dense", "hybrid", "ltr")


def child_env(home: Path, index: str, llm_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSEARCH_")}
    keep = (
        "RAGSEARCH_EMBEDDING_ONNX_CACHE",
        "RAGSEARCH_DATA_DIR",
        "RAGSEARCH_EMBEDDING_QUERY_THREADS",
        "RAGSEARCH_CLI_NICE",
        "RAGSEARCH_CLI_IDLE",
        "RAGSEARCH_API_WRITE_NICE",
    )
    env.update({k: os.environ[k] for k in keep if os.environ.get(k)})
    env.update(RAGSEARCH_HOME=str(home), RAGSEARCH_INDEX=index, RAGSEARCH_API_API_KEY=KEY, HF_HUB_OFFLINE="1",
               RAGSEARCH_LLM_BASE_URL=f"http://127.0.0.1:{llm_port}/v1", RAGSEARCH_LLM_API_KEY="none",
               RAGSEARCH_LLM_MAX_RETRIES="0", RAGSEARCH_LLM_TIMEOUT_S="5")  # fmt: skip
    return env


def prepare(args: argparse.Namespace, env: dict[str, str]) -> None:
    """The index of the first --docs abstracts, and a promoted LTR model, unless the home has them."""
    if not (args.home / "indexes" / args.index).exists():
        args.home.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "corpus.jsonl"
            with open(args.dataset_dir / "corpus.jsonl", encoding="utf-8") as f:
                src.write_text("".join(line for _, line in zip(range(args.docs), f, strict=False)))
            r = cli(env, "ingest", str(src), "--index", args.index, "--json")
            if r.returncode != 0:
                raise SystemExit(f"building the index failed: {r.stderr[-2000:]}")
    if args.train and ModelRegistry(args.home).promoted is None:
        r = cli(env, "train", str(args.dataset_dir), "--index", args.index, "--split", args.train_split,
                "--promote-if-better")  # fmt: skip
        if r.returncode != 0:
            raise SystemExit(f"training the LTR model failed: {r.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    s = get_settings()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, required=True, help="built on first use; reused after")
    ap.add_argument("--index", default="soak")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--docs", type=int, default=2000, help="abstracts in the index when the script builds it")
    ap.add_argument("--dataset-dir", type=Path, default=s.data_dir / "scifact")
    ap.add_argument("--clients", type=int, default=2, help="concurrent search clients")
    ap.add_argument("--think-ms", type=float, default=100.0, help="mean pause of a search client")
    ap.add_argument("--idle-queries", type=int, default=100, help="idle searches per mode")
    ap.add_argument("--no-train", dest="train", action="store_false", help="no LTR model: ltr not exercised")
    ap.add_argument("--train-split", default="train")
    ap.add_argument("--writers", default="api,cli", choices=["api,cli", "api", "cli", "cli-search", "none"],
                    help="which writers run; fewer tell what each costs the searches "
                         "(cli-search: a loop of `ragsearch search` processes, no write)")  # fmt: skip
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    env = child_env(args.home, args.index, free_port())  # nothing listens there: the LLM is down
    prepare(args, env)
    queries = [
        json.loads(x)["text"]
        for x in (args.dataset_dir / "queries.jsonl").read_text().splitlines()
        if x.strip()
    ]
    log = args.home / "soak-server.log"
    proc, url = start_server(env, log, cwd=REPO)
    promoted = any(m["promoted"] for m in httpx.get(f"{url}/models").json())
    modes = [m for m in MODES if m != "ltr" or promoted]  # without a model ltr is refused (422)
    idle, load, ledger, stop = Stats(), Stats(), Ledger(), threading.Event()
    pool = Pool(args.dataset_dir / "corpus.jsonl", args.home, args.docs)
    died = None
    try:
        base = httpx.get(f"{url}/health").json()["indexes"][args.index]
        idle_latency(url, queries[::2], modes, (args.idle_queries + 1) // 2, idle)
        jobs: list[tuple[Callable[..., None], tuple[Any, ...]]] = [
            (searcher, (url, queries, modes, stop, load, i, args.think_ms / 1e3)) for i in range(args.clients)
        ]
        jobs.append((answerer, (url, queries, stop, load)))
        if "api" in args.writers:
            jobs.append((api_writer, (url, pool, ledger, stop, load)))
        if args.writers == "cli-search":
            jobs.append((cli_reader, (env, args.index, queries, stop, load)))
        elif "cli" in args.writers:
            jobs.append((cli_writer, (env, args.index, pool, ledger, stop, load)))
        threads = [threading.Thread(target=worker, args=(load, fn, *fn_args)) for fn, fn_args in jobs]
        t0 = time.time()
        for t in threads:
            t.start()
        while time.time() - t0 < args.minutes * 60 and died is None:
            time.sleep(1)
            died = proc.poll()
        stop.set()
        for t in threads:
            t.join()
        soak_s = time.time() - t0
        if proc.poll() is None:
            idle_latency(url, queries[1::2], modes, args.idle_queries // 2, idle)
        died = proc.poll() if died is None else died
        consistency: dict[str, Any] = (
            verify(url, args.index, ledger, base) if died is None else {"problems": ["the server died"]}
        )
        check = cli(env, "indexes", "check", args.index, "--json")
        consistency["check"] = (
            json.loads(check.stdout) if check.stdout.strip() else {"error": check.stderr[-500:]}
        )
        died = proc.poll() if died is None else died
    finally:
        stop.set()
        proc.terminate()
        proc.wait(timeout=60)
    result = report(args, modes, idle, load, ledger, consistency, died, soak_s, log)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["passed"] else 1


def report(args: argparse.Namespace, modes: list[str], idle: Stats, load: Stats, ledger: Ledger,
           consistency: dict[str, Any], died: int | None, soak_s: float, log: Path) -> dict[str, Any]:  # fmt: skip
    def pooled(st: Stats) -> list[float]:
        return [x for m in modes for x in st.samples.get(f"search {m}", [])]

    kinds = sorted(set(load.samples) | set(load.errors))
    per_kind: dict[str, dict[str, Any]] = {k: {"ok": len(load.samples.get(k, [])), "errors": len(load.errors.get(k, [])),
                    **({"latency": percentiles(load.samples[k])} if load.samples.get(k) else {})} for k in kinds}  # fmt: skip
    idle_lat = {m: percentiles(idle.samples[f"search {m}"]) for m in modes if idle.samples.get(f"search {m}")}
    all_idle, all_load = pooled(idle), pooled(load)
    idle_p95 = percentiles(all_idle)["p95_ms"] if all_idle else float("nan")
    load_p95 = percentiles(all_load)["p95_ms"] if all_load else float("nan")
    ratio = load_p95 / idle_p95 if all_idle and all_load else float("inf")
    check = consistency.get("check", {})
    counts_ok = consistency.get("passages") == consistency.get("expected_passages") or bool(ledger.uncertain)
    checks = {
        "no server errors (5xx)": not any("HTTP 5" in e for v in load.errors.values() for e in v),
        "no errors at all (transport, unexpected status, CLI failures)": not load.errors and not idle.errors,
        "server alive throughout": died is None,
        "search p95 under load within 2x of idle (all modes pooled)": ratio <= 2.0,
        "index holds exactly the acknowledged writes": not consistency["problems"] and counts_ok,
        "ragsearch indexes check: consistent": bool(check.get("consistent"))
        and check.get("passages") == consistency.get("expected_passages"),
    }
    w = sys.stdout.write
    w(f"soak: {soak_s / 60:.1f} min on index {args.index} ({consistency.get('expected_passages')} passages at the end), "
      f"{args.clients} search clients, modes {', '.join(modes)}, writers {args.writers}\n\n")  # fmt: skip
    w(f"{'kind':<14}{'ok':>8}{'errors':>8}{'p50 ms':>10}{'p95 ms':>10}{'idle p95':>10}{'ratio':>7}\n")
    for k in kinds:
        lat, idle_k = per_kind[k].get("latency", {}), idle_lat.get(k.removeprefix("search "), {})
        r = f"{lat['p95_ms'] / idle_k['p95_ms']:.2f}" if lat and idle_k else ""
        w(f"{k:<14}{per_kind[k]['ok']:>8}{per_kind[k]['errors']:>8}{lat.get('p50_ms', float('nan')):>10.1f}"
          f"{lat.get('p95_ms', float('nan')):>10.1f}{idle_k.get('p95_ms', float('nan')):>10.1f}{r:>7}\n")  # fmt: skip
    w(
        f"{'search, all':<14}{len(all_load):>8}{'':>8}{'':>10}{load_p95:>10.1f}{idle_p95:>10.1f}{ratio:>7.2f}\n\n"
    )
    server = {
        st: [x for m in modes for x in stt.samples.get(f"server {m}", [])]
        for st, stt in (("idle", idle), ("load", load))
    }
    if server["idle"] and server["load"]:  # took_ms: the search itself, without HTTP, the logs and the client
        si, sl = percentiles(server["idle"])["p95_ms"], percentiles(server["load"])["p95_ms"]
        w(
            f"server's own share (took_ms), all modes: p95 idle {si:.1f} ms, load {sl:.1f} ms, ratio {sl / si:.2f}\n"
        )
    w(f"answers by status: {load.answer_status}; search notices: {sorted(load.notices)[:3]}\n")
    w(f"ledger: {len(ledger.live)} live, {len(ledger.gone)} deleted, {len(ledger.uncertain)} uncertain; "
      f"index {consistency.get('passages')} passages, expected {consistency.get('expected_passages')}; "
      f"check: {'consistent' if check.get('consistent') else check}\n")  # fmt: skip
    for kind, errs in load.errors.items():
        w(f"errors {kind}: {len(errs)}, e.g. {errs[0]}\n")
    for p in consistency["problems"][:10]:
        w(f"problem: {p}\n")
    if died is not None:
        w(f"server exited with {died}; its log: {log}\n")
    for name, ok in checks.items():
        w(f"{'PASS' if ok else 'FAIL'}  {name}\n")
    return {"minutes": soak_s / 60, "index": args.index, "writers": args.writers, "clients": args.clients, "modes": modes,
            "idle_latency": idle_lat, "idle_search_p95_ms": idle_p95, "load_search_p95_ms": load_p95,
            "p95_ratio": ratio, "server_took_p95_ms": {k: percentiles(v)["p95_ms"] for k, v in server.items() if v},
            "kinds": per_kind, "errors": load.errors | {f"idle {k}": v for k, v in idle.errors.items()},
            "answer_status": load.answer_status, "notices": sorted(load.notices), "server_exit": died,
            "consistency": consistency, "checks": checks, "passed": all(checks.values())}  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
