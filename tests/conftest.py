from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from retrieval.embedding import SentenceTransformerEmbedder
from tests.fakes import FakeHashEmbedder

REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    return Path(os.environ.get("RAGSEARCH_DATA_DIR", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = data_dir()
    if not (d / "scifact" / "corpus.jsonl").is_file():
        pytest.fail(f"the judged data is missing: expected {d}/scifact (set RAGSEARCH_DATA_DIR)")
    return d


def make_slice(src: Path, dest: Path, n_queries: int, n_extra_docs: int, split: str = "test") -> Path:
    """A small BEIR folder: the first judged queries of a split, their relevant docs, plus other docs."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "qrels").mkdir(exist_ok=True)
    lines = (src / "qrels" / f"{split}.tsv").read_text().splitlines()
    header, rows = lines[0], [r.split("\t") for r in lines[1:]]
    qids = list(dict.fromkeys(r[0] for r in rows))[:n_queries]
    keep_rows = [r for r in rows if r[0] in qids]
    (dest / "qrels" / f"{split}.tsv").write_text(
        header + "\n" + "\n".join("\t".join(r) for r in keep_rows) + "\n"
    )
    wanted = {r[1] for r in keep_rows}
    corpus = (src / "corpus.jsonl").read_text().splitlines()
    rng = random.Random(13)
    others = [ln for ln in corpus if json.loads(ln)["_id"] not in wanted]
    picked = [ln for ln in corpus if json.loads(ln)["_id"] in wanted] + rng.sample(others, n_extra_docs)
    rng.shuffle(picked)
    (dest / "corpus.jsonl").write_text("\n".join(picked) + "\n")
    queries = [ln for ln in (src / "queries.jsonl").read_text().splitlines() if json.loads(ln)["_id"] in qids]
    (dest / "queries.jsonl").write_text("\n".join(queries) + "\n")
    return dest


@pytest.fixture(scope="session")
def scifact_slice(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SciFact, 40 test queries, their ~45 relevant abstracts and 215 others (real data, small)."""
    return make_slice(shared_data / "scifact", tmp_path_factory.mktemp("data") / "scifact", 40, 215)


@pytest.fixture(scope="session")
def real_embedder() -> SentenceTransformerEmbedder:
    """The real packaged all-MiniLM-L6-v2."""
    return SentenceTransformerEmbedder("all-MiniLM-L6-v2")


@pytest.fixture()
def fake_embedder() -> FakeHashEmbedder:
    return FakeHashEmbedder()


@pytest.fixture(scope="session")
def scifact_index(
    scifact_slice: Path, real_embedder: SentenceTransformerEmbedder, tmp_path_factory: pytest.TempPathFactory
):  # type: ignore[no-untyped-def]
    """An embedded index of the SciFact slice built with the real model (opened once per session)."""
    from ingest.pipeline import ingest_records
    from ingest.readers import read_source
    from retrieval.embedded import EmbeddedBackend
    from retrieval.types import IndexSpec

    backend = EmbeddedBackend(tmp_path_factory.mktemp("idx"))
    idx = backend.create("sf", IndexSpec(real_embedder.name, real_embedder.dim))
    ingest_records(read_source(scifact_slice), idx, real_embedder)
    yield idx
    idx.close()
