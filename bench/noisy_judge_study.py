"""Judge quality needed, BY SIMULATION (issue 14): how noisy may a judge be before its judgments mislead?

    python -m bench.noisy_judge_study --home DIR [--collections scifact,nfcorpus] [--p 0.1,0.3,0.5]
        [--seeds 3] [--trials 40] [--json FILE]
    python -m bench.noisy_judge_study --table-from FILE

DIR holds indexes `scifact` and `nfcorpus` ingested with the default model (nothing promoted: the default
hybrid is served). The judge is SIMULATED from the human qrels; nothing here judges anything for serving.

The noisy judge. For every training-side query it grades a pool: the human-judged pairs and the top 10 of
bm25, dense and hybrid (the default), an unjudged pooled pair having the clean grade 0 (the TREC reading).
Each pair's clean grade is kept with probability 1 - p, and with probability p replaced by a grade drawn
uniformly from 0..max, max being the highest grade of the collection's qrels (SciFact 1, NFCorpus 2); so
the drawn grade equals the clean one a 1/(max+1) share of the time and a grade actually changes with
probability p * max / (max + 1). Grading the pool, not only the human-judged pairs, is what lets false
positives appear: SciFact's qrels hold only relevant pairs (grade 1), and a judge that saw only those could
only turn relevant into not relevant. Pairs outside the pool stay unjudged (0 at evaluation) in both lists,
so at p = 0 the noisy list evaluates exactly as the human one. Seeded by (collection, p, seed).

With each list on the training side (SciFact train, 809 queries; NFCorpus dev, 324), the product's own
functions choose: the judgment list is saved in DIR's judgment store and split 50/50 by query (seed 1, the
same dev/held queries for every list), `app.usecases.optimize` (what `ragsearch optimize --models none`
runs) picks the dev winner among `--trials` seeded first stages, and `eval.promotion.decide` (the gate of
`ragsearch serve-config promote`) promotes it only if it beats the default on the held part (paired t-test,
p < 0.05); the held figures are the optimizer's winner-vs-served figures, which are what the promote command
measures again. The configuration the index would then serve is measured on the test queries with the
CLEAN human qrels. Beside it: Cohen's kappa of the noisy list against the clean one (pool pairs, missing = 0)
and Kendall's tau between the orderings of SYSTEMS by nDCG@10 under the two lists (`eval.agreement`).
No learned ranker is offered or ranked: the home holds no trained model.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.serving_study import DATA, say
from ragsearch.app.cli.experiments import describe
from ragsearch.app.services import default_search_config, make_backend, make_embedder, make_engine
from ragsearch.app.settings import Settings
from ragsearch.app.usecases import optimize
from ragsearch.eval.agreement import pair_agreement, system_agreement
from ragsearch.eval.data import JudgedSplit, QrelRow, Qrels, load_split
from ragsearch.eval.judgment_store import JudgmentStore
from ragsearch.eval.judgments import JudgmentList, Provenance, from_qrels
from ragsearch.eval.judgments import split as split_judgments
from ragsearch.eval.metrics import evaluate
from ragsearch.eval.promotion import decide
from ragsearch.eval.runs import Run
from ragsearch.search.config import SearchConfig
from ragsearch.search.engine import SearchEngine
from ragsearch.search.optimizer import FirstStageCache, Space, fast_run
from ragsearch.search.serving import ServingStore, fresh_default

MEASURE = "nDCG@10"
POOL_DEPTH = 10
POOLED = ("bm25", "dense", "hybrid")
SYSTEMS: dict[str, dict[str, Any]] = {
    "bm25": {"mode": "bm25"},
    "dense": {"mode": "dense"},
    "hybrid": {},
    "minmax-0.3": {"dense_weight": 0.3},
    "minmax-0.7": {"dense_weight": 0.7},
    "rrf-10": {"fusion": "rrf", "rrf_k": 10.0},
    "rrf-60": {"fusion": "rrf", "rrf_k": 60.0},
    "zscore": {"fusion": "zscore"},
    "hybrid-title-2": {"title_boost": 2.0},
}
"""Systems ranked under both lists (first stages; changes on top of the default hybrid)."""


@dataclass(frozen=True)
class Collection:
    folder: str
    index: str
    train: str
    test: str


COLLECTIONS = {
    "scifact": Collection("scifact", "scifact", "train", "test"),
    "nfcorpus": Collection("nfcorpus-processed", "nfcorpus", "dev", "test"),
}

Pair = tuple[str, str]


def noisy_grades(
    clean: Qrels, pool: Mapping[str, Iterable[str]], p: float, max_grade: int, seed: str
) -> dict[Pair, int]:
    """A SIMULATED judge's grades for every pair of `clean` and of `pool` (unjudged = 0): each clean grade
    kept with probability 1 - p, else replaced by a uniform draw from 0..max_grade. Seeded by `seed`."""
    rng = random.Random(seed)
    pairs = {(q, d) for q, docs in clean.items() for d in docs} | {
        (q, d) for q, ds in pool.items() for d in ds
    }
    out = {}
    for q, d in sorted(pairs):
        g = clean.get(q, {}).get(d, 0)
        if rng.random() < p:
            g = rng.randint(0, max_grade)
        out[(q, d)] = g
    return out


def pooled(runs: Mapping[str, Run], depth: int) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for run in runs.values():
        for qid, docs in run.items():
            top = sorted(docs.items(), key=lambda x: -x[1])[:depth]
            out.setdefault(qid, set()).update(d for d, _ in top)
    return out


def as_list(
    name: str, engine: SearchEngine, grades: Mapping[Pair, int], queries: dict[str, str]
) -> JudgmentList:
    rows = [QrelRow("simulated", q, d, float(g)) for (q, d), g in sorted(grades.items())]
    origin = "SIMULATED noisy judge from the human qrels (bench.noisy_judge_study)"
    return from_qrels(name, engine.index, rows, queries, Provenance("imported", origin))


@dataclass
class Study:
    engine: SearchEngine
    store: JudgmentStore
    served: SearchConfig
    default: SearchConfig
    test: JudgedSplit
    test_cache: FirstStageCache
    trials: int
    test_scores: dict[SearchConfig, float]

    def test_score(self, config: SearchConfig) -> float:
        if config not in self.test_scores:
            ev = evaluate(self.test.qrels, fast_run(self.test_cache, config), [MEASURE])
            self.test_scores[config] = next(iter(ev.means.values()))
        return self.test_scores[config]

    def choose(self, jl: JudgmentList) -> dict[str, Any]:
        """optimize + the promotion gate on `jl` (saved and split as `ragsearch optimize` does), and the
        test nDCG@10 (clean human qrels) of what the index would then serve."""
        saved = self.store.save(split_judgments(self.store.save(jl), 0.5, 1))
        t0 = time.perf_counter()
        found = optimize(self.engine, saved, self.served, fresh_default(self.default), Space(), self.trials, 1,
                         0.5, MEASURE, [])  # fmt: skip
        winner = found.winner.config.replace(k=self.served.k)
        if winner == self.served:
            promoted, reason = False, "the dev winner is what the index serves"
        else:
            decision = decide(found.held, None)
            promoted, reason = decision.promote, decision.reason
        serves = winner if promoted else self.served
        return {
            "list": saved.ref,
            "winner": describe(winner),
            "dev": found.winner.score,
            "held": found.held.to_dict(),
            "promoted": promoted,
            "reason": reason,
            "serves": describe(serves),
            "test_served": self.test_score(serves),
            "test_winner": self.test_score(winner),
            "seconds": time.perf_counter() - t0,
        }


def study_collection(s: Settings, name: str, ps: list[float], seeds: int, trials: int) -> dict[str, Any]:
    c = COLLECTIONS[name]
    train, test = load_split(DATA / c.folder, c.train), load_split(DATA / c.folder, c.test)
    max_grade = max(g for docs in train.qrels.values() for g in docs.values())
    default = default_search_config(s)
    served = ServingStore(s.home).served(c.index, default).config
    idx = make_backend(s).open(c.index)
    try:
        engine = make_engine(idx, make_embedder(s), s)
        depth = max(Space().depths)
        say(f"[{name}] encoding {len(train.queries)} training-side and {len(test.queries)} test queries")
        tv = dict(zip(train.queries, engine.encode(list(train.queries.values())), strict=True))
        xv = dict(zip(test.queries, engine.encode(list(test.queries.values())), strict=True))
        base = fresh_default(default)
        systems = {n: base.replace(**changes) for n, changes in SYSTEMS.items()}
        train_cache = FirstStageCache(idx, train.queries, tv, depth)
        runs = {n: fast_run(train_cache, config) for n, config in systems.items()}
        pool = pooled({n: runs[n] for n in POOLED}, POOL_DEPTH)
        clean_pairs = {(q, d): 0 for q, ds in pool.items() for d in ds}
        clean_pairs.update({(q, d): g for q, docs in train.qrels.items() for d, g in docs.items()})

        def under(qrels: Qrels) -> dict[str, float]:
            return {n: next(iter(evaluate(qrels, run, [MEASURE]).means.values())) for n, run in runs.items()}

        clean_scores = under(train.qrels)
        study = Study(engine, JudgmentStore(s.home), served, default, test,
                      FirstStageCache(idx, test.queries, xv, depth), trials, {})  # fmt: skip
        say(f"[{name}] pool: {len(clean_pairs)} pairs over {len(pool)} queries "
            f"({sum(1 for g in clean_pairs.values() if g > 0)} judged relevant); grades 0..{max_grade}")  # fmt: skip
        human_grades = {(q, d): g for q, docs in train.qrels.items() for d, g in docs.items()}
        human = as_list(f"{name}-human", engine, human_grades, train.queries)
        result: dict[str, Any] = {
            "pool_pairs": len(clean_pairs),
            "queries": len(train.queries),
            "test_queries": len(test.queries),
            "max_grade": max_grade,
            "systems_clean": clean_scores,
            "human": study.choose(human),
            "noisy": {},
        }
        say(f"[{name}] human: {json.dumps(result['human'])}")
        for p in ps:
            rows = []
            for seed in range(seeds):
                grades = noisy_grades(train.qrels, pool, p, max_grade, f"{name}-{p}-{seed}")
                noisy_qrels: Qrels = {}
                for (q, d), g in grades.items():
                    noisy_qrels.setdefault(q, {})[d] = g
                sys_agree = system_agreement(clean_scores, under(noisy_qrels))
                pairs = pair_agreement(clean_pairs, grades)
                jl = as_list(f"{name}-noisy-p{int(p * 100):02d}-s{seed}", engine, grades, train.queries)
                row = {"seed": seed, "kappa": pairs.kappa, "kappa_ge1": pairs.kappa_ge1,
                       "changed": sum(grades[k] != clean_pairs[k] for k in grades) / len(grades),
                       "tau": sys_agree.tau, "systems": sys_agree.under_b, **study.choose(jl)}  # fmt: skip
                say(
                    f"[{name}] p={p} seed={seed}: {json.dumps({k: v for k, v in row.items() if k != 'systems'})}"
                )
                rows.append(row)
            result["noisy"][str(p)] = rows
        return result
    finally:
        idx.close()


def spread(xs: list[float]) -> str:
    if len(xs) == 1:
        return f"{xs[0]:.4f}"
    return f"{statistics.mean(xs):.4f} ({min(xs):.4f}-{max(xs):.4f})"


def tau_of(clean: Mapping[str, float], noisy: Mapping[str, float], names: Iterable[str]) -> float:
    keep = list(names)
    return system_agreement({n: clean[n] for n in keep}, {n: noisy[n] for n in keep}).tau


def table(results: dict[str, Any]) -> str:
    lines = [
        "| collection | judge (SIMULATED) | grades changed | kappa vs human | system tau (9 systems) | tau bm25/dense/"
        "hybrid | dev winner | promoted | test nDCG@10 served | test nDCG@10 of the dev winner |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        h = r["human"]
        lines.append(f"| {name} | human (clean) | 0 | 1 | 1 | 1 | {h['winner']} | {'yes' if h['promoted'] else 'no'} "
                     f"| {h['test_served']:.4f} | {h['test_winner']:.4f} |")  # fmt: skip
        for p, rows in r["noisy"].items():
            winners = Counter("default" if x["winner"] == h["serves"] else x["winner"] for x in rows)
            won = "; ".join(f"{w} x{n}" if len(rows) > 1 else w for w, n in winners.most_common())
            tau3 = [tau_of(r["systems_clean"], x["systems"], POOLED) for x in rows]
            lines.append(
                f"| {name} | p = {p} ({len(rows)} seeds) | {spread([x['changed'] for x in rows])} | "
                f"{spread([x['kappa'] for x in rows])} | {spread([x['tau'] for x in rows])} | {spread(tau3)} | "
                f"{won} | {sum(x['promoted'] for x in rows)}/{len(rows)} | "
                f"{spread([x['test_served'] for x in rows])} | {spread([x['test_winner'] for x in rows])} |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path)
    ap.add_argument("--collections", default="scifact,nfcorpus")
    ap.add_argument("--p", default="0.1,0.3,0.5", help="noise levels")
    ap.add_argument("--seeds", type=int, default=3, help="noisy judges per level")
    ap.add_argument("--trials", type=int, default=40, help="optimizer trials per list")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--table-from", type=Path, help="only print the table of a saved --json file")
    args = ap.parse_args()
    if args.table_from:
        say(table(json.loads(args.table_from.read_text())))
        return
    if args.home is None:
        ap.error("--home is required")
    s = Settings(home=args.home)
    ps = [float(x) for x in args.p.split(",")]
    t0 = time.perf_counter()
    results = {
        name: study_collection(s, name, ps, args.seeds, args.trials) for name in args.collections.split(",")
    }
    say(table(results))
    say(f"({time.perf_counter() - t0:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
