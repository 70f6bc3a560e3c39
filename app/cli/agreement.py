"""`ragsearch judgments agree A B`: how far two judgment lists of one index agree, per pair and per system
ordering (e.g. an LLM judge or a click model against human judgments)."""

from __future__ import annotations

import json
import math
import sys
from typing import Annotated

import typer
from rich.table import Table

from ragsearch.app.cli.common import BackendOpt, judgments_app, out, say, settings
from ragsearch.app.cli.evaluation import parse_list
from ragsearch.app.cli.experiments import resolve_configs
from ragsearch.app.cli.judgments import JsonFlag, ListArg
from ragsearch.app.services import default_search_config, make_backend, make_embedder, make_engine
from ragsearch.app.usecases import run_config
from ragsearch.eval.agreement import grades_by_pair, pair_agreement, system_agreement
from ragsearch.eval.data import Qrels
from ragsearch.eval.judgment_store import JudgmentStore
from ragsearch.eval.metrics import evaluate
from ragsearch.eval.runs import Run
from ragsearch.retrieval.errors import InvalidInputError
from ragsearch.search.configs import ConfigStore


def ndcg10(qrels: Qrels, run: Run) -> float:
    return next(iter(evaluate(qrels, run, ["nDCG@10"]).means.values()))


def shown(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.3f}"


@judgments_app.command("agree")
def judgments_agree(
    a: ListArg,
    b: ListArg,
    systems: Annotated[
        str | None,
        typer.Option(
            help="comma-separated configurations (bm25, hybrid, ltr:v0001, stored names): their "
            "nDCG@10 under A and under B on the queries both judge, and Kendall's tau"
        ),
    ] = None,
    missing_as_zero: Annotated[
        bool,
        typer.Option(
            "--missing-as-zero", help="compare on the pairs either list judges, a missing one as grade 0"
        ),
    ] = False,
    as_json: JsonFlag = False,
    backend: BackendOpt = None,
) -> None:
    """Cohen's kappa on the (query, passage) pairs both lists judge (the four grades, linearly weighted, and
    relevant-or-not at grade >= 1 and >= 2); with --systems, how each list orders the systems (Kendall's tau)."""
    s = settings(backend)
    store = JudgmentStore(s.home)
    ja, jb = store.load(a), store.load(b)
    if ja.index != jb.index:
        raise InvalidInputError(
            f"{ja.ref} judges index {ja.index!r} and {jb.ref} {jb.index!r}: compare lists of one index"
        )
    pairs = pair_agreement(grades_by_pair(ja), grades_by_pair(jb), missing_as_zero)
    payload: dict[str, object] = {"a": ja.ref, "b": jb.ref, "index": ja.index, "pairs": pairs.to_dict()}
    ordering, n_common = None, 0
    if systems:
        names = parse_list(systems, "--systems")
        if len(names) < 2:
            raise InvalidInputError("--systems needs at least two configurations to order")
        qa, qb = ja.judged_split(), jb.judged_split()
        common = {q: t for q, t in qa.queries.items() if q in qb.queries}
        if not common:
            raise InvalidInputError(
                f"{ja.ref} and {jb.ref} judge no query in common: no system ordering to compare"
            )
        resolved = resolve_configs(names, ja.index, ConfigStore(s.home), default_search_config(s))
        idx = make_backend(s).open(ja.index)
        try:
            engine = make_engine(idx, make_embedder(s), s)
            vectors = dict(zip(common, engine.encode(list(common.values())), strict=True))
            runs = {n: run_config(engine, c, common, vectors) for n, (c, _) in resolved.items()}
        finally:
            idx.close()
        under = [
            {n: ndcg10({q: split.qrels[q] for q in common}, run) for n, run in runs.items()}
            for split in (qa, qb)
        ]
        ordering, n_common = system_agreement(under[0], under[1]), len(common)
        payload["systems"] = {"queries": len(common), **ordering.to_dict()}
    if as_json:
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    say(f"{ja.ref} vs {jb.ref} (index {ja.index}): {pairs.pairs} pairs judged by both "
        f"({pairs.only_a} only in {ja.ref}, {pairs.only_b} only in {jb.ref})")  # fmt: skip
    say(f"same grade {shown(pairs.exact)}; Cohen's kappa: grades {shown(pairs.kappa)}, linearly weighted "
        f"{shown(pairs.kappa_linear)}, relevant at >= 1 {shown(pairs.kappa_ge1)}, at >= 2 {shown(pairs.kappa_ge2)}")  # fmt: skip
    if ordering is not None:
        table = Table(title=f"nDCG@10 on the {n_common} queries both judge")
        for col in ("system", f"under {ja.ref}", f"under {jb.ref}"):
            table.add_column(col)
        for n in ordering.under_a:
            table.add_row(n, f"{ordering.under_a[n]:.4f}", f"{ordering.under_b[n]:.4f}")
        out.print(table)
        say(f"Kendall's tau between the orderings: {shown(ordering.tau)} (p={shown(ordering.p_value)})")
