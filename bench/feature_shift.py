"""How far each feature's distribution shifts between SciFact, NFCorpus and Cranfield.

    python -m bench.feature_shift --cache DIR [--rows 20000] [--top 15]

Reads the features `bench.transfer_cache` logged for each collection's training queries (SciFact train,
NFCorpus train, Cranfield fold1 + fold2: every first-stage candidate of every judged query) and, for every
feature and pair of collections, compares the two distributions of its present values: the two-sample
Kolmogorov-Smirnov statistic (0: same distribution, 1: disjoint; blind to scale, so features compare) and
the Wasserstein distance over the pooled standard deviation. A seeded sample of `--rows` rows per
collection keeps it fast. Prints the features that shift most (largest KS over the three pairs).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from bench.transfer_cache import load
from ragsearch.rerank.features import ALL_FEATURE_NAMES, FEATURE_NAMES, LIST_FEATURES, SCALE_BOUND

SOURCES = {"scifact": ("train",), "nfcorpus": ("train",), "cranfield": ("fold1", "fold2")}


def sample(cache: Path, index: str, rows: int, seed: int) -> NDArray[np.float32]:
    mats = [load(cache, index, split).select(ALL_FEATURE_NAMES).features for split in SOURCES[index]]
    x = np.concatenate(mats)
    pick = np.random.default_rng(seed).choice(len(x), size=min(rows, len(x)), replace=False)
    return x[np.sort(pick)]


def shift(a: NDArray[np.float32], b: NDArray[np.float32]) -> dict[str, float]:
    a, b = a[~np.isnan(a)].astype(np.float64), b[~np.isnan(b)].astype(np.float64)
    if not len(a) or not len(b):  # absent in one collection (NFCorpus passages have no titles)
        return {"ks": float("nan"), "w_std": float("nan")}
    pooled = float(np.concatenate([a, b]).std())
    w = float(stats.wasserstein_distance(a, b))
    return {"ks": float(stats.ks_2samp(a, b).statistic), "w_std": w / pooled if pooled > 0 else 0.0}


def kind(name: str) -> str:
    if name in SCALE_BOUND:
        return "scale-bound"
    return "list-normalised" if name in LIST_FEATURES else "other"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    data = {ix: sample(args.cache, ix, args.rows, args.seed) for ix in SOURCES}
    pairs = list(itertools.combinations(SOURCES, 2))
    result: dict[str, Any] = {}
    for j, name in enumerate(ALL_FEATURE_NAMES):
        per = {f"{a}/{b}": shift(data[a][:, j], data[b][:, j]) for a, b in pairs}
        result[name] = {"pairs": per, "max_ks": float(np.nanmax([p["ks"] for p in per.values()])), "kind": kind(name),
                        "served": name in FEATURE_NAMES}  # fmt: skip
    ranked = sorted(result, key=lambda n: -np.nan_to_num(result[n]["max_ks"]))
    out = sys.stdout.write
    heads = " | ".join(f"KS {a[:2]}/{b[:2]} (W/sd)" for a, b in pairs)
    out(f"| feature | kind | {heads} | max KS |\n|---|---|" + "---:|" * (len(pairs) + 1) + "\n")
    for name in ranked[: args.top] if args.top else ranked:
        r = result[name]
        cells = " | ".join(f"{p['ks']:.3f} ({p['w_std']:.2f})" for p in r["pairs"].values())
        out(f"| {name} | {r['kind']} | {cells} | {r['max_ks']:.3f} |\n")
    for k in ("scale-bound", "list-normalised", "other"):
        vals = [result[n]["max_ks"] for n in result if result[n]["kind"] == k]
        out(f"mean max-KS, {k} ({len(vals)} features): {np.nanmean(vals):.3f}\n")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
