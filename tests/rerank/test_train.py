"""Training helpers (rerank/train.py): deterministic hold-out and folds of query ids; the tree depth limit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ragsearch.eval.data import load_split
from ragsearch.rerank.build import log_split
from ragsearch.rerank.extract import FeatureLogger
from ragsearch.rerank.train import fit_trees, folds, holdout
from ragsearch.retrieval.searcher import Retriever
from tests.rerank.conftest import PARAMS


def test_holdout_and_folds_are_deterministic() -> None:
    qids = [str(i) for i in range(1, 101)]
    tr, dev = holdout(qids, 0.2)
    assert (tr, dev) == holdout(list(qids), 0.2)
    assert set(tr).isdisjoint(dev) and len(tr) + len(dev) == 100 and 10 <= len(dev) <= 30
    assert folds(["3", "1", "10", "2"], 2) == [["1", "3"], ["2", "10"]]  # numeric order, alternating
    for few in (["1", "2"], [str(i) for i in range(5)]):  # tiny sets still get a dev and a train query
        tr, dev = holdout(few, 0.2)
        assert tr and dev and sorted(tr + dev) == sorted(few)


def test_max_depth_bounds_every_tree(ltr_env: tuple[Retriever, Path], scifact_ltr_slice: Path) -> None:
    """Real LightGBM on a real SciFact slice: a depth limit holds in every tree (TreeSHAP's cost per tree
    grows with leaves x depth^2, so the limit is what keeps "why this result" cheap); -1 leaves it free."""
    retriever, _ = ltr_env
    ts = log_split(retriever, FeatureLogger(retriever.index), load_split(scifact_ltr_slice, "train"))
    depths = {}
    for limit in (2, -1):
        params = replace(PARAMS, max_depth=limit, num_leaves=15, min_data_in_leaf=5)
        assert params.lightgbm()["max_depth"] == limit
        model = fit_trees(ts, params, 40)
        depths[limit] = [tree_depth(t["tree_structure"]) for t in model.booster.dump_model()["tree_info"]]
    assert len(depths[2]) == 40 and max(depths[2]) == 2
    assert max(depths[-1]) > 2  # unlimited, 15 leaves grow deeper on this data


def tree_depth(node: dict[str, Any]) -> int:
    if "left_child" not in node:
        return 0
    return 1 + max(tree_depth(node["left_child"]), tree_depth(node["right_child"]))
