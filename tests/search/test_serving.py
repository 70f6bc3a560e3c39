"""The per-index serving record: default, promotion, rollback, damage, and concurrent writers."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from ragsearch.retrieval.errors import InvalidInputError, RagsearchError
from ragsearch.search.config import Mode, SearchConfig
from ragsearch.search.serving import DEFAULT_NAME, ServingStore

DEFAULT = SearchConfig(mode=Mode.LTR, ltr_model="v0001", dense_weight=0.4)
EVIDENCE = {"judgments": "j@v0002", "part": "held", "measure": "nDCG@10", "level": 0.05, "replaced": "default",
            "held": {"candidate": 0.61, "served": 0.55, "p_value": 0.01}}  # fmt: skip


def test_a_fresh_index_serves_the_default_in_mode_hybrid_without_a_model(tmp_path: Path) -> None:
    now = ServingStore(tmp_path).served("docs", DEFAULT)
    assert now.name == DEFAULT_NAME and now.entry is None
    assert now.config == DEFAULT.replace(mode=Mode.HYBRID, ltr_model=None)
    assert "fresh index" in now.reason
    assert not (tmp_path / "serving").exists()  # reading writes nothing


def test_promote_then_rollback_steps_back_to_the_previous_and_then_the_default(tmp_path: Path) -> None:
    store = ServingStore(tmp_path)
    rrf = SearchConfig(fusion="rrf", rrf_k=30)
    ltr = SearchConfig(mode=Mode.LTR, ltr_model="v0003")
    store.promote("docs", "rrf30", rrf, EVIDENCE)
    store.promote("docs", "ltr3", ltr, EVIDENCE)
    assert store.served("other", DEFAULT).name == DEFAULT_NAME  # per index
    now = store.served("docs", DEFAULT)
    assert (now.name, now.config) == ("ltr3", ltr)
    assert "j@v0002 (held part): nDCG@10 0.6100 vs 0.5500 of default, p=0.01 < 0.05" in now.reason
    assert store.rollback("docs", DEFAULT).config == rrf
    assert store.rollback("docs", DEFAULT).name == DEFAULT_NAME
    with pytest.raises(InvalidInputError, match="no promotion to roll back"):
        store.rollback("docs", DEFAULT)
    log = store.log("docs")
    assert [e["evidence"]["action"] for e in log] == ["promote", "promote", "rollback", "rollback"]
    assert [e["number"] for e in log] == [1, 2, 3, 4]
    assert (log[2]["evidence"]["undid_name"], log[2]["name"]) == ("ltr3", "rrf30")


def test_an_ltr_configuration_is_served_only_with_its_model_pinned(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="model version pinned"):
        ServingStore(tmp_path).promote("docs", "x", SearchConfig(mode=Mode.LTR), EVIDENCE)
    assert ServingStore(tmp_path).log("docs") == []


def test_a_damaged_record_is_a_clear_error_and_not_overwritten(tmp_path: Path) -> None:
    store = ServingStore(tmp_path)
    store.promote("docs", "rrf", SearchConfig(fusion="rrf"), EVIDENCE)
    path = tmp_path / "serving" / "docs.json"
    path.write_text('{"stack": [{"number": 1, "config": {"mode": "fancy"}}]')
    with pytest.raises(RagsearchError, match=r"serving record .* is damaged"):
        store.served("docs", DEFAULT)
    with pytest.raises(RagsearchError, match="damaged"):
        store.promote("docs", "w", SearchConfig(dense_weight=0.3), EVIDENCE)
    assert path.read_text() == '{"stack": [{"number": 1, "config": {"mode": "fancy"}}]'


def promote_many(home: str, worker: int) -> None:
    store = ServingStore(Path(home))
    for i in range(10):
        store.promote("docs", f"w{worker}-{i}", SearchConfig(dense_weight=(worker * 10 + i) / 100), EVIDENCE)


def test_concurrent_promotions_from_processes_lose_nothing(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=promote_many, args=(str(tmp_path), w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    state = json.loads((tmp_path / "serving" / "docs.json").read_text())
    assert len(state["stack"]) == len(state["log"]) == 30
    assert sorted(e["number"] for e in state["log"]) == list(range(1, 31))
    assert sorted(e["name"] for e in state["log"]) == sorted(f"w{w}-{i}" for w in range(3) for i in range(10))
