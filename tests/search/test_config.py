"""SearchConfig: validated, immutable, one declaration of the mode names."""

from __future__ import annotations

import pytest

from ragsearch.retrieval.errors import InvalidInputError, UnknownNameError
from ragsearch.search.config import MODES, Mode, SearchConfig, build_config, parse_mode, parse_system


def test_modes_are_declared_once_and_unknown_ones_list_the_valid_choices() -> None:
    assert MODES == ("bm25", "dense", "hybrid", "ltr")
    with pytest.raises(UnknownNameError, match="bm25, dense, hybrid, ltr"):
        parse_mode("sparse")


def test_defaults_match_the_measured_defaults() -> None:
    c = SearchConfig()
    assert (c.mode, c.k, c.fusion, c.dense_weight, c.bm25_depth, c.dense_depth) == (
        Mode.HYBRID,
        10,
        "minmax",
        0.5,
        100,
        100,
    )
    assert c.boosts.tie_breaker == 0.5 and c.ltr_model is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"k": 0}, "k: Input should be greater than or equal to 1"),
        ({"dense_weight": 1.5}, "dense_weight"),
        ({"fusion": "max"}, "fusion"),
        ({"ltr_model": "latest"}, "ltr_model"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_bad_values_are_one_readable_error(change: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        SearchConfig().replace(**change)
    with pytest.raises(InvalidInputError, match=message):
        build_config(change)


def test_replace_returns_a_new_validated_config_and_leaves_the_original() -> None:
    base = SearchConfig()
    ltr = base.replace(mode=Mode.LTR, ltr_model="v0002", k=100)
    assert (ltr.mode, ltr.ltr_model, ltr.k) == (Mode.LTR, "v0002", 100) and base.k == 10
    with pytest.raises(Exception):  # noqa: B017 - frozen: pydantic raises ValidationError on assignment
        base.k = 5  # type: ignore[misc]
    assert SearchConfig.model_validate(ltr.model_dump(mode="json")) == ltr


def test_systems_on_the_command_line() -> None:
    base = SearchConfig(dense_weight=0.3)
    assert parse_system("bm25", base).mode is Mode.BM25
    v2 = parse_system("ltr:v0002", base)
    assert (v2.mode, v2.ltr_model, v2.dense_weight, v2.label) == (Mode.LTR, "v0002", 0.3, "ltr:v0002")
    assert parse_system("ltr", base).label == "ltr"
    with pytest.raises(InvalidInputError, match="only ltr takes a model version"):
        parse_system("hybrid:v0002", base)
