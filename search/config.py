"""What a search is: the mode names (declared here and nowhere else) and a validated `SearchConfig`.

A configuration is data: it can be stored, compared, sent over the API and shown. Everything that decides a
ranking lives in it: the mode, fusion and its weight, candidate depths, BM25 field boosts and tie-breaker,
the LTR model version and k. `search.engine.SearchEngine` runs any configuration.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragsearch.retrieval.errors import InvalidInputError, UnknownNameError
from ragsearch.retrieval.types import FieldBoosts


class Mode(StrEnum):
    BM25 = "bm25"
    DENSE = "dense"
    HYBRID = "hybrid"
    LTR = "ltr"


MODES: tuple[str, ...] = tuple(m.value for m in Mode)
FIRST_STAGE_MODES: tuple[str, ...] = (Mode.BM25, Mode.DENSE, Mode.HYBRID)
MODEL_VERSION_PATTERN = r"^v\d{4,}$"


def parse_mode(name: str) -> Mode:
    """The mode called `name`, or an error listing the valid ones."""
    try:
        return Mode(name)
    except ValueError:
        raise UnknownNameError("mode", name, list(MODES)) from None


class SearchConfig(BaseModel):
    """One ranking, fully specified. Immutable; `replace()` makes a validated copy with changes."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    mode: Mode = Mode.HYBRID
    k: int = Field(10, ge=1, le=10_000, description="how many hits")
    fusion: Literal["minmax", "rrf", "zscore"] = Field(
        "minmax", description="how BM25 and dense scores are fused"
    )
    rrf_k: float = Field(60.0, gt=0, description="the k of reciprocal rank fusion")
    dense_weight: float = Field(0.5, ge=0, le=1, description="weight of dense scores in fusion (BM25: 1 - w)")
    bm25_depth: int = Field(100, ge=1, le=10_000, description="BM25 candidates for fusion and reranking")
    dense_depth: int = Field(100, ge=1, le=10_000, description="dense candidates for fusion and reranking")
    title_boost: float = Field(1.0, ge=0)
    text_boost: float = Field(1.0, ge=0)
    tie_breaker: float = Field(0.5, ge=0, le=1, description="best_fields tie-breaker between title and text")
    ltr_model: str | None = Field(
        None,
        pattern=MODEL_VERSION_PATTERN,
        description="LTR model version (mode ltr); None: the promoted one",
    )

    @property
    def boosts(self) -> FieldBoosts:
        return FieldBoosts(title=self.title_boost, text=self.text_boost, tie_breaker=self.tie_breaker)

    def replace(self, **changes: Any) -> SearchConfig:
        """A copy with `changes`, validated like the original (a bad value raises InvalidInputError)."""
        return build_config({**self.model_dump(), **changes})

    @property
    def label(self) -> str:
        """A short name for tables and logs: the mode, and the model version for ltr when one is pinned."""
        if self.mode is Mode.LTR and self.ltr_model:
            return f"ltr:{self.ltr_model}"
        return self.mode.value


def build_config(values: dict[str, Any]) -> SearchConfig:
    """A `SearchConfig` from plain values; errors come back as one readable InvalidInputError."""
    try:
        return SearchConfig.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        if any(e["type"] == "extra_forbidden" for e in exc.errors()):
            problems += f" (valid fields: {', '.join(SearchConfig.model_fields)})"
        raise InvalidInputError(f"invalid search configuration: {problems}") from None


def parse_system(spec: str, base: SearchConfig) -> SearchConfig:
    """A system name as written on the command line: a mode (`hybrid`) or `ltr:VERSION`, on top of `base`."""
    name, _, version = spec.strip().partition(":")
    mode = parse_mode(name)
    if version and mode is not Mode.LTR:
        raise InvalidInputError(f"{spec!r}: only ltr takes a model version (ltr:v0002)")
    return base.replace(mode=mode, ltr_model=version or (base.ltr_model if mode is Mode.LTR else None))
