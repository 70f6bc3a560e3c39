"""Per-index serving chosen by evidence, on SciFact, NFCorpus and Cranfield (issue 13's study).

    python -m bench.serving_study --home DIR [--trials 60] [--json FILE]

Every step is a `ragsearch` command a user would type (printed as it runs), against indexes `scifact`,
`nfcorpus` and `cranfield` already ingested in DIR (`ragsearch ingest DATA/<name> --index <name>`):

1. judgments: the training side only for choosing. SciFact train is split in two halves by query (seed 1):
   one trains a LambdaMART model (`sf-ltr`), the other tunes and promotes (`sf-tune`). NFCorpus: its train
   split trains the model (`nf-ltr`), its dev split tunes and promotes (`nf-tune`). Cranfield: fold1 tunes
   and promotes (`cran-tune`); no Cranfield model (in-domain LTR loses there). Tests: SciFact and NFCorpus
   test, Cranfield fold2.
2. round A: `optimize --models none` on the tune list, then `serve-config promote optimized` (the gate on
   the list's held part decides), then `experiment` on the test list: served vs the hybrid default.
3. round B: the same with every model offered (each index sees the other collections' models, and its own
   where it has one): a model is served only where it wins on that index's judgments.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DATA = Path(os.environ.get("RAGSEARCH_DATA_DIR", "../shared/data"))


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def ragsearch(home: Path, *args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    say("$ ragsearch " + " ".join(shlex.quote(a) for a in args))
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", "from ragsearch.app.cli import main; main()", *args], capture_output=True, text=True,
                       env={**os.environ, "RAGSEARCH_HOME": str(home)}, check=False)  # fmt: skip
    if r.returncode not in ok:
        raise SystemExit(f"failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    say(f"  ({time.perf_counter() - t0:.0f} s, exit {r.returncode})")
    return r


def as_json(r: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(r.stdout)


def judgments(home: Path) -> None:
    sf, nf, cr = DATA / "scifact", DATA / "nfcorpus-processed", DATA / "cranfield"
    ragsearch(
        home, "judgments", "import", str(sf), "--split", "train", "--index", "scifact", "--name", "sf-train"
    )
    ragsearch(home, "judgments", "split", "sf-train", "--dev-fraction", "0.5", "--seed", "1")
    ragsearch(home, "judgments", "subset", "sf-train", "--part", "dev", "--name", "sf-ltr")
    ragsearch(home, "judgments", "subset", "sf-train", "--part", "held", "--name", "sf-tune")
    ragsearch(
        home, "judgments", "import", str(sf), "--split", "test", "--index", "scifact", "--name", "sf-test"
    )
    ragsearch(
        home, "judgments", "import", str(nf), "--split", "train", "--index", "nfcorpus", "--name", "nf-ltr"
    )
    ragsearch(
        home, "judgments", "import", str(nf), "--split", "dev", "--index", "nfcorpus", "--name", "nf-tune"
    )
    ragsearch(
        home, "judgments", "import", str(nf), "--split", "test", "--index", "nfcorpus", "--name", "nf-test"
    )
    for split, name in (("fold1", "cran-tune"), ("fold2", "cran-test")):
        ragsearch(home, "judgments", "import", str(cr), "--split", split, "--index", "cranfield", "--name", name,
                  "--map-grades", "4=3")  # fmt: skip


def train_models(home: Path) -> dict[str, str]:
    models = {}
    for index, name in (("scifact", "sf-ltr"), ("nfcorpus", "nf-ltr")):
        m = as_json(ragsearch(home, "train", "--judgments", name, "--index", index, "--json"))
        models[index] = m["version"]
    return models


OPTIMIZE_KEYS = (
    "judgments",
    "split",
    "dev_queries",
    "held_queries",
    "served",
    "winner",
    "held",
    "models_offered",
    "models_skipped",
    "top",
)


def round_(home: Path, index: str, trials: int, models: str) -> dict[str, Any]:
    tune, test = {"scifact": ("sf-tune", "sf-test"), "nfcorpus": ("nf-tune", "nf-test"),
                  "cranfield": ("cran-tune", "cran-test")}[index]  # fmt: skip
    opt = as_json(ragsearch(home, "optimize", "--index", index, "--judgments", tune, "--trials", str(trials),
                            "--models", models, "--json"))  # fmt: skip
    ref = opt["judgments"]["ref"]
    r = ragsearch(home, "serve-config", "promote", "optimized", "--index", index, "--judgments", ref, "--json",
                  ok=(0, 1))  # fmt: skip
    promotion = as_json(r) if r.stdout.strip() else {"promoted": False, "reason": r.stderr.strip()}
    served = as_json(ragsearch(home, "serve-config", "show", "--index", index, "--json"))
    x = as_json(ragsearch(home, "experiment", "--index", index, "--judgments", test, "--configs", "hybrid,served",
                          "--baseline", "hybrid", "--json"))  # fmt: skip
    return {
        "optimize": {k: opt[k] for k in OPTIMIZE_KEYS},
        "promotion": {k: promotion.get(k) for k in ("promoted", "reason")},
        "serves": {"name": served["name"], "label": served["label"], "config": served["config"]},
        "test": {
            "list": x["judgments"]["ref"],
            "queries": x["queries"],
            "hybrid": x["systems"]["hybrid"]["nDCG@10"],
            "served": x["systems"]["served"]["nDCG@10"],
            "delta": x["systems"]["served"]["delta_vs_first"],
            "p": x["systems"]["served"]["p_value_vs_first"],
        },
    }


def summary(rounds: dict[str, dict[str, Any]]) -> None:
    say("\n| round, index | dev winner (dev nDCG@10) | held: winner vs served, p | promoted | serves | "
        "test nDCG@10 served vs hybrid (delta, p) |")  # fmt: skip
    say("|---|---|---|---|---|---|")
    for key, r in rounds.items():
        o, t, h = r["optimize"], r["test"], r["optimize"]["held"]
        say(f"| {key} | {o['winner']['label']} ({o['winner']['dev']:.4f}) | {h['candidate']:.4f} vs "
            f"{h['served']:.4f}, p={h['p_value']:.3g} | {r['promotion']['promoted']} | {r['serves']['label']} | "
            f"{t['served']:.4f} vs {t['hybrid']:.4f} ({t['delta']:+.4f}, p={t['p']:.3g}) |")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--skip-setup", action="store_true", help="judgment lists and models exist already")
    ap.add_argument("--json", type=Path, help="write every figure here")
    args = ap.parse_args()
    models: dict[str, str] = {}
    if not args.skip_setup:
        judgments(args.home)
        models = train_models(args.home)
    rounds: dict[str, dict[str, Any]] = {}
    for label, offered in (("A", "none"), ("B", "all")):
        for index in ("scifact", "nfcorpus", "cranfield"):
            rounds[f"{label} | {index}"] = round_(args.home, index, args.trials, offered)
            say(json.dumps(rounds[f"{label} | {index}"]["test"]))
    summary(rounds)
    if args.json:
        args.json.write_text(json.dumps({"models": models, "rounds": rounds}, indent=2) + "\n")


if __name__ == "__main__":
    main()
