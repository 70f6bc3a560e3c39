"""Impressions and the events on them, for click models and online experiments.

Every search the API answers is an impression: what was shown (the passages with their positions), for which
query, on which index and configuration, to which anonymous session. Clicks, dwell times and votes refer to an
impression and a position, so position bias can be estimated (a click at rank 9 says more than one at rank 1).
Field names follow the User Behavior Insights (UBI) schema where they fit: `ubi_queries` (query_id,
client_id, user_query, query_response_hit_ids, timestamp, application) and `ubi_events` (action_name,
query_id, client_id, session_id, timestamp, object_id, object_id_field, position ordinal, dwell_time).

Append-only SQLite in WAL mode: a committed row survives a kill -9 of the server (a power cut may lose the
last ones, as for the query log). A failed write never fails a search (the impression id is then null and
the failure counted); an event for an unknown impression or position is refused and nothing is stored.
Rows older than the retention are deleted by `purge` (at server start and `ragsearch impressions purge`).
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragsearch.app.sqlitelog import LazySqlite
from ragsearch.retrieval.errors import BackendUnavailableError, InvalidInputError

ACTIONS = ("click", "dwell", "up", "down")
APPLICATION = "ragsearch"

SCHEMA = """
CREATE TABLE IF NOT EXISTS ubi_queries (
    query_id TEXT PRIMARY KEY,
    timestamp REAL NOT NULL,
    application TEXT NOT NULL,
    client_id TEXT,
    session_id TEXT,
    user_query TEXT NOT NULL,
    index_name TEXT NOT NULL,
    config_name TEXT NOT NULL,
    config TEXT NOT NULL,
    first_position INTEGER NOT NULL,
    query_response_hit_ids TEXT NOT NULL,
    doc_ids TEXT NOT NULL,
    sources TEXT
);
CREATE INDEX IF NOT EXISTS ubi_queries_time ON ubi_queries(timestamp);
CREATE INDEX IF NOT EXISTS ubi_queries_config ON ubi_queries(config_name);
CREATE TABLE IF NOT EXISTS ubi_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp REAL NOT NULL,
    action_name TEXT NOT NULL CHECK (action_name IN ('click', 'dwell', 'up', 'down')),
    query_id TEXT NOT NULL REFERENCES ubi_queries(query_id),
    client_id TEXT,
    session_id TEXT,
    object_id TEXT NOT NULL,
    object_id_field TEXT NOT NULL DEFAULT 'passage_id',
    position INTEGER NOT NULL,
    dwell_time REAL
);
CREATE INDEX IF NOT EXISTS ubi_events_query ON ubi_events(query_id);
"""


@dataclass(frozen=True, slots=True)
class Impression:
    query_id: str
    timestamp: float
    session_id: str | None
    user_query: str
    index: str
    config_name: str
    first_position: int
    hit_ids: tuple[str, ...]
    """passage ids shown, at positions first_position, first_position + 1, ..."""
    doc_ids: tuple[str, ...]
    sources: tuple[str, ...] | None = None
    """per position, which ranker contributed it (interleaved lists); None otherwise"""

    def position_of(self, passage_id: str) -> int | None:
        try:
            return self.first_position + self.hit_ids.index(passage_id)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class Event:
    query_id: str
    action_name: str
    object_id: str
    position: int
    timestamp: float
    dwell_time: float | None = None


class ImpressionLog:
    def __init__(self, path: Path) -> None:
        self._db = LazySqlite(path, SCHEMA, synchronous="NORMAL")

    @property
    def failures(self) -> int:
        return self._db.failures

    def log(
        self,
        user_query: str,
        index: str,
        config_name: str,
        config: dict[str, object],
        first_position: int,
        hit_ids: Sequence[str],
        doc_ids: Sequence[str],
        session_id: str | None = None,
        client_id: str | None = None,
        sources: Sequence[str] | None = None,
    ) -> str | None:
        """Record one impression; its id, or None when it could not be written (counted, logged)."""
        query_id = uuid.uuid4().hex
        row = (query_id, time.time(), APPLICATION, client_id, session_id, user_query, index, config_name,
               json.dumps(config, sort_keys=True), first_position, json.dumps(list(hit_ids)),
               json.dumps(list(doc_ids)), None if sources is None else json.dumps(list(sources)))  # fmt: skip
        _, ok = self._db.run(
            "log", lambda db: db.execute(f"INSERT INTO ubi_queries VALUES ({','.join('?' * 13)})", row), None
        )
        return query_id if ok else None

    def impression(self, query_id: str) -> Impression | None:
        found, ok = self._db.run(
            "impression",
            lambda db: db.execute(f"SELECT {IMPRESSION_COLUMNS} FROM ubi_queries WHERE query_id = ?", (query_id,)).fetchone(),
            None,
        )  # fmt: skip
        if not ok:
            raise BackendUnavailableError("the impression log cannot be read; try again later")
        return None if found is None else impression_of(found)

    def add_event(
        self,
        query_id: str,
        action_name: str,
        position: int,
        object_id: str | None = None,
        dwell_time: float | None = None,
        session_id: str | None = None,
        client_id: str | None = None,
    ) -> int:
        """Record an event on a shown result; refused (InvalidInputError, nothing stored) when the impression
        is unknown, the position was not shown, or `object_id` is not what was shown there."""
        if action_name not in ACTIONS:
            raise InvalidInputError(f"action_name {action_name!r}: one of {', '.join(ACTIONS)}")
        shown = self.impression(query_id)
        if shown is None:
            raise InvalidInputError(
                f"no impression {query_id!r}: events refer to the impression_id a search returned"
            )
        offset = position - shown.first_position
        if not 0 <= offset < len(shown.hit_ids):
            last = shown.first_position + len(shown.hit_ids) - 1
            raise InvalidInputError(
                f"position {position} was not shown in impression {query_id} (positions {shown.first_position}-{last})"
            )
        if object_id is not None and object_id != shown.hit_ids[offset]:
            raise InvalidInputError(
                f"position {position} of impression {query_id} showed another passage than {object_id!r}"
            )
        row = (
            time.time(),
            action_name,
            query_id,
            client_id,
            session_id,
            shown.hit_ids[offset],
            position,
            dwell_time,
        )
        event_id, ok = self._db.run(
            "event",
            lambda db: int(db.execute(
                "INSERT INTO ubi_events(timestamp, action_name, query_id, client_id, session_id, object_id, position, "
                "dwell_time) VALUES (?,?,?,?,?,?,?,?)", row).lastrowid or 0),
            0,
        )  # fmt: skip
        if not ok:
            raise BackendUnavailableError(
                "the event could not be stored (the server's storage is failing); try again"
            )
        return event_id

    def impressions(
        self, index: str | None = None, since: float | None = None, config_name: str | None = None
    ) -> list[Impression]:
        where, args = clauses(index, since, config_name=config_name)
        sql = f"SELECT {IMPRESSION_COLUMNS} FROM ubi_queries{where} ORDER BY timestamp"
        none: list[Any] = []
        rows, ok = self._db.run("impressions", lambda db: db.execute(sql, args).fetchall(), none)
        if not ok:
            raise BackendUnavailableError("the impression log cannot be read")
        return [impression_of(r) for r in rows]

    def impressions_after(
        self, rowid: int, index: str | None = None, config_name: str | None = None
    ) -> list[tuple[int, Impression]]:
        """The impressions stored after row `rowid` (SQLite's rowid: the order they were written), with
        their rowids; what an incremental reader (`online.LiveTally`) asks for."""
        where, args = clauses(index, None, config_name=config_name)
        sql = (f"SELECT rowid, {IMPRESSION_COLUMNS} FROM ubi_queries{where}{' AND' if where else ' WHERE'} "
               "rowid > ? ORDER BY rowid")  # fmt: skip
        none: list[Any] = []
        rows, ok = self._db.run(
            "impressions_after", lambda db: db.execute(sql, (*args, rowid)).fetchall(), none
        )
        if not ok:
            raise BackendUnavailableError("the impression log cannot be read")
        return [(int(r[0]), impression_of(r[1:])) for r in rows]

    def last_impression_rowid(self) -> int:
        """The highest impression rowid (0: none); below a reader's mark when rows were purged and reused."""
        found, ok = self._db.run(
            "last_rowid", lambda db: db.execute("SELECT max(rowid) FROM ubi_queries").fetchone(), None
        )
        if not ok:
            raise BackendUnavailableError("the impression log cannot be read")
        return int(found[0] or 0) if found else 0

    def events_after(
        self, event_id: int, index: str | None = None, config_name: str | None = None
    ) -> list[tuple[int, Event]]:
        """The events stored after event `event_id` (ids only grow: AUTOINCREMENT), with their ids."""
        where, args = clauses(index, None, "q.", config_name)
        sql = ("SELECT e.id, e.query_id, e.action_name, e.object_id, e.position, e.timestamp, e.dwell_time "
               f"FROM ubi_events e CROSS JOIN ubi_queries q ON q.query_id = e.query_id{where}"
               f"{' AND' if where else ' WHERE'} e.id > ? ORDER BY e.id")  # fmt: skip
        # CROSS JOIN keeps the events first: the new ones by id range, each impression by its key (SQLite
        # would otherwise walk every impression of the experiment to find them)
        none: list[Any] = []
        rows, ok = self._db.run(
            "events_after", lambda db: db.execute(sql, (*args, event_id)).fetchall(), none
        )
        if not ok:
            raise BackendUnavailableError("the impression log cannot be read")
        return [(int(r[0]), Event(*r[1:])) for r in rows]

    def session_ids(
        self, index: str | None = None, since: float | None = None, config_name: str | None = None
    ) -> set[str]:
        """The distinct session ids of the impressions that match (impressions without one are left out)."""
        where, args = clauses(index, since, config_name=config_name)
        sql = f"SELECT DISTINCT session_id FROM ubi_queries{where}{' AND' if where else ' WHERE'} session_id IS NOT NULL"
        none: list[Any] = []
        rows, ok = self._db.run("session_ids", lambda db: db.execute(sql, args).fetchall(), none)
        if not ok:
            raise BackendUnavailableError("the impression log cannot be read")
        return {r[0] for r in rows}

    def events(
        self, index: str | None = None, since: float | None = None, config_name: str | None = None
    ) -> list[Event]:
        where, args = clauses(index, since, "q.", config_name)
        sql = ("SELECT e.query_id, e.action_name, e.object_id, e.position, e.timestamp, e.dwell_time FROM ubi_events e "
               f"JOIN ubi_queries q ON q.query_id = e.query_id{where} ORDER BY e.id")  # fmt: skip
        none: list[Any] = []
        rows, ok = self._db.run("events", lambda db: db.execute(sql, args).fetchall(), none)
        if not ok:
            raise BackendUnavailableError("the impression log cannot be read")
        return [Event(*r) for r in rows]

    def purge(self, older_than_days: float) -> int:
        """Delete impressions (and their events) older than the retention; how many impressions went."""
        cutoff = time.time() - older_than_days * 86400

        def op(db: sqlite3.Connection) -> int:
            with db:
                db.execute("DELETE FROM ubi_events WHERE query_id IN (SELECT query_id FROM ubi_queries WHERE timestamp < ?)", (cutoff,))  # fmt: skip
                return db.execute("DELETE FROM ubi_queries WHERE timestamp < ?", (cutoff,)).rowcount

        gone, _ = self._db.run("purge", op, 0)
        return gone

    def close(self) -> None:
        self._db.close()


IMPRESSION_COLUMNS = ("query_id, timestamp, session_id, user_query, index_name, config_name, first_position, "
                      "query_response_hit_ids, doc_ids, sources")  # fmt: skip


def impression_of(r: Sequence[Any]) -> Impression:
    sources = None if r[9] is None else tuple(json.loads(r[9]))
    return Impression(r[0], float(r[1]), r[2], r[3], r[4], r[5], int(r[6]), tuple(json.loads(r[7])),
                      tuple(json.loads(r[8])), sources)  # fmt: skip


def clauses(
    index: str | None, since: float | None, prefix: str = "", config_name: str | None = None
) -> tuple[str, tuple[object, ...]]:
    conds: list[str] = []
    args: list[object] = []
    if config_name is not None:
        conds.append(f"{prefix}config_name = ?")
        args.append(config_name)
    if index is not None:
        conds.append(f"{prefix}index_name = ?")
        args.append(index)
    if since is not None:
        conds.append(f"{prefix}timestamp >= ?")
        args.append(since)
    return (" WHERE " + " AND ".join(conds) if conds else ""), tuple(args)
