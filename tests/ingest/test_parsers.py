from __future__ import annotations

from pathlib import Path

import pytest

from ragsearch.ingest.parsers import ParseError, decode_text, markdown_sections, parse_bytes, sniff
from tests.ingest.corpus import encrypt_pdf, make_pdf


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"%PDF-1.7\n...", "pdf"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "binary:a PNG image"),
        (b"PK\x03\x04rest", "binary:a ZIP archive (or DOCX/XLSX/EPUB)"),
        (b"text\x00with nul", "binary:binary data (NUL bytes)"),
        (b"\x01\x02\x03\x04\x05\x06abc", "binary:binary data (control bytes)"),
        (b"  <!DOCTYPE html><html>", "html"),
        (b"<div><body>x</body></div>", "html"),
        (b"# Title\n\nplain", None),
        (b"\xff\xfeh\x00i\x00", None),  # UTF-16 with BOM is text
    ],
)
def test_sniff(head: bytes, kind: str | None) -> None:
    assert sniff(head) == kind


def test_decode_text_falls_back_and_says_so() -> None:
    assert decode_text("ünïcode\r\nok".encode()) == ("ünïcode\nok", None)
    assert decode_text(b"\xef\xbb\xbfbom") == ("bom", None)
    text, note = decode_text("naïve".encode("cp1252"))
    assert text == "naïve" and note == "invalid UTF-8 at byte 2: read as Windows-1252"


def test_markdown_sections_follow_heading_levels_and_skip_code() -> None:
    text = "intro\n# A\none\n## B\ntwo\n```\n# not heading\n```\n### C\nthree\n## D\nfour\n"
    sections, h1 = markdown_sections(text)
    assert h1 == "A"
    assert [(s.headings, text[s.start : s.end].splitlines()[0]) for s in sections] == [
        ((), "intro"),
        (("A",), "# A"),
        (("A", "B"), "## B"),
        (("A", "B", "C"), "### C"),
        (("A", "D"), "## D"),
    ]


def test_pdf_pages_and_errors() -> None:
    doc = parse_bytes(make_pdf(["first page text", "second page text"], title="T"), Path("x.pdf"))
    assert doc.title == "T" and doc.format == "pdf" and doc.metadata == {"pages": 2}
    assert [(s.page, doc.text[s.start : s.end]) for s in doc.sections] == [
        (1, "first page text"),
        (2, "second page text"),
    ]
    with pytest.raises(ParseError, match=r"^encrypted PDF: it needs a password"):
        parse_bytes(encrypt_pdf(make_pdf(["s"])), Path("x.pdf"))
    with pytest.raises(ParseError, match=r"^corrupt PDF \("):
        parse_bytes(b"%PDF-1.4\ngarbage", Path("x.pdf"))
    with pytest.raises(ParseError, match=r"^PDF has no extractable text in its 1 page"):
        parse_bytes(make_pdf([""]), Path("scan.pdf"))


def test_extension_that_lies() -> None:
    as_text = parse_bytes(b"just words", Path("fake.pdf"))
    assert as_text.format == "text" and as_text.notes == ["named .pdf but holds text: read as text"]
    with pytest.raises(ParseError, match=r"^binary file \(a gzip archive\), not a document$"):
        parse_bytes(b"\x1f\x8b\x08\x00" + bytes(200), Path("notes.md"))
    html_fragment = parse_bytes(b"<p>A short fragment of HTML.</p>", Path("frag.html"))
    assert html_fragment.format == "html" and "short fragment" in html_fragment.text
