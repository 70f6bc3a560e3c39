"""Experiments: configurations compared on a judgment list, and the holes in the list each one runs into.

A pooled judgment list judges only what some system once retrieved; a configuration that ranks other
documents high meets unjudged ones, which every measure reads as non-relevant. The unjudged rate makes
that visible next to the figures. Results are stored under `<home>/experiments/<index>/<id>/result.json`,
written to a temporary folder and renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragsearch.eval.data import Qrels
from ragsearch.eval.runs import Run
from ragsearch.retrieval.errors import InvalidInputError

UNJUDGED_DEPTH = 10


def top(ranked: dict[str, float], depth: int) -> list[str]:
    """The `depth` best documents of one query's run, best first."""
    return [doc for doc, _ in sorted(ranked.items(), key=lambda kv: -kv[1])[:depth]]


def unjudged_per_query(run: Run, qrels: Qrels, depth: int = UNJUDGED_DEPTH) -> dict[str, float]:
    """For each query of `qrels` the run retrieved anything for: the share of its top `depth` documents
    that have no judgment (of any grade, 0 included) for that query."""
    shares = {}
    for qid, judged in qrels.items():
        docs = top(run.get(qid, {}), depth)
        if docs:
            shares[qid] = sum(d not in judged for d in docs) / len(docs)
    return shares


def unjudged_rate(run: Run, qrels: Qrels, depth: int = UNJUDGED_DEPTH) -> float:
    """The share of a run's top `depth` hits with no judgment, averaged over the judged queries it
    retrieved anything for (0.0 when it retrieved nothing)."""
    shares = unjudged_per_query(run, qrels, depth)
    return sum(shares.values()) / len(shares) if shares else 0.0


def new_id(now: datetime | None = None) -> str:
    """A sortable, unique experiment id: UTC time and a random suffix, e.g. 20261206T012500Z-3fa2c1."""
    t = now or datetime.now(UTC)
    return f"{t.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


class ExperimentStore:
    """Experiment results under `<home>/experiments/<index>/<id>/result.json`."""

    def __init__(self, home: Path) -> None:
        self.root = Path(home) / "experiments"

    def save(self, index: str, result: dict[str, Any]) -> Path:
        """Write `result` (its "id" decides the folder) whole or not at all; returns the file."""
        folder = self.root / index / str(result["id"])
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = folder.parent / f".{folder.name}.{uuid.uuid4().hex}.tmp"
        tmp.mkdir()
        try:
            (tmp / "result.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
            if folder.exists():
                raise InvalidInputError(f"experiment {folder.name} of index {index!r} exists already")
            os.rename(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return folder / "result.json"

    def ids(self, index: str) -> list[str]:
        folder = self.root / index
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if (p / "result.json").is_file())

    def load(self, index: str, experiment_id: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(
            (self.root / index / experiment_id / "result.json").read_text(encoding="utf-8")
        )
        return loaded
