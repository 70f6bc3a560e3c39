"""Folder ingest on generated real files (FAKE embedder for speed; tests/app/test_cli_ingest.py uses the
real model)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ragsearch.retrieval.embedded import EmbeddedBackend, EmbeddedIndex
from ragsearch.retrieval.types import IndexSpec
from tests.fakes import FakeHashEmbedder
from tests.ingest.corpus import BAD, EMPTY, GOOD, paragraphs, write_corpus, write_jsonl
from tests.ingest.helpers import reasons, run_ingest, snapshot

EMB = FakeHashEmbedder()


@pytest.fixture()
def index(tmp_path: Path) -> EmbeddedIndex:
    idx = EmbeddedBackend(tmp_path / "home").create("docs", IndexSpec(EMB.name, EMB.dim))
    yield idx
    idx.close()


@pytest.fixture()
def docs(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "docs")


def passages_of(index: EmbeddedIndex, doc_id: str) -> list:
    ids = index.passage_ids_of([doc_id]).get(doc_id, [])
    return sorted(index.get(ids), key=lambda p: p.metadata["position"])


def test_every_format_ingests_and_each_bad_file_is_one_line(
    index: EmbeddedIndex, docs: Path, tmp_path: Path
) -> None:
    report = run_ingest([docs], index, EMB, tmp_path)
    assert (report.added, report.updated, report.unchanged) == (len(GOOD), 0, 0)
    failed = reasons(report.failed)
    assert failed.keys() == BAD.keys()
    for name, reason in BAD.items():
        assert failed[name].startswith(reason), failed[name]
    assert "password" in failed["locked.pdf"]
    assert reasons(report.skipped).keys() == set(EMPTY)
    warnings = reasons(report.warnings)
    assert warnings["latin1.txt"] == "invalid UTF-8 at byte 3: read as Windows-1252"
    assert warnings["scan-named.txt"] == "named .txt but holds pdf: read as pdf"
    assert report.ignored == 2  # .hidden.md, image.png
    assert {d for d in {p.doc_id for p in index.get(list(snapshot(index)))}} == set(GOOD)
    assert report.passages == index.count() == report.embedded


def test_passages_cite_their_exact_place(index: EmbeddedIndex, docs: Path, tmp_path: Path) -> None:
    run_ingest([docs], index, EMB, tmp_path)
    for doc_id in ("guide/install.md", "notes.txt", "guide/usage.markdown"):
        source = (docs / doc_id).read_text()
        ps = passages_of(index, doc_id)
        assert len(ps) >= 2
        assert [p.id for p in ps] == [f"{doc_id}#{i}" for i in range(len(ps))]
        for p in ps:
            m = p.metadata
            assert source[m["char_start"] : m["char_end"]] == p.text
            assert m["source"] == str((docs / doc_id).resolve()) and p.doc_id == doc_id
        starts = [p.metadata["char_start"] for p in ps]
        assert starts == sorted(starts)
    install = passages_of(index, "guide/install.md")
    assert install[0].metadata["doc_title"] == "Installing Tidewatch"
    assert not install[0].text.startswith("---")  # front matter is not indexed
    titles = {p.title for p in install}
    assert "Installing Tidewatch > Linux > Troubleshooting" in titles
    assert "Installing Tidewatch > Windows" in titles
    assert not any("not a heading" in t for t in titles)  # a comment inside fenced code
    trouble = next(p for p in install if p.title.endswith("Troubleshooting"))
    assert trouble.metadata["headings"] == ["Linux", "Troubleshooting"]
    # chunks end at sentence or paragraph boundaries when one is in reach
    assert all(p.text.rstrip().endswith((".", "```")) for p in passages_of(index, "notes.txt"))


def test_pdf_pages_html_main_content_and_sniffed_formats(
    index: EmbeddedIndex, docs: Path, tmp_path: Path
) -> None:
    run_ingest([docs], index, EMB, tmp_path)
    pdf = passages_of(index, "report.pdf")
    assert {p.metadata["page"] for p in pdf} == {1, 2} and pdf[0].metadata["pages"] == 2
    assert pdf[0].metadata["doc_title"] == "Glacier report" and pdf[0].metadata["format"] == "pdf"
    glacier = [p for p in pdf if "retreated nine metres" in p.text]
    assert [p.metadata["page"] for p in glacier] == [2]
    html = passages_of(index, "web/zebras.html")
    text = " ".join(p.text for p in html)
    assert "biting flies" in text
    assert "Cookie settings" not in text and "About us" not in text  # footer and navigation dropped
    assert any(p.title == "Zebra field notes > Stripes" for p in html)
    (sniffed,) = passages_of(index, "scan-named.txt")
    assert sniffed.metadata["format"] == "pdf" and "seventy six years" in sniffed.text
    (latin,) = passages_of(index, "latin1.txt")
    assert "Café au lait, crème brûlée" in latin.text


def test_rerun_of_unchanged_files_writes_nothing(index: EmbeddedIndex, docs: Path, tmp_path: Path) -> None:
    run_ingest([docs], index, EMB, tmp_path)
    before = snapshot(index)
    again = run_ingest([docs], index, EMB, tmp_path)
    assert (again.added, again.updated, again.unchanged, again.embedded, again.passages) == (
        0,
        0,
        len(GOOD),
        0,
        0,
    )
    assert len(again.failed) == len(BAD)  # still reported, still a failure
    assert snapshot(index) == before


def test_changed_document_replaces_all_its_passages(index: EmbeddedIndex, docs: Path, tmp_path: Path) -> None:
    run_ingest([docs], index, EMB, tmp_path)
    old_count = len(passages_of(index, "notes.txt"))
    (docs / "notes.txt").write_text("Only one short sentence now.")
    install = docs / "guide" / "install.md"
    install.write_text(install.read_text() + "\n\n## Appendix\n\nA comet appears in the appendix.\n")
    report = run_ingest([docs], index, EMB, tmp_path)
    assert (report.added, report.updated, report.unchanged) == (0, 2, len(GOOD) - 2)
    (only,) = passages_of(index, "notes.txt")
    assert old_count > 1 and only.text == "Only one short sentence now." and only.id == "notes.txt#0"
    assert index.get([f"notes.txt#{i}" for i in range(1, old_count)]) == []
    assert any("comet appears" in p.text for p in passages_of(index, "guide/install.md"))
    assert report.embedded < report.passages  # unchanged passages of install.md kept their vectors

    # the index equals a fresh ingest of the edited folder
    fresh = EmbeddedBackend(tmp_path / "fresh").create("docs", IndexSpec(EMB.name, EMB.dim))
    run_ingest([docs], fresh, EMB, tmp_path / "fresh")
    assert snapshot(index) == snapshot(fresh)
    fresh.close()


def test_prune_removes_gone_files_and_empty_files_lose_their_passages(
    index: EmbeddedIndex, docs: Path, tmp_path: Path
) -> None:
    run_ingest([docs], index, EMB, tmp_path)
    (docs / "guide" / "usage.markdown").unlink()
    (docs / "notes.txt").write_text("")
    kept = run_ingest([docs], index, EMB, tmp_path)
    assert passages_of(index, "guide/usage.markdown")  # without --prune a gone file stays
    assert passages_of(index, "notes.txt") == [] and kept.removed == 1
    assert reasons(kept.skipped)["notes.txt"].startswith("empty: no text to index (")
    pruned = run_ingest([docs], index, EMB, tmp_path, prune=True)
    assert pruned.removed == 1
    assert passages_of(index, "guide/usage.markdown") == []
    assert passages_of(index, "report.pdf")  # failed files (locked.pdf) and the rest stay


def test_a_file_that_breaks_keeps_its_previous_version(
    index: EmbeddedIndex, docs: Path, tmp_path: Path
) -> None:
    run_ingest([docs], index, EMB, tmp_path)
    before = passages_of(index, "report.pdf")
    (docs / "report.pdf").write_bytes((docs / "report.pdf").read_bytes()[:200])
    report = run_ingest([docs], index, EMB, tmp_path, prune=True)
    assert reasons(report.failed)["report.pdf"].endswith("; the previous version stays indexed")
    assert passages_of(index, "report.pdf") == before


def test_size_limit_and_duplicate_ids_fail_alone(index: EmbeddedIndex, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "big.txt").write_text(paragraphs(40, 1))
    (a / "same.md").write_text("# A\n\nfrom folder a")
    (b / "same.md").write_text("# B\n\nfrom folder b")
    report = run_ingest([a, b], index, EMB, tmp_path, max_file_bytes=2000)
    failed = {e.source: e.reason for e in report.failed}
    big = next(r for s, r in failed.items() if s.endswith("big.txt"))
    assert re.fullmatch(
        r"file too large: 0\.0\d+ MiB, over the 0\.0019 MiB limit \(raise RAGSEARCH_INGEST_MAX_FILE_MB or split the file\)",
        big,
    ), big
    dup = next(r for s, r in failed.items() if s.endswith("b/same.md"))
    assert "same document id 'same.md'" in dup
    assert report.added == 1 and passages_of(index, "same.md")[0].text.endswith("from folder a")


def test_jsonl_and_nested_beir_folder_keep_their_ids(index: EmbeddedIndex, tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    beir = root / "beir"
    (beir / "qrels").mkdir(parents=True)
    write_jsonl(beir / "corpus.jsonl", [{"_id": "d1", "title": "T", "text": "zebra stripes"}])
    write_jsonl(beir / "queries.jsonl", [{"_id": "q1", "text": "why stripes"}])
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    write_jsonl(root / "extra.jsonl", [{"_id": "x1", "text": "glacier"}, {"_id": "x2", "text": "comet"}])
    (root / "extra.jsonl").write_text((root / "extra.jsonl").read_text() + "{not json\n")
    report = run_ingest([root], index, EMB, tmp_path)
    assert sorted(p.id for p in index.get(["d1", "x1", "x2", "q1"])) == ["d1", "x1", "x2"]
    assert [str(e).split("/")[-1] for e in report.failed] == [
        "extra.jsonl:3: invalid JSON: Expecting property name enclosed in double quotes at column 2"
    ]
    write_jsonl(root / "extra.jsonl", [{"_id": "x1", "text": "glacier"}])
    run_ingest([root], index, EMB, tmp_path, prune=True)
    assert sorted(p.id for p in index.get(["d1", "x1", "x2"])) == ["d1", "x1"]


def test_overlapping_arguments_ingest_a_file_once(index: EmbeddedIndex, docs: Path, tmp_path: Path) -> None:
    report = run_ingest([docs / "guide", docs / "guide" / "install.md"], index, EMB, tmp_path)
    assert report.added == 2
    assert [str(w) for w in report.warnings] == [
        f"{docs / 'guide' / 'install.md'}: given twice: ingested once, as 'install.md'"
    ]


def test_same_path_in_another_folder_is_refused_not_overwritten(index: EmbeddedIndex, tmp_path: Path) -> None:
    """Two folders both holding `guide/install.md`, ingested one after the other into one index."""
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        (folder / "guide").mkdir(parents=True)
        (folder / "guide" / "install.md").write_text(
            f"# Install\n\nthe install guide of folder {folder.name}"
        )
    assert run_ingest([a], index, EMB, tmp_path).added == 1
    report = run_ingest([b], index, EMB, tmp_path)
    assert (report.added, report.updated) == (0, 0)
    why = reasons(report.failed)["install.md"]
    assert "same document id 'guide/install.md'" in why
    assert str(a / "guide" / "install.md") in why and str(b / "guide" / "install.md") in why
    assert passages_of(index, "guide/install.md")[0].text.endswith("folder a")

    # the folder that holds the id still updates it; a folder that moved keeps its ids
    (a / "guide" / "install.md").write_text("# Install\n\nthe new install guide of folder a")
    assert run_ingest([a], index, EMB, tmp_path).updated == 1
    moved = tmp_path / "moved"
    a.rename(moved)
    report = run_ingest([moved], index, EMB, tmp_path)
    assert (report.unchanged, report.failed) == (1, [])
    # now b's copy is refused against the moved folder's file
    report = run_ingest([b], index, EMB, tmp_path)
    assert str(moved / "guide" / "install.md") in reasons(report.failed)["install.md"]
