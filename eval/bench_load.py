"""Load test of the JSON API on loopback: closed-loop clients for a bounded time, real SciFact queries.

    python -m eval.bench_load [--url http://127.0.0.1:8000 | --index NAME] [--clients 4] [--seconds 30]
                              [--mode hybrid] [--json FILE]

Without --url it starts `ragsearch serve` on a free loopback port for the given index, and stops it after.
Each client sends the next query as soon as the previous answer arrives; every non-200 answer and every
transport error counts as an error. Prints throughput and latency percentiles at that throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from app.settings import get_settings
from eval.bench import percentiles
from eval.data import load_split


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(index: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "RAGSEARCH_INDEX": index}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from app.cli import main; main()", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the API did not start in 120 s")


def run_load(url: str, queries: list[str], clients: int, seconds: float, mode: str) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = 0.0

    def client(offset: int) -> None:
        i = offset
        with httpx.Client(base_url=url, timeout=30) as c:
            while time.time() < stop:
                q = queries[i % len(queries)]
                i += clients
                t0 = time.perf_counter()
                try:
                    r = c.get("/search", params={"q": q, "k": 10, "mode": mode})
                    ok = r.status_code == 200
                    why = f"HTTP {r.status_code}"
                except httpx.HTTPError as exc:
                    ok, why = False, type(exc).__name__
                ms = (time.perf_counter() - t0) * 1e3
                with lock:
                    if ok:
                        latencies.append(ms)
                    else:
                        errors.append(why)

    for q in queries[:3]:  # warm-up outside the measured window
        httpx.get(f"{url}/search", params={"q": q, "k": 10, "mode": mode}, timeout=120)
    t0 = time.time()
    stop = t0 + seconds
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - t0
    return {
        "mode": mode,
        "clients": clients,
        "seconds": elapsed,
        "requests": len(latencies) + len(errors),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "throughput_rps": (len(latencies) + len(errors)) / elapsed,
        "latency": percentiles(latencies) if latencies else None,
    }


def main(argv: list[str] | None = None) -> int:
    s = get_settings()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url")
    ap.add_argument("--index", default="scifact")
    ap.add_argument("--dataset-dir", type=Path, default=s.data_dir / "scifact")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--mode", default="hybrid")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    queries = list(load_split(args.dataset_dir, "test").queries.values())
    proc = None
    url = args.url
    if url is None:
        proc, url = start_server(args.index)
    try:
        result = run_load(url, queries, args.clients, args.seconds, args.mode)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    lat = result["latency"] or {}
    sys.stdout.write(
        f"load: {result['clients']} clients x {result['seconds']:.0f} s, mode {args.mode}: {result['requests']} requests, "
        f"{result['errors']} errors {result['error_kinds']}, {result['throughput_rps']:.1f} req/s, "
        f"p50 {lat.get('p50_ms', float('nan')):.1f} ms, p95 {lat.get('p95_ms', float('nan')):.1f} ms, "
        f"p99 {lat.get('p99_ms', float('nan')):.1f} ms\n"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
