"""The hard cap on an online experiment's interleaved share (app.online.Admission), with the real impression log."""

from __future__ import annotations

import time
from pathlib import Path

from ragsearch.app.impressions import ImpressionLog
from ragsearch.app.online import Admission, Experiment, now_utc


def experiment(traffic: float) -> Experiment:
    return Experiment("e1", "sf", "bm25", {}, "served", {}, traffic, 1000, 10, 0.05, False, now_utc())


def test_the_interleaved_share_never_exceeds_the_traffic_setting_and_sessions_stay_on_their_side() -> None:
    exp = experiment(0.2)
    adm = Admission(exp, set(), set())
    sides: dict[str, bool] = {}
    for n in range(2000):
        sid = f"s{n}"
        sides[sid] = adm.admit(sid)
        assert len(adm.admitted) <= 0.2 * len(adm.seen)  # at every moment, not only in expectation
        if n % 7 == 0:  # returning sessions keep their side
            old = f"s{n // 2}"
            assert adm.admit(old) is sides[old]
    assert 0.15 < adm.share <= 0.2
    # only hash-eligible sessions are ever admitted (the cap refuses some of them, never adds others)
    assert all(exp.takes(s) for s in adm.admitted)


def test_the_cap_and_the_sides_are_rebuilt_from_the_impression_log(tmp_path: Path) -> None:
    exp = experiment(0.5)
    time.sleep(1.1)  # the experiment's start has second precision: impressions come after it
    log = ImpressionLog(tmp_path / "impressions.sqlite")
    adm = Admission(exp, set(), set())
    for n in range(60):
        sid = f"s{n}"
        inside = adm.admit(sid)
        log.log("q", "sf", exp.tag if inside else "served", {}, 1, ["p1"], ["d1"], session_id=sid)
    log.log(
        "q", "other", "served", {}, 1, ["p1"], ["d1"], session_id="elsewhere"
    )  # another index: not counted
    again = Admission.from_log(log, exp)
    assert again.seen == adm.seen and again.admitted == adm.admitted
    assert all(again.admit(f"s{n}") is (f"s{n}" in adm.admitted) for n in range(60))
    log.close()
