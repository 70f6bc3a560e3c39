"""The promotion gate of a serving configuration: a candidate replaces what an index serves only when it is
better on that index's judgments, by a paired test at a stated level. Pure: figures in, decision out."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_LEVEL = 0.05
TEST = "two-sided paired t-test over the judged queries"


@dataclass(frozen=True, slots=True)
class PartFigures:
    """One measure of the served configuration and the candidate on one part of a judgment list."""

    part: str
    queries: int
    served: float
    candidate: float
    p_value: float

    @property
    def delta(self) -> float:
        return self.candidate - self.served

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "delta": self.delta}


@dataclass(frozen=True, slots=True)
class GateDecision:
    promote: bool
    reason: str
    held: PartFigures
    dev: PartFigures | None


def decide(held: PartFigures, dev: PartFigures | None, level: float = DEFAULT_LEVEL) -> GateDecision:
    """Promote when the candidate's mean on the held part is higher and the paired test's p-value is below
    `level`; the dev part (where a candidate was chosen) is reported, never decisive."""
    if not 0 < level < 1:
        raise ValueError(f"the test level must be between 0 and 1, got {level}")
    if math.isnan(held.p_value) or held.delta <= 0:
        why = "not better" if held.delta <= 0 else "no test possible"
        return GateDecision(False, f"refused: {why} on the {held.part} part ({held.delta:+.4f})", held, dev)
    if held.p_value >= level:
        return GateDecision(
            False,
            f"refused: better by {held.delta:+.4f} on the {held.part} part, but p={held.p_value:.3g} is not "
            f"below {level:g}",
            held,
            dev,
        )
    return GateDecision(
        True,
        f"promoted: better by {held.delta:+.4f} on the {held.part} part, p={held.p_value:.3g} < {level:g}",
        held,
        dev,
    )
