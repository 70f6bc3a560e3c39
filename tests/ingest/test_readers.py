from __future__ import annotations

from pathlib import Path

import pytest

from ragsearch.ingest.readers import ReadError, corpus_file, read_source
from ragsearch.retrieval.errors import InvalidInputError
from ragsearch.retrieval.types import Passage


def test_malformed_lines_are_reported_with_line_numbers(tmp_path: Path) -> None:
    f = tmp_path / "c.jsonl"
    f.write_bytes(
        b'{"_id": "1", "title": "A", "text": "alpha"}\n'
        b"{not json}\n"
        b'{"title": "no id", "text": "x"}\n'
        b"\n"
        b'{"_id": "4", "title": "", "text": ""}\n'
        b'{"_id": 5, "text": "five", "metadata": {"k": "v"}}\n'
        b'{"_id": "6", "text": "\xff\xfe bad utf8"}\n'
        b"[1, 2]\n"
        b'{"_id": "8", "text": 3}\n'
    )
    recs = list(read_source(f))
    passages = [r for r in recs if isinstance(r, Passage)]
    errors = [r for r in recs if isinstance(r, ReadError)]
    assert [p.id for p in passages] == ["1", "5"]
    assert passages[1].metadata == {"k": "v"} and passages[1].doc_id == "5"
    assert [(e.line, e.reason.split(":")[0]) for e in errors] == [
        (2, "invalid JSON"),
        (3, 'missing "_id"'),
        (5, "title and text are both empty"),
        (7, "invalid UTF-8 at byte 22"),
        (8, "expected a JSON object, got list"),
        (9, '"text" must be a string'),
    ]
    assert str(errors[0]).startswith(f"{f}:2: invalid JSON")


def test_missing_sources_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"does not exist"):
        corpus_file(tmp_path / "nope")
    with pytest.raises(InvalidInputError, match=r"without corpus\.jsonl"):
        corpus_file(tmp_path)
