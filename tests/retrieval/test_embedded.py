"""The embedded backend: the index contract, plus persistence, recovery and locking."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from retrieval.embedded import EmbeddedBackend, EmbeddedIndex
from retrieval.errors import IndexExistsError, IndexNotFoundError, InvalidInputError
from retrieval.index import SearchIndex
from retrieval.types import IndexSpec, Passage
from tests.retrieval.contract import DOCS, EMB, SPEC, IndexContract, embed


def index_maker(tmp_path: Path, vector_index: str) -> Iterator[Callable[[IndexSpec], SearchIndex]]:
    """The contract's `make_index` for one vector search setting; closes what it made."""
    backend = EmbeddedBackend(tmp_path, vector_index=vector_index)
    made: list[EmbeddedIndex] = []

    def make(spec: IndexSpec) -> SearchIndex:
        idx = backend.create(f"c{len(made)}", spec)
        made.append(idx)
        return idx

    yield make
    for idx in made:
        idx.close()


class TestEmbeddedContract(IndexContract):
    @pytest.fixture()
    def make_index(self, tmp_path: Path) -> Iterator[Callable[[IndexSpec], SearchIndex]]:
        yield from index_maker(tmp_path, "exact")


class TestEmbeddedHnswContract(IndexContract):
    """The same contract with approximate (HNSW) vector search forced on."""

    @pytest.fixture()
    def make_index(self, tmp_path: Path) -> Iterator[Callable[[IndexSpec], SearchIndex]]:
        yield from index_maker(tmp_path, "hnsw")

    def test_vector_search_is_exact_cosine(self, index: SearchIndex) -> None:
        # HNSW stores half-precision vectors: cosines to ~1e-3, and tied cosines may come in any order
        q = EMB.embed_queries(["coffee beans pressure"])[0]
        hits = index.vector_search(q, 5)
        mat = EMB.embed_documents([f"{p.title} {p.text}" for p in DOCS])
        exact = {p.id: float(s) for p, s in zip(DOCS, mat @ q, strict=True)}
        assert {h.id for h in hits} == set(exact)
        assert [h.score for h in hits] == pytest.approx(sorted(exact.values(), reverse=True), abs=2e-3)
        assert all(h.score == pytest.approx(exact[h.id], abs=2e-3) for h in hits)


@pytest.mark.parametrize(("kind", "suffix"), [("hnsw", "usearch"), ("ivf", "faiss")])
def test_ann_survives_reopen_and_follows_writes(tmp_path: Path, kind: str, suffix: str) -> None:
    backend = EmbeddedBackend(tmp_path, vector_index=kind)
    q = EMB.embed_queries(["Quokka Quokkas live on Rottnest Island."])[0]
    with backend.create("kb", SPEC) as idx:
        idx.upsert(embed(DOCS))
        assert idx.vector_search(q, 1)[0].id != "n1"
    assert list(tmp_path.glob(f"indexes/kb/ann-*.{suffix}"))  # saved on close
    with backend.open("kb") as idx:
        idx.upsert(embed([Passage("n1", "Quokka", "Quokkas live on Rottnest Island.")]))
        assert idx.vector_search(q, 1)[0].id == "n1"
        idx.delete(["n1"])
        assert "n1" not in {h.id for h in idx.vector_search(q, 10)}
        assert len(idx.vector_search(q, 10)) == 5


class TestEmbeddedIvfContract(TestEmbeddedHnswContract):
    """The same contract with IVF (faiss) vector search forced on; scores are exact within probed cells."""

    @pytest.fixture()
    def make_index(self, tmp_path: Path) -> Iterator[Callable[[IndexSpec], SearchIndex]]:
        yield from index_maker(tmp_path, "ivf")


def test_reopen_after_restart_keeps_everything(tmp_path: Path) -> None:
    backend = EmbeddedBackend(tmp_path)
    with backend.create("kb", SPEC) as idx:
        idx.upsert(embed(DOCS))
        idx.delete(["p2"])
        before_bm25 = idx.bm25_search("zebra migration coffee", 10)
        before_vec = idx.vector_search(EMB.embed_queries(["coffee"])[0], 10)
    with backend.open("kb") as idx:
        assert idx.count() == 4
        assert idx.bm25_search("zebra migration coffee", 10) == before_bm25
        assert idx.vector_search(EMB.embed_queries(["coffee"])[0], 10) == before_vec
        idx.upsert(embed([Passage("p6", "Tea", "Tea is not coffee.")]))
        assert idx.count() == 5
    assert backend.list() == ["kb"]


