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

from ragsearch.retrieval.errors import RagsearchError

PARSER_VERSION = "2"
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


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    encoding: str
    """Python codec name of what was decoded (`utf-8`, `cp1251`, `cp932`, ...)."""
    note: str | None = None


ENCODING_NAMES = {
    "cp1252": "Windows-1252",
    "cp1251": "Windows-1251",
    "cp1250": "Windows-1250",
    "koi8_r": "KOI8-R",
    "cp932": "Shift_JIS (cp932)",
    "shift_jis": "Shift_JIS",
    "shift_jis_2004": "Shift_JIS",
    "euc_jp": "EUC-JP",
    "euc_jis_2004": "EUC-JP",
    "gb18030": "GB18030",
    "big5": "Big5",
}


def detect_encoding(data: bytes) -> str:
    """The likeliest legacy encoding of bytes that are not UTF-8 (charset-normalizer). Windows-1252 wins
    a near tie: short Western texts fit many code pages equally well, and it is the usual one."""
    from charset_normalizer import from_bytes

    results = from_bytes(data[: 1 << 20])
    best = results.best()
    if best is None:
        return "cp1252"
    for r in results:
        if r.encoding == "cp1252" and r.chaos <= best.chaos + 0.1 and r.coherence >= best.coherence - 0.1:
            return "cp1252"
    return str(best.encoding)


def decode(data: bytes) -> Decoded:
    """Text of a file, newlines normalised: UTF-8 (with or without BOM), UTF-16 with a BOM, else the
    detected encoding, with a note saying which."""
    note = None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text, encoding = data.decode("utf-16", errors="replace"), "utf-16"
    else:
        try:
            text, encoding = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError as exc:
            encoding = detect_encoding(data)
            text = data.decode(encoding, errors="replace")
            note = f"invalid UTF-8 at byte {exc.start}: read as {ENCODING_NAMES.get(encoding, encoding)}"
    return Decoded(text.replace("\r\n", "\n").replace("\r", "\n"), encoding, note)


def decode_text(data: bytes) -> tuple[str, str | None]:
    """`decode` as (text, note)."""
    d = decode(data)
    return d.text, d.note


# ---- Markdown -------------------------------------------------------------------------------------
FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)


def _inline_text(token: Any) -> str:
    """Plain text of a heading's inline token: emphasis, code and link markup dropped."""
    parts = []
    for child in token.children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return re.sub(r"\s+", " ", "".join(parts)).strip()


def markdown_sections(text: str, start: int = 0) -> tuple[list[Section], str | None]:
    """Sections split at top-level headings, ATX (`#`..`######`) and setext (underlined with `===` or
    `---`), parsed by markdown-it (CommonMark: not inside code, quotes or lists), and the first H1's text.
    A section that holds nothing but its heading is merged into the next one (or the previous one when
    it is the last), so no passage is a bare heading."""
    from markdown_it import MarkdownIt

    body = text[start:]
    line_starts = [0]
    for m in re.finditer("\n", body):
        line_starts.append(m.end())
    line_starts.append(len(body))
    tokens = MarkdownIt("commonmark").parse(body)
    # (offset of the heading line, offset after the heading, level, title)
    headings: list[tuple[int, int, int, str]] = []
    first_h1: str | None = None
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.level == 0 and tok.map:
            level, title = int(tok.tag[1:]), _inline_text(tokens[i + 1])
            a, b = tok.map
            headings.append(
                (start + line_starts[a], start + line_starts[min(b, len(line_starts) - 1)], level, title)
            )
            if level == 1 and first_h1 is None:
                first_h1 = title
    raw: list[tuple[Section, int]] = []  # with the offset where the section's body begins
    path: list[tuple[int, str]] = []
    section_start, body_start = start, start
    for pos, after, level, title in headings:
        if pos > section_start and text[section_start:pos].strip():
            raw.append((Section(section_start, pos, tuple(t for _, t in path)), body_start))
        section_start, body_start = pos, after
        path = [(lv, t) for lv, t in path if lv < level] + [(level, title)]
    if text[section_start:].strip():
        raw.append((Section(section_start, len(text), tuple(t for _, t in path)), body_start))
    return _merge_bare_headings(text, raw), first_h1


def _merge_bare_headings(text: str, raw: list[tuple[Section, int]]) -> list[Section]:
    sections: list[Section] = []
    pending: int | None = None  # start of bare headings waiting for the next section
    for section, body_start in raw:
        bare = not text[max(body_start, section.start) : section.end].strip()
        if bare:
            if pending is None:
                pending = section.start
            continue
        if pending is not None:
            section = Section(pending, section.end, section.headings, section.page)
            pending = None
        sections.append(section)
    if pending is not None:
        if sections:
            last = sections[-1]
            sections[-1] = Section(last.start, len(text), last.headings, last.page)
        else:  # a document of headings only: keep it, it is all there is
            sections = [s for s, _ in raw]
    return sections


def front_matter(text: str) -> tuple[int, dict[str, Any], str | None]:
    """Where the body starts after YAML front matter, its mapping, and a note when it is not valid YAML."""
    import yaml

    m = FRONT_MATTER.match(text)
    if not m:
        return 0, {}, None
    try:
        data = yaml.safe_load(m.group(1))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""
        return m.end(), {}, f"front matter is not valid YAML{where}: ignored"
    return m.end(), data if isinstance(data, dict) else {}, None


def parse_markdown(text: str, stem: str, fmt: str = "markdown") -> ParsedDocument:
    start, meta, note = front_matter(text)
    raw_title = meta.get("title")
    title = re.sub(r"\s+", " ", str(raw_title)).strip() if raw_title not in (None, "") else None
    sections, h1 = markdown_sections(text, start)
    doc = ParsedDocument(title=title or h1 or stem, text=text, sections=sections, format=fmt)
    if note:
        doc.notes.append(note)
    return doc


def parse_text(text: str, stem: str) -> ParsedDocument:
    sections = [Section(0, len(text))] if text.strip() else []
    return ParsedDocument(title=stem, text=text, sections=sections, format="text")


# ---- HTML -----------------------------------------------------------------------------------------
def parse_html(data: bytes, stem: str) -> ParsedDocument:
    """Main content via trafilatura (navigation, footers and ads dropped), kept as Markdown headings."""
    import trafilatura

    decoded = decode(data)
    html, note = decoded.text, decoded.note
    extracted = trafilatura.extract(
        html, output_format="markdown", include_comments=False, include_tables=True, favor_recall=True
    )
    meta = trafilatura.extract_metadata(html)
    title = (meta.title if meta is not None else None) or stem
    if not extracted:
        extracted = _html_fallback_text(html)
    doc = parse_markdown(extracted or "", title, fmt="html")
    doc.title = title
    doc.metadata["encoding"] = decoded.encoding
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
        decoded = decode(data)
        text = decoded.text
        doc = parse_markdown(text, path.stem) if fmt == "markdown" else parse_text(text, path.stem)
        doc.metadata["encoding"] = decoded.encoding
        if decoded.note:
            doc.notes.append(decoded.note)
    if fmt != by_name and suffix:
        doc.notes.append(f"named {suffix} but holds {fmt}: read as {fmt}")
    return doc
