"""The incremental tally of a running experiment (app.online.LiveTally) against the full count from the log
(`tally`), on the real SQLite impression log: a seeded stream of interleaved and plain impressions, another
experiment's, clicks arriving late, repeated clicks and other events; checked after every step, after a
restart (a new tally from the whole log) and after the log was purged."""

from __future__ import annotations

import random
from pathlib import Path

from ragsearch.app.impressions import ImpressionLog
from ragsearch.app.online import Experiment, LiveTally, Tally, now_utc, tally
from ragsearch.eval.interleaving import team_draft


def experiment(exp_id: str) -> Experiment:
    return Experiment(exp_id, "sf", "bm25", {}, "served", {}, 0.5, 1000, 10, 0.05, False, now_utc())


def test_the_live_tally_equals_the_full_count_at_every_step_and_after_a_restart(tmp_path: Path) -> None:
    rng = random.Random(5)
    log = ImpressionLog(tmp_path / "impressions.sqlite")
    exp, other = experiment("e1"), experiment("e2")
    live = LiveTally(exp)
    mine: list[tuple[str, int]] = []  # (impression id, shown results)
    for step in range(400):
        roll = rng.random()
        if roll < 0.35 or not mine:
            a, b = [f"p{rng.randrange(30)}" for _ in range(8)], [f"p{rng.randrange(30)}" for _ in range(8)]
            ids, sources = team_draft(list(dict.fromkeys(a)), list(dict.fromkeys(b)), 5, rng)
            tag = rng.choice([exp.tag, exp.tag, other.tag])
            qid = log.log(
                "q", "sf", tag, {}, 1, ids, ids, session_id=f"s{rng.randrange(60)}", sources=sources
            )
            assert qid is not None
            if tag == exp.tag:
                mine.append((qid, len(ids)))
        elif roll < 0.45:  # a plain impression of the served configuration, clicked
            qid = log.log("q", "sf", "served", {}, 1, ["p1", "p2"], ["d1", "d2"], session_id="s0")
            assert qid is not None
            log.add_event(qid, "click", 1)
        else:  # a click (or another event) on an earlier impression: late clicks change its credit
            qid, shown = rng.choice(mine)
            log.add_event(qid, rng.choice(["click", "click", "click", "dwell"]), rng.randrange(1, shown + 1))
        if step % 3 == 0:
            assert live.update(log) == tally(log, exp)
    final = tally(log, exp)
    assert live.update(log) == final and final.wins and final.losses and final.ties
    assert final.impressions == len(mine)
    assert LiveTally(exp).update(log) == final  # a restarted server counts the same, nothing twice
    assert live.update(log) == final  # nothing new: the same counts again
    assert log.purge(older_than_days=-1) > 0  # every row goes; new rows reuse the rowids
    qid = log.log("q", "sf", exp.tag, {}, 1, ["p1", "p2"], ["d1", "d2"], session_id="s1", sources=["b", "a"])
    assert qid is not None
    log.add_event(qid, "click", 1)
    assert live.update(log) == tally(log, exp) == Tally(1, 1, 1, 0, 0)
    log.close()
