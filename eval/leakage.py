"""Leakage by query: which evaluated queries a learned model was trained or early-stopped on.

Split names say nothing about queries (Cranfield `test` is `fold1` + `fold2`), so the check compares query
ids of the same dataset.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable


def query_order(qid: str) -> tuple[int, int | str]:
    """Numeric ids in numeric order, then the others in text order."""
    return (0, int(qid)) if qid.isdigit() else (1, qid)


def overlap(qids: Iterable[str], seen: Collection[str]) -> list[str]:
    """The ids of `qids` that are in `seen`, in id order."""
    return sorted({q for q in qids if q in seen}, key=query_order)


def describe(clash: Collection[str], total: int, shown: int = 5) -> str:
    """'113 of 225 queries (ids 1, 3, 5, 7, 9, ...)'."""
    ids = sorted(clash, key=query_order)
    more = ", ..." if len(ids) > shown else ""
    return f"{len(ids)} of {total} queries (ids {', '.join(ids[:shown])}{more})"
