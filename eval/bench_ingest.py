"""Ingest throughput against the raw encoder on the same passages.

    python -m eval.bench_ingest [--dataset scifact] [--docs 12] [--per-doc 20] [--json PATH]

Builds a folder of Markdown and text documents from a BEIR corpus (each document holds `--per-doc`
abstracts as sections), cuts it into passages once to get the exact passage texts, then times:
1. the raw encoder: `embed_documents` over those texts, nothing else;
2. `ingest_paths` of the folder into a fresh embedded index: discovery, hashing, parsing, chunking,
   embedding and writing;
3. the raw encoder again (the machine is shared: the two raw runs show the noise).
Reports passages/s of each and ingest as a share of the mean raw rate.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from app.services import make_chunker, make_embedder
from app.settings import load_settings
from ingest.chunking import Chunker
from ingest.documents import build_passages
from ingest.files import discover
from ingest.manifest import Manifest
from ingest.parsers import parse_bytes
from ingest.runner import IngestOptions, ingest_paths
from retrieval.embedded import EmbeddedBackend
from retrieval.embedding import Embedder, passage_text
from retrieval.types import IndexSpec


def write_documents(corpus: Path, folder: Path, docs: int, per_doc: int) -> int:
    """`docs` files (alternately .md with a heading per abstract and .txt), `per_doc` abstracts each."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(corpus, encoding="utf-8") as f:
        records = [json.loads(line) for _, line in zip(range(docs * per_doc), f, strict=False)]
    for d in range(docs):
        group = records[d * per_doc : (d + 1) * per_doc]
        if d % 2 == 0:
            body = "\n\n".join(f"## {r['title']}\n\n{r['text']}" for r in group)
            (folder / f"doc{d:04d}.md").write_text(f"# Collection {d}\n\n{body}\n", encoding="utf-8")
        else:
            body = "\n\n".join(f"{r['title']}\n\n{r['text']}" for r in group)
            (folder / f"doc{d:04d}.txt").write_text(body + "\n", encoding="utf-8")
    return len(records)


def passage_texts(folder: Path, chunker: Chunker) -> list[str]:
    texts = []
    for f in discover([folder]).files:
        doc = parse_bytes(f.path.read_bytes(), f.path)
        texts += [passage_text(p.title, p.text) for p in build_passages(f.doc_id, f.path, doc, chunker)]
    return texts


def time_raw(embedder: Embedder, texts: list[str]) -> float:
    start = time.perf_counter()
    embedder.embed_documents(texts)
    return len(texts) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.bench_ingest", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="scifact")
    parser.add_argument("--docs", type=int, default=12)
    parser.add_argument("--per-doc", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)

    settings = load_settings()
    corpus = Path(settings.data_dir) / args.dataset / "corpus.jsonl"
    if not corpus.is_file():
        sys.stderr.write(
            f"error: {corpus} not found: set RAGSEARCH_DATA_DIR to the folder of BEIR datasets\n"
        )
        return 1
    embedder = make_embedder(settings)
    chunker = make_chunker(embedder, settings)
    embedder.embed_documents(["warm up the model"] * 8)

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        folder = Path(tmp) / "docs"
        abstracts = write_documents(corpus, folder, args.docs, args.per_doc)
        texts = passage_texts(folder, chunker)
        raw_before = time_raw(embedder, texts)

        index = EmbeddedBackend(Path(tmp) / "home").create("bench", IndexSpec(embedder.name, embedder.dim))
        with Manifest(Path(tmp) / "manifest.sqlite") as manifest:
            start = time.perf_counter()
            report = ingest_paths(
                [folder],
                index,
                embedder,
                chunker,
                manifest,
                IngestOptions(batch_size=settings.ingest.batch_size),
            )
            seconds = time.perf_counter() - start
        index.close()
        raw_after = time_raw(embedder, texts)

    if report.passages != len(texts) or report.failed:
        sys.stderr.write(
            f"error: ingest wrote {report.passages} passages, expected {len(texts)}: {report.failed}\n"
        )
        return 1
    ingest_rate = report.passages / seconds
    raw = (raw_before + raw_after) / 2
    result = {
        "dataset": args.dataset,
        "documents": args.docs,
        "abstracts": abstracts,
        "passages": len(texts),
        "model": embedder.name,
        "max_tokens": chunker.max_tokens,
        "ingest_seconds": round(seconds, 2),
        "ingest_passages_per_s": round(ingest_rate, 1),
        "raw_encoder_passages_per_s": [round(raw_before, 1), round(raw_after, 1)],
        "ingest_share_of_raw": round(ingest_rate / raw, 3),
    }
    sys.stdout.write(
        f"{len(texts)} passages from {args.docs} documents ({abstracts} {args.dataset} abstracts), {embedder.name}\n"
        f"raw encoder : {raw_before:.1f} / {raw_after:.1f} passages/s (before / after)\n"
        f"ingest      : {ingest_rate:.1f} passages/s ({seconds:.1f} s: find, hash, parse, chunk, embed, write)\n"
        f"ingest / raw: {ingest_rate / raw:.1%}\n"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
