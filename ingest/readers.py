"""Readers for BEIR folders and JSONL files of `{"_id", "title", "text"[, "metadata"]}` records.

A malformed line is reported with its line number and skipped; the rest of the file is read. A well-formed
record with neither title nor text (Cranfield has two) is reported as skipped, not as a failure.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ragsearch.retrieval.errors import InvalidInputError
from ragsearch.retrieval.types import Passage


@dataclass(frozen=True, slots=True)
class ReadError:
    source: str
    line: int
    reason: str
    skipped: bool = False
    """Nothing wrong, nothing to index (an empty record): counted as skipped, not failed."""

    def __str__(self) -> str:
        """`source:line: reason` for a record in a file, `source: reason` for a whole file (line 0)."""
        return f"{self.source}:{self.line}: {self.reason}" if self.line else f"{self.source}: {self.reason}"


Record = Passage | ReadError


class EmptyRecordError(ValueError):
    """A valid record with no title and no text."""


def corpus_file(path: Path) -> Path:
    """The JSONL file behind PATH: PATH itself, or `corpus.jsonl` inside a BEIR folder."""
    path = Path(path)
    if not path.exists():
        raise InvalidInputError(
            f"{path} does not exist: give a BEIR folder (with corpus.jsonl) or a .jsonl file"
        )
    if path.is_dir():
        corpus = path / "corpus.jsonl"
        if not corpus.is_file():
            raise InvalidInputError(
                f"{path} is a folder without corpus.jsonl: it is not a BEIR dataset folder"
            )
        return corpus
    return path


def parse_record(obj: object) -> Passage:
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    raw_id = obj.get("_id", obj.get("id"))
    if raw_id is None or (isinstance(raw_id, str) and not raw_id.strip()):
        raise ValueError('missing "_id"')
    if not isinstance(raw_id, str | int):
        raise ValueError(f'"_id" must be a string or integer, got {type(raw_id).__name__}')
    title = obj.get("title") or ""
    text = obj.get("text")
    if not isinstance(title, str):
        raise ValueError('"title" must be a string')
    if not isinstance(text, str):
        raise ValueError('missing "text"' if text is None else '"text" must be a string')
    if not (title.strip() or text.strip()):
        raise EmptyRecordError("title and text are both empty")
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ValueError('"metadata" must be an object')
    doc_id = str(obj.get("doc_id") or raw_id)
    return Passage(id=str(raw_id), doc_id=doc_id, title=title, text=text, metadata=metadata)


def read_jsonl(path: Path) -> Iterator[Record]:
    """Passages from a JSONL file, and a ReadError for each line that is not a valid record."""
    source = str(path)
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield ReadError(source, lineno, f"invalid UTF-8 at byte {exc.start}")
                continue
            try:
                yield parse_record(json.loads(line))
            except EmptyRecordError as exc:
                yield ReadError(source, lineno, str(exc), skipped=True)
            except json.JSONDecodeError as exc:
                yield ReadError(source, lineno, f"invalid JSON: {exc.msg} at column {exc.colno}")
            except ValueError as exc:
                yield ReadError(source, lineno, str(exc))


def read_source(path: Path) -> Iterator[Record]:
    yield from read_jsonl(corpus_file(path))
