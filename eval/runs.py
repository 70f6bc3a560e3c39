"""TREC run files: `qid Q0 docid rank score tag`, with real, strictly decreasing scores per query."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

Run = dict[str, dict[str, float]]


def distinct_scores(scores: Sequence[float]) -> list[float]:
    """Scores in rank order made strictly decreasing by the smallest float steps where ties occur.

    trec_eval re-sorts by score (ties by docid), so tied scores would silently change the ranking.
    """
    out: list[float] = []
    for s in scores:
        if out and s >= out[-1]:
            s = math.nextafter(out[-1], -math.inf)
        out.append(float(s))
    return out


def to_run(ranked: Mapping[str, Sequence[tuple[str, float]]]) -> Run:
    """From ranked (docid, score) lists to a run with distinct scores; the first occurrence of a docid wins."""
    run: Run = {}
    for qid, hits in ranked.items():
        seen: dict[str, float] = {}
        for doc, score in hits:
            if doc not in seen:
                seen[doc] = score
        docs = list(seen)
        run[qid] = dict(zip(docs, distinct_scores([seen[d] for d in docs]), strict=True))
    return run


def trec_lines(run: Run, tag: str) -> Iterator[str]:
    for qid in sorted(run):
        ranked = sorted(run[qid].items(), key=lambda kv: -kv[1])
        for rank, (doc, score) in enumerate(ranked, start=1):
            yield f"{qid} Q0 {doc} {rank} {score!r} {tag}\n"


def write_trec(run: Run, path: Path, tag: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(trec_lines(run, tag))


def read_trec(path: Path) -> Run:
    run: Run = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 6:
                run.setdefault(parts[0], {})[parts[2]] = float(parts[4])
    return run