def test_backend_errors_name_the_fix(tmp_path: Path) -> None:
    backend = EmbeddedBackend(tmp_path)
    with pytest.raises(IndexNotFoundError, match="ragsearch ingest"):
        backend.open("nothing")
    backend.create("kb", SPEC).close()
    with pytest.raises(IndexExistsError):
        backend.create("kb", SPEC)
    with pytest.raises(InvalidInputError, match="invalid index name"):
        backend.open("../etc")


CRASH_SCRIPT = r"""
import os, sys
from pathlib import Path
from retrieval.embedded import EmbeddedBackend
from retrieval.embedded.bm25 import Bm25
from tests.retrieval.contract import DOCS, embed
from retrieval.types import Passage

stage = sys.argv[2]
idx = EmbeddedBackend(Path(sys.argv[1])).open("kb")
if stage == "before-sql":
    # die after the vectors were appended, before the passages were committed
    real = idx._store.db.execute
    def boom(sql, *a):
        if sql.startswith("BEGIN IMMEDIATE"):
            os._exit(9)
        return real(sql, *a)
    idx._store.db = type("DB", (), {"execute": staticmethod(boom), "executemany": idx._store.db.executemany})()
else:
    # die after the passages were committed, before tantivy saw them
    Bm25.apply = lambda *a, **k: os._exit(9)
new = [Passage("n1", "Quokka", "Quokkas live on Rottnest Island."), Passage("p1", "Zebra", "Replaced zebra text.")]
idx.upsert(embed(new))
"""


@pytest.mark.parametrize("stage", ["before-sql", "before-bm25"])
def test_crash_mid_write_recovers_consistently(tmp_path: Path, stage: str) -> None:
    backend = EmbeddedBackend(tmp_path)
    with backend.create("kb", SPEC) as idx:
        idx.upsert(embed(DOCS))
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(tmp_path), stage], cwd=repo, capture_output=True
    )
    assert proc.returncode == 9, proc.stderr.decode()
    with backend.open("kb") as idx:
        if stage == "before-sql":
            assert idx.count() == 5
            assert idx.get(["n1"]) == []
            assert idx.bm25_search("quokka", 5) == []
            # the uncommitted rows stay, dead: truncating could kill a process that mapped them
            assert idx.describe()["vector_rows"] == 7
            assert idx.describe()["dead_vector_rows"] == 2
            assert idx.check().consistent
        else:
            assert idx.count() == 6
            assert [h.id for h in idx.bm25_search("quokka rottnest", 5)] == ["n1"]
            assert [h.id for h in idx.bm25_search("replaced", 5)] == ["p1"]
            assert idx.bm25_search("serengeti", 5) == []
            top = idx.vector_search(EMB.embed_queries(["Quokka Quokkas live on Rottnest Island."])[0], 1)
            assert top[0].id == "n1"
        # BM25 and vectors agree on what exists
        everything = {
            h.id for h in idx.bm25_search(" ".join(f"{p.title} {p.text}" for p in DOCS) + " quokka", 50)
        }
        assert everything <= {p.id for p in idx.get([*everything])}
        assert {h.id for h in idx.vector_search(EMB.embed_queries(["x"])[0], 50)} == set(
            json.loads(json.dumps([p.id for p in idx.get(["p1", "p2", "p3", "p4", "p5", "n1"])]))
        )


def test_compact_frees_dead_rows_and_keeps_results(tmp_path: Path) -> None:
    with EmbeddedBackend(tmp_path).create("kb", SPEC) as idx:
        idx.upsert(embed(DOCS))
        idx.upsert(embed(DOCS[:2]))
        idx.delete(["p5"])
        q = EMB.embed_queries(["zebra coffee"])[0]
        before = idx.vector_search(q, 10)
        assert idx.compact() == 3
        assert idx.describe()["vector_rows"] == 4
        assert idx.vector_search(q, 10) == before
    with EmbeddedBackend(tmp_path).open("kb") as idx:
        assert idx.vector_search(q, 10) == before


