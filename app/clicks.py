"""Judgments from the impression log: sessions of shown results and clicks, through a click model."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping

from ragsearch.app.impressions import ImpressionLog
from ragsearch.eval.click_models import Prior, Session, estimate, graded
from ragsearch.eval.data import QrelRow
from ragsearch.eval.judgments import JudgmentList, Provenance, from_qrels
from ragsearch.retrieval.errors import InvalidInputError
from ragsearch.retrieval.index import SearchIndex


def click_query_id(text: str) -> str:
    """A stable id for a query text (case and spacing folded), so the same query gets one id every time."""
    return "ck-" + hashlib.sha1(" ".join(text.lower().split()).encode("utf-8")).hexdigest()[:12]


def sessions_of(log: ImpressionLog, index: str, since: float | None) -> tuple[list[Session], int]:
    """The first-page impressions of `index` (since a time) with their clicked passages; and how many
    later pages were left out (the model's ranks are positions from 1)."""
    clicks: dict[str, set[str]] = defaultdict(set)
    for e in log.events(index, since):
        if e.action_name == "click":
            clicks[e.query_id].add(e.object_id)
    sessions, later_pages = [], 0
    for imp in log.impressions(index, since):
        if imp.first_position != 1:
            later_pages += 1
            continue
        sessions.append(Session(imp.user_query, imp.hit_ids, frozenset(clicks.get(imp.query_id, ()))))
    return sessions, later_pages


def click_judgments(
    log: ImpressionLog,
    index: SearchIndex,
    name: str,
    model: str,
    min_impressions: int,
    since: float | None = None,
    ids: Mapping[str, str] | None = None,
    prior: Prior | None = None,
) -> JudgmentList:
    """A judgment list (not yet saved) of source `clicks`: the click model's grades for the (query, passage)
    pairs shown at least `min_impressions` times. Query ids: `ids` (folded query text -> id, e.g. taken from
    another list so the two can be compared) where the text is there, else an id made from the text. `prior`:
    Beta pseudo-counts on attractiveness (None: the model's default, `eval.click_models.DEFAULT_PRIOR`)."""
    sessions, later_pages = sessions_of(log, index.name, since)
    if not sessions:
        raise InvalidInputError(
            f"no impressions of index {index.name!r} in the log{' since then' if since else ''}: searches through "
            "the API log them (RAGSEARCH_IMPRESSIONS_ENABLED) and clicks go to POST /events; nothing was written"
        )
    est = estimate(sessions, model, prior)
    labels = graded(est, min_impressions)
    if not labels:
        raise InvalidInputError(
            f"no (query, passage) pair was shown {min_impressions} times in {len(sessions)} impressions: lower "
            "--min-impressions or wait for more traffic; nothing was written"
        )
    folded = {" ".join(t.lower().split()): q for t, q in (ids or {}).items()}
    qid = {text: folded.get(" ".join(text.lower().split())) or click_query_id(text) for text in labels}
    rows = [
        QrelRow("clicks", qid[text], passage, float(g))
        for text, grades in labels.items()
        for passage, g in grades.items()
    ]
    clicks = sum(len(s.clicked) for s in sessions)
    origin = (f"{model} click model (prior {est.prior[0]:g}, {est.prior[1]:g}) over {len(sessions)} impressions, "
              f"{clicks} clicks, pairs shown >= {min_impressions} times")  # fmt: skip
    jl = from_qrels(name, index, rows, {qid[t]: t for t in labels}, Provenance("clicks", origin))
    jl.build.update({"impressions": len(sessions), "clicks": clicks, "later_pages_left_out": later_pages,
                     "model": model, "min_impressions": min_impressions,
                     "prior": list(est.prior)})  # fmt: skip
    return jl
