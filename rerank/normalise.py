"""Query-level normalisation of one feature column: each value against the candidate list of its query.

Pure functions of a column (one value per candidate of one query; NaN = missing, left missing). Each is
invariant to a positive rescaling of the column (`ratio_to_max`) or to any increasing affine map of it
(`zscore`, `minmax`, `rank_desc`), which is what lets a model trained on one collection's score scale
rank another's: BM25 moves with IDFs and lengths, cosines with the encoder and the collection.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
NAN = float("nan")


def _present(x: Floats) -> NDArray[np.bool_]:
    return ~np.isnan(x)


def ratio_to_max(x: Floats) -> Floats:
    """x over the list's largest value; NaN when that is not positive (no candidate scored)."""
    ok = _present(x)
    top = float(x[ok].max()) if ok.any() else 0.0
    if not top > 0:
        return np.full(len(x), NAN)
    return x / top


def zscore(x: Floats) -> Floats:
    """(x - mean) / std over the list's present values; 0 where they are all equal."""
    ok = _present(x)
    if not ok.any():
        return np.full(len(x), NAN)
    vals = np.sort(x[ok])  # summed in one order whatever the candidates' order: the same bits either way
    mean, std = float(vals.mean()), float(vals.std())
    if not std > 1e-12 * max(1.0, abs(mean)):
        return np.where(ok, 0.0, NAN)
    return (x - mean) / std


def minmax(x: Floats) -> Floats:
    """(x - min) / (max - min) over the list's present values: 1 for the best, 0 for the worst; 1 where
    they are all equal."""
    ok = _present(x)
    if not ok.any():
        return np.full(len(x), NAN)
    lo, hi = float(x[ok].min()), float(x[ok].max())
    if not hi - lo > 1e-12 * max(1.0, abs(hi)):
        return np.where(ok, 1.0, NAN)
    return (x - lo) / (hi - lo)


def rank_desc(x: Floats) -> Floats:
    """1-based rank in the list by decreasing x (ties share the best rank); NaN stays NaN."""
    out = np.full(len(x), NAN)
    ok = np.flatnonzero(_present(x))
    if len(ok):
        vals = x[ok]
        out[ok] = 1.0 + np.searchsorted(np.sort(-vals), -vals, side="left")
    return out


def ratio_to_median(x: Floats) -> Floats:
    """x over the list's median of present values; NaN when that is not positive."""
    ok = _present(x)
    mid = float(np.median(x[ok])) if ok.any() else 0.0
    if not mid > 0:
        return np.full(len(x), NAN)
    return x / mid
