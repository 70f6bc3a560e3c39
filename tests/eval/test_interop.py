"""Evaluation that combines with other tools: qrels in either separator, topics files, Holm, p-value format,
signed differences and per-query values in the report (real SciFact judgments)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragsearch.eval.data import load_split, read_qrels, read_topics
from ragsearch.eval.evaluate import compare_systems
from ragsearch.eval.metrics import format_p, holm
from ragsearch.eval.runs import to_run
from ragsearch.retrieval.errors import InvalidInputError


def test_trec_qrels_with_spaces_read_like_tabs(shared_data: Path, tmp_path: Path) -> None:
    beir = shared_data / "scifact" / "qrels" / "test.tsv"
    rows = [ln.split("\t") for ln in beir.read_text().splitlines()[1:]]
    spaced = tmp_path / "qrels.txt"
    spaced.write_text("".join(f"{q} 0 {d}  {r}\n" for q, d, r in rows))
    tabbed = tmp_path / "qrels.tsv"
    tabbed.write_text("".join(f"{q}\t0\t{d}\t{r}\n" for q, d, r in rows))
    assert read_qrels(spaced) == read_qrels(tabbed) == read_qrels(beir)
    assert len(read_qrels(beir)) == 300
    (tmp_path / "bad.txt").write_text("1 2\n")
    with pytest.raises(InvalidInputError, match=r"bad\.txt:1"):
        read_qrels(tmp_path / "bad.txt")


def test_topics_from_jsonl_or_tsv(shared_data: Path, tmp_path: Path) -> None:
    jsonl = read_topics(shared_data / "scifact" / "queries.jsonl")
    tsv = tmp_path / "topics.tsv"
    tsv.write_text("".join(f"{q}\t{t}\n" for q, t in list(jsonl.items())[:50]))
    assert read_topics(tsv) == dict(list(jsonl.items())[:50])
    tsv.write_text("1\tfine\nno tab here\n")
    with pytest.raises(InvalidInputError, match=r"topics\.tsv:2"):
        read_topics(tsv)


def test_holm_step_down() -> None:
    # by hand: sorted 0.01, 0.03, 0.04 -> 3*0.01, max(2*0.03, .), max(1*0.04, 0.06)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([0.02]) == [0.02] and holm([]) == []


def test_p_values_below_the_shown_precision_are_not_zero() -> None:
    assert format_p(3e-7) == "<0.0001" and format_p(0.00012) == "0.0001" and format_p(0.5) == "0.5000"


def test_report_signed_difference_holm_and_per_query(shared_data: Path) -> None:
    split = load_split(shared_data / "scifact", "test")
    qids = list(split.qrels)[:60]
    good = {q: [(d, 10.0 - i) for i, d in enumerate(split.qrels[q])] for q in qids}  # relevant first
    bad = {q: [("nothing", 1.0)] for q in qids}
    half = {q: good[q] if i % 2 else bad[q] for i, q in enumerate(qids)}
    runs = {"half": to_run(half), "good": to_run(good), "bad": to_run(bad)}
    report = compare_systems(split, runs, ["nDCG@10", "P@5"], qids)
    assert report.measures == ("nDCG@10", "P@5")
    first, up, down = report.systems["half"], report.systems["good"], report.systems["bad"]
    assert first.delta is None and first.p_value is None
    assert up.delta == pytest.approx(up.means["nDCG@10"] - first.means["nDCG@10"]) and up.delta > 0.4
    assert down.delta is not None and down.delta < -0.4
    assert up.p_value is not None and up.p_holm is not None and up.p_holm >= up.p_value
    assert down.p_value is not None and down.p_holm is not None
    (lo, lo_holm), (hi, hi_holm) = sorted([(up.p_value, up.p_holm), (down.p_value, down.p_holm)])
    assert lo_holm == pytest.approx(min(1.0, 2 * lo)) and hi_holm == pytest.approx(max(lo_holm, hi))
    js = report.to_json()
    assert js["measures"] == ["nDCG@10", "P@5"]
    per_query = js["systems"]["good"]["per_query"]
    assert set(per_query) == set(qids) and all(v["nDCG@10"] == pytest.approx(1.0) for v in per_query.values())
    assert js["systems"]["bad"]["delta_vs_first"] < 0
