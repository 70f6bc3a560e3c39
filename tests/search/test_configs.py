"""Search configurations stored per index by name: round trip, bad names and fields, atomic replace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragsearch.retrieval.errors import InvalidInputError, UnknownNameError
from ragsearch.search.config import Mode, SearchConfig
from ragsearch.search.configs import ConfigStore, config_from_json


def test_save_list_load_round_trip_per_index(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path)
    rrf = SearchConfig().replace(fusion="rrf", rrf_k=30.0, bm25_depth=200)
    ltr = SearchConfig().replace(mode=Mode.LTR, ltr_model="v0003", dense_weight=0.2)
    assert store.save("sf", "rrf30", rrf) == tmp_path / "configs" / "sf" / "rrf30.json"
    store.save("sf", "my-ltr", ltr)
    store.save("other", "rrf30", SearchConfig())
    assert store.names("sf") == ["my-ltr", "rrf30"] and store.names("nowhere") == []
    assert store.load("sf", "rrf30") == rrf and store.load("sf", "my-ltr") == ltr
    assert store.load("other", "rrf30") == SearchConfig()
    assert json.loads((tmp_path / "configs" / "sf" / "rrf30.json").read_text())["fusion"] == "rrf"
    store.save("sf", "rrf30", rrf.replace(rrf_k=10.0))  # replaced in place, nothing else left behind
    assert store.load("sf", "rrf30").rrf_k == 10.0
    assert sorted(p.name for p in (tmp_path / "configs" / "sf").iterdir()) == ["my-ltr.json", "rrf30.json"]
    assert store.has("sf", "rrf30") and not store.has("sf", "nope") and not store.has("sf", "ltr:v0001")


def test_unknown_field_names_the_valid_fields(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as exc:
        config_from_json(json.dumps({"mode": "bm25", "colour": "red"}), "c.json")
    message = str(exc.value)
    assert message.startswith("c.json: invalid search configuration: colour: Extra inputs are not permitted")
    assert "valid fields: mode, k, fusion, rrf_k, dense_weight" in message
    for bad, what in (("[1]", "JSON object"), ("{", "not JSON"), ('{"k": 0}', "k: Input should be")):
        with pytest.raises(InvalidInputError, match=what):
            config_from_json(bad, "c.json")


def test_bad_names_and_unknown_configs_are_refused(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path)
    for name in ("hybrid", "bm25"):
        with pytest.raises(InvalidInputError, match="is a mode"):
            store.save("sf", name, SearchConfig())
    for name in ("../up", "a/b", "", ".hidden"):
        with pytest.raises(InvalidInputError, match="configuration name"):
            store.save("sf", name, SearchConfig())
    with pytest.raises(InvalidInputError, match="index name"):
        store.save("../x", "ok", SearchConfig())
    assert not (tmp_path / "configs").exists() or not any((tmp_path / "configs").rglob("*.json"))
    with pytest.raises(InvalidInputError, match="has none stored"):
        store.load("sf", "mine")
    store.save("sf", "mine", SearchConfig())
    with pytest.raises(UnknownNameError, match="valid choices are mine"):
        store.load("sf", "yours")
