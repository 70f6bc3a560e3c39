"""The store of an embedded index (retrieval/embedded/store.py): SQLite as the source of truth, consistent after
a crash or a full disk mid-write, and the token streams LTR features read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ragsearch.retrieval.embedded import EmbeddedBackend, EmbeddedIndex
from ragsearch.retrieval.types import Passage
from tests.fulldisk import run_on_full_disk
from tests.retrieval.contract import DOCS, EMB, SPEC, embed

CRASH_SCRIPT = r"""
import os, sys
from pathlib import Path
from ragsearch.retrieval.embedded import EmbeddedBackend
from ragsearch.retrieval.embedded.bm25 import Bm25
from tests.retrieval.contract import DOCS, embed
from ragsearch.retrieval.types import Passage

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
    repo = Path(__file__).resolve().parents[3]
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


DISK_FULL_SCRIPT = r"""
import resource, signal, sys
from pathlib import Path
from ragsearch.retrieval.embedded import EmbeddedBackend
from ragsearch.retrieval.types import Passage
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
    repo = Path(__file__).resolve().parents[3]
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

    from ragsearch.retrieval.analysis import build_analyzer, token_hashes

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


FULL_DISK_READ_SCRIPT = r"""
import json, os, sys
from pathlib import Path
from ragsearch.retrieval.embedded import EmbeddedBackend
from ragsearch.retrieval.types import Passage
from tests.retrieval.contract import EMB, embed

home = Path(sys.argv[1])
assert os.statvfs(home).f_bavail == 0, "the filesystem is not full"
with EmbeddedBackend(home).open("kb") as idx:
    out = {"count": idx.count(), "bm25": [h.id for h in idx.bm25_search("zebra", 5)],
           "dense": idx.vector_search(EMB.embed_queries(["Zebra migration Zebras migrate across the Serengeti every year."])[0], 1)[0].id}
    try:
        idx.upsert(embed([Passage("n1", "Quokka", "Quokkas live on Rottnest Island.")]))
        out["write"] = "written"
    except Exception as exc:
        out["write"] = type(exc).__name__
    out["count_after"] = idx.count()
    (home.parent / "fill").unlink()  # space again: the store goes back to the normal open and writes
    idx._store._retry_at = 0
    idx.upsert(embed([Passage("n1", "Quokka", "Quokkas live on Rottnest Island.")]))
    out["after_space"] = [idx.count(), [h.id for h in idx.bm25_search("quokka", 5)]]
print(json.dumps(out))
"""


def test_an_index_opens_and_serves_reads_on_a_full_disk(tmp_path: Path) -> None:
    """Every write gets ENOSPC (tests/fulldisk.py: a full tmpfs). Opening the store used to fail (SQLite
    cannot size `store.sqlite-shm`: disk I/O error); now reads work, a write is refused, and once there is
    space again the same open index writes."""
    backend = EmbeddedBackend(tmp_path / "src")
    with backend.create("kb", SPEC) as idx:
        idx.upsert(embed(DOCS))
    mnt = tmp_path / "mnt"
    proc = run_on_full_disk(
        tmp_path / "src", mnt, [sys.executable, "-c", FULL_DISK_READ_SCRIPT, str(mnt / "home")]
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["count"] == 5 and out["bm25"][:2] == ["p1", "p2"] and out["dense"] == "p1", out
    assert out["write"] in ("BackendUnavailableError", "OSError") and out["count_after"] == 5, out
    assert out["after_space"] == [6, ["n1"]], out
