"""Online experiments: team-draft interleaving of an index's served configuration (ranker a) and a candidate
(ranker b) for a share of sessions, decided by clicks with an always-valid sequential test.

`<home>/online/<index>.json` holds the index's experiments (one running at a time). The counts are never
stored: they are derived from the impression log (impressions tagged `online:<id>` with the ranker of each
position, and the clicks on them), so a restarted server resumes with nothing counted twice.

A session takes part when its anonymous id hashes (with the experiment id) below the traffic share and
admitting it keeps the interleaved sessions at most that share of the sessions seen since the start (a hard
cap, `Admission`); it is decided when the session is first seen, so a session stays in or out for the whole
experiment. Requests without a session id, naming a mode or a configuration, or asking for a later page are
served the served configuration alone. A candidate that
raises or exceeds the latency budget stops the experiment (the reason is recorded) and the request is served
by the served configuration.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import uuid
from collections import defaultdict
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragsearch.app.impressions import Impression, ImpressionLog
from ragsearch.eval.interleaving import PRIOR_STRENGTH, credit, sequential_test, team_draft
from ragsearch.retrieval.errors import InvalidInputError
from ragsearch.retrieval.types import Candidate
from ragsearch.search.config import SearchConfig, build_config
from ragsearch.search.configs import check_name
from ragsearch.search.locked_file import locked_update
from ragsearch.search.serving import ServingStore

TAG = "online:"


@dataclass
class Experiment:
    id: str
    index: str
    candidate: str
    candidate_config: dict[str, Any]
    served: str
    served_config: dict[str, Any]
    traffic: float
    max_sessions: int
    min_sessions: int
    alpha: float
    auto_promote: bool
    started_at: str
    status: str = "running"
    """running | decided | stopped"""
    decision: str | None = None
    """promote (candidate better) | keep (served better, or no decision by max sessions)"""
    reason: str | None = None
    ended_at: str | None = None
    promoted: bool = False
    result: dict[str, Any] = field(default_factory=dict)
    prior_strength: float = 1.0
    """s of the test's Beta(s, s) prior; records made before it was stored used the uniform prior (1)"""
    aa: bool = False
    """an A/A calibration: the served configuration against itself. Any decision it reaches is a false one
    (it measures the test's error rate on this traffic); it never promotes"""

    @property
    def tag(self) -> str:
        return TAG + self.id

    def config(self, which: str) -> SearchConfig:
        return build_config(self.candidate_config if which == "b" else self.served_config)

    def takes(self, session_id: str | None) -> bool:
        """Whether this session is interleaved (sticky: a hash of the session and experiment ids)."""
        if not session_id or self.status != "running":
            return False
        h = hashlib.sha256(f"{self.id}:{session_id}".encode()).digest()
        return int.from_bytes(h[:8], "big") / 2**64 < self.traffic


class Admission:
    """The hard cap on the interleaved share: among the sessions that searched the index since the experiment
    started, the interleaved ones are never more than `traffic` of them. A session is decided when first seen
    (hash-eligible and under the cap: in; otherwise out, for good). The sets are rebuilt from the impression
    log on a server's start (`from_log`), so a restart keeps both the cap and every session's side; the cap
    holds per server process (two servers on one home each keep their own count)."""

    def __init__(self, exp: Experiment, seen: set[str], admitted: set[str]) -> None:
        self.exp, self.seen, self.admitted = exp, seen, admitted

    @classmethod
    def from_log(cls, log: ImpressionLog, exp: Experiment) -> Admission:
        since = datetime.fromisoformat(exp.started_at).timestamp()
        seen = log.session_ids(exp.index, since=since)
        return cls(exp, seen, log.session_ids(exp.index, config_name=exp.tag) & seen)

    def admit(self, session_id: str) -> bool:
        """Whether `session_id` is interleaved; a session seen for the first time is decided now."""
        if session_id in self.admitted:
            return True
        if session_id in self.seen:
            return False
        self.seen.add(session_id)
        if self.exp.takes(session_id) and len(self.admitted) + 1 <= self.exp.traffic * len(self.seen):
            self.admitted.add(session_id)
            return True
        return False

    @property
    def share(self) -> float:
        return len(self.admitted) / len(self.seen) if self.seen else 0.0


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class Tally:
    impressions: int
    sessions: int
    wins: int
    losses: int
    ties: int


