"""Query sets: named, versioned lists of queries to judge or run (e.g. `judgments generate --queries SET`).

A set comes from a queries file (`from_file`) or is sampled from the served-query log (`sample_from_log`:
the most frequent queries plus a seeded random sample of the rest, with PII-looking ones dropped). Stored
under `<home>/query_sets/<name>/vNNNN/`, one folder per version, never changed once written
(`eval.versioned`):
- `queries.jsonl`: BEIR query records `{"_id", "text"}`; a set sampled from the log adds
  `"metadata": {"count": n}`, how often the query was served in the entries read;
- `manifest.json`: name, version, created_at, the number of queries, where they came from (`source`: a
  file with its path and SHA-256, the log with its index, top, sample, seed, since and how many entries
  were read, or `generated` by an LLM from sampled passages, `app.query_generation`) and what building the
  set dropped and why (`build`).

Query ids: a file's own (`_id`, or the TSV's first column; `q1..qn` for plain text); a sampled query's id
is derived from its case-folded text (`q` + 12 hex digits of its SHA-256), so a query keeps its id in
every version of every set sampled from the log, and judgments of it stay reusable.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ragsearch.eval import versioned
from ragsearch.retrieval.errors import InvalidInputError

SOURCES = ("file", "log", "generated")
PII_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # user:password@ (or user@) in a URL: before `email`, which would match its tail
    ("url_credentials", re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s/?#@]+@", re.IGNORECASE)),
    ("email", re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}", re.IGNORECASE)),
    # international (+CC then 3 to 6 groups), (area) 123-4567, 555-123-4567 / 555.123.4567; space-only
    # groups ("555 123 4567") are not taken: doses and years ("400 800 1000 IU") look the same
    ("phone", re.compile(r"(?<![\w+])\+\d{1,3}[\s.-]?(?:\(?\d{1,4}\)?[\s.-]?){2,5}\d{2,4}(?!\w)")),
    ("phone", re.compile(r"\(\d{2,4}\)\s?\d{3,4}[\s.-]\d{3,4}(?!\w)")),
    ("phone", re.compile(r"(?<![\w.-])\d{3}[.-]\d{3,4}[.-]\d{4}(?![\w-])")),
    ("ssn", re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])")),
    # card and account numbers: 9+ digits in a row (also inside an IBAN), or 4 groups of 4 ("4111 1111 ...")
    ("long_number", re.compile(r"(?<!\d)\d{9,}(?!\d)")),
    ("long_number", re.compile(r"(?<!\d)\d{4}(?:[ -]\d{4}){3}(?!\d)")),
    (
        "ipv4",
        re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.])"),
    ),
)
"""What makes a query look like it holds personal data, by kind; a query matching any is dropped."""


def pii_kind(text: str) -> str | None:
    """The first kind of PII_PATTERNS that `text` matches, or None."""
    return next((kind for kind, pattern in PII_PATTERNS if pattern.search(text)), None)


def normalise(text: str) -> str:
    """Whitespace runs as one space, none at either end."""
    return " ".join(text.split())


def text_id(key: str) -> str:
    return "q" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class QuerySource:
    """Where a set's queries came from: `file` (path, sha256), `log` (index, top, sample, seed, since,
    entries_read) or `generated` (index, sample, seed, model, prompt_version)."""

    source: str
    path: str | None = None
    sha256: str | None = None
    index: str | None = None
    top: int | None = None
    sample: int | None = None
    seed: int | None = None
    since: str | None = None
    """ISO time: only log entries from then on were read"""
    entries_read: int | None = None
    model: str | None = None
    """generated: the LLM that wrote the queries (`sample` passages drawn with `seed` from `index`)"""
    prompt_version: str | None = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise InvalidInputError(f"query set source {self.source!r}: one of {', '.join(SOURCES)}")

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True, slots=True)
class BuildStats:
    """What building a set read and dropped. From a file, `read` counts records (non-blank lines); from the
    log, entries; generated, sampled passages. A duplicate is a query whose case-folded text came before
    (from the log: a repeat, which is what the counts are made of)."""

    read: int
    empty: int = 0
    duplicates: int = 0
    pii: dict[str, int] = field(default_factory=dict)
    """PII-looking queries dropped, by kind (their text is not kept anywhere)"""
    duplicate_ids: list[str] = field(default_factory=list)
    """from a file: the ids dropped as duplicates"""
    distinct: int = 0
    """from the log: distinct queries left after dropping, of which `top` + `sampled` were taken"""
    top: int = 0
    sampled: int = 0
    unparseable: int = 0
    """generated: passages whose LLM reply held no query, even when asked again"""
    too_long: int = 0
    copied: int = 0
    """generated: queries that were the first words of their passage or its title"""

    @property
    def pii_dropped(self) -> int:
        return sum(self.pii.values())


@dataclass(frozen=True)
class QuerySet:
    name: str
    queries: dict[str, str]
    source: QuerySource
    build: BuildStats
    counts: dict[str, int] = field(default_factory=dict)
    """from the log: how often each query was served in the entries read"""
    version: str = ""
    created_at: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def manifest(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "created_at": self.created_at,
            "queries": len(self.queries),
            "source": self.source.to_dict(),
            "build": asdict(self.build),
        }


# ---- building ---------------------------------------------------------------------------------------
def from_file(path: Path, name: str) -> QuerySet:
    """A set of the queries in `path`: BEIR `queries.jsonl` (`{"_id", "text"}` a line; a `.jsonl` file or
    one whose first line is a JSON object), TSV `qid<TAB>text` (the first line has a tab), or plain text,
    one query a line (ids q1..qn). Blank lines are skipped; a record with an empty text is dropped and
    counted, and so is a repeated text (case-folded; the first one stays). A malformed line, a repeated id
    or a file with no query refuses the file, naming the line."""
    versioned.check_name(name, "query set name")
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path} does not exist")
    data = path.read_bytes()
    lines = []
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        try:
            line = raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(f"{path}:{lineno}: not UTF-8 text ({exc.reason})") from None
        if line.strip():
            lines.append((lineno, line.lstrip("\ufeff") if lineno == 1 else line))
    if not lines:
        raise InvalidInputError(f"{path} holds no queries")
    first = lines[0][1]
    if path.suffix == ".jsonl" or first.lstrip().startswith("{"):
        records = [(n, *json_record(path, n, line)) for n, line in lines]
    elif "\t" in first:
        records = [(n, *tsv_record(path, n, line)) for n, line in lines]
    else:
        records = [(n, f"q{i}", line) for i, (n, line) in enumerate(lines, start=1)]
    queries: dict[str, str] = {}
    id_line: dict[str, int] = {}
    seen: set[str] = set()
    empty, dropped = 0, []
    for lineno, qid, text in records:
        if qid in id_line:
            raise InvalidInputError(f"{path}:{lineno}: query id {qid!r} is already on line {id_line[qid]}")
        id_line[qid] = lineno
        text = normalise(text)
        if not text:
            empty += 1
        elif text.casefold() in seen:
            dropped.append(qid)
        else:
            seen.add(text.casefold())
            queries[qid] = text
    if not queries:
        raise InvalidInputError(f"{path}: every query is empty")
    source = QuerySource("file", path=str(path.resolve()), sha256=hashlib.sha256(data).hexdigest())
    stats = BuildStats(len(records), empty, len(dropped), duplicate_ids=dropped)
    return QuerySet(name, queries, source, stats)


def json_record(path: Path, lineno: int, line: str) -> tuple[str, str]:
    try:
        obj = json.loads(line)
        qid, text = obj["_id"], obj["text"]
        if not isinstance(qid, str | int) or isinstance(qid, bool) or not isinstance(text, str):
            raise TypeError("_id must be a string or a number, text a string")
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InvalidInputError(
            f'{path}:{lineno}: expected a JSON object with "_id" and "text" ({type(exc).__name__}: {exc})'
        ) from None
    if not str(qid).strip():
        raise InvalidInputError(f'{path}:{lineno}: "_id" is empty')
    return str(qid).strip(), text


def tsv_record(path: Path, lineno: int, line: str) -> tuple[str, str]:
    qid, tab, text = line.partition("\t")
    if not tab or not qid.strip():
        raise InvalidInputError(
            f"{path}:{lineno}: expected 'qid<TAB>text' (the first line has a tab, so the file is read as TSV)"
        )
    return qid.strip(), text


def sample_from_log(
    texts: Iterable[str], top: int, sample: int, seed: int, *, name: str, index: str, since: str | None = None
) -> QuerySet:
    """A set of served queries: whitespace normalised, empty and PII-looking entries dropped, the rest
    counted by case-folded text; the `top` most frequent (ties by text), then `sample` drawn by
    `random.Random(seed)` from the other distinct queries (the tail, in text order). The same texts, top,
    sample and seed give the same set. A query is shown in its most frequent spelling (ties: the first in
    text order)."""
    versioned.check_name(name, "query set name")
    if top < 0 or sample < 0 or top + sample == 0:
        raise InvalidInputError(f"top {top} and sample {sample}: both at least 0 and not both 0")
    read, empty = 0, 0
    pii: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    for raw in texts:
        read += 1
        text = normalise(raw)
        kind = pii_kind(text) if text else None
        if not text:
            empty += 1
        elif kind is not None:
            pii[kind] += 1
        else:
            spellings.setdefault(text.casefold(), Counter())[text] += 1
    counts = {key: sum(c.values()) for key, c in spellings.items()}
    ranked = sorted(counts, key=lambda key: (-counts[key], key))
    head, tail = ranked[:top], sorted(ranked[top:])
    drawn = sorted(random.Random(seed).sample(tail, min(sample, len(tail))))
    queries, served = {}, {}
    for key in head + drawn:
        best = min(spellings[key].items(), key=lambda kv: (-kv[1], kv[0]))[0]
        queries[text_id(key)] = best
        served[text_id(key)] = counts[key]
    kept = read - empty - sum(pii.values())
    stats = BuildStats(read, empty, kept - len(counts), dict(sorted(pii.items())), [], len(counts),
                       len(head), len(drawn))  # fmt: skip
    source = QuerySource(
        "log", index=index, top=top, sample=sample, seed=seed, since=since, entries_read=read
    )
    return QuerySet(name, queries, source, stats, served)


# ---- the store --------------------------------------------------------------------------------------
class QuerySetStore:
    """The query sets under `<home>/query_sets/`. A reference is `NAME` (its latest version) or
    `NAME@vNNNN`."""

    def __init__(self, home: Path) -> None:
        self.root = Path(home) / "query_sets"

    def names(self) -> list[str]:
        return versioned.names(self.root)

    def versions(self, name: str) -> list[str]:
        return versioned.versions(self.root, name)

    def save(self, qs: QuerySet) -> QuerySet:
        """Write `qs` as the next version of its name; returns it with its version and created_at."""
        versioned.check_name(qs.name, "query set name")

        def write_files(tmp: Path) -> None:
            with open(tmp / "queries.jsonl", "w", encoding="utf-8") as f:
                for qid, text in qs.queries.items():
                    record: dict[str, Any] = {"_id": qid, "text": text}
                    if qid in qs.counts:
                        record["metadata"] = {"count": qs.counts[qid]}
                    f.write(json.dumps(record, ensure_ascii=False) + "\n")

        version, created = versioned.save_version(
            self.root / qs.name, write_files, lambda v, c: replace(qs, version=v, created_at=c).manifest()
        )
        return replace(qs, version=version, created_at=created)

    def load(self, ref: str) -> QuerySet:
        name, version = versioned.resolve(
            self.root, ref, "query set", "make one with `ragsearch query-sets create`"
        )
        try:
            m = versioned.read_manifest(self.root, name, version)
            queries, counts = {}, {}
            text = (self.root / name / version / "queries.jsonl").read_text(encoding="utf-8")
            for obj in map(json.loads, filter(str.strip, text.splitlines())):
                queries[str(obj["_id"])] = str(obj["text"])
                if "count" in (obj.get("metadata") or {}):
                    counts[str(obj["_id"])] = int(obj["metadata"]["count"])
            source = QuerySource(**m["source"])
            build = BuildStats(**m["build"])
        except (OSError, ValueError, KeyError, TypeError, InvalidInputError) as exc:
            raise InvalidInputError(
                f"query set {name}@{version} is damaged ({exc}); create it again"
            ) from None
        return QuerySet(name, queries, source, build, counts, version, m["created_at"])
