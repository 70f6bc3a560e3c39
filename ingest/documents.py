"""From a parsed document to passages: ids, titles, and the metadata that lets an answer cite its place."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ragsearch.ingest.chunking import Chunker
from ragsearch.ingest.parsers import PARSER_VERSION, ParsedDocument
from ragsearch.retrieval.types import Passage

HASH_BLOCK = 1 << 20


def passage_id(doc_id: str, position: int) -> str:
    """Passage ids follow from the document id and the passage's position in it."""
    return f"{doc_id}#{position}"


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(HASH_BLOCK):
            h.update(block)
    return h.hexdigest()


def document_hash(content_sha256: str, chunker_signature: str) -> str:
    """Equal hash, equal passages: the file's bytes, how they are parsed and how they are cut."""
    payload = f"parser-{PARSER_VERSION}\0{chunker_signature}\0{content_sha256}"
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def heading_title(title: str, headings: tuple[str, ...]) -> str:
    """`Document title > Section > Subsection` (a first heading equal to the title is not repeated)."""
    parts = [title] if title else []
    for h in headings:
        if h and (not parts or h != parts[-1]):
            parts.append(h)
    return " > ".join(parts)


def build_passages(doc_id: str, source: Path, doc: ParsedDocument, chunker: Chunker) -> list[Passage]:
    """The document's passages in reading order. Metadata: source, format, position, char_start/char_end
    (offsets into the extracted text), headings and page where known, the document title, and the
    parser's document metadata (`pages` of a PDF)."""
    passages: list[Passage] = []
    titles: dict[str, tuple[str, int]] = {}
    for section in doc.sections:
        full_title = heading_title(doc.title, section.headings)
        if full_title not in titles:
            titles[full_title] = chunker.fit_title(full_title)
        title, title_tokens = titles[full_title]
        for start, end in chunker.split(doc.text, section.start, section.end, title_tokens):
            position = len(passages)
            meta: dict[str, object] = {
                "source": str(source),
                "format": doc.format,
                "position": position,
                "char_start": start,
                "char_end": end,
                "doc_title": doc.title,
                **doc.metadata,
            }
            if section.headings:
                meta["headings"] = list(section.headings)
            if section.page is not None:
                meta["page"] = section.page
            passages.append(
                Passage(
                    id=passage_id(doc_id, position),
                    doc_id=doc_id,
                    title=title,
                    text=doc.text[start:end],
                    metadata=meta,
                )
            )
    return passages
