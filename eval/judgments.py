"""Judgment lists: named, versioned sets of graded (query, passage) rows with their queries and provenance.

Stored under `<home>/judgments/<name>/vNNNN/`, one folder per version, never changed once written:
- `rows.jsonl`: `{"query_id", "passage_id", "doc_id", "grade", "content_hash"}` per row; the hash is the
  judged passage's content hash in the index at judging time, so a passage changed since reads as stale;
- `queries.jsonl`: BEIR query records `{"_id", "text"}` of the judged queries;
- `manifest.json`: name, version, index, created_at, provenance (source imported / clicks / llm / pseudo,
  where from, and for llm the model and prompt version), counts per grade, what was dropped or replaced
  while building it, the versions it was derived from, and, after `split`, the dev and held query ids.

The store and export are in `eval.judgment_store`.
Grades are 0-3. Evaluation is at document level, as every run is: a row counts for its passage's doc_id
(the best grade when several passages of one document are judged; for BEIR corpora passage = document).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ragsearch.eval import versioned
from ragsearch.eval.data import JudgedSplit, QrelRow, Qrels
from ragsearch.retrieval.errors import InvalidInputError, UnknownNameError
from ragsearch.retrieval.index import SearchIndex

SOURCES = ("imported", "clicks", "llm", "pseudo")
GRADES = (0, 1, 2, 3)
PARTS = ("dev", "held")
SHOWN = 10
"""How many offending rows or ids an error or report names before saying how many more."""


@dataclass(frozen=True, slots=True)
class Judgment:
    query_id: str
    passage_id: str
    grade: int
    doc_id: str
    content_hash: str


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where judgments came from: `source` is one of SOURCES; an llm source names its model and prompt."""

    source: str
    origin: str = ""
    model: str | None = None
    prompt_version: str | None = None
    dataset: str = ""
    """the dataset (its folder name, as a trained model's manifest names it) the rows were imported from"""

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise UnknownNameError("judgment source", self.source, SOURCES)
        if self.source == "llm" and not (self.model and self.prompt_version):
            raise InvalidInputError("llm judgments must name the model and the prompt version")


@dataclass(frozen=True)
class JudgmentList:
    name: str
    index: str
    rows: tuple[Judgment, ...]
    queries: dict[str, str]
    provenance: tuple[Provenance, ...]
    version: str = ""
    created_at: str = ""
    derived_from: tuple[str, ...] = ()
    parts: dict[str, list[str]] | None = None
    """{"dev": [query ids], "held": [query ids]} after `split`; None before."""
    build: dict[str, Any] = field(default_factory=dict)
    """What building this version dropped or replaced (duplicates, passages not in the index, ...)."""

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def grade_counts(self) -> dict[str, int]:
        counts = Counter(r.grade for r in self.rows)
        return {str(g): counts.get(g, 0) for g in GRADES}

    def judged_split(self, part: str | None = None) -> JudgedSplit:
        """The rows as document-level qrels for evaluation; `part` dev or held after a split."""
        qids = list(self.queries)
        if part is not None:
            if part not in PARTS:
                raise UnknownNameError("judgment part", part, PARTS)
            if self.parts is None:
                raise InvalidInputError(
                    f"judgment list {self.ref} has no {part} part: make one with `ragsearch judgments split`"
                )
            qids = self.parts[part]
        keep = set(qids)
        qrels: Qrels = {}
        for r in self.rows:
            if r.query_id in keep:
                docs = qrels.setdefault(r.query_id, {})
                docs[r.doc_id] = max(r.grade, docs.get(r.doc_id, r.grade))
        queries = {q: self.queries[q] for q in qids if q in qrels}
        origins = frozenset(p.dataset for p in self.provenance if p.dataset)
        return JudgedSplit(
            self.name, f"{self.version}.{part}" if part else self.version, queries, qrels, origins
        )

    def manifest(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "index": self.index,
            "created_at": self.created_at,
            "provenance": [
                {k: v for k, v in vars_of(p).items() if v not in (None, "")} for p in self.provenance
            ],
            "rows": len(self.rows),
            "queries": len(self.queries),
            "grades": self.grade_counts(),
            "derived_from": list(self.derived_from),
            "parts": self.parts,
            "build": self.build,
        }


def vars_of(p: Provenance) -> dict[str, Any]:
    return {"source": p.source, "origin": p.origin, "model": p.model, "prompt_version": p.prompt_version,
            "dataset": p.dataset}  # fmt: skip


