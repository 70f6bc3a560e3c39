"""The embedded backend: indexes stored as folders under `<home>/indexes/`."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from ragsearch.retrieval.embedded.index import EmbeddedIndex
from ragsearch.retrieval.embedded.vectors import VECTOR_INDEXES
from ragsearch.retrieval.errors import IndexExistsError, IndexNotFoundError, InvalidInputError
from ragsearch.retrieval.types import IndexSpec

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def validate_index_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise InvalidInputError(
            f"invalid index name {name!r}: use 1-64 characters from a-z, 0-9, '_' and '-', starting with a letter or digit"
        )
    return name


class EmbeddedBackend:
    """Indexes stored as folders under `<home>/indexes/`; `lock_timeout_s` bounds each write's wait for
    another process's write to finish."""

    def __init__(self, home: Path, vector_index: str = "exact", lock_timeout_s: float = 30.0) -> None:
        self.root = Path(home) / "indexes"
        if vector_index not in VECTOR_INDEXES:
            raise InvalidInputError(
                f"unknown vector index {vector_index!r}: valid choices are {', '.join(VECTOR_INDEXES)}"
            )
        self.vector_index = vector_index
        self.lock_timeout_s = lock_timeout_s

    def _dir(self, name: str) -> Path:
        return self.root / validate_index_name(name)

    def exists(self, name: str) -> bool:
        return (self._dir(name) / "store.sqlite").exists()

    def list(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "store.sqlite").exists())

    def create(self, name: str, spec: IndexSpec) -> EmbeddedIndex:
        if self.exists(name):
            raise IndexExistsError(f"index {name!r} already exists under {self.root}")
        path = self._dir(name)
        path.mkdir(parents=True, exist_ok=True)
        return EmbeddedIndex(
            path, name, create_spec=spec, vector_index=self.vector_index, lock_timeout_s=self.lock_timeout_s
        )

    def open(self, name: str) -> EmbeddedIndex:
        if not self.exists(name):
            known = ", ".join(self.list()) or "none"
            raise IndexNotFoundError(
                f"index {name!r} does not exist under {self.root} (known: {known}); create it with `ragsearch ingest PATH --index {name}`"
            )
        return EmbeddedIndex(
            self._dir(name), name, vector_index=self.vector_index, lock_timeout_s=self.lock_timeout_s
        )

    def drop(self, name: str) -> None:
        if not self.exists(name):
            raise IndexNotFoundError(f"index {name!r} does not exist under {self.root}")
        shutil.rmtree(self._dir(name))

    def describe(self, name: str) -> dict[str, Any]:
        index = self.open(name)
        try:
            return index.describe()
        finally:
            index.close()
