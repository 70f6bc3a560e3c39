"""Features that travel and many-collection models (issue 15): nDCG@10 of learned rankers against hybrid.

    python -m bench.transfer_study --cache DIR [--sets v1,all,scale_free] [--json FILE]

Features are logged once per (index, split) by `bench.transfer_cache` (run it first; RAGSEARCH_HOME holds
indexes scifact, nfcorpus, cranfield). Every model is trained as `ragsearch train` trains: boosting from the
fused score, trees chosen by 5-fold CV over its training queries (zero: the fused ranking); many-collection
models weigh each collection's queries the same in total (`rerank.dataset.combine`). Each model is trained
three times, on three feature sets:

- v1: the 25 features before this issue (raw scores, IDFs and lengths);
- all: v1 plus the list-normalised features (`rerank.features.LIST_FEATURES`);
- scale_free: `all` without the scale-bound ones (`rerank.features.SCALE_BOUND`): raw scores replaced;
- portable: `scale_free` without the raw lengths (`COLLECTION_BOUND`).

Figures: Cranfield 2-fold (fold1 -> fold2 and back, out of fold over all 225 queries); transfer (SciFact
train + NFCorpus train -> Cranfield; SciFact train + Cranfield -> NFCorpus test) beside single-collection
models; in-domain SciFact test and NFCorpus test (paired t-test against hybrid); SciFact's held-apart test
queries. Hybrid is the fused score of the same candidates (the default first stage).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from bench.transfer_cache import load, split_of
from ragsearch.eval.data import Qrels
from ragsearch.eval.metrics import evaluate
from ragsearch.eval.subsets import held_apart
from ragsearch.rerank.dataset import TrainingSet, combine
from ragsearch.rerank.explain import EXPLAIN_TOP, tree_contributions
from ragsearch.rerank.features import ALL_FEATURE_NAMES, LIST_FEATURES, SCALE_BOUND
from ragsearch.rerank.selection import select_trees
from ragsearch.rerank.train import FittedRanker, TrainParams, fit_trees

COLLECTION_BOUND = ("query_len", "title_len", "passage_len")
"""Raw lengths: they describe a collection's style (Cranfield's long queries, NFCorpus's missing titles) and
shift most between collections (bench.feature_shift); `len_passage_rel` stays."""
V1 = tuple(n for n in ALL_FEATURE_NAMES if n not in LIST_FEATURES)
FEATURE_SETS = {
    "v1": V1,
    "all": ALL_FEATURE_NAMES,
    "scale_free": tuple(n for n in ALL_FEATURE_NAMES if n not in SCALE_BOUND),
    "portable": tuple(n for n in ALL_FEATURE_NAMES if n not in (*SCALE_BOUND, *COLLECTION_BOUND)),
}
# (index, split) of each collection's training and test queries in this study
TRAIN = {"sf": ("scifact", "train"), "nf": ("nfcorpus", "train"), "cr1": ("cranfield", "fold1"),
         "cr2": ("cranfield", "fold2")}  # fmt: skip
TEST = {"sf": ("scifact", "test"), "nf": ("nfcorpus", "test"), "cr1": ("cranfield", "fold1"),
        "cr2": ("cranfield", "fold2")}  # fmt: skip
# model name -> the training parts it combines (one part: a single-collection model)
MODELS = {
    "cran-fold1": ("cr1",),
    "cran-fold2": ("cr2",),
    "sf": ("sf",),
    "nf": ("nf",),
    "cran": ("cr1", "cr2"),
    "sf+nf": ("sf", "nf"),
    "sf+cran": ("sf", "cr1", "cr2"),
}


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class Study:
    def __init__(
        self, cache: Path, params: TrainParams, nf_train_queries: int = 0, loco: bool = False,
        doc_folds: bool = False,
    ) -> None:  # fmt: skip
        self.cache, self.params, self.nf_train_queries = cache, params, nf_train_queries
        self.loco, self.doc_folds = loco, doc_folds
        self.sets: dict[tuple[str, str], TrainingSet] = {}
        self.qrels: dict[tuple[str, str], Qrels] = {}

    def logged(self, key: tuple[str, str]) -> tuple[TrainingSet, Qrels]:
        if key not in self.sets:
            ts = load(self.cache, *key)
            if key == TRAIN["nf"] and 0 < self.nf_train_queries < len(ts.qids):  # a seeded sample, for time
                rng = np.random.default_rng(13)
                ts = ts.subset(sorted(rng.choice(ts.qids, self.nf_train_queries, replace=False).tolist()))
            self.sets[key] = ts
            self.qrels[key] = split_of(*key).qrels
        return self.sets[key], self.qrels[key]

    def training(self, parts: tuple[str, ...], names: tuple[str, ...]) -> tuple[TrainingSet, Qrels]:
        """Cranfield's two folds are one collection; more than one collection is combined and weighted."""
        by_index: dict[str, list[tuple[TrainingSet, Qrels]]] = {}
        for part in parts:
            ts, qrels = self.logged(TRAIN[part])
            by_index.setdefault(TRAIN[part][0], []).append((ts.select(names), qrels))
        merged = [(ix, *merge(sets)) for ix, sets in by_index.items()]
        if len(merged) == 1:
            return merged[0][1], merged[0][2]
        return combine(merged)

    def fit(self, parts: tuple[str, ...], names: tuple[str, ...]) -> tuple[FittedRanker, dict[str, Any]]:
        ts, qrels = self.training(parts, names)
        many = len({TRAIN[p][0] for p in parts}) > 1
        split = "collections" if self.loco and many else "documents" if self.doc_folds else "queries"
        sel = select_trees(ts, qrels, self.params, split_by=split)
        model = fit_trees(ts, self.params, sel.chosen)
        info = {
            "trees": sel.chosen,
            "selection": sel.how,
            "queries": len(ts.qids),
            "seconds": round(sel.seconds + model.seconds, 1),
        }
        return model, info

    def per_query(self, test: str, model: FittedRanker | None, names: tuple[str, ...],
                  only: list[str] | None = None) -> dict[str, float]:  # fmt: skip
        """nDCG@10 per test query of the model (None: hybrid, the fused score)."""
        ts, qrels = self.logged(TEST[test])
        if only is not None:
            ts = ts.subset(only)
        ts = ts.select(names)
        scores = ts.column("fused_score") if model is None else model.predict(ts.features)
        judged = {q: qrels[q] for q in ts.qids if q in qrels}
        return evaluate(judged, ts.to_run(scores), ["nDCG@10"]).per_query["nDCG@10"]


