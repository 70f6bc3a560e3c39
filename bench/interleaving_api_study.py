"""Online interleaving through the REAL API with SIMULATED users (issue 16): the product path end to end.

    python -m bench.interleaving_api_study --home DIR --model v0001 [--pair hybrid-ltr|bm25-hybrid|aa]
        [--seeds 3] [--first-seed 100] [--traffic 0.5] [--max-sessions 40000] [--batch 100] [--clients 2]
        [--json FILE]

For each seed: DIR is copied (DIR must hold index `scifact` and LTR model `--model`); the copy serves the
default hybrid (its serving record for scifact is removed), or bm25 for `--pair bm25-hybrid` (written into
the copy's serving record as study setup); `ragsearch online start --candidate ltr:MODEL` (hybrid for
bm25-hybrid; `--aa` for the A/A pair: hybrid against itself) `--traffic T --min-sessions 0` starts an
experiment; `ragsearch serve` runs on loopback; bench.click_simulator
(a simulator: users examine rank r with probability 1/r and click by the human grade) sends SciFact test
queries with fresh session ids in batches (the candidate's latency budget is raised to `--latency-budget-ms`,
60 s, so that a busy machine does not stop the experiment: this measures the decision, not latency); after each batch `GET /online` is read, until the experiment
is decided or `--max-sessions` sessions were sent. Reported per seed: sessions sent, interleaved sessions and
impressions at the decision (from the experiment's record), wins/losses/ties, the decision, and the time
taken. bench.interleaving_study replays the same user model in-process over 20 seeds; this runs the served
product (sticky sessions, the traffic cap, the impression log, the server's own decision), slower.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench.click_simulator import run_sessions
from bench.load import start_server
from ragsearch.app.services import default_search_config
from ragsearch.app.settings import load_settings
from ragsearch.eval.data import JudgedSplit, load_split
from ragsearch.search.config import Mode
from ragsearch.search.serving import ServingStore

DATA = Path(os.environ.get("RAGSEARCH_DATA_DIR", "../shared/data"))


def ragsearch(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSEARCH_")} | {
        "RAGSEARCH_HOME": str(home)
    }
    cmd = [sys.executable, "-c", "from ragsearch.app.cli import main; main()", *args]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise SystemExit(f"ragsearch {' '.join(args)} failed: {r.stderr[-2000:]}")
    return r


def sessions(url: str, split: JudgedSplit, n: int, seed: int) -> None:
    with httpx.Client(base_url=url, timeout=120) as c:
        run_sessions(c, split.queries, split.qrels, n, seed=seed)


def one_seed(src: Path, model: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    split = load_split(args.data / "scifact", "test")
    with tempfile.TemporaryDirectory(prefix="ilapi-") as tmp:
        home = Path(tmp) / "home"
        shutil.copytree(src, home, symlinks=True)
        (home / "serving" / "scifact.json").unlink(missing_ok=True)
        for old in (home / "online").glob("*.json") if (home / "online").exists() else []:
            old.unlink()
        if args.pair == "bm25-hybrid":  # study setup: the copy serves bm25
            base = default_search_config(load_settings(home=home))
            ServingStore(home).promote(
                "scifact", "bm25", base.replace(mode=Mode.BM25), {"note": "study setup"}
            )
        side = {"hybrid-ltr": ["--candidate", f"ltr:{model}"], "bm25-hybrid": ["--candidate", "hybrid"],
                "aa": ["--aa"]}[args.pair]  # fmt: skip
        ragsearch(home, "online", "start", "--index", "scifact", *side, "--traffic", str(args.traffic),
                  "--min-sessions", "0", "--max-sessions", str(args.max_sessions))  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSEARCH_")}
        proc, url = start_server(
            {
                **env,
                "RAGSEARCH_HOME": str(home),
                "RAGSEARCH_INDEX": "scifact",
                "RAGSEARCH_ONLINE_MAX_CANDIDATE_LATENCY_MS": str(args.latency_budget_ms),
            }
        )
        sent, t0, exp = 0, time.perf_counter(), {}
        try:
            with httpx.Client(base_url=url, timeout=120) as api:
                while sent < args.max_sessions:
                    share = args.batch // args.clients
                    seeds = [seed * 1_000_003 + sent + c * share for c in range(args.clients)]
                    with ThreadPoolExecutor(args.clients) as pool:  # one connection per client thread
                        list(pool.map(partial(sessions, url, split, share), seeds))
                    sent += share * args.clients
                    exp = api.get("/online").json()["experiment"]
                    if exp["status"] != "running":
                        break
        finally:
            proc.terminate()
            proc.wait(30)
        res = exp.get("result") or {}
        return {"pair": args.pair, "seed": seed, "sessions_sent": sent, "status": exp.get("status"), "decision": exp.get("decision"),
                "interleaved_sessions": res.get("sessions", exp.get("sessions")),
                "impressions": res.get("impressions", exp.get("impressions")), "wins": res.get("wins", exp.get("wins")),
                "losses": res.get("losses", exp.get("losses")), "ties": res.get("ties", exp.get("ties")),
                "reason": exp.get("reason"), "seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--pair", choices=("hybrid-ltr", "bm25-hybrid", "aa"), default="hybrid-ltr",
                    help="served-candidate pair (aa: hybrid against itself)")  # fmt: skip
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=100)
    ap.add_argument("--traffic", type=float, default=0.5)
    ap.add_argument("--max-sessions", type=int, default=40_000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--clients", type=int, default=2, help="concurrent simulated users (each its own seed)")
    ap.add_argument(
        "--latency-budget-ms",
        type=float,
        default=60_000,
        help="the candidate's latency budget: high, so a busy machine does not stop the study",
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        rows.append(one_seed(args.home, args.model, seed, args))
        sys.stdout.write(json.dumps(rows[-1]) + "\n")
        sys.stdout.flush()
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
