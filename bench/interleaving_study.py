"""Interleaving vs A/B with SIMULATED users on SciFact test (issue 16's figures).

    python -m bench.interleaving_study --home DIR --model v0001 [--seeds 20] [--first-seed 0]
        [--max-sessions 20000] [--priors 1,30]

Each configuration's top 10 for every SciFact test query is computed once through the search entry point
on index `scifact` of DIR; then sessions are REPLAYED in-process (not through HTTP, so 20 seeds take seconds):
a seeded simulated user (bench.click_simulator's model: examines rank r with probability 1/r, clicks an
examined result with a probability set by its human grade) sees the team-draft interleaving of the served
configuration and the candidate, made, credited and tested by the product's own functions (`team_draft`,
`credit`, `sequential_test`, alpha 0.05), once per prior strength s of the test (Beta(s, s); 1 = uniform). The product path through the real API is covered by
tests/app/test_online.py. For each pair: sessions until the test decides, and whether the decision agrees
with the offline nDCG@10 order on the test qrels, over the seeds. A/B: each session sees one ranker (50/50);
the sessions a fixed-horizon two-proportion z-test (alpha 0.05, power 0.8) needs to tell the rankers' rates
of sessions with a click on a relevant result apart, from rates measured on 200,000 simulated sessions.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
from pathlib import Path
from typing import Any

from scipy import stats

from bench.click_simulator import CLICK_BY_GRADE, examine
from ragsearch.app.services import make_backend, make_embedder, make_engine
from ragsearch.app.settings import load_settings
from ragsearch.eval.data import load_split
from ragsearch.eval.interleaving import credit, sequential_test, team_draft
from ragsearch.eval.metrics import evaluate
from ragsearch.eval.runs import to_run
from ragsearch.search.config import SearchConfig, parse_system

DATA = Path("../shared/data")


def rankings(home: Path, systems: list[str], queries: dict[str, str]) -> dict[str, dict[str, list[str]]]:
    s = load_settings(home=home)
    idx = make_backend(s).open("scifact")
    try:
        engine = make_engine(idx, make_embedder(s), s)
        vectors = dict(zip(queries, engine.encode(list(queries.values())), strict=True))
        out = {}
        for name in systems:
            config = parse_system(name, SearchConfig()).replace(k=10)
            out[name] = {
                q: [h.doc_id for h in engine.search(t, config, query_vector=vectors[q]).hits]
                for q, t in queries.items()
            }
    finally:
        idx.close()
    return out


def clicks(shown: list[str], grades: dict[str, int], rng: random.Random) -> set[int]:
    return {
        r
        for r, d in enumerate(shown)
        if rng.random() < examine(r + 1) and rng.random() < CLICK_BY_GRADE[grades.get(d, 0)]
    }


def interleave_until_decided(a: dict[str, list[str]], b: dict[str, list[str]], qrels: dict[str, dict[str, int]],
                             seed: int, max_sessions: int, prior: float) -> tuple[int, str | None]:  # fmt: skip
    rng = random.Random(seed)
    qids = sorted(a)
    w = l = t = 0  # noqa: E741
    for n in range(1, max_sessions + 1):
        q = rng.choice(qids)
        shown, sources = team_draft(a[q], b[q], 10, rng)
        outcome = credit(sources, clicks(shown, qrels.get(q, {}), rng))
        w, l, t = w + (outcome == "b"), l + (outcome == "a"), t + (outcome == "tie")  # noqa: E741
        test = sequential_test(w, l, t, prior_strength=prior)
        if test.decided:
            return n, test.winner
    return max_sessions, None


def relevant_click_rate(
    ranking: dict[str, list[str]], qrels: dict[str, dict[str, int]], n: int, seed: int
) -> float:
    rng = random.Random(seed)
    qids = sorted(ranking)
    hits = 0
    for _ in range(n):
        q = rng.choice(qids)
        grades = qrels.get(q, {})
        hits += any(grades.get(ranking[q][r], 0) > 0 for r in clicks(ranking[q], grades, rng))
    return hits / n


def ab_sessions(p1: float, p2: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Sessions in all (both arms) a two-sided two-proportion z-test needs for this difference."""
    if p1 == p2:
        return math.inf
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return 2 * z**2 * (p1 * (1 - p1) + p2 * (1 - p2)) / (p1 - p2) ** 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--model", required=True, help="the LTR version for the hybrid-vs-ltr pair")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--max-sessions", type=int, default=20_000)
    ap.add_argument(
        "--priors", default="1,30", help="prior strengths s of the sequential test, comma-separated"
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    split = load_split(args.data / "scifact", "test")
    ltr = f"ltr:{args.model}"
    ranked = rankings(args.home, ["bm25", "hybrid", ltr], split.queries)
    ndcg = {n: next(iter(evaluate(split.qrels, to_run({q: [(d, -i) for i, d in enumerate(r[q])] for q in r}),
                                  ["nDCG@10"]).means.values())) for n, r in ranked.items()}  # fmt: skip
    report: dict[str, Any] = {"ndcg@10": ndcg, "pairs": {}}
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    pairs = [(p, sv, c) for p in map(float, args.priors.split(","))
             for sv, c in (("hybrid", ltr), ("bm25", "hybrid"), ("hybrid", "hybrid"))]  # fmt: skip
    for prior, served, cand in pairs:
        runs = [interleave_until_decided(ranked[served], ranked[cand], split.qrels, s, args.max_sessions, prior)
                for s in seeds]  # fmt: skip
        offline = "b" if ndcg[cand] > ndcg[served] else "a"
        decided = [(n, w) for n, w in runs if w is not None]
        p_a = relevant_click_rate(ranked[served], split.qrels, 200_000, 1)
        p_b = relevant_click_rate(ranked[cand], split.qrels, 200_000, 2)
        row = {
            "prior_strength": prior, "decided": len(decided), "seeds": args.seeds,
            "agree_with_offline": sum(w == offline for _, w in decided) if served != cand else None,
            "false_decisions": len(decided) if served == cand else None,
            "median_sessions": statistics.median(n for n, _ in runs),
            "sessions": [n for n, _ in runs], "winners": [w for _, w in runs],
            "ab_rates": [p_a, p_b], "ab_sessions_needed": ab_sessions(p_a, p_b),
        }  # fmt: skip
        report["pairs"][f"{served} vs {cand}, s={prior:g}"] = row
        sys.stdout.write(
            f"s={prior:g} {served} (served) vs {cand}: {json.dumps({k: v for k, v in row.items() if k not in ('sessions', 'winners')})}\n"
        )
    sys.stdout.write(json.dumps(report["ndcg@10"]) + "\n")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