def shown(items: Sequence[object]) -> str:
    more = f" (and {len(items) - SHOWN} more)" if len(items) > SHOWN else ""
    return ", ".join(str(x) for x in items[:SHOWN]) + more


# ---- building ---------------------------------------------------------------------------------------
def parse_grade_map(text: str | None) -> dict[int, int]:
    """`4=3,-1=0` as {4: 3, -1: 0}: grades rewritten before they are checked (e.g. Cranfield's 0-4)."""
    mapping: dict[int, int] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        src, sep, dst = item.partition("=")
        try:
            mapping[int(src)] = int(dst)
        except ValueError:
            raise InvalidInputError(f"grade map item {item!r} is not FROM=TO with whole numbers") from None
        if not sep:
            raise InvalidInputError(f"grade map item {item!r} is not FROM=TO")
    return mapping


def check_grades(rows: Sequence[QrelRow], grade_map: dict[int, int] | None = None) -> list[QrelRow]:
    """The rows with mapped integer grades; any grade outside 0-3 refuses them all, naming the rows."""
    mapping = grade_map or {}
    out, bad = [], []
    for r in rows:
        grade = float(mapping.get(int(r.grade), r.grade)) if r.grade.is_integer() else r.grade
        if not grade.is_integer() or int(grade) not in GRADES:
            bad.append(f"{r.where} ({r.query_id} {r.doc_id} {r.grade:g})")
        out.append(replace(r, grade=grade))
    if bad:
        raise InvalidInputError(
            f"{len(bad)} judgment(s) have grades outside 0-3: {shown(bad)}; nothing was written "
            "(map other scales with --map-grades, e.g. 4=3)"
        )
    return out


def last_wins(rows: Iterable[tuple[str, str, int]]) -> tuple[dict[tuple[str, str], int], int]:
    """(query, passage) -> grade, the last row of a pair winning; and how many rows were replaced."""
    graded: dict[tuple[str, str], int] = {}
    duplicates = 0
    for q, p, g in rows:
        if (q, p) in graded:
            duplicates += 1
            del graded[(q, p)]  # keeps the order of the last occurrence
        graded[(q, p)] = g
    return graded, duplicates


def judge_against(
    index: SearchIndex, graded: dict[tuple[str, str], int]
) -> tuple[list[Judgment], list[tuple[str, str]]]:
    """Rows for the pairs whose passage the index holds, with its doc_id and content hash now; and the
    (query, passage) pairs whose passage it does not hold."""
    ids = sorted({p for _, p in graded})
    hashes = index.content_hashes(ids)
    doc_ids = {p.id: p.doc_id for p in index.get([i for i in ids if i in hashes])}
    rows, missing = [], []
    for (q, p), g in graded.items():
        if p in hashes:
            rows.append(Judgment(q, p, g, doc_ids.get(p, p), hashes[p]))
        else:
            missing.append((q, p))
    return rows, missing


def from_qrels(
    name: str,
    index: SearchIndex,
    rows: Sequence[QrelRow],
    queries: dict[str, str],
    provenance: Provenance,
    grade_map: dict[int, int] | None = None,
) -> JudgmentList:
    """A new list (not yet saved) from qrels lines: grades checked (all or nothing), duplicates resolved
    (last wins, counted), rows naming passages the index lacks left out (counted and listed)."""
    check_name(name)
    checked = check_grades(rows, grade_map)
    no_text = sorted({r.query_id for r in checked if r.query_id not in queries})
    if no_text:
        raise InvalidInputError(
            f"{len(no_text)} judged queries have no text in the queries file: {shown(no_text)}; nothing was written"
        )
    graded, duplicates = last_wins((r.query_id, r.doc_id, int(r.grade)) for r in checked)
    judged, missing = judge_against(index, graded)
    if missing and not judged:
        raise InvalidInputError(
            f"none of the {len(missing)} judged passages is in index {index.name!r} (e.g. {missing[0][1]!r}): "
            "judgments name passage ids of the index they judge; check --index; nothing was written"
        )
    kept = {r.query_id for r in judged}
    build = {
        "lines": len(rows),
        "duplicates": duplicates,
        "not_in_index": len(missing),
        "not_in_index_rows": [list(pair) for pair in missing],
        "queries_without_rows": sorted({q for q, _ in missing} - kept),
    }
    if grade_map:
        build["grade_map"] = {str(k): v for k, v in grade_map.items()}
    return JudgmentList(
        name,
        index.name,
        tuple(judged),
        {q: queries[q] for q in queries if q in kept},
        (provenance,),
        build=build,
    )


