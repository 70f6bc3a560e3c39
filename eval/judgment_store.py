"""Judgment lists on disk: the versioned store under `<home>/judgments/` and export to BEIR and TREC files.

The layout is described in `eval.judgments`; the versioned folders (written to a temporary folder and
renamed into place, never changed) are `eval.versioned`'s.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ragsearch.eval import versioned
from ragsearch.eval.judgments import Judgment, JudgmentList, Provenance, check_name
from ragsearch.retrieval.errors import InvalidInputError


# ---- export -----------------------------------------------------------------------------------------
def export(jl: JudgmentList, out_dir: Path, split_name: str = "test") -> list[Path]:
    """BEIR layout (`queries.jsonl`, `qrels/<split>.tsv`, plus `qrels/dev.tsv` and `qrels/held.tsv` after
    a split) and TREC qrels (`<split>.qrels`: `qid 0 passage grade`), by passage id."""
    out_dir = Path(out_dir)
    (out_dir / "qrels").mkdir(parents=True, exist_ok=True)
    written = [out_dir / "queries.jsonl"]
    write_queries(written[0], jl.queries)
    parts = {split_name: None, **dict.fromkeys(jl.parts or {})}
    for part in parts:
        keep = set(jl.parts[part]) if jl.parts and part in jl.parts else set(jl.queries)
        path = out_dir / "qrels" / f"{part}.tsv"
        rows = [r for r in jl.rows if r.query_id in keep]
        write_lines(
            path, ["query-id\tcorpus-id\tscore", *(f"{r.query_id}\t{r.passage_id}\t{r.grade}" for r in rows)]
        )
        written.append(path)
    trec = out_dir / f"{split_name}.qrels"
    write_lines(trec, (f"{r.query_id} 0 {r.passage_id} {r.grade}" for r in jl.rows))
    return [*written, trec]


def write_lines(path: Path, lines: Iterable[str]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in lines)


class JudgmentStore:
    """The judgment lists under `<home>/judgments/`. A reference is `NAME` (its latest version) or
    `NAME@vNNNN`."""

    def __init__(self, home: Path) -> None:
        self.root = Path(home) / "judgments"

    def names(self) -> list[str]:
        return versioned.names(self.root)

    def versions(self, name: str) -> list[str]:
        return versioned.versions(self.root, name)

    def resolve(self, ref: str) -> tuple[str, str]:
        return versioned.resolve(
            self.root, ref, "judgment list", "make one with `ragsearch judgments import`"
        )

    def load_for(self, ref: str, index: str, action: str) -> JudgmentList:
        """`load(ref)`, refused (nothing done) when the list judges another index than `index`; `action`
        names what needed it, e.g. "an experiment"."""
        jl = self.load(ref)
        if jl.index != index:
            raise InvalidInputError(
                f"judgment list {jl.ref} judges index {jl.index!r}, not {index!r}: {action} on {index!r} needs "
                f"judgments of {index!r}; nothing was done"
            )
        return jl

    def load(self, ref: str) -> JudgmentList:
        name, version = self.resolve(ref)
        folder = self.root / name / version
        try:
            m = versioned.read_manifest(self.root, name, version)
            rows = tuple(Judgment(**json.loads(line)) for line in read_nonblank(folder / "rows.jsonl"))
            queries = {
                str(o["_id"]): str(o["text"])
                for o in map(json.loads, read_nonblank(folder / "queries.jsonl"))
            }
            provenance = tuple(Provenance(**p) for p in m["provenance"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidInputError(
                f"judgment list {name}@{version} is damaged ({exc}); import it again"
            ) from None
        return JudgmentList(
            name,
            m["index"],
            rows,
            queries,
            provenance,
            version,
            m["created_at"],
            tuple(m.get("derived_from") or ()),
            m.get("parts"),
            m.get("build") or {},
        )

    def save(self, jl: JudgmentList) -> JudgmentList:
        """Write `jl` as the next version of its name; returns it with its version and created_at."""
        check_name(jl.name)

        def write_files(tmp: Path) -> None:
            write_lines(tmp / "rows.jsonl", (json.dumps(vars_row(r), ensure_ascii=False) for r in jl.rows))
            write_queries(tmp / "queries.jsonl", jl.queries)

        version, created = versioned.save_version(
            self.root / jl.name,
            write_files,
            lambda v, c: replace(jl, version=v, created_at=c).manifest(),
        )
        return replace(jl, version=version, created_at=created)


def write_queries(path: Path, queries: dict[str, str]) -> None:
    """BEIR query records `{"_id", "text"}`, one a line."""
    write_lines(path, (json.dumps({"_id": q, "text": t}, ensure_ascii=False) for q, t in queries.items()))


def vars_row(r: Judgment) -> dict[str, Any]:
    return {
        "query_id": r.query_id,
        "passage_id": r.passage_id,
        "doc_id": r.doc_id,
        "grade": r.grade,
        "content_hash": r.content_hash,
    }


def read_nonblank(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
