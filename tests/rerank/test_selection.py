"""Tree-count selection by K-fold CV from the fused-score prior (rerank/selection.py), real LightGBM on a
real SciFact slice: zero trees when nothing beats the fused score (the model then serves exactly the
fused order, compiled or not), the same curve and count under the same seed, trees when they help, and
manifests written before the CV fields still load."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ragsearch.eval.data import JudgedSplit, load_split
from ragsearch.rerank.build import log_split, train_ltr
from ragsearch.rerank.dataset import combine
from ragsearch.rerank.errors import TrainingDataError
from ragsearch.rerank.extract import FeatureLogger
from ragsearch.rerank.ltr import LtrReranker
from ragsearch.rerank.registry import ModelRegistry
from ragsearch.rerank.selection import (
    CurvePoint,
    TreeSelection,
    choose,
    collection_folds,
    document_folds,
    fold_curve,
    select_trees,
    selection_record,
)
from ragsearch.retrieval.searcher import Retriever
from tests.rerank.conftest import PARAMS

FAST = replace(PARAMS, num_boost_round=60)


def fused_top_split(retriever: Retriever, split: JudgedSplit, n: int) -> JudgedSplit:
    """`n` real queries whose only relevant document is the fused ranking's first: no feature can beat
    the fused score on them (it is already perfect), whatever the trees learn from the other features."""
    queries = dict(list(split.queries.items())[:n])
    qrels = {}
    for qid, text in queries.items():
        top = retriever.candidates(text, retriever.encode([text])[0])[0]
        qrels[qid] = {top.doc_id: 1}
    return JudgedSplit(split.dataset, "fused-top", queries, qrels)


def test_zero_trees_when_nothing_beats_the_fused_score_and_the_model_serves_the_fused_order(
    ltr_env: tuple[Retriever, Path], scifact_ltr_slice: Path, tmp_path: Path
) -> None:
    retriever, _ = ltr_env
    logger = FeatureLogger(retriever.index)
    train = fused_top_split(retriever, load_split(scifact_ltr_slice, "train"), 30)
    outcome = train_ltr(retriever, logger, ModelRegistry(tmp_path), train, None, None, FAST)
    m = outcome.manifest
    assert m.fallback_to_fused and m.chosen_trees == 0 and m.best_iteration == 0 and m.cv_folds == 5
    assert m.cv_curve is not None and m.cv_curve[0]["trees"] == 0 and m.cv_curve[0]["mean"] > 0.95
    assert all(p["mean"] < m.cv_curve[0]["mean"] + 1e-3 for p in m.cv_curve)
    assert [p["trees"] for p in m.cv_curve][-1] == 60
    assert outcome.selection is not None
    assert "no number of trees beat the fused score" in outcome.selection.message
    # the registered model, served by compiled trees or by LightGBM, returns exactly the fused order
    test = load_split(scifact_ltr_slice, "test")
    for runtime in ("compiled", "lightgbm"):
        model = ModelRegistry(tmp_path, runtime).load(m.version)
        assert model.booster.num_trees() == 0
        reranker = LtrReranker(model, logger)
        for text in list(test.queries.values())[:10]:
            vec = retriever.encode([text])[0]
            hybrid = retriever.candidates(text, vec)  # the engine's fused order: score desc, then id
            reranked = reranker.rerank(text, hybrid, vec)
            assert [c.id for c in reranked] == [c.id for c in hybrid]
        ts = log_split(retriever, logger, test)
        assert ts.to_run(model.predict(ts.features)) == ts.to_run(
            np.float64(FAST.prior_weight) * ts.column("fused_score")
        )


def test_tree_selection_is_deterministic_under_a_seed_and_keeps_trees_that_help(
    ltr_env: tuple[Retriever, Path], scifact_ltr_slice: Path
) -> None:
    retriever, _ = ltr_env
    split = load_split(scifact_ltr_slice, "train")
    ts = log_split(retriever, FeatureLogger(retriever.index), split)
    first = select_trees(ts, split.qrels, FAST)
    again = select_trees(ts, split.qrels, FAST)
    assert (first.curve, first.chosen) == (again.curve, again.chosen)
    assert [p.trees for p in first.curve][:4] == [0, 1, 2, 3] and first.folds == 5
    # with the FAKE hash embedder the fused score mixes BM25 with noise: trees that learn to trust BM25 help
    base = first.curve[0].mean
    chosen = next(p for p in first.curve if p.trees == first.chosen)
    assert first.chosen > 0 and not first.fallback_to_fused and chosen.mean > base + 0.01, first.curve
    assert all(p.std >= 0 for p in first.curve)
    other = select_trees(ts, split.qrels, replace(FAST, tree_folds=3))
    assert other.folds == 3 and other.curve != first.curve


def test_choose_prefers_fewer_trees_within_epsilon() -> None:
    curve = (CurvePoint(0, 0.5000, 0.1), CurvePoint(10, 0.5008, 0.1), CurvePoint(20, 0.4000, 0.1))
    assert choose(curve) == 0  # 0.0008 better is within the epsilon
    assert choose(curve, epsilon=0.0) == 10
    assert choose((CurvePoint(0, 0.4, 0.0), CurvePoint(5, 0.45, 0.0), CurvePoint(9, 0.45, 0.0))) == 5


def test_choose_on_the_worst_collection_keeps_no_trees_that_lose_one() -> None:
    """Leaving one collection out: trees that raise the mean but lose on one collection are not kept."""
    curve = (
        CurvePoint(0, 0.50, 0.20, 0.0),
        CurvePoint(15, 0.52, 0.18, -0.002),
        CurvePoint(40, 0.53, 0.2, -0.01),
    )
    assert choose(curve) == 0
    sel = TreeSelection(curve, choose(curve), 2, 0.0, "collections")
    assert sel.fallback_to_fused and "no number of trees helped every left-out collection" in sel.message
    helps = (
        CurvePoint(0, 0.5, 0.2, 0.0),
        CurvePoint(10, 0.51, 0.2, 0.004),
        CurvePoint(20, 0.52, 0.2, 0.0045),
    )
    assert choose(helps) == 10  # the fewest trees within the epsilon of the best worst gain
    assert (
        "every left-out collection gains at least +0.0040"
        in TreeSelection(helps, 10, 2, 0.0, "collections").message
    )


def test_manifests_written_before_tree_selection_still_load(
    ltr_env: tuple[Retriever, Path], scifact_ltr_slice: Path, tmp_path: Path
) -> None:
    retriever, _ = ltr_env
    split = load_split(scifact_ltr_slice, "train")
    outcome = train_ltr(
        retriever, FeatureLogger(retriever.index), ModelRegistry(tmp_path), split, None, None, FAST
    )
    path = tmp_path / "models" / "ltr" / outcome.manifest.version / "manifest.json"
    data = json.loads(path.read_text())
    for key in ("cv_curve", "chosen_trees", "fallback_to_fused", "cv_folds"):
        del data[key]
    path.write_text(json.dumps(data))
    registry = ModelRegistry(tmp_path)
    m = registry.manifest(outcome.manifest.version)
    assert m.cv_curve is None and m.chosen_trees is None and not m.fallback_to_fused
    model = registry.load(m.version)
    ts = log_split(retriever, FeatureLogger(retriever.index), load_split(scifact_ltr_slice, "test"))
    assert model.predict(ts.features).shape == (ts.n_rows,)
    assert m.best_iteration == outcome.manifest.chosen_trees


def test_leave_one_collection_out_holds_out_each_collection_whole(
    ltr_env: tuple[Retriever, Path], scifact_ltr_slice: Path
) -> None:
    """Two 'collections' (halves of a real SciFact slice, combined as many-collection training combines
    them): each fold is one whole collection, its curve the mean of the model trained on the other."""
    retriever, _ = ltr_env
    split = load_split(scifact_ltr_slice, "train")
    ts = log_split(retriever, FeatureLogger(retriever.index), split)
    half = len(ts.qids) // 2
    a, b = ts.subset(list(ts.qids[:half])), ts.subset(list(ts.qids[half:]))
    both, qrels = combine([("a", a, split.qrels), ("b", b, split.qrels)])
    assert collection_folds(both.qids) == [[f"a:{q}" for q in a.qids], [f"b:{q}" for q in b.qids]]
    sel = select_trees(both, qrels, FAST, split_by="collections")
    assert sel.split_by == "collections" and sel.folds == 2 and "leave-one-collection-out CV" in sel.message
    grid = tuple(p.trees for p in sel.curve)
    left_out = [
        fold_curve(both.subset(train), both.subset(held), qrels, FAST, grid)
        for train, held in (([*collection_folds(both.qids)[1]], collection_folds(both.qids)[0]),
                            ([*collection_folds(both.qids)[0]], collection_folds(both.qids)[1]))
    ]  # fmt: skip
    assert [p.mean for p in sel.curve] == pytest.approx(np.mean(left_out, axis=0).tolist(), abs=1e-12)
    # the count is chosen on the worst left-out collection's gain over the fused score (zero trees)
    gains = np.asarray(left_out) - np.asarray(left_out)[:, :1]
    assert [p.worst for p in sel.curve] == pytest.approx(gains.min(axis=0).tolist(), abs=1e-12)
    best = gains.min(axis=0).max()
    assert sel.chosen == min(t for t, g in zip(grid, gains.min(axis=0), strict=True) if g >= best - 1e-3)
    assert all(p.get("worst_gain") is not None for p in selection_record(sel)["cv_curve"])
    assert select_trees(both, qrels, FAST).curve != sel.curve  # five folds of queries measure otherwise
    with pytest.raises(TrainingDataError, match="at least 2 collections"):
        select_trees(ts, split.qrels, FAST, split_by="collections")


def test_document_folds_keep_queries_that_share_a_relevant_document_together(shared_data: Path) -> None:
    qrels = {"1": {"d1": 1}, "2": {"d2": 1, "d1": 1}, "3": {"d3": 1}, "4": {"d4": 1, "d9": 0}, "5": {"d9": 1},
             "6": {"d2": 1}, "7": {}}  # fmt: skip
    qids = ("1", "2", "3", "4", "5", "6", "7")
    # 1, 2 and 6 share d1 / d2 (through 2); a grade-0 judgment (d9 of 4) joins nothing
    assert document_folds(qids, qrels, 3) == [["1", "2", "6"], ["3", "5"], ["4", "7"]]
    assert document_folds(qids, qrels, 3) == document_folds(qids, qrels, 3)
    assert document_folds(("1", "3", "4"), qrels, 5) == [["1"], ["3"], ["4"]]  # fewer groups than folds
    with pytest.raises(TrainingDataError, match="2 of the 2 training queries are joined"):
        document_folds(("1", "2"), qrels, 5)
    train = load_split(shared_data / "scifact", "train")
    ids = tuple(sorted(train.qrels, key=int))
    found = document_folds(ids, train.qrels, 5)
    assert sorted(q for f in found for q in f) == sorted(ids) and len(found) == 5
    docs = [{d for q in f for d, g in train.qrels[q].items() if g > 0} for f in found]
    assert all(docs[i].isdisjoint(docs[j]) for i in range(5) for j in range(i + 1, 5))
    assert max(map(len, found)) - min(map(len, found)) <= 0.2 * len(ids) / 5, [len(f) for f in found]
    # NFCorpus: 2,562 of its 2,563 training queries are joined through shared relevant documents
    nf = load_split(shared_data / "nfcorpus-processed", "train")
    with pytest.raises(TrainingDataError, match="joined through shared relevant documents"):
        document_folds(tuple(nf.qrels), nf.qrels, 5)
