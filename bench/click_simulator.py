"""A CLICK SIMULATOR, for tests and benchmarks only: never a source of judgments for serving.

    python -m bench.click_simulator --api URL --data DATA/scifact --split test --sessions 1000 [--seed 0]

Each simulated session sends one judged query through the real API (`GET /search` with a session id), then
a simulated user examines rank r with probability `examine(r)` (position bias) and clicks an examined
result with a probability set by its human grade; each click goes to `POST /events` with the impression id
and the position, as a real client would. Seeded: the same arguments give the same sessions.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from ragsearch.eval.data import load_split

CLICK_BY_GRADE = {0: 0.05, 1: 0.5, 2: 0.8, 3: 0.95}
"""P(click | examined, grade): an unjudged result is taken as grade 0."""


def examine(rank: int, eta: float = 1.0) -> float:
    """P(examined) at a 1-based rank: 1 / rank^eta (rank 1 always)."""
    return 1.0 / rank**eta


@dataclass
class SimulationReport:
    sessions: int = 0
    clicks: int = 0
    refused: int = 0
    seconds: float = 0.0


def run_sessions(
    client: httpx.Client,
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    sessions: int,
    seed: int = 0,
    k: int = 10,
    index: str | None = None,
    eta: float = 1.0,
    click_by_grade: Mapping[int, float] = CLICK_BY_GRADE,
    progress: Callable[[int], None] | None = None,
) -> SimulationReport:
    rng = random.Random(seed)
    qids = sorted(queries)
    report = SimulationReport()
    t0 = time.perf_counter()
    for _ in range(sessions):
        qid = rng.choice(qids)
        session = uuid.UUID(int=rng.getrandbits(128)).hex
        params: dict[str, str | int] = {"q": queries[qid], "k": k, "session_id": session}
        if index:
            params["index"] = index
        r = client.get("/search", params=params)
        r.raise_for_status()
        body = r.json()
        for hit in body["hits"]:
            grade = qrels.get(qid, {}).get(hit["doc_id"], 0)
            if rng.random() < examine(hit["rank"], eta) and rng.random() < click_by_grade[grade]:
                e = client.post("/events", json={"impression_id": body["impression_id"], "action_name": "click",
                                                 "position": hit["rank"], "object_id": hit["id"],
                                                 "session_id": session})  # fmt: skip
                report.clicks += e.status_code == 200
                report.refused += e.status_code != 200
        report.sessions += 1
        if progress:
            progress(1)
    report.seconds = time.perf_counter() - t0
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--api", required=True, help="base URL of a running `ragsearch serve`")
    ap.add_argument("--data", type=Path, required=True, help="BEIR folder whose judged queries are searched")
    ap.add_argument("--split", default="test")
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--index")
    ap.add_argument("--eta", type=float, default=1.0, help="examination 1/rank^eta")
    args = ap.parse_args()
    split = load_split(args.data, args.split)
    with httpx.Client(base_url=args.api, timeout=60) as client:
        report = run_sessions(client, split.queries, split.qrels, args.sessions, args.seed, index=args.index,
                              eta=args.eta)  # fmt: skip
    sys.stdout.write(json.dumps({"simulated": True, **report.__dict__}) + "\n")


if __name__ == "__main__":
    main()
