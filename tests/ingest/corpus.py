"""Generates, at test time, a folder of real documents in every supported format plus the bad inputs."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

SUBJECTS = ["The zebra", "A lighthouse keeper", "The glacier", "Our compiler", "The beekeeper", "A comet"]
VERBS = ["observes", "measures", "repairs", "describes", "protects", "predicts"]
OBJECTS = [
    "the tides",
    "a broken lens",
    "winter storms",
    "memory leaks",
    "the honey harvest",
    "orbital decay",
]
ENDINGS = [
    "every morning",
    "with great care",
    "before dawn",
    "in the archive",
    "despite the wind",
    "for decades",
]


def sentences(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [
        f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(ENDINGS)}."
        for _ in range(n)
    ]


def paragraphs(n: int, seed: int, per: int = 5) -> str:
    return "\n\n".join(" ".join(sentences(per, seed * 1000 + i)) for i in range(n))


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A real PDF with one text page per entry (fpdf2, core font: ASCII text)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    if title:
        pdf.set_title(title)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


def encrypt_pdf(data: bytes, password: str = "secret") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(password, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


GOOD = {
    "guide/install.md": "markdown",
    "guide/usage.markdown": "markdown",
    "notes.txt": "text",
    "web/zebras.html": "html",
    "report.pdf": "pdf",
    "scan-named.txt": "pdf",  # a PDF with a .txt name: read by content
    "latin1.txt": "text",  # not UTF-8: read as Windows-1252, with a warning
}
BAD = {
    "locked.pdf": "encrypted PDF",
    "broken.pdf": "corrupt PDF",
    "photo.txt": "binary file (a PNG image)",
    "blob.txt": "binary file (binary data (NUL bytes))",
}
EMPTY = ["empty.md", "blank.txt"]


def write_corpus(root: Path) -> Path:
    """The folder; GOOD files ingest, BAD fail with the given reason, EMPTY are skipped."""
    (root / "guide").mkdir(parents=True, exist_ok=True)
    (root / "web").mkdir(exist_ok=True)
    (root / "guide" / "install.md").write_text(
        "---\ntitle: Installing Tidewatch\n---\n\n"
        + "Intro paragraph. "
        + paragraphs(2, 1)
        + "\n\n## Linux\n\nThe lighthouse installer uses apt on Debian.\n\n"
        + paragraphs(3, 2)
        + "\n\n### Troubleshooting\n\n"
        + paragraphs(2, 3)
        + "\n\n```bash\n# not a heading\nmake install\n```\n\n## Windows\n\n"
        + paragraphs(2, 4)
    )
    (root / "guide" / "usage.markdown").write_text("# Usage\n\n" + paragraphs(4, 5))
    (root / "notes.txt").write_text(paragraphs(6, 6))
    (root / "web" / "zebras.html").write_text(
        "<!doctype html><html><head><title>Zebra field notes</title></head><body>"
        "<nav><a href='/'>Home</a> | <a href='/about'>About us</a> | <a href='/shop'>Shop</a></nav>"
        "<article><h1>Zebra field notes</h1>"
        + "".join(f"<p>{p}</p>" for p in paragraphs(3, 7).split("\n\n"))
        + "<h2>Stripes</h2><p>Zebra stripes deter biting flies, the field team concluded.</p>"
        + "".join(f"<p>{p}</p>" for p in paragraphs(2, 8).split("\n\n"))
        + "</article><footer>Copyright 2026 Example Corp. Cookie settings.</footer></body></html>"
    )
    (root / "report.pdf").write_bytes(
        make_pdf(
            [paragraphs(2, 9), "The glacier retreated nine metres this year.\n\n" + paragraphs(2, 10)],
            title="Glacier report",
        )
    )
    (root / "scan-named.txt").write_bytes(make_pdf(["The comet returns every seventy six years."]))
    (root / "latin1.txt").write_bytes("Café au lait, crème brûlée and naïve façades.".encode("cp1252"))
    (root / "locked.pdf").write_bytes(encrypt_pdf(make_pdf(["top secret glacier data"])))
    (root / "broken.pdf").write_bytes(make_pdf(["half a file"])[:300])
    (root / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (root / "blob.txt").write_bytes(b"abc\x00\x01\x02" * 100)
    (root / "empty.md").write_bytes(b"")
    (root / "blank.txt").write_text("  \n\n  \n")
    (root / ".hidden.md").write_text("# Hidden\n\nnever ingested")
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return root


def write_jsonl(path: Path, records: list[dict[str, str]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path
