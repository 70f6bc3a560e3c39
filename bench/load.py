"""Load test of the JSON API on loopback: closed-loop clients for a bounded time, real SciFact queries.

    python -m bench.load [--url http://127.0.0.1:8000 | --index NAME] [--clients 4] [--seconds 30]
                              [--mode hybrid] [--json FILE]

Without --url it starts `ragsearch serve` on a free loopback port for the given index, and stops it after.
The load is a headless locust run (`bench/locustfile.py`, FastHttpUser): each of --clients users sends the
next query as soon as the previous answer arrives; every non-200 answer and every transport error counts
as an error. Prints throughput and latency percentiles at that throughput; exit 1 on any error.
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from ragsearch.app.settings import get_settings
from ragsearch.eval.data import load_split

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    env: dict[str, str], log: Path | None = None, cwd: Path | None = None, timeout_s: float = 180
) -> tuple[subprocess.Popen[bytes], str]:
    """`ragsearch serve` on a free loopback port with `env`; returns once /health answers 200 (stderr to
    `log` when given)."""
    port = free_port()
    stderr = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-c", "from ragsearch.app.cli import main; main()", "serve", "--port", str(port)],
        env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=stderr,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout_s
    while time.time() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    why = log.read_text()[-2000:] if log else f"no answer in {timeout_s:g} s"
    raise SystemExit(f"the API did not start: {why}")


def run_load(url: str, queries: list[str], clients: int, seconds: float, mode: str) -> dict[str, Any]:
    """A headless locust run of `bench/locustfile.py` against `url`; its aggregate stats as a dict."""
    for q in queries[:3]:  # warm-up outside the measured window (model loads, first compilations)
        httpx.get(f"{url}/search", params={"q": q, "k": 10, "mode": mode}, timeout=120)
    with tempfile.TemporaryDirectory() as tmp:
        qfile = Path(tmp) / "queries.json"
        qfile.write_text(json.dumps(queries))
        env = {**os.environ, "RAGSEARCH_LOAD_QUERIES": str(qfile), "RAGSEARCH_LOAD_MODE": mode}
        cmd = [
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
            "-u", str(clients), "-r", "100", "-t", f"{seconds:g}s", "-H", url,
            "--csv", str(Path(tmp) / "run"), "--loglevel", "WARNING", "--exit-code-on-error", "0",
        ]  # fmt: skip
        done = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=seconds + 120, check=False
        )
        stats_file = Path(tmp) / "run_stats.csv"
        if done.returncode != 0 or not stats_file.is_file():
            raise SystemExit(f"locust failed (exit {done.returncode}): {done.stderr[-2000:]}")
        total = next(r for r in csv.DictReader(stats_file.open()) if r["Name"] == "Aggregated")
        failures = [r["Error"] for r in csv.DictReader((Path(tmp) / "run_failures.csv").open())]
    requests, errors = int(total["Request Count"]), int(total["Failure Count"])
    if requests == 0:
        raise SystemExit(
            f"locust completed no request in {seconds:g} s (it needs about 2 s to start); run longer"
        )
    ok = requests - errors
    return {
        "tool": f"locust {importlib.metadata.version('locust')}",
        "mode": mode,
        "clients": clients,
        "seconds": seconds,
        "requests": requests,
        "errors": errors,
        "error_kinds": sorted(set(failures)),
        "throughput_rps": float(total["Requests/s"]),
        # locust keeps response times rounded to 2 significant digits above 100 ms
        "latency": {
            "p50_ms": float(total["50%"]),
            "p95_ms": float(total["95%"]),
            "p99_ms": float(total["99%"]),
            "mean_ms": float(total["Average Response Time"]),
            "n": ok,
        }
        if ok
        else None,
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
        proc, url = start_server({**os.environ, "RAGSEARCH_INDEX": args.index})
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
