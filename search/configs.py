"""Search configurations stored per index by name: `<home>/configs/<index>/<name>.json`.

Each file is one `SearchConfig` as JSON (every field written out). A save writes a temporary file in the
same folder and renames it into place, so a reader sees the old configuration or the new one, never half
of one. A name may not be a mode name (`bm25`, `hybrid`, ...): wherever a configuration is named, a mode
name means that mode on the default configuration.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

from ragsearch.retrieval.errors import InvalidInputError, UnknownNameError
from ragsearch.search.config import MODES, SearchConfig, build_config

SERVED = "served"
"""Names, wherever a configuration is named, what the index serves now (so no stored configuration has it)."""

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_name(name: str, what: str = "configuration name") -> None:
    if not NAME_RE.match(name):
        raise InvalidInputError(
            f"{what} {name!r}: use letters, digits, '.', '_' or '-' (64 at most), "
            "starting with a letter or digit"
        )


def config_from_json(text: str, where: str) -> SearchConfig:
    """A configuration from JSON text: a readable error for bad JSON, unknown fields or bad values."""
    try:
        values: Any = json.loads(text)
    except ValueError as exc:
        raise InvalidInputError(f"{where}: not JSON ({exc})") from None
    if not isinstance(values, dict):
        raise InvalidInputError(f"{where}: a search configuration is a JSON object of fields")
    try:
        return build_config(values)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None


class ConfigStore:
    """The named search configurations of every index under `<home>/configs/`."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.root = self.home / "configs"

    def path(self, index: str, name: str) -> Path:
        check_name(index, "index name")
        check_name(name)
        return self.root / index / f"{name}.json"

    def names(self, index: str) -> list[str]:
        check_name(index, "index name")
        folder = self.root / index
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("*.json") if NAME_RE.match(p.stem))

    def save(self, index: str, name: str, config: SearchConfig) -> Path:
        """Write `config` as `name` of `index`, replacing one of that name (atomically)."""
        if name in MODES:
            raise InvalidInputError(
                f"{name!r} is a mode: a stored configuration needs another name "
                f"(the modes {', '.join(MODES)} already name the default configuration in that mode)"
            )
        if name == SERVED:
            raise InvalidInputError(
                f"{SERVED!r} names the configuration an index serves: a stored configuration needs another name"
            )
        path = self.path(index, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{name}.{uuid.uuid4().hex}.tmp")
        try:
            tmp.write_text(json.dumps(config.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def has(self, index: str, name: str) -> bool:
        """Whether `index` has a configuration stored as `name` (False for names no file can have)."""
        if not (NAME_RE.match(index) and NAME_RE.match(name)):
            return False
        return (self.root / index / f"{name}.json").is_file()

    def load(self, index: str, name: str) -> SearchConfig:
        path = self.path(index, name)
        if not path.is_file():
            names = self.names(index)
            if not names:
                raise InvalidInputError(
                    f"no configuration {name!r} for index {index!r}: it has none stored; "
                    "save one with `ragsearch configs save`"
                )
            raise UnknownNameError(f"configuration of index {index!r}", name, names)
        return config_from_json(path.read_text(encoding="utf-8"), str(path))