DISK_FULL_SCRIPT = r"""
import resource, signal, sys
from pathlib import Path
from retrieval.embedded import EmbeddedBackend
from retrieval.types import Passage
from tests.retrieval.contract import embed

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
idx = EmbeddedBackend(Path(sys.argv[1])).open("kb")
limit = (idx.path / "vectors-0.f32").stat().st_size + 1000  # room for a few rows, not for the batch
hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
try:
    idx.upsert(embed([Passage(f"n{i}", "Quokka", f"Quokka number {i}.") for i in range(200)]))
except OSError as exc:
    print("OSError", exc.errno)
    # the same process keeps working once space is back
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    idx.upsert(embed([Passage("after", "Numbat", "A numbat after the fault.")]))
    print("count", idx.count())
"""


def test_disk_full_during_ingest_loses_nothing(tmp_path: Path) -> None:
    backend = EmbeddedBackend(tmp_path)
    with backend.create("kb", SPEC) as idx:
        idx.upsert(embed(DOCS))
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", DISK_FULL_SCRIPT, str(tmp_path)], cwd=repo, capture_output=True, text=True
    )
    assert "OSError 27" in proc.stdout, (
        proc.stdout + proc.stderr
    )  # EFBIG: the file size limit stands in for a full disk
    assert "count 6" in proc.stdout
    with backend.open("kb") as idx:
        assert idx.count() == 6
        assert idx.get(["n0"]) == []
        assert [h.id for h in idx.bm25_search("numbat", 5)] == ["after"]
        assert (
            idx.vector_search(EMB.embed_queries(["Numbat A numbat after the fault."])[0], 1)[0].id == "after"
        )
        assert {p.id for p in idx.get([d.id for d in DOCS])} == {d.id for d in DOCS}


def test_token_streams_follow_writes_and_upgrade_old_indexes(tmp_path: Path) -> None:
    """The forward index LTR features read: each passage's analyzed tokens, kept with every write, and
    filled in once for an index written before it existed."""
    import sqlite3

    from retrieval.analysis import build_analyzer, token_hashes

    analyzer = build_analyzer(SPEC.analyzer)

    def expected(p: Passage) -> tuple[list[int], list[int]]:
        return (
            token_hashes(analyzer.analyze(p.title)).tolist(),
            token_hashes(analyzer.analyze(p.text)).tolist(),
        )

    def stored(idx: EmbeddedIndex) -> dict[str, tuple[list[int], list[int]]]:
        return {
            k: (a.tolist(), b.tolist())
            for k, (a, b) in idx.token_streams([p.id for p in DOCS] + ["p6"]).items()
        }

    backend = EmbeddedBackend(tmp_path)
    with backend.create("kb", SPEC) as idx:
        idx.upsert(embed(DOCS))
        idx.delete(["p2"])
        changed = Passage("p1", "Zebra stripes", "Stripes confuse flies.")
        idx.upsert(embed([changed]))
        assert stored(idx) == {p.id: expected(p) for p in [changed, *DOCS[2:]]}
    db = sqlite3.connect(tmp_path / "indexes" / "kb" / "store.sqlite")
    db.execute("DROP TABLE tokens")  # as an index written before token streams existed
    db.commit()
    db.close()
    with backend.open("kb") as idx:
        assert stored(idx) == {p.id: expected(p) for p in [changed, *DOCS[2:]]}


def test_lightgbm_still_trains_after_the_hnsw_module_loads() -> None:
    """usearch loaded before LightGBM broke LightGBM's dataset construction in the same process."""
    code = (
        "import retrieval.embedded, numpy as np, lightgbm as lgb  # loads usearch and faiss first\n"
        "x = np.random.default_rng(0).random((200, 5))\n"
        "d = lgb.Dataset(x, label=(x[:, 0] > 0.5).astype(int), group=[20] * 10, feature_name=list('abcde'))\n"
        "lgb.train({'objective': 'lambdarank', 'verbosity': -1}, d, num_boost_round=2)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