def merge(a: JudgmentList, b: JudgmentList, name: str) -> JudgmentList:
    """A's rows then B's: a (query, passage) judged in both keeps B's row (counted). Same index only."""
    check_name(name)
    if a.index != b.index:
        raise InvalidInputError(
            f"{a.ref} judges index {a.index!r} and {b.ref} judges {b.index!r}: merge lists of one index"
        )
    by_pair: dict[tuple[str, str], Judgment] = {}
    duplicates = 0
    for r in (*a.rows, *b.rows):
        if (r.query_id, r.passage_id) in by_pair:
            duplicates += 1
            del by_pair[(r.query_id, r.passage_id)]
        by_pair[(r.query_id, r.passage_id)] = r
    build = {"duplicates": duplicates, "merged": [a.ref, b.ref]}
    return JudgmentList(
        name,
        a.index,
        tuple(by_pair.values()),
        {**a.queries, **b.queries},
        (*a.provenance, *b.provenance),
        derived_from=(a.ref, b.ref),
        build=build,
    )


def subset(jl: JudgmentList, part: str, name: str) -> JudgmentList:
    """A new list `name` holding only the queries (and their rows) of `jl`'s dev or held part: e.g. one part
    to train a model on, the other to tune and promote with, so neither sees the other's queries."""
    check_name(name)
    if part not in PARTS:
        raise UnknownNameError("judgment part", part, PARTS)
    if jl.parts is None:
        raise InvalidInputError(
            f"judgment list {jl.ref} has no {part} part: make one with `ragsearch judgments split`"
        )
    keep = set(jl.parts[part])
    return JudgmentList(
        name,
        jl.index,
        tuple(r for r in jl.rows if r.query_id in keep),
        {q: t for q, t in jl.queries.items() if q in keep},
        jl.provenance,
        derived_from=(jl.ref,),
        build={"subset": {"of": jl.ref, "part": part}},
    )


def training_split(jl: JudgmentList, part: str | None = None) -> JudgedSplit:
    """The list (or one part) as a training split. A list imported from one dataset trains under that
    dataset's name, so the leakage check compares the model's queries with any later list of that dataset."""
    judged = jl.judged_split(part)
    if len(judged.origins) == 1:
        return replace(judged, dataset=next(iter(judged.origins)))
    return judged


def split(jl: JudgmentList, dev_fraction: float, seed: int) -> JudgmentList:
    """The same rows with its queries parted into dev and held: the sorted query ids shuffled by a
    random.Random(seed), the first round(fraction * n) dev (at least one of each when n >= 2)."""
    if not 0.0 < dev_fraction < 1.0:
        raise InvalidInputError(f"--dev-fraction {dev_fraction} must lie strictly between 0 and 1")
    qids = sorted(jl.queries)
    if len(qids) < 2:
        raise InvalidInputError(f"{jl.ref} has {len(qids)} queries: a split needs at least 2")
    random.Random(seed).shuffle(qids)
    n_dev = min(max(round(dev_fraction * len(qids)), 1), len(qids) - 1)
    parts = {"dev": sorted(qids[:n_dev]), "held": sorted(qids[n_dev:])}
    build = {**jl.build, "split": {"dev_fraction": dev_fraction, "seed": seed, "of": jl.ref}}
    return replace(jl, derived_from=(jl.ref,), parts=parts, build=build)


# ---- freshness --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Freshness:
    stale: list[tuple[str, str]]
    """(query, passage) rows whose passage changed since it was judged."""
    missing: list[tuple[str, str]]
    """Rows whose passage is no longer in the index."""


def freshness(jl: JudgmentList, index: SearchIndex) -> Freshness:
    now = index.content_hashes(sorted({r.passage_id for r in jl.rows}))
    stale = [
        (r.query_id, r.passage_id)
        for r in jl.rows
        if r.passage_id in now and now[r.passage_id] != r.content_hash
    ]
    missing = [(r.query_id, r.passage_id) for r in jl.rows if r.passage_id not in now]
    return Freshness(stale, missing)


def check_name(name: str) -> None:
    versioned.check_name(name, "judgment list name")
