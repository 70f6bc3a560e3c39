"""Ingest throughput against the raw encoder on the same passages.

    python -m bench.ingest [--dataset scifact] [--docs 6] [--per-doc 20] [--rounds 2] [--json PATH]

Builds a folder of Markdown and text documents from a BEIR corpus (each document holds `--per-doc`
abstracts as sections), cuts it into passages once to get the exact passage texts, then alternates
`--rounds` times:
1. the raw encoder: `embed_documents` over those texts, nothing else;
2. `ingest_paths` of the folder into a fresh embedded index: discovery, hashing, parsing, chunking,
   embedding and writing;
and ends with one more raw run. Reports passages/s of each by wall clock and by this process's CPU time
(steadier when other processes share the cores), and ingest as a share of raw for both (medians).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ragsearch.app.services import make_chunker, make_embedder
from ragsearch.app.settings import load_settings
from ragsearch.ingest.chunking import Chunker
from ragsearch.ingest.documents import build_passages
from ragsearch.ingest.files import discover
from ragsearch.ingest.manifest import Manifest
from ragsearch.ingest.parsers import parse_bytes
from ragsearch.ingest.runner import IngestOptions, ingest_paths
from ragsearch.retrieval.embedded import EmbeddedBackend
from ragsearch.retrieval.embedding import Embedder, passage_text
from ragsearch.retrieval.types import IndexSpec


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


class Timer:
    """Wall-clock and process CPU seconds of a block."""

    passages = 0

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def time_raw(embedder: Embedder, texts: list[str]) -> Timer:
    with Timer() as t:
        embedder.embed_documents(texts)
    return t


def time_ingest(folder: Path, work: Path, embedder: Embedder, chunker: Chunker, batch_size: int) -> Timer:
    index = EmbeddedBackend(work / "home").create("bench", IndexSpec(embedder.name, embedder.dim))
    with Manifest(work / "manifest.sqlite") as manifest, Timer() as t:
        report = ingest_paths(
            [folder], index, embedder, chunker, manifest, IngestOptions(batch_size=batch_size)
        )
    index.close()
    if report.failed or report.added != len(discover([folder]).files):
        raise SystemExit(f"error: the benchmark ingest failed: {report.to_dict()}")
    t.passages = report.passages
    return t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="scifact")
    parser.add_argument("--docs", type=int, default=6)
    parser.add_argument("--per-doc", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2, help="raw/ingest pairs (alternated)")
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

    raws: list[Timer] = []
    ingests: list[Timer] = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        folder = Path(tmp) / "docs"
        abstracts = write_documents(corpus, folder, args.docs, args.per_doc)
        texts = passage_texts(folder, chunker)
        for r in range(args.rounds):
            raws.append(time_raw(embedder, texts))
            ingests.append(
                time_ingest(folder, Path(tmp) / f"round{r}", embedder, chunker, settings.ingest.batch_size)
            )
            if ingests[-1].passages != len(texts):
                sys.stderr.write(
                    f"error: ingest wrote {ingests[-1].passages} passages, expected {len(texts)}\n"
                )
                return 1
        raws.append(time_raw(embedder, texts))

    n = len(texts)
    raw_wall = [n / t.wall for t in raws]
    raw_cpu = [n / t.cpu for t in raws]
    ing_wall = [n / t.wall for t in ingests]
    ing_cpu = [n / t.cpu for t in ingests]
    share_wall = statistics.median(ing_wall) / statistics.median(raw_wall)
    share_cpu = statistics.median(ing_cpu) / statistics.median(raw_cpu)
    result = {
        "dataset": args.dataset,
        "documents": args.docs,
        "abstracts": abstracts,
        "passages": n,
        "model": embedder.name,
        "max_tokens": chunker.max_tokens,
        "raw_passages_per_s": [round(x, 1) for x in raw_wall],
        "ingest_passages_per_s": [round(x, 1) for x in ing_wall],
        "raw_passages_per_cpu_s": [round(x, 2) for x in raw_cpu],
        "ingest_passages_per_cpu_s": [round(x, 2) for x in ing_cpu],
        "ingest_share_of_raw_wall": round(share_wall, 3),
        "ingest_share_of_raw_cpu": round(share_cpu, 3),
    }

    def fmt(xs: list[float]) -> str:
        return " / ".join(f"{x:.1f}" for x in xs)

    sys.stdout.write(
        f"{n} passages from {args.docs} documents ({abstracts} {args.dataset} abstracts), {embedder.name}, "
        f"{args.rounds} rounds\n"
        f"raw encoder passages/s      : {fmt(raw_wall)}   per CPU-second: {fmt(raw_cpu)}\n"
        f"ingest passages/s           : {fmt(ing_wall)}   per CPU-second: {fmt(ing_cpu)}\n"
        f"ingest / raw (medians)      : {share_wall:.1%} wall clock, {share_cpu:.1%} CPU time\n"
        "(ingest = find, hash, parse, chunk, embed and write into a fresh embedded index)\n"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