def tally(log: ImpressionLog, exp: Experiment) -> Tally:
    """Wins (candidate), losses and ties over the experiment's impressions, from the log."""
    shown = [i for i in log.impressions(exp.index, config_name=exp.tag) if i.sources]
    ids = {i.query_id for i in shown}
    clicks: dict[str, set[int]] = defaultdict(set)
    for e in log.events(exp.index, config_name=exp.tag):
        if e.action_name == "click" and e.query_id in ids:
            clicks[e.query_id].add(e.position)
    outcome = {"a": 0, "b": 0, "tie": 0}
    for i in shown:
        assert i.sources is not None
        outcome[credit(i.sources, {p - i.first_position for p in clicks.get(i.query_id, ())})] += 1
    return Tally(len(shown), len({i.session_id for i in shown}), outcome["b"], outcome["a"], outcome["tie"])


class LiveTally:
    """`tally` kept up to date: each `update` reads only the experiment's impressions and clicks written
    since the last one (by rowid and event id), so checking a running experiment costs what is new, not the
    whole experiment (a full tally re-reads and re-decodes every impression: at 20,000 interleaved
    sessions that was 40% of a serving process's time). The counts equal `tally`'s on the same log: each
    impression is held once by id and its clicks as a set of positions, so nothing is counted twice, and a
    restarted server starts a new one from the whole log. Thread-safe.

    Events are read before impressions: an event is stored only for an impression already stored, so every
    click read belongs to an impression read in the same update or before. When the log's last impression
    rowid falls below the mark (every row purged, rowids reused) the tally starts over from the log."""

    def __init__(self, exp: Experiment) -> None:
        self.exp = exp
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._rowid = self._event_id = 0
        self._shown: dict[str, Impression] = {}
        self._clicks: dict[str, set[int]] = defaultdict(set)
        self._outcome: dict[str, str] = {}
        self._counts = {"a": 0, "b": 0, "tie": 0}
        self._sessions: set[str | None] = set()

    def _credit(self, query_id: str) -> None:
        i = self._shown[query_id]
        assert i.sources is not None
        new = credit(i.sources, {p - i.first_position for p in self._clicks.get(query_id, ())})
        old = self._outcome.get(query_id)
        if old != new:
            if old is not None:
                self._counts[old] -= 1
            self._counts[new] += 1
            self._outcome[query_id] = new

    def update(self, log: ImpressionLog) -> Tally:
        exp = self.exp
        with self._lock:
            if self._rowid and log.last_impression_rowid() < self._rowid:
                self._reset()
            events = log.events_after(self._event_id, exp.index, config_name=exp.tag)
            for rowid, i in log.impressions_after(self._rowid, exp.index, config_name=exp.tag):
                self._rowid = rowid
                if i.sources and i.query_id not in self._shown:
                    self._shown[i.query_id] = i
                    self._sessions.add(i.session_id)
                    self._credit(i.query_id)
            for event_id, e in events:
                self._event_id = event_id
                if e.action_name == "click" and e.query_id in self._shown:
                    self._clicks[e.query_id].add(e.position)
                    self._credit(e.query_id)
            c = self._counts
            return Tally(len(self._shown), len(self._sessions), c["b"], c["a"], c["tie"])


