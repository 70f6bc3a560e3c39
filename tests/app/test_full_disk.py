"""Issue 18, 5: reading needs no free space. `ragsearch search` on a home whose disk is full (for real,
tests/fulldisk.py), over a copy of the SciFact slice index built with the real model, in every mode."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ragsearch.retrieval.embedded import EmbeddedBackend, EmbeddedIndex
from tests.fulldisk import full_disk_argv, run_on_full_disk
from tests.net import free_port, wait_for_http

pytestmark = pytest.mark.slow
QUESTION = "Vitamin D deficiency is associated with bone disease"


KEY = "test-key-0123456789"


def closed_copy(index: EmbeddedIndex, tmp_path: Path) -> Path:
    """A home holding a copy of `index`, closed (as before a server starts: no WAL, no WAL index)."""
    src = tmp_path / "src"
    shutil.copytree(index.path, src / "indexes" / "sf")
    EmbeddedBackend(src).open("sf").close()
    assert not list((src / "indexes" / "sf").glob("store.sqlite-*"))
    return src


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSEARCH_")}
    env.update(RAGSEARCH_HOME=str(home), RAGSEARCH_INDEX="sf", HF_HUB_OFFLINE="1", RAGSEARCH_API_API_KEY=KEY,
               RAGSEARCH_EMBEDDING_ONNX_CACHE=os.environ.get("RAGSEARCH_EMBEDDING_ONNX_CACHE", ""))  # fmt: skip
    return env


def test_cli_search_on_a_full_disk(scifact_index: EmbeddedIndex, tmp_path: Path) -> None:
    src = closed_copy(scifact_index, tmp_path)
    expected = {h.id for h in scifact_index.bm25_search(QUESTION, 3)}
    mnt = tmp_path / "mnt"
    env = environment(mnt / "home")
    script = (
        "import sys; from app.cli import main; q = sys.argv[1]\n"
        "for mode in ('bm25', 'dense', 'hybrid'):\n"
        "    sys.argv = ['ragsearch', 'search', q, '--index', 'sf', '--mode', mode, '--k', '3', '--json']\n"
        "    try: main()\n"
        "    except SystemExit as e: assert not e.code, e.code\n"
        "    print()\n"
    )
    proc = run_on_full_disk(src, mnt, [sys.executable, "-c", script, QUESTION], env=env, size="8m")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    results = [json.loads(block) for block in proc.stdout.split("\n\n") if block.strip()]
    assert [r["mode"] for r in results] == ["bm25", "dense", "hybrid"], proc.stdout[-2000:]
    assert all(len(r["hits"]) == 3 for r in results), results
    assert {h["id"] for h in results[0]["hits"]} == expected


def test_server_on_a_full_disk_serves_reads_and_refuses_writes_with_503(
    scifact_index: EmbeddedIndex, tmp_path: Path
) -> None:
    """`ragsearch serve` started on a full disk: the index is opened by the first search (it was not open
    before); every mode is served, /health says why it is degraded, and a write is a 503 in the error shape."""
    src = closed_copy(scifact_index, tmp_path)
    mnt, port = tmp_path / "mnt", free_port()
    serve = [sys.executable, "-c", "from ragsearch.app.cli import main; main()", "serve", "--port", str(port)]
    proc = subprocess.Popen(full_disk_argv(src, mnt, serve, size="8m"), cwd=Path(__file__).resolve().parents[2],
                            env=environment(mnt / "home"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", proc, 120, "ragsearch serve on a full disk")
        with httpx.Client(base_url=url, timeout=60) as api:
            for mode in ("bm25", "dense", "hybrid"):
                r = api.get("/search", params={"q": QUESTION, "mode": mode, "k": 3})
                assert r.status_code == 200 and len(r.json()["hits"]) == 3, r.text
            health = api.get("/health").json()
            assert health["indexes"]["sf"] == scifact_index.count(), health
            assert health["status"] == "degraded" and any(p.startswith("disk:") for p in health["problems"])
            new = [
                {"id": f"new-{i}", "title": "t", "text": f"some text {i}"} for i in range(20)
            ]  # > a page of vectors
            w = api.post("/documents", headers={"X-API-Key": KEY}, json={"passages": new})
            assert w.status_code == 503 and w.json()["error"]["type"] == "BackendUnavailableError", w.text
            assert api.get("/search", params={"q": QUESTION, "mode": "hybrid"}).status_code == 200
            assert api.get("/documents/new-0").status_code == 404
        assert proc.poll() is None
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