def merge(sets: list[tuple[TrainingSet, Qrels]]) -> tuple[TrainingSet, Qrels]:
    """Folds of one collection (distinct query ids) as one set."""
    if len(sets) == 1:
        return sets[0]
    tss = [ts for ts, _ in sets]
    qrels: Qrels = {}
    for _, q in sets:
        qrels.update(q)
    ts = TrainingSet(
        features=np.concatenate([t.features for t in tss]), labels=np.concatenate([t.labels for t in tss]),
        groups=np.concatenate([t.groups for t in tss]), qids=tuple(q for t in tss for q in t.qids),
        doc_ids=tuple(d for t in tss for d in t.doc_ids), feature_names=tss[0].feature_names,
    )  # fmt: skip
    return ts, qrels


def compare(learned: dict[str, float], hybrid: dict[str, float]) -> dict[str, Any]:
    qids = sorted(hybrid)
    a = np.array([learned[q] for q in qids])
    b = np.array([hybrid[q] for q in qids])
    p = 1.0 if np.allclose(a, b) else float(stats.ttest_rel(a, b).pvalue)
    return {"queries": len(qids), "learned": round(float(a.mean()), 4), "hybrid": round(float(b.mean()), 4),
            "delta": round(float(a.mean() - b.mean()), 4), "p": round(p, 4)}  # fmt: skip