class OnlineStore:
    def __init__(self, home: Path) -> None:
        self.root = Path(home) / "online"

    def path(self, index: str) -> Path:
        check_name(index, "index name")
        return self.root / f"{index}.json"

    def experiments(self, index: str) -> list[Experiment]:
        try:
            data = json.loads(self.path(index).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        return [Experiment(**e) for e in data]

    def running(self, index: str) -> Experiment | None:
        return next((e for e in self.experiments(index) if e.status == "running"), None)

    def latest(self, index: str) -> Experiment | None:
        found = self.experiments(index)
        return found[-1] if found else None

    def _locked(self, index: str) -> AbstractContextManager[list[Experiment]]:
        return locked_update(self.path(index), lambda: self.experiments(index),
                             lambda exps: json.dumps([asdict(e) for e in exps], indent=2) + "\n")  # fmt: skip

    def start(self, exp: Experiment) -> Experiment:
        with self._locked(exp.index) as exps:
            running = next((e for e in exps if e.status == "running"), None)
            if running is not None:
                raise InvalidInputError(
                    f"index {exp.index!r} runs online experiment {running.id} ({running.candidate} against "
                    f"{running.served}) since {running.started_at}: one at a time; stop it first"
                )
            exps.append(exp)
        return exp

    def end(self, index: str, exp_id: str, status: str, reason: str, decision: str | None = None,
            result: dict[str, Any] | None = None, promoted: bool = False) -> Experiment:  # fmt: skip
        with self._locked(index) as exps:
            exp = next((e for e in exps if e.id == exp_id), None)
            if exp is None:
                raise InvalidInputError(f"no online experiment {exp_id!r} on index {index!r}")
            if exp.status == "running":
                exp.status, exp.reason, exp.decision = status, reason, decision
                exp.ended_at, exp.result, exp.promoted = now_utc(), result or {}, promoted
            return exp


def status_of(exp: Experiment, t: Tally) -> dict[str, Any]:
    test = sequential_test(t.wins, t.losses, t.ties, exp.alpha, exp.prior_strength)
    return {**asdict(exp), "impressions": t.impressions, "sessions": t.sessions, "wins": t.wins,
            "losses": t.losses, "ties": t.ties, "log_lr": test.log_lr, "boundary": test.threshold,
            "test": f"mixture sequential probability ratio test on wins vs losses (Beta({exp.prior_strength:g}, "
                    f"{exp.prior_strength:g}) prior on the win rate), "
                    "always valid under continuous monitoring",
            "crossed": test.decided, "leader": test.winner}  # fmt: skip


def new_experiment(index: str, candidate: str, candidate_config: SearchConfig, served: str, served_config: SearchConfig,
                   traffic: float, max_sessions: int, min_sessions: int, alpha: float, auto_promote: bool,
                   prior_strength: float = PRIOR_STRENGTH, aa: bool = False) -> Experiment:  # fmt: skip
    if not 0 < traffic <= 0.5:
        raise InvalidInputError(f"--traffic {traffic}: a share of sessions above 0 and at most 0.5")
    if min_sessions > max_sessions:
        raise InvalidInputError(f"--min-sessions {min_sessions} is above --max-sessions {max_sessions}")
    if aa:
        if auto_promote:
            raise InvalidInputError("--aa runs the served configuration against itself: it never promotes")
        if candidate_config != served_config:
            raise InvalidInputError("--aa compares the served configuration with itself: give no --candidate")
    elif candidate_config == served_config:
        raise InvalidInputError(
            f"the candidate {candidate!r} is what index {index!r} serves: nothing to compare (`--aa` runs "
            "it against itself on purpose, to measure the test's false decisions)"
        )
    return Experiment(uuid.uuid4().hex[:12], index, candidate, candidate_config.model_dump(mode="json"), served,
                      served_config.model_dump(mode="json"), traffic, max_sessions, min_sessions, alpha, auto_promote,
                      now_utc(), prior_strength=prior_strength, aa=aa)  # fmt: skip


def merge_hits(
    served_hits: list[Candidate], candidate_hits: list[Candidate], k: int, seed: str
) -> tuple[list[Candidate], list[str]]:
    """The team-draft interleaving of two hit lists (seeded by the impression, so it is reproducible)."""
    by_id = {h.id: h for h in candidate_hits} | {h.id: h for h in served_hits}
    ids, sources = team_draft(
        [h.id for h in served_hits], [h.id for h in candidate_hits], k, random.Random(seed)
    )
    return [by_id[i] for i in ids], sources


def check(
    store: OnlineStore,
    log: ImpressionLog,
    serving: ServingStore,
    exp: Experiment,
    counts: Tally | None = None,
) -> Experiment:
    """End `exp` when the sequential test crosses its boundary (after --min-sessions) or --max-sessions is
    reached; a candidate that won is promoted through the serving record when --auto-promote. `counts`:
    the experiment's tally when the caller keeps one (`LiveTally`), else it is counted from the log."""
    if exp.status != "running":
        return exp
    t = counts if counts is not None else tally(log, exp)
    status = status_of(exp, t)
    if status["crossed"] and t.sessions >= exp.min_sessions:
        won = status["leader"] == "b"
        decision = "promote" if won else "keep"
        reason = (f"{'the candidate' if won else 'the served configuration'} won: {t.wins} wins, {t.losses} losses, "
                  f"{t.ties} ties over {t.impressions} impressions ({t.sessions} sessions); log LR "
                  f"{status['log_lr']:.2f} >= {status['boundary']:.2f}")  # fmt: skip
    elif t.sessions >= exp.max_sessions:
        decision, reason = "keep", (f"no decision after {t.sessions} sessions (max {exp.max_sessions}): {t.wins} wins, "
                                    f"{t.losses} losses, {t.ties} ties; the served configuration stays")  # fmt: skip
    else:
        return exp
    result = {
        k: status[k]
        for k in ("impressions", "sessions", "wins", "losses", "ties", "log_lr", "boundary", "test")
    }
    if exp.aa:
        reason = f"A/A: a false decision (the two sides are the same configuration); {reason}"
    promoted = False
    if decision == "promote" and exp.auto_promote and not exp.aa:
        serving.promote(exp.index, exp.candidate, exp.config("b"), {"online": {"experiment": exp.id, **result},
                        "replaced": exp.served, "replaced_config": exp.served_config})  # fmt: skip
        promoted = True
    return store.end(exp.index, exp.id, "decided", reason, decision, result, promoted)
