from __future__ import annotations

from pathlib import Path

import pytest

from ragsearch.ingest.files import discover
from ragsearch.retrieval.errors import InvalidInputError


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    for rel in ["a.md", "b.txt", "c.py", "sub/d.html", "sub/drafts/e.md", ".git/x.md", "sub/.f.md", "g.PDF"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    (tmp_path / "beir").mkdir()
    for name in ["corpus.jsonl", "queries.jsonl"]:
        (tmp_path / "beir" / name).write_text("{}\n")
    return tmp_path


def ids(paths: list[Path], **kw: object) -> list[str]:
    return [f.doc_id for f in discover(paths, **kw).files]  # type: ignore[arg-type]


def test_walk_keeps_supported_files_in_order_and_skips_hidden(tree: Path) -> None:
    found = discover([tree])
    assert [f.doc_id for f in found.files] == [
        "a.md",
        "b.txt",
        "g.PDF",
        "beir/corpus.jsonl",
        "sub/d.html",
        "sub/drafts/e.md",
    ]
    assert [f.records for f in found.files] == [False, False, False, True, False, False]
    assert found.ignored == 2  # c.py, sub/.f.md (.git is never entered)
    assert found.roots == [tree.resolve()]


def test_include_and_exclude_globs(tree: Path) -> None:
    assert ids([tree], include=["*.md"]) == ["a.md", "sub/drafts/e.md"]
    assert ids([tree], exclude=["sub/drafts/*", "*.txt"]) == [
        "a.md",
        "g.PDF",
        "beir/corpus.jsonl",
        "sub/d.html",
    ]
    assert ids([tree], include=["*.py"]) == ["c.py"]  # include names what is read, extension or not


def test_a_file_or_beir_folder_given_directly(tree: Path) -> None:
    assert ids([tree / "sub" / "d.html"]) == ["d.html"]
    (beir,) = discover([tree / "beir"]).files
    assert beir.records and beir.path.name == "corpus.jsonl"
    with pytest.raises(InvalidInputError, match="does not exist"):
        discover([tree / "missing"])