# (row label, model, test set, subset, target)
EVALS = (
    ("Cranfield 2-fold, out of fold", "cran-folds", "cr", None, ">= hybrid (0.4211)"),
    ("Cranfield, from SciFact + NFCorpus", "sf+nf", "cr", None, ">= hybrid"),
    ("Cranfield, from SciFact", "sf", "cr", None, ""),
    ("Cranfield, from NFCorpus", "nf", "cr", None, ""),
    ("NFCorpus test, from SciFact + Cranfield", "sf+cran", "nf", None, ">= hybrid"),
    ("NFCorpus test, from SciFact", "sf", "nf", None, ""),
    ("NFCorpus test, from Cranfield", "cran", "nf", None, ""),
    ("NFCorpus test, in-domain", "nf", "nf", None, "> hybrid, p < 0.05"),
    ("NFCorpus test, from SciFact + NFCorpus", "sf+nf", "nf", None, ""),
    ("SciFact test, in-domain", "sf", "sf", None, ">= 0.7778"),
    ("SciFact test, from SciFact + NFCorpus", "sf+nf", "sf", None, ""),
    ("SciFact test, from SciFact + Cranfield", "sf+cran", "sf", None, ""),
    ("SciFact held-apart test, in-domain", "sf", "sf", "held-apart", ">= hybrid (0.7420)"),
)


SHAPE_KEYS = {"lr": "learning_rate", "leaves": "num_leaves", "depth": "max_depth",
              "min_leaf": "min_data_in_leaf", "l2": "lambda_l2"}  # fmt: skip


def shaped(params: TrainParams, shape: str) -> TrainParams:
    """`params` with a tree shape applied: `lr=0.1,leaves=7,depth=3` (keys: SHAPE_KEYS); "" keeps them."""
    changes: dict[str, Any] = {}
    for item in filter(None, shape.split(",")):
        key, _, value = item.partition("=")
        if key not in SHAPE_KEYS:
            raise SystemExit(f"unknown shape key {key!r}: one of {', '.join(SHAPE_KEYS)}")
        field = SHAPE_KEYS[key]
        changes[field] = float(value) if field in ("learning_rate", "lambda_l2") else int(value)
    return replace(params, **changes)


def explain_cost(
    study: Study, model: FittedRanker, names: tuple[str, ...], queries: int = 100
) -> dict[str, Any]:
    """CPU and wall ms of TreeSHAP on each SciFact test query's top 10 rows (what `explain=true` adds)."""
    ts, _ = study.logged(TEST["sf"])
    ts = ts.select(names)
    scores, off = model.predict(ts.features), ts.offsets()
    cpu, wall = [], []
    for i in range(min(queries, len(ts.qids))):
        a, b = int(off[i]), int(off[i + 1])
        rows = ts.features[a + np.argsort(-scores[a:b], kind="stable")[:EXPLAIN_TOP]]
        t0, c0 = time.perf_counter(), time.thread_time()
        tree_contributions(model.booster, rows, model.best_iteration)
        cpu.append((time.thread_time() - c0) * 1e3)
        wall.append((time.perf_counter() - t0) * 1e3)
    depths = [
        _depth(t["tree_structure"]) for t in model.booster.dump_model()["tree_info"][: model.best_iteration]
    ]
    return {"trees": model.best_iteration, "cpu_ms_p50": round(float(np.median(cpu)), 3),
            "wall_ms_p50": round(float(np.median(wall)), 3),
            "mean_depth": round(float(np.mean(depths)), 2) if depths else 0.0}  # fmt: skip


def _depth(node: dict[str, Any]) -> int:
    if "leaf_index" in node or "left_child" not in node:
        return 0
    return 1 + max(_depth(node["left_child"]), _depth(node["right_child"]))


