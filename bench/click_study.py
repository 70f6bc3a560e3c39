"""Click judgments from SIMULATED users against human judgments, on SciFact (issue 14's clicks study).

    python -m bench.click_study --home DIR [--sessions 1000,10000] [--choose-at 10000] [--json FILE]

DIR holds index `scifact` (`ragsearch ingest DATA/scifact --index scifact`) serving the default hybrid. The
study starts a real `ragsearch serve` on DIR, and `bench.click_simulator` (a simulator: seeded users who
examine rank r with probability 1/r and click by the human grade) sends SciFact train queries through it.
After each stage (cumulative sessions) it builds click judgments with the position-based model (with its
default Beta prior on attractiveness, and with none: `--prior 0,0`), with raw CTR and with CTR under the
PBM prior's pseudo-counts, measures them against the human train judgments (Cohen's kappa on the pairs
either judges, a pair a list lacks counted as 0; Kendall's tau of bm25/dense/hybrid), and at the stages
named by --choose-at (default: all) lets `optimize` + `serve-config promote` choose on the click list (first
stages only), then measures what the index would serve on SciFact test. The same choice made with the human train
judgments is the reference.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx

from bench.click_simulator import run_sessions
from bench.load import start_server
from bench.serving_study import DATA, as_json, ragsearch, say
from ragsearch.eval.click_models import PBM_PRIOR
from ragsearch.eval.data import load_split

PRIOR = f"{PBM_PRIOR[0]:g},{PBM_PRIOR[1]:g}"
MODELS = {
    "pbm": ("pbm", PRIOR),
    "pbm-noprior": ("pbm", "0,0"),
    "ctr": ("ctr", "0,0"),
    "ctr-prior": ("ctr", PRIOR),
}
"""label -> (click model, --prior)"""


def serve(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSEARCH_")}
    return start_server({**env, "RAGSEARCH_HOME": str(home), "RAGSEARCH_INDEX": "scifact"})


def choose(home: Path, judgments: str) -> dict[str, Any]:
    """optimize + promote on `judgments` (first stages), the test figure of what the index then serves, and
    a rollback so the next stage starts from the default again."""
    opt = as_json(ragsearch(home, "optimize", "--index", "scifact", "--judgments", judgments, "--models", "none",
                            "--trials", "40", "--json"))  # fmt: skip
    r = ragsearch(home, "serve-config", "promote", "optimized", "--index", "scifact", "--judgments",
                  opt["judgments"]["ref"], "--json", ok=(0, 1))  # fmt: skip
    promoted = bool(r.stdout.strip()) and as_json(r)["promoted"]
    x = as_json(ragsearch(home, "experiment", "--index", "scifact", "--judgments", "sf-test", "--configs",
                          "hybrid,served", "--baseline", "hybrid", "--json"))  # fmt: skip
    if promoted:
        ragsearch(home, "serve-config", "rollback", "--index", "scifact")
    return {"winner": opt["winner"]["label"], "held": opt["held"], "promoted": promoted,
            "test_served": x["systems"]["served"]["nDCG@10"], "test_hybrid": x["systems"]["hybrid"]["nDCG@10"]}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--sessions", default="1000,10000", help="cumulative session counts to stop at")
    ap.add_argument("--choose-at", help="stages at which optimize + promote run on each list (default: all)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    home, sf = args.home, DATA / "scifact"
    os.environ.setdefault("RAGSEARCH_DATA_DIR", str(DATA))
    ragsearch(
        home, "judgments", "import", str(sf), "--split", "train", "--index", "scifact", "--name", "sf-train"
    )
    ragsearch(
        home, "judgments", "import", str(sf), "--split", "test", "--index", "scifact", "--name", "sf-test"
    )
    stages = [int(x) for x in args.sessions.split(",")]
    choose_at = stages if args.choose_at is None else [int(x) for x in args.choose_at.split(",") if x]
    results: dict[str, Any] = {"human": choose(home, "sf-train")} if choose_at else {}
    train = load_split(sf, "train")
    done = 0
    for target in stages:
        proc, url = serve(home)
        try:
            with httpx.Client(base_url=url, timeout=60) as client:
                report = run_sessions(client, train.queries, train.qrels, target - done, seed=target, k=10)
        finally:
            proc.terminate()
            proc.wait(30)
        done = target
        say(f"simulated {report.sessions} sessions ({report.clicks} clicks) in {report.seconds:.0f} s")
        stage: dict[str, Any] = {"sessions": done}
        for label, (model, prior) in MODELS.items():
            name = f"clicks-{label}-{done}"
            ragsearch(home, "judgments", "from-clicks", "--index", "scifact", "--name", name, "--model", model,
                      "--prior", prior, "--min-impressions", "3", "--query-ids-from", "sf-train")  # fmt: skip
            agree = as_json(ragsearch(home, "judgments", "agree", "sf-train", name, "--missing-as-zero",
                                      "--systems", "bm25,dense,hybrid", "--json"))  # fmt: skip
            stage[label] = {
                "pairs": agree["pairs"],
                "systems": agree.get("systems"),
                "choice": choose(home, name) if done in choose_at else None,
            }
            figures = {k: stage[label]["pairs"][k] for k in ("pairs", "kappa", "kappa_ge1", "kappa_linear")}
            say(f"{label} after {done} sessions: {json.dumps(figures)}")
        results[str(done)] = stage
    say(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
