"""Turn a file's bytes into text with structure: Markdown, HTML (main content), PDF (per page), plain text.

The format is decided by content first (a PDF named `.txt` is read as a PDF; a binary file is refused
whatever its name), then by extension. Character offsets of sections are offsets into the extracted
text: the decoded file for Markdown and text, trafilatura's Markdown for HTML, pages joined by a blank line
for PDF.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval.errors import RagsearchError

PARSER_VERSION = "1"
"""Part of every document hash: bump it when extraction changes, so documents are re-read."""


class ParseError(RagsearchError):
    """A file that cannot be read as a document; the message is the one line shown in the summary."""


@dataclass(frozen=True, slots=True)
class Section:
    """A span of the document text under one heading path, or one PDF page."""

    start: int
    end: int
    headings: tuple[str, ...] = ()
    page: int | None = None


@dataclass(slots=True)
class ParsedDocument:
    title: str
    text: str
    sections: list[Section]
    format: str
    metadata: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    """Things worth a line in the summary that did not stop the document (e.g. a wrong extension)."""


# ---- sniffing ---------------------------------------------------------------------------------------
BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive (or DOCX/XLSX/EPUB)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x7fELF", "an executable (ELF)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office document (OLE)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
)
TEXT_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_CONTROL = bytes(range(0, 32)).replace(b"\t", b"").replace(b"\n", b"").replace(b"\r", b"").replace(b"\f", b"")


def sniff(head: bytes) -> str | None:
    """'pdf', 'html', 'binary:<what>' or None (text of no particular kind) from a file's first bytes."""
    if b"%PDF-" in head[:1024]:
        return "pdf"
    for magic, what in BINARY_SIGNATURES:
        if head.startswith(magic):
            return f"binary:{what}"
    if not head.startswith(TEXT_BOMS[1:]):
        if b"\x00" in head:
            return "binary:binary data (NUL bytes)"
        sample = head[:4096]
        if sample and sum(sample.count(bytes([c])) for c in _CONTROL) / len(sample) > 0.05:
            return "binary:binary data (control bytes)"
    lowered = head[:2048].lstrip().lower()
    if lowered.startswith((b"\xef\xbb\xbf<", b"<")) and (
        lowered.lstrip(b"\xef\xbb\xbf").startswith((b"<!doctype html", b"<html"))
        or b"<body" in lowered
        or b"<head" in lowered
    ):
        return "html"
    return None


def decode_text(data: bytes) -> tuple[str, str | None]:
    """Text of a file, newlines normalised; a note when it was not valid UTF-8 (read as Windows-1252)."""
    note = None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="replace")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            text = data.decode("cp1252", errors="replace")
            note = f"invalid UTF-8 at byte {exc.start}: read as Windows-1252"
    return text.replace("\r\n", "\n").replace("\r", "\n"), note


# ---- Markdown -------------------------------------------------------------------------------------
FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
FENCE = re.compile(r"^ {0,3}(```|~~~)")


def markdown_sections(text: str, start: int = 0) -> tuple[list[Section], str | None]:
    """Sections split at ATX headings (`#`..`######`, not inside fenced code) and the first H1's text."""
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    first_h1: str | None = None
    section_start = start
    in_fence: str | None = None
    pos = start
    for line in text[start:].splitlines(keepends=True):
        fence = FENCE.match(line)
        if fence:
            in_fence = None if in_fence == fence.group(1) else (in_fence or fence.group(1))
        elif in_fence is None and (m := ATX_HEADING.match(line.rstrip("\n"))):
            level, title = len(m.group(1)), m.group(2).strip()
            if pos > section_start and text[section_start:pos].strip():
                sections.append(Section(section_start, pos, tuple(t for _, t in path)))
            section_start = pos
            path = [(lv, t) for lv, t in path if lv < level] + [(level, title)]
            if level == 1 and first_h1 is None:
                first_h1 = title
        pos += len(line)
    if text[section_start:].strip():
        sections.append(Section(section_start, len(text), tuple(t for _, t in path)))
    return sections, first_h1


def parse_markdown(text: str, stem: str, fmt: str = "markdown") -> ParsedDocument:
    start = 0
    title = None
    if m := FRONT_MATTER.match(text):
        start = m.end()
        for line in m.group(1).splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() == "title" and value.strip():
                title = value.strip().strip("'\"")
    sections, h1 = markdown_sections(text, start)
    return ParsedDocument(title=title or h1 or stem, text=text, sections=sections, format=fmt)


