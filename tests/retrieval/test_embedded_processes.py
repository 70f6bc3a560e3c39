"""Several processes on one embedded index: a serving process (`index_worker`, a real separate process)
while others read, write, compact, crash or hold the lock; and lost files found by check() and fixed by
repair(). Vectors come from the FAKE hash embedder, except in the tests marked slow (real model, SciFact)."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragsearch.ingest.pipeline import ingest_records
from ragsearch.ingest.readers import read_source
from ragsearch.retrieval.embedded import EmbeddedBackend, EmbeddedIndex
from ragsearch.retrieval.embedding import SentenceTransformerEmbedder, passage_text
from ragsearch.retrieval.errors import IndexCorruptError, IndexLockedError
from ragsearch.retrieval.types import EmbeddedPassage, IndexSpec, Passage
from tests.retrieval.contract import DOCS, EMB, SPEC, embed

REPO = Path(__file__).resolve().parents[2]


def made(start: int, stop: int) -> list[Passage]:
    """Passages whose words no other passage has: each is its own top hit for its own text."""
    return [
        Passage(f"b{i}", f"Topic q{i}z", " ".join(f"w{i}x{j}" for j in range(6)), f"d{i}")
        for i in range(start, stop)
    ]


def rows(ps: list[Passage]) -> list[list[str]]:
    return [[p.id, p.title, p.text, p.doc_id] for p in ps]


class Worker:
    """Drives one `tests.retrieval.index_worker` process."""

    def __init__(self, home: Path, *args: str) -> None:
        self.stderr = open(home / f"worker-{id(self)}.err", "w+")  # noqa: SIM115
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.retrieval.index_worker", str(home), "kb", *args],
            cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True,
        )  # fmt: skip
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.pid = self.read()["ok"]

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("@@ "):
                self._lines.put(line[3:])
        self._lines.put(None)

    def read(self, timeout: float = 120) -> dict[str, Any]:
        line = self._lines.get(timeout=timeout)
        if line is None:
            self.proc.wait(10)
            self.stderr.seek(0)
            raise RuntimeError(f"worker exited {self.proc.returncode}: {self.stderr.read()[-3000:]}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def send(self, op: str, **kw: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **kw}) + "\n")
        self.proc.stdin.flush()

    def ask(self, op: str, timeout: float = 120, **kw: Any) -> dict[str, Any]:
        self.send(op, **kw)
        return self.read(timeout)

    def call(self, op: str, timeout: float = 120, **kw: Any) -> Any:
        answer = self.ask(op, timeout, **kw)
        assert "ok" in answer, answer
        return answer["ok"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.send("quit")
            self.proc.wait(60)
        self.stderr.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None and self.proc.poll() is None:
            self.proc.kill()
        self.close()


def create(home: Path) -> None:
    with EmbeddedBackend(home).create("kb", SPEC) as idx:
        idx.upsert(embed(DOCS))


def audit(index: EmbeddedIndex, ps: list[Passage]) -> list[str]:
    """In this process: each passage its own top dense hit and top BM25 hit for its own text."""
    out = []
    for p in ps:
        text = f"{p.title} {p.text}"
        if [h.id for h in index.vector_search(EMB.embed_queries([text])[0], 1)] != [p.id]:
            out.append(f"{p.id} dense")
        if p.id not in [h.id for h in index.bm25_search(text, 3)]:
            out.append(f"{p.id} bm25")
    return out


@pytest.mark.parametrize("vector_index", ["exact", "hnsw"])
def test_a_second_process_reads_writes_and_compacts_under_a_serving_one(
    tmp_path: Path, vector_index: str
) -> None:
    create(tmp_path)
    with Worker(tmp_path, "--vector-index", vector_index) as server:
        server.call("upsert", passages=rows(made(0, 1)))
        server.call("delete", ids=["b0"])  # the audit's add+delete, then another process only searches
        with EmbeddedBackend(tmp_path, vector_index).open("kb") as other:
            assert [h.id for h in other.bm25_search("zebra migration", 1)] == ["p1"]
        assert (
            server.call("upsert", passages=rows(made(1, 2))) == 6
        )  # was IntegrityError: UNIQUE passages.slot
        with EmbeddedBackend(tmp_path, vector_index).open("kb") as other:
            other.upsert(embed(made(2, 12)))
            assert other.delete(["b3"]) == 1
            assert other.compact() > 0
        expected = [*DOCS, *(p for p in made(1, 12) if p.id != "b3")]
        # the server sees the other process's writes and its compaction without reopening
        assert server.call("count") == len(expected)
        assert server.call("bm25", q="w7x1 w7x2", k=1) == ["b7"]
        assert server.call("dense", q="Topic q7z " + made(7, 8)[0].text, k=1) == ["b7"]
        assert "b3" not in server.call("bm25", q="w3x1 w3x2")
        assert server.call("upsert", passages=rows(made(12, 13))) == len(expected) + 1
        expected += made(12, 13)
        assert server.call("audit", passages=rows(expected)) == []
        assert server.call("check")["consistent"]
    with EmbeddedBackend(tmp_path).open("kb") as idx:
        assert audit(idx, expected) == []
        assert idx.check().consistent


def test_two_processes_writing_at_once_never_share_a_slot(tmp_path: Path) -> None:
    create(tmp_path)
    with Worker(tmp_path) as a, Worker(tmp_path) as b:
        a.send("upsert_batches", passages=rows(made(0, 60)), size=3)
        b.send("upsert_batches", passages=rows(made(100, 160)), size=2)
        assert a.read()["ok"] >= 65 and b.read()["ok"] >= 65
        expected = [*DOCS, *made(0, 60), *made(100, 160)]
        assert a.call("count") == b.call("count") == len(expected)
        assert a.call("audit", passages=rows(expected)) == []
        assert b.call("audit", passages=rows(expected)) == []
        check = b.call("check")
        assert check["consistent"] and check["dead_vector_rows"] == 0


def test_dead_tail_rows_are_left_alone_and_the_server_keeps_searching(tmp_path: Path) -> None:
    """With 200 dead rows at the end of the vector file, another process used to truncate it under the
    server's memory map: the server's next dense search died with SIGBUS."""
    create(tmp_path)
    with Worker(tmp_path) as server:
        server.call("upsert", passages=rows(made(0, 200)))
        server.call("delete", ids=[p.id for p in made(0, 200)])
        assert server.call("dense", q="w5x1", k=300)  # maps all 205 rows
        with EmbeddedBackend(tmp_path).open("kb") as other:
            assert other.describe()["dead_vector_rows"] == 200
            assert other.describe()["vector_rows"] == 205  # not truncated
            other.upsert(embed(made(300, 301)))
        assert server.call("dense", q="Topic q300z " + made(300, 301)[0].text, k=1) == ["b300"]
        with EmbeddedBackend(tmp_path).open("kb") as other:
            assert other.compact() == 200
        assert server.call("audit", passages=rows([*DOCS, *made(300, 301)])) == []
        assert server.call("check")["dead_vector_rows"] == 0
    assert len(list((tmp_path / "indexes" / "kb").glob("vectors-*.f32"))) == 1


def test_lock_wait_is_bounded_and_names_the_holder(tmp_path: Path) -> None:
    create(tmp_path)
    with Worker(tmp_path) as holder:
        holder.send("hold_lock", seconds=3)
        assert holder.read()["ok"] == "locked"
        impatient = EmbeddedBackend(tmp_path, lock_timeout_s=0.3).open("kb")
        with pytest.raises(IndexLockedError, match=f"being written by process {holder.pid}"):
            impatient.upsert(embed(made(0, 1)))
        assert impatient.count() == 5  # reads go on while another process writes
        impatient.close()
        with EmbeddedBackend(tmp_path, lock_timeout_s=20).open("kb") as patient:
            patient.upsert(embed(made(0, 1)))  # waits for the holder, then writes
            assert patient.count() == 6
        assert holder.read()["ok"] == "released"
        assert holder.call("count") == 6


def test_writer_killed_between_append_and_commit(tmp_path: Path) -> None:
    create(tmp_path)
    with Worker(tmp_path) as server, Worker(tmp_path) as doomed:
        doomed.send("die_after_append", passages=rows(made(0, 3)))
        with pytest.raises(RuntimeError, match="worker exited -9"):
            doomed.read()
        with EmbeddedBackend(tmp_path, lock_timeout_s=5).open("kb") as other:
            assert other.count() == 5
            assert other.describe()["dead_vector_rows"] == 3
            other.upsert(embed(made(10, 12)))  # writes after the dead rows, lock free again
        expected = [*DOCS, *made(10, 12)]
        assert server.call("audit", passages=rows(expected)) == []
        assert server.call("bm25", q="w0x1 w1x1 w2x1") == []
        check = server.call("check")
        assert check["consistent"] and check["dead_vector_rows"] == 3


def test_lost_bm25_folder_is_detected_and_rebuilt(tmp_path: Path) -> None:
    create(tmp_path)
    shutil.rmtree(tmp_path / "indexes" / "kb" / "bm25")
    with EmbeddedBackend(tmp_path).open("kb") as idx:
        assert not (tmp_path / "indexes" / "kb" / "bm25").exists()  # not recreated empty
        check = idx.check()
        assert not check.consistent and check.passages == 5 and check.bm25_docs == 0
        assert "BM25 index (bm25/) is missing" in check.problems[0]
        with pytest.raises(IndexCorruptError, match="ragsearch indexes repair kb"):
            idx.bm25_search("zebra", 5)
        with pytest.raises(IndexCorruptError):
            idx.upsert(embed(made(0, 1)))
        assert [h.id for h in idx.vector_search(EMB.embed_queries(["Espresso coffee"])[0], 1)] == ["p4"]
        report = idx.repair(EMB)
        assert report.bm25_rebuilt and report.after.consistent and report.reembedded == 0
        assert audit(idx, DOCS) == []
    with EmbeddedBackend(tmp_path).open("kb") as idx:
        assert idx.check().consistent and audit(idx, DOCS) == []


def test_lost_vector_file_is_detected_and_reembedded(tmp_path: Path) -> None:
    create(tmp_path)
    (tmp_path / "indexes" / "kb" / "vectors-0.f32").unlink()
    with EmbeddedBackend(tmp_path).open("kb") as idx:
        assert not (tmp_path / "indexes" / "kb" / "vectors-0.f32").exists()  # not touched into existence
        check = idx.check()
        assert not check.consistent
        assert (check.vector_rows_needed, check.vector_rows_present) == (5, 0)
        with pytest.raises(IndexCorruptError, match=r"vectors-0\.f32 is missing"):
            idx.vector_search(EMB.embed_queries(["coffee"])[0], 5)
        assert [h.id for h in idx.bm25_search("espresso", 1)] == ["p4"]
        report = idx.repair(EMB)
        assert report.reembedded == 5 and report.after.consistent
        assert audit(idx, DOCS) == []


def test_store_deleted_while_serving_is_refused_then_written_back(tmp_path: Path) -> None:
    create(tmp_path)
    store = tmp_path / "indexes" / "kb" / "store.sqlite"
    with Worker(tmp_path) as server:
        assert server.call("count") == 5
        store.unlink()
        answer = server.ask("upsert", passages=rows(made(0, 1)))
        assert answer["error"] == "IndexCorruptError" and "store.sqlite was deleted" in answer["message"]
        assert not store.exists()  # no new, empty store
        assert server.call("dense", q="Espresso coffee", k=1) == ["p4"]  # reads go on from the open copy
        assert "store.sqlite was deleted" in server.call("check")["problems"][0]
        report = server.call("repair")
        assert report["store_restored"] and report["after"]["consistent"]
        server.call("upsert", passages=rows(made(0, 1)))
    with EmbeddedBackend(tmp_path).open("kb") as idx:
        assert idx.check().consistent
        assert audit(idx, [*DOCS, *made(0, 1)]) == []


# ---- the real model on a SciFact slice ------------------------------------------------------------
@pytest.fixture(scope="session")
def scifact_home(
    scifact_slice: Path, real_embedder: SentenceTransformerEmbedder, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[Passage]]:
    """An embedded index `kb` of the SciFact slice (real all-MiniLM-L6-v2 vectors), built once; tests copy it."""
    records = [r for r in read_source(scifact_slice) if isinstance(r, Passage)]
    home = tmp_path_factory.mktemp("scifact-home")
    with EmbeddedBackend(home).create("kb", IndexSpec(real_embedder.name, real_embedder.dim)) as idx:
        ingest_records(records, idx, real_embedder)
    return home, records


def copied(scifact_home: tuple[Path, list[Passage]], tmp_path: Path) -> tuple[Path, list[Passage]]:
    shutil.copytree(scifact_home[0], tmp_path / "home")
    return tmp_path / "home", scifact_home[1]


def real_audit(index: EmbeddedIndex, embedder: SentenceTransformerEmbedder, ps: list[Passage]) -> list[str]:
    out = []
    texts = [passage_text(p.title, p.text) for p in ps]
    for p, text, q in zip(ps, texts, embedder.embed_queries(texts), strict=True):
        if [h.id for h in index.vector_search(q, 1)] != [p.id]:
            out.append(f"{p.id} dense")
        if p.id not in [h.id for h in index.bm25_search(text, 3)]:
            out.append(f"{p.id} bm25")
    return out


@pytest.mark.slow
def test_scifact_one_process_writes_while_another_searches(
    scifact_home: tuple[Path, list[Passage]],
    shared_data: Path,
    real_embedder: SentenceTransformerEmbedder,
    tmp_path: Path,
) -> None:
    home, ps = copied(scifact_home, tmp_path)
    have = {p.id for p in ps}
    extra = [r for r in read_source(shared_data / "scifact") if isinstance(r, Passage) and r.id not in have][
        :40
    ]
    gone = [p.id for p in ps[:20]]
    stop = tmp_path / "stop"
    with Worker(home, "--real") as reader:
        reader.send(
            "search_loop",
            texts=[passage_text(p.title, p.text) for p in ps[:60]],
            seconds=300,
            until=str(stop),
        )
        assert reader.read()["ok"] == "searching"
        with EmbeddedBackend(home).open("kb") as writer:
            for i in range(0, len(extra), 10):
                part = extra[i : i + 10]
                vecs = real_embedder.embed_documents([passage_text(p.title, p.text) for p in part])
                writer.upsert(
                    [EmbeddedPassage(p, v, p.content_hash()) for p, v in zip(part, vecs, strict=True)]
                )
                assert writer.delete(gone[i // 2 : i // 2 + 5]) == 5
        stop.touch()
        loop = reader.read(timeout=300)["ok"]
        assert loop["errors"] == [] and loop["searches"] > 10
        expected = [p for p in ps if p.id not in set(gone)] + extra
        assert reader.call("count") == len(expected)
        assert reader.call("audit", passages=rows(expected), bm25_k=3, timeout=600) == []
        assert reader.call("check")["consistent"]
    with EmbeddedBackend(home).open("kb") as idx:
        assert idx.check().consistent


@pytest.mark.slow
def test_scifact_lost_bm25_and_vectors_are_repaired_with_the_real_model(
    scifact_home: tuple[Path, list[Passage]], real_embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    home, ps = copied(scifact_home, tmp_path)
    ids = [p.id for p in ps]
    with EmbeddedBackend(home).open("kb") as idx:
        before = idx.vectors(ids)
    shutil.rmtree(home / "indexes" / "kb" / "bm25")
    (home / "indexes" / "kb" / "vectors-0.f32").unlink()
    with EmbeddedBackend(home).open("kb") as idx:
        check = idx.check()
        assert not check.consistent and len(check.problems) == 2
        with pytest.raises(IndexCorruptError, match="BM25"):
            idx.bm25_search("cancer", 5)
        with pytest.raises(IndexCorruptError, match="vector file"):
            idx.vector_search(real_embedder.embed_queries(["cancer"])[0], 5)
        report = idx.repair(real_embedder)
        assert report.bm25_rebuilt and report.reembedded == len(ps) and report.after.consistent
        after = idx.vectors(ids)
        assert max(float(np.abs(after[i] - before[i]).max()) for i in ids) < 1e-4  # the text ingest embeds
        assert real_audit(idx, real_embedder, ps) == []


def test_compaction_killed_before_the_switch_leaves_the_old_generation_in_use(tmp_path: Path) -> None:
    create(tmp_path)
    folder = tmp_path / "indexes" / "kb"
    with Worker(tmp_path) as server, Worker(tmp_path) as doomed:
        server.call("upsert", passages=rows(made(0, 4)))
        server.call("delete", ids=["b0", "b1"])
        doomed.send("die_in_compact")
        with pytest.raises(RuntimeError, match="worker exited -9"):
            doomed.read()
        assert (folder / "vectors-1.f32").exists()  # written, never switched to
        expected = [*DOCS, *made(2, 4)]
        assert server.call("audit", passages=rows(expected)) == []
        server.call("upsert", passages=rows(made(4, 5)))  # a later writer removes the leftover
        assert not (folder / "vectors-1.f32").exists()
        assert server.call("compact") == 2
        assert sorted(p.name for p in folder.glob("vectors-*.f32")) == ["vectors-1.f32"]
        assert server.call("audit", passages=rows([*expected, *made(4, 5)])) == []


def test_a_store_replaced_under_a_process_refuses_its_writes(tmp_path: Path) -> None:
    create(tmp_path)
    store = tmp_path / "indexes" / "kb" / "store.sqlite"
    with EmbeddedBackend(tmp_path).open("kb") as idx:
        shutil.copy(store, tmp_path / "copy.sqlite")
        os.replace(tmp_path / "copy.sqlite", store)  # same content, another file
        with pytest.raises(IndexCorruptError, match="replaced by another file"):
            idx.delete(["p1"])
        assert "replaced" in idx.check().problems[0]
        with pytest.raises(IndexCorruptError, match="reopen the index"):
            idx.repair(EMB)
    with EmbeddedBackend(tmp_path).open("kb") as idx:
        assert idx.check().consistent and idx.count() == 5