def run_set(study: Study, set_name: str, models: tuple[str, ...]) -> dict[str, Any]:
    names = FEATURE_SETS[set_name.split(" ")[0]]
    fitted: dict[str, FittedRanker] = {}
    info: dict[str, Any] = {}
    for m in models:
        t0 = time.perf_counter()
        fitted[m], info[m] = study.fit(MODELS[m], names)
        say(f"[{set_name}] {m}: {info[m]} ({time.perf_counter() - t0:.0f} s)")
    sf_held = held_apart(split_of("scifact", "test").qrels, split_of("scifact", "train").qrels)
    rows: dict[str, Any] = {}
    for label, model, test, subset, target in EVALS:
        if model == "cran-folds":
            if not {"cran-fold1", "cran-fold2"} <= set(fitted):
                continue
            learned = {**study.per_query("cr2", fitted["cran-fold1"], names),
                       **study.per_query("cr1", fitted["cran-fold2"], names)}  # fmt: skip
        elif model not in fitted:
            continue
        elif test == "cr":
            learned = {
                **study.per_query("cr1", fitted[model], names),
                **study.per_query("cr2", fitted[model], names),
            }
        else:
            learned = study.per_query(test, fitted[model], names, sf_held if subset else None)
        if test == "cr":
            hybrid = {**study.per_query("cr1", None, names), **study.per_query("cr2", None, names)}
        else:
            hybrid = study.per_query(test, None, names, sf_held if subset else None)
        rows[label] = {**compare(learned, hybrid), "target": target}
        say(f"[{set_name}] {label}: {rows[label]}")
    out: dict[str, Any] = {"models": info, "rows": rows}
    if "sf" in fitted:
        out["explain"] = explain_cost(study, fitted["sf"], names)
        say(f"[{set_name}] explain top {EXPLAIN_TOP}, SciFact model: {out['explain']}")
    return out


def table(results: dict[str, Any]) -> None:
    sets = list(results)
    say("\n| nDCG@10 | target | hybrid | " + " | ".join(f"{s} (delta, p)" for s in sets) + " |")
    say("|---|---|---:|" + "---:|" * len(sets))
    labels = [label for label, *_ in EVALS if any(label in results[s]["rows"] for s in sets)]
    for label in labels:
        first = next(results[s]["rows"][label] for s in sets if label in results[s]["rows"])
        cells = []
        for s in sets:
            r = results[s]["rows"].get(label)
            cells.append("" if r is None else f"{r['learned']:.4f} ({r['delta']:+.4f}, p={r['p']:.3g})")
        say(
            f"| {label} ({first['queries']} q) | {first['target']} | {first['hybrid']:.4f} | "
            + " | ".join(cells)
            + " |"
        )
    explained = [(s, results[s]["explain"]) for s in sets if "explain" in results[s]]
    if explained:
        say("\nexplain top 10, SciFact model (TreeSHAP CPU ms p50, trees, mean depth): " + "; ".join(
            f"{s}: {e['cpu_ms_p50']:.2f} ms, {e['trees']}, {e['mean_depth']}" for s, e in explained))  # fmt: skip
    say("\ntrees chosen by CV (queries): " + "; ".join(
        f"{s}: " + ", ".join(f"{m} {i['trees']}" for m, i in results[s]["models"].items()) for s in sets))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--sets", default="v1,all,scale_free")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--max-trees", type=int, default=1000, help="num_boost_round (the CV grid's largest)")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="LightGBM threads (1: on a shared machine 2 threads ran 20x slower)",
    )
    ap.add_argument(
        "--shapes",
        default="",
        help="tree shapes to compare, ';'-separated, each e.g. lr=0.1,leaves=7,depth=3 ('' = the defaults)",
    )
    ap.add_argument(
        "--loco",
        action="store_true",
        help="many-collection models choose their trees by leave-one-collection-out CV",
    )
    ap.add_argument(
        "--doc-folds",
        action="store_true",
        help="choose trees by document-disjoint folds (queries sharing a relevant document stay together)",
    )
    ap.add_argument("--nf-train-queries", type=int, default=0, help="a seeded sample of NFCorpus train")
    ap.add_argument("--json", type=Path, help="write every figure here (merged into an existing file)")
    args = ap.parse_args()
    params = replace(TrainParams(), num_boost_round=args.max_trees, num_threads=args.threads)
    results: dict[str, Any] = json.loads(args.json.read_text()) if args.json and args.json.is_file() else {}
    study = Study(args.cache, params, args.nf_train_queries, args.loco, args.doc_folds)
    for shape in args.shapes.split(";"):
        study.params = shaped(params, shape)
        for set_name in args.sets.split(","):
            key = " ".join(x for x in (set_name, shape, "loco" * args.loco, "docfolds" * args.doc_folds) if x)
            results[key] = run_set(study, key, tuple(args.models.split(",")))
            results[key]["params"] = {k: getattr(study.params, v) for k, v in SHAPE_KEYS.items()}
            if args.json:
                args.json.write_text(json.dumps(results, indent=2) + "\n")
    table(results)


if __name__ == "__main__":
    main()
