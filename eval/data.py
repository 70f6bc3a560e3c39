"""Judged datasets in BEIR layout: `queries.jsonl` and `qrels/<split>.tsv`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ragsearch.retrieval.errors import InvalidInputError

Qrels = dict[str, dict[str, int]]


@dataclass(frozen=True, slots=True)
class JudgedSplit:
    dataset: str
    split: str
    queries: dict[str, str]
    qrels: Qrels
    origins: frozenset[str] = frozenset()
    """The datasets the judgments were imported from when `dataset` is a judgment list's name (the leakage
    check compares a model's training queries with the queries of those datasets)."""


def splits(dataset_dir: Path) -> list[str]:
    return sorted(p.stem for p in (Path(dataset_dir) / "qrels").glob("*.tsv"))


@dataclass(frozen=True, slots=True)
class QrelRow:
    """One judgment line as written: `where` is `file:line`; the grade is not yet checked."""

    where: str
    query_id: str
    doc_id: str
    grade: float


def iter_qrels(path: Path) -> Iterator[QrelRow]:
    """BEIR TSV (`query-id corpus-id score`, header optional) or TREC qrels (`qid iter docid rel`), the fields
    separated by tabs or, in a line without a tab, by any whitespace; every line, duplicates included."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            row = line.split("\t") if "\t" in line else line.split()
            if not line.strip() or (lineno == 1 and row[0] == "query-id"):
                continue
            if len(row) == 4:  # TREC qrels: qid iter docid rel
                row = [row[0], row[2], row[3]]
            if len(row) != 3:
                raise InvalidInputError(
                    f"{path}:{lineno}: expected 'query-id corpus-id score' or TREC 'qid iter docid rel'"
                )
            try:
                grade = float(row[2])
            except ValueError:
                raise InvalidInputError(f"{path}:{lineno}: relevance {row[2]!r} is not a number") from None
            yield QrelRow(f"{path}:{lineno}", row[0], row[1], grade)


def read_qrels(path: Path) -> Qrels:
    """Qrels as {query: {doc: relevance}} (see `iter_qrels`; a repeated pair keeps the last line)."""
    qrels: Qrels = {}
    for row in iter_qrels(path):
        qrels.setdefault(row.query_id, {})[row.doc_id] = int(row.grade)
    return qrels


def read_queries(path: Path) -> dict[str, str]:
    queries = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                queries[str(obj["_id"])] = str(obj["text"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise InvalidInputError(f"{path}:{lineno}: not a query record ({exc})") from None
    return queries


def read_topics(path: Path) -> dict[str, str]:
    """Queries to run: BEIR `queries.jsonl`, or a TSV file of `qid<TAB>text` lines."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path} does not exist")
    if path.suffix == ".jsonl":
        return read_queries(path)
    topics = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            qid, tab, text = line.rstrip("\r\n").partition("\t")
            if not tab or not qid.strip() or not text.strip():
                raise InvalidInputError(f"{path}:{lineno}: expected 'qid<TAB>text'")
            topics[qid.strip()] = text.strip()
    return topics


def load_split(dataset_dir: Path, split: str) -> JudgedSplit:
    root = Path(dataset_dir)
    qrels_path = root / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        have = ", ".join(splits(root)) or "none"
        raise InvalidInputError(f"{root} has no judgments for split {split!r} (splits: {have})")
    queries_path = root / "queries.jsonl"
    if not queries_path.is_file():
        raise InvalidInputError(f"{root} has no queries.jsonl")
    qrels = read_qrels(qrels_path)
    all_queries = read_queries(queries_path)
    missing = [q for q in qrels if q not in all_queries]
    if missing:
        raise InvalidInputError(
            f"{qrels_path}: {len(missing)} judged queries are not in queries.jsonl: {missing[:5]}"
        )
    return JudgedSplit(root.name, split, {q: all_queries[q] for q in qrels}, qrels)


def load_extra_judgments(qrels_path: Path) -> JudgedSplit:
    """Judgments in BEIR layout outside a dataset (e.g. `ragsearch feedback export`): DIR/qrels/X.tsv
    with its queries in DIR/queries.jsonl."""
    qrels_path = Path(qrels_path)
    if not qrels_path.is_file():
        raise InvalidInputError(f"{qrels_path} does not exist")
    return load_split(qrels_path.parent.parent, qrels_path.stem)


def merge_splits(base: JudgedSplit, extra: JudgedSplit) -> JudgedSplit:
    """Base judgments plus extra ones; an extra query id already in base is refused (ids must not collide)."""
    clash = sorted(set(base.queries) & set(extra.queries))
    if clash:
        raise InvalidInputError(
            f"extra judgments reuse query ids of {base.dataset}/{base.split}: {clash[:5]}"
        )
    return JudgedSplit(
        base.dataset,
        f"{base.split}+{extra.split}",
        {**base.queries, **extra.queries},
        {**base.qrels, **extra.qrels},
    )


def restrict(split: JudgedSplit, qids: list[str]) -> JudgedSplit:
    """The same split with only the queries `qids` (and their judgments)."""
    keep = [q for q in qids if q in split.queries]
    return JudgedSplit(
        split.dataset, split.split, {q: split.queries[q] for q in keep}, {q: split.qrels[q] for q in keep}
    )
