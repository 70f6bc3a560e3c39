"""POST HOC: the click-model kappa under several attractiveness priors, on the impressions a click study
logged (SIMULATED users). Scored against the same human judgments, so it describes, it does not choose.

    python -m bench.click_prior_sweep --home DIR [--judgments sf-train] [--index scifact]

DIR: the home `bench.click_study` ran on (its impression log and its `sf-train` list).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.serving_study import say
from ragsearch.app.clicks import click_judgments
from ragsearch.app.impressions import ImpressionLog
from ragsearch.app.services import make_backend
from ragsearch.app.settings import Settings
from ragsearch.eval.agreement import grades_by_pair, pair_agreement
from ragsearch.eval.judgment_store import JudgmentStore

PRIORS = {
    "pbm": ((0.0, 0.0), (1.0, 4.0), (0.5, 4.5), (0.25, 4.75), (1.0, 9.0), (2.0, 8.0)),
    "ctr": ((0.0, 0.0), (1.0, 4.0)),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--judgments", default="sf-train")
    ap.add_argument("--index", default="scifact")
    ap.add_argument("--min-impressions", type=int, default=3)
    args = ap.parse_args()
    human = JudgmentStore(args.home).load(args.judgments)
    ids = {t: q for q, t in human.queries.items()}
    log = ImpressionLog(args.home / "impressions.sqlite")
    idx = make_backend(Settings(home=args.home)).open(args.index)
    try:
        for model, priors in PRIORS.items():
            for prior in priors:
                jl = click_judgments(log, idx, "sweep", model, args.min_impressions, None, ids, prior)
                a = pair_agreement(grades_by_pair(human), grades_by_pair(jl), missing_as_zero=True)
                say(f"{model} prior {prior[0]:g},{prior[1]:g}: pairs {a.pairs}, kappa {a.kappa:.3f}, relevant at "
                    f">= 1 {a.kappa_ge1:.3f}, linear {a.kappa_linear:.3f}, grades {jl.grade_counts()}")  # fmt: skip
    finally:
        idx.close()
        log.close()


if __name__ == "__main__":
    main()
