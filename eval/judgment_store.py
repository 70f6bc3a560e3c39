"""Judgment lists on disk: the versioned store under `<home>/judgments/` and export to BEIR and TREC files.

The layout (one folder per version, written to a temporary folder and renamed into place) is described in
`eval.judgments`. A version is never changed once written; readers see all of it or nothing, and two
writers never share a version number (the rename of the second fails and it takes the next).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragsearch.eval.judgments import (
    NAME_RE,
    VERSION_RE,
    Judgment,
    JudgmentList,
    Provenance,
    check_name,
)
from ragsearch.retrieval.errors import InvalidInputError, UnknownNameError


# ---- export -----------------------------------------------------------------------------------------
def export(jl: JudgmentList, out_dir: Path, split_name: str = "test") -> list[Path]:
    """BEIR layout (`queries.jsonl`, `qrels/<split>.tsv`, plus `qrels/dev.tsv` and `qrels/held.tsv` after
    a split) and TREC qrels (`<split>.qrels`: `qid 0 passage grade`), by passage id."""
    out_dir = Path(out_dir)
    (out_dir / "qrels").mkdir(parents=True, exist_ok=True)
    written = [out_dir / "queries.jsonl"]
    write_lines(
        written[0], (json.dumps({"_id": q, "text": t}, ensure_ascii=False) for q, t in jl.queries.items())
    )
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
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, name: str) -> list[str]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        found = [
            p.name for p in folder.iterdir() if VERSION_RE.match(p.name) and (p / "manifest.json").is_file()
        ]
        return sorted(found, key=lambda v: int(v[1:]))

    def resolve(self, ref: str) -> tuple[str, str]:
        name, _, version = ref.partition("@")
        have = self.versions(name) if NAME_RE.match(name) else []
        if not have:
            names = self.names()
            if not names:
                raise InvalidInputError(
                    f"no judgment list {name!r}: there are none under {self.root}; "
                    "make one with `ragsearch judgments import`"
                )
            raise UnknownNameError("judgment list", name, names)
        if version and version not in have:
            raise UnknownNameError(f"version of judgment list {name!r}", version, have)
        return name, version or have[-1]

    def load(self, ref: str) -> JudgmentList:
        name, version = self.resolve(ref)
        folder = self.root / name / version
        try:
            m = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
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
        folder = self.root / jl.name
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            write_lines(tmp / "rows.jsonl", (json.dumps(vars_row(r), ensure_ascii=False) for r in jl.rows))
            write_lines(
                tmp / "queries.jsonl",
                (json.dumps({"_id": q, "text": t}, ensure_ascii=False) for q, t in jl.queries.items()),
            )
            created = datetime.now(UTC).isoformat(timespec="seconds")
            while True:
                taken = [int(p.name[1:]) for p in folder.iterdir() if VERSION_RE.match(p.name)]
                version = f"v{max(taken, default=0) + 1:04d}"  # a torn folder's number is not reused
                saved = replace(jl, version=version, created_at=created)
                (tmp / "manifest.json").write_text(
                    json.dumps(saved.manifest(), indent=2) + "\n", encoding="utf-8"
                )
                try:
                    os.rename(tmp, folder / version)
                    return saved
                except OSError:
                    if not (folder / version).exists():
                        raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


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
