"""Which files an ingest reads: walk the given paths, apply include/exclude globs, name each document.

A document's id is its path relative to the folder that was given (`guide/install.md`), or its file name
when a file was given, so moving the folder keeps every id. Two folders can name the same id: the ingest
refuses the second one's file (`ingest.runner`), it never replaces the other silently. A BEIR folder (one with `corpus.jsonl`) and a
`.jsonl` file hold records with ids of their own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

from ragsearch.retrieval.errors import InvalidInputError

DOCUMENT_SUFFIXES = frozenset({".md", ".markdown", ".html", ".htm", ".pdf", ".txt", ".text"})
RECORD_SUFFIXES = frozenset({".jsonl"})
SUPPORTED_SUFFIXES = DOCUMENT_SUFFIXES | RECORD_SUFFIXES


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One file to read. `records` is true for JSONL corpora (records carry their own ids)."""

    path: Path
    root: Path
    doc_id: str
    size: int
    records: bool = False


@dataclass(slots=True)
class Discovery:
    files: list[SourceFile]
    roots: list[Path]
    ignored: int = 0
    """Files under the given folders left out: unsupported extension or hidden."""


def _matches(rel: str, patterns: Sequence[str]) -> bool:
    name = PurePosixPath(rel).name
    return any(fnmatchcase(rel if "/" in p else name, p) for p in patterns)


def _is_beir_folder(path: Path) -> bool:
    return (path / "corpus.jsonl").is_file()


def _walk(root: Path) -> Iterator[Path]:
    """Files under root in a stable order; hidden folders skipped; folder symlinks not followed (no
    loops). Of a BEIR folder inside, only its corpus.jsonl (not its queries or qrels)."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        if "corpus.jsonl" in filenames and Path(dirpath) != root:
            dirnames[:] = []
            yield Path(dirpath) / "corpus.jsonl"
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            yield Path(dirpath) / name


def discover(paths: Sequence[Path], include: Sequence[str] = (), exclude: Sequence[str] = ()) -> Discovery:
    """The files to ingest under `paths`. Globs match the path relative to the given folder (`*` also
    matches `/`), or the file name alone when the pattern has no `/`. Without `include`, folders
    contribute files with a supported extension; a file named on the command line is always read."""
    files: list[SourceFile] = []
    roots: list[Path] = []
    ignored = 0
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise InvalidInputError(f"{path} does not exist: give files or folders to ingest")
        root = path.resolve()
        roots.append(root)
        if path.is_file():
            files.append(
                SourceFile(root, root, root.name, root.stat().st_size, root.suffix.lower() == ".jsonl")
            )
            continue
        if _is_beir_folder(root):
            corpus = root / "corpus.jsonl"
            files.append(SourceFile(corpus, root, "corpus.jsonl", corpus.stat().st_size, records=True))
            continue
        for file in _walk(root):
            rel = file.relative_to(root).as_posix()
            if file.name.startswith("."):
                ignored += 1
                continue
            wanted = _matches(rel, include) if include else file.suffix.lower() in SUPPORTED_SUFFIXES
            if not wanted or (exclude and _matches(rel, exclude)):
                ignored += 1
                continue
            try:
                size = file.stat().st_size
            except OSError:  # a dangling symlink: reported when it is read
                size = 0
            files.append(SourceFile(file, root, rel, size, records=file.suffix.lower() == ".jsonl"))
    return Discovery(files=files, roots=roots, ignored=ignored)
