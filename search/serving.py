"""What each index serves: one search configuration per index, recorded with the evidence that chose it.

`<home>/serving/<index>.json` holds `stack` (the promotions in force, oldest first; the last one is served)
and `log` (every promotion and rollback, with its evidence, never rewritten). An index with an empty stack
serves the default configuration in mode hybrid: a fresh index never serves a model or tuning that has no
evidence on it. `rollback` pops the stack, so it steps back to the promotion before, or to the default.

Writes happen under an exclusive lock on `<index>.lock` and replace the file atomically, so two processes
promoting at once cannot lose each other's entry and a reader never sees half a file.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragsearch.retrieval.errors import InvalidInputError, RagsearchError
from ragsearch.search.config import Mode, SearchConfig, build_config
from ragsearch.search.configs import check_name
from ragsearch.search.locked_file import locked_update

DEFAULT_NAME = "default"
DEFAULT_REASON = "fresh index: the default hybrid configuration (no promotion on this index yet)"


@dataclass(frozen=True, slots=True)
class ServingEntry:
    """One promotion: the configuration, its name, and the evidence on this index that chose it."""

    number: int
    name: str
    config: SearchConfig
    at: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "name": self.name, "at": self.at,
                "config": self.config.model_dump(mode="json"), "evidence": self.evidence}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ServingEntry:
        return cls(int(d["number"]), str(d["name"]), build_config(d["config"]), str(d["at"]),
                   dict(d.get("evidence") or {}))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Served:
    """What an index serves now, and why."""

    index: str
    name: str
    config: SearchConfig
    reason: str
    entry: ServingEntry | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "label": self.config.label,
            "reason": self.reason,
            "since": self.entry.at if self.entry else None,
            "evidence": self.entry.evidence if self.entry else None,
            "config": self.config.model_dump(mode="json"),
        }


def reason_of(entry: ServingEntry) -> str:
    """One line: the evidence that put `entry` in service."""
    e = entry.evidence
    if not e:
        return f"promoted {entry.at}"
    online = e.get("online")
    if online:
        return (f"promoted {entry.at} by online experiment {online.get('experiment')} (interleaving): "
                f"{online.get('wins')} wins, {online.get('losses')} losses, {online.get('ties')} ties over "
                f"{online.get('impressions')} impressions against {e.get('replaced')}")  # fmt: skip
    held = e.get("held") or {}
    measure = e.get("measure", "")
    where = f"{e.get('judgments')} ({e.get('part') or 'all'} part)"
    figures = (
        f"{measure} {held.get('candidate', float('nan')):.4f} vs {held.get('served', float('nan')):.4f} "
        f"of {e.get('replaced')}, p={held.get('p_value', float('nan')):.3g} < {e.get('level')}"
    )
    return f"promoted {entry.at} on {where}: {figures}"


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ServingStore:
    """The served configuration of every index under `<home>/serving/`."""

    def __init__(self, home: Path) -> None:
        self.root = Path(home) / "serving"

    def path(self, index: str) -> Path:
        check_name(index, "index name")
        return self.root / f"{index}.json"

    def _read(self, index: str, check_all: bool = True) -> dict[str, Any]:
        """The index's state; every entry of the stack checked, or only the served one (a search's read)."""
        path = self.path(index)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"stack": [], "log": []}
        try:
            state = json.loads(text)
            for e in state["stack"] if check_all else state["stack"][-1:]:
                ServingEntry.from_dict(e)
            if not isinstance(state["log"], list):
                raise TypeError("log is not a list")
        except (ValueError, KeyError, TypeError, InvalidInputError) as exc:
            raise RagsearchError(
                f"serving record {path} is damaged ({exc}); restore it from a backup, or move it away to "
                "serve the default configuration"
            ) from None
        return dict(state)

    def _locked(self, index: str) -> AbstractContextManager[dict[str, Any]]:
        """The index's state under an exclusive lock; the yielded dict is written back on success."""
        return locked_update(
            self.path(index), lambda: self._read(index), lambda st: json.dumps(st, indent=2) + "\n"
        )

    def stack(self, index: str) -> list[ServingEntry]:
        return [ServingEntry.from_dict(e) for e in self._read(index)["stack"]]

    def log(self, index: str) -> list[dict[str, Any]]:
        """Every promotion and rollback of `index`, oldest first."""
        return list(self._read(index)["log"])

    def served(self, index: str, default: SearchConfig) -> Served:
        """What `index` serves: its last promotion, else `default` in mode hybrid."""
        stack = self._read(index, check_all=False)["stack"]
        if not stack:
            return Served(index, DEFAULT_NAME, fresh_default(default), DEFAULT_REASON)
        top = ServingEntry.from_dict(stack[-1])
        return Served(index, top.name, top.config, reason_of(top), top)

    def promote(self, index: str, name: str, config: SearchConfig, evidence: dict[str, Any]) -> ServingEntry:
        """Serve `config` (called `name`) on `index` from now on, with the evidence that chose it."""
        if config.mode is Mode.LTR and not config.ltr_model:
            raise InvalidInputError(
                "an ltr configuration is served with its model version pinned (ltr_model)"
            )
        with self._locked(index) as state:
            number = 1 + max((int(e["number"]) for e in state["log"]), default=0)
            entry = ServingEntry(number, name, config, now_utc(), {"action": "promote", **evidence})
            state["stack"].append(entry.to_dict())
            state["log"].append(entry.to_dict())
        return entry

    def rollback(self, index: str, default: SearchConfig) -> Served:
        """Serve what was served before the last promotion (the default after the first); logged."""
        with self._locked(index) as state:
            if not state["stack"]:
                raise InvalidInputError(
                    f"index {index!r} serves the default configuration: there is no promotion to roll back"
                )
            undone = state["stack"].pop()
            number = 1 + max((int(e["number"]) for e in state["log"]), default=0)
            back_to = state["stack"][-1] if state["stack"] else None
            state["log"].append({
                "number": number, "name": back_to["name"] if back_to else DEFAULT_NAME, "at": now_utc(),
                "config": back_to["config"] if back_to else fresh_default(default).model_dump(mode="json"),
                "evidence": {"action": "rollback", "undid": undone["number"], "undid_name": undone["name"]},
            })  # fmt: skip
        return self.served(index, default)


def fresh_default(default: SearchConfig) -> SearchConfig:
    """What an index with no promotion serves: `default` in mode hybrid, with no model."""
    return default.replace(mode=Mode.HYBRID, ltr_model=None)
