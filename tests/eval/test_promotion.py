from __future__ import annotations

import math

import pytest

from ragsearch.eval.promotion import PartFigures, decide


def test_promotes_only_when_better_on_held_and_significant() -> None:
    dev = PartFigures("dev", 50, 0.40, 0.47, 0.001)
    ok = decide(PartFigures("held", 50, 0.40, 0.45, 0.01), dev, 0.05)
    assert ok.promote and "better by +0.0500 on the held part, p=0.01 < 0.05" in ok.reason
    worse = decide(PartFigures("held", 50, 0.40, 0.39, 0.001), dev, 0.05)
    assert not worse.promote and "not better on the held part (-0.0100)" in worse.reason
    weak = decide(PartFigures("held", 50, 0.40, 0.42, 0.2), dev, 0.05)
    assert not weak.promote and "p=0.2 is not below 0.05" in weak.reason
    assert decide(PartFigures("held", 50, 0.40, 0.42, 0.2), None, 0.25).promote
    assert not decide(PartFigures("held", 1, 0.40, 0.42, math.nan), None).promote
    with pytest.raises(ValueError, match="level"):
        decide(ok.held, None, 1.5)
