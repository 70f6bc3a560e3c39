"""Issue 19 part 5: setext headings, YAML front matter, legacy encodings, empty records, bare headings."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragsearch.ingest.parsers import markdown_sections, parse_bytes
from ragsearch.ingest.pipeline import ingest_records
from ragsearch.ingest.readers import read_source
from ragsearch.retrieval.embedded import EmbeddedBackend, EmbeddedIndex
from ragsearch.retrieval.types import IndexSpec
from tests.fakes import FakeHashEmbedder
from tests.ingest.helpers import reasons, run_ingest

EMB = FakeHashEmbedder()

RUSSIAN = (
    "Москва - столица России, крупнейший по численности населения город страны. "
    "Город расположен на реке Москве в центре Восточно-Европейской равнины."
)
JAPANESE = (
    "東京は日本の首都であり、世界で最も人口の多い都市圏の一つです。東京都には二十三の特別区があります。"
)


@pytest.fixture()
def index(tmp_path: Path) -> EmbeddedIndex:
    idx = EmbeddedBackend(tmp_path / "home").create("docs", IndexSpec(EMB.name, EMB.dim))
    yield idx
    idx.close()


def test_setext_headings_split_sections() -> None:
    text = "Guide\n=====\n\nWelcome text.\n\nInstall\n-------\n\nRun the installer.\n\n    # indented code\n"
    sections, h1 = markdown_sections(text)
    assert h1 == "Guide"
    assert [(s.headings, text[s.start : s.end].splitlines()[0]) for s in sections] == [
        (("Guide",), "Guide"),
        (("Guide", "Install"), "Install"),
    ]


def test_heading_markup_is_dropped_from_heading_text() -> None:
    sections, h1 = markdown_sections("# The `ragsearch` **CLI**\n\nbody\n")
    assert h1 == "The ragsearch CLI" and sections[0].headings == ("The ragsearch CLI",)


def test_multiline_yaml_title_and_bad_front_matter() -> None:
    doc = parse_bytes(
        b"---\ntitle: >-\n  A folded\n  long title\ntags: [a, b]\n---\n# H1\n\nbody\n", Path("x.md")
    )
    assert doc.title == "A folded long title"
    assert doc.text[doc.sections[0].start :].startswith("# H1")
    bad = parse_bytes(b"---\ntitle: [unclosed\n---\n# Real title\n\nbody\n", Path("y.md"))
    assert bad.title == "Real title"
    assert bad.notes and bad.notes[0].startswith("front matter is not valid YAML")


def test_bare_headings_merge_into_their_section() -> None:
    text = "# Guide\n\n## Install\n\nRun the installer.\n\n## Use\n\nSearch.\n\n## Trailing\n"
    sections, _ = markdown_sections(text)
    chunks = [text[s.start : s.end] for s in sections]
    assert [s.headings for s in sections] == [("Guide", "Install"), ("Guide", "Use")]
    assert chunks[0].startswith("# Guide\n\n## Install") and chunks[1].endswith("## Trailing\n")
    assert all(
        c.strip().splitlines()[-1].strip() and not c.strip().startswith("## Use\n\n##") for c in chunks
    )


def test_bare_headings_give_no_passage(index: EmbeddedIndex, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text("# Guide\n\n## Install\n\nRun the installer and follow the steps.\n")
    run_ingest([docs], index, EMB, tmp_path)
    texts = [p.text.strip() for p in index.get([f"guide.md#{i}" for i in range(5)])]
    assert texts and all(t not in ("# Guide", "## Install") for t in texts)
    assert texts[0].startswith("# Guide")


@pytest.mark.parametrize(
    ("text", "encoding", "detected"),
    [
        (RUSSIAN, "cp1251", "cp1251"),
        (RUSSIAN, "koi8-r", "koi8_r"),
        (JAPANESE, "shift_jis", "cp932"),
        (JAPANESE, "euc-jp", "euc_jis_2004"),
    ],
)
def test_legacy_encodings_are_detected_and_named(text: str, encoding: str, detected: str) -> None:
    doc = parse_bytes(text.encode(encoding), Path("doc.txt"))
    assert doc.text == text
    assert doc.metadata["encoding"] == detected
    assert doc.notes and doc.notes[0].startswith("invalid UTF-8 at byte 0: read as ")


def test_ingest_reports_encodings(index: EmbeddedIndex, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ru.txt").write_bytes(RUSSIAN.encode("cp1251"))
    (docs / "ja.md").write_bytes(("# 東京\n\n" + JAPANESE).encode("shift_jis"))
    (docs / "en.md").write_text("# English\n\nPlain UTF-8 text about search.\n")
    report = run_ingest([docs], index, EMB, tmp_path)
    assert report.failed == [] and report.added == 3
    assert report.encodings == {"cp1251": 1, "cp932": 1, "utf-8": 1}
    assert report.to_dict()["encodings"] == report.encodings
    assert reasons(report.warnings)["ru.txt"] == "invalid UTF-8 at byte 0: read as Windows-1251"
    (ru,) = index.get(["ru.txt#0"])
    assert ru.text == RUSSIAN and ru.metadata["encoding"] == "cp1251"
    (ja,) = index.get(["ja.md#0"])
    assert JAPANESE in ja.text and ja.title == "東京"


def test_cranfield_empty_records_are_skipped_not_failed(shared_data: Path, tmp_path: Path) -> None:
    cranfield = shared_data / "cranfield"
    idx = EmbeddedBackend(tmp_path / "home").create("cran", IndexSpec(EMB.name, EMB.dim))
    try:
        report = ingest_records(read_source(cranfield), idx, EMB, batch_size=512)
        assert report.failed == []
        assert [(e.line, e.reason) for e in report.skipped] == [
            (471, "title and text are both empty"),
            (995, "title and text are both empty"),
        ]
        assert report.added == idx.count() == 1398
    finally:
        idx.close()