def parse_text(text: str, stem: str) -> ParsedDocument:
    sections = [Section(0, len(text))] if text.strip() else []
    return ParsedDocument(title=stem, text=text, sections=sections, format="text")


# ---- HTML -----------------------------------------------------------------------------------------
def parse_html(data: bytes, stem: str) -> ParsedDocument:
    """Main content via trafilatura (navigation, footers and ads dropped), kept as Markdown headings."""
    import trafilatura

    html, note = decode_text(data)
    extracted = trafilatura.extract(
        html, output_format="markdown", include_comments=False, include_tables=True, favor_recall=True
    )
    meta = trafilatura.extract_metadata(html)
    title = (meta.title if meta is not None else None) or stem
    if not extracted:
        extracted = _html_fallback_text(html)
    doc = parse_markdown(extracted or "", title, fmt="html")
    doc.title = title
    if note:
        doc.notes.append(note)
    return doc


def _html_fallback_text(html: str) -> str:
    """All visible text, for pages too short for trafilatura's main-content heuristics."""
    import lxml.html

    try:
        tree = lxml.html.fromstring(html)
    except Exception:  # lxml raises ParserError, ValueError and others on broken markup
        return ""
    for bad in tree.xpath("//script|//style|//noscript|//nav|//footer"):
        bad.drop_tree()
    return re.sub(r"[ \t]+", " ", tree.text_content()).strip()


# ---- PDF ------------------------------------------------------------------------------------------
def parse_pdf(data: bytes, stem: str) -> ParsedDocument:
    """Text of each page (pypdf), one section per page so passages cite their page."""
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise ParseError("encrypted PDF: it needs a password; save a decrypted copy to ingest it")
        pages = [(page.extract_text() or "").replace("\r\n", "\n").strip() for page in reader.pages]
        title = ""
        try:
            info = reader.metadata
            title = str(info.title or "").strip() if info else ""
        except Exception:  # broken info dictionaries are common; the title is optional
            title = ""
    except ParseError:
        raise
    except FileNotDecryptedError:
        raise ParseError("encrypted PDF: it needs a password; save a decrypted copy to ingest it") from None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        raise ParseError(f"corrupt PDF ({type(exc).__name__}: {exc})") from None
    if pages and not any(pages):
        raise ParseError(
            f"PDF has no extractable text in its {len(pages)} page(s) (scanned images?): OCR it first"
        )
    text_parts: list[str] = []
    sections: list[Section] = []
    pos = 0
    for number, page_text in enumerate(pages, start=1):
        if text_parts:
            text_parts.append("\n\n")
            pos += 2
        if page_text:
            sections.append(Section(pos, pos + len(page_text), (), number))
        text_parts.append(page_text)
        pos += len(page_text)
    doc = ParsedDocument(
        title=title or stem, text="".join(text_parts), sections=sections, format="pdf",
        metadata={"pages": len(pages)},
    )  # fmt: skip
    empty = sum(1 for p in pages if not p)
    if empty:
        doc.notes.append(f"{empty} of {len(pages)} PDF pages have no text (scanned?)")
    return doc


# ---- dispatch -------------------------------------------------------------------------------------
FORMAT_OF_SUFFIX = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".txt": "text",
    ".text": "text",
}


def parse_bytes(data: bytes, path: Path) -> ParsedDocument:
    """A document from a file's bytes; ParseError with a one-line reason when it is not one."""
    suffix = path.suffix.lower()
    by_name = FORMAT_OF_SUFFIX.get(suffix, "text")
    if not data.strip():
        return ParsedDocument(title=path.stem, text="", sections=[], format=by_name)
    kind = sniff(data[:8192])
    if kind is not None and kind.startswith("binary:"):
        raise ParseError(f"binary file ({kind.removeprefix('binary:')}), not a document")
    if kind == "html" and by_name == "markdown":
        kind = None  # Markdown may open with HTML blocks
    if kind is None and by_name == "html":
        kind = "html" if data.lstrip()[:1] == b"<" else "text"
    fmt = kind or ("text" if by_name == "pdf" else by_name)
    if fmt == "pdf":
        doc = parse_pdf(data, path.stem)
    elif fmt == "html":
        doc = parse_html(data, path.stem)
    else:
        text, note = decode_text(data)
        doc = parse_markdown(text, path.stem) if fmt == "markdown" else parse_text(text, path.stem)
        if note:
            doc.notes.append(note)
    if fmt != by_name and suffix:
        doc.notes.append(f"named {suffix} but holds {fmt}: read as {fmt}")
    return doc
