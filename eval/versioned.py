"""Named, versioned folders: `<root>/NAME/vNNNN/`, each holding a `manifest.json` and never changed once
written. Shared by the judgment lists (`eval.judgment_store`) and the query sets (`eval.query_sets`).

A version is written to a temporary folder beside the others and renamed into place: readers see all of it
or nothing (a folder without its manifest is not a version), and two writers never share a number (the
rename of the second fails and it takes the next). A reference is `NAME` (its latest version) or
`NAME@vNNNN`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragsearch.retrieval.errors import InvalidInputError, UnknownNameError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
VERSION_RE = re.compile(r"^v\d{4,}$")


def check_name(name: str, what: str) -> None:
    if not NAME_RE.match(name):
        raise InvalidInputError(
            f"{what} {name!r}: use letters, digits, '.', '_' or '-' (64 at most), starting with a letter or digit"
        )


def versions(root: Path, name: str) -> list[str]:
    """The complete versions of `name` (those with a manifest), oldest first."""
    folder = root / name
    if not NAME_RE.match(name) or not folder.is_dir():
        return []
    found = [p.name for p in folder.iterdir() if VERSION_RE.match(p.name) and (p / "manifest.json").is_file()]
    return sorted(found, key=lambda v: int(v[1:]))


def names(root: Path) -> list[str]:
    """The names under `root` with at least one complete version."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and versions(root, p.name))


def resolve(root: Path, ref: str, what: str, make_one: str) -> tuple[str, str]:
    """`NAME` or `NAME@vNNNN` -> (name, version). An unknown name lists the valid ones (or, when there are
    none, says how to `make_one`); an unknown version lists the name's versions."""
    name, _, version = ref.partition("@")
    have = versions(root, name)
    if not have:
        known = names(root)
        if not known:
            raise InvalidInputError(f"no {what} {name!r}: there are none under {root}; {make_one}")
        raise UnknownNameError(what, name, known)
    if version and version not in have:
        raise UnknownNameError(f"version of {what} {name!r}", version, have)
    return name, version or have[-1]


def save_version(
    folder: Path, write_files: Callable[[Path], None], manifest: Callable[[str, str], dict[str, Any]]
) -> tuple[str, str]:
    """Write the next version under `folder` (one name's folder): `write_files(tmp)` fills a temporary
    folder, `manifest(version, created_at)` gives its manifest; the folder is then renamed into place.
    Returns (version, created_at). A failure leaves no trace but the numbers already taken."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        write_files(tmp)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        while True:
            taken = [int(p.name[1:]) for p in folder.iterdir() if VERSION_RE.match(p.name)]
            version = f"v{max(taken, default=0) + 1:04d}"  # a torn folder's number is not reused
            (tmp / "manifest.json").write_text(
                json.dumps(manifest(version, created), indent=2) + "\n", encoding="utf-8"
            )
            try:
                os.rename(tmp, folder / version)
                return version, created
            except OSError:
                if not (folder / version).exists():
                    raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_manifest(root: Path, name: str, version: str) -> dict[str, Any]:
    data = json.loads((root / name / version / "manifest.json").read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("manifest.json is not an object")
    return data
