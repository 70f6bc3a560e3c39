"""Issue 18, 5: reading needs no free space. `ragsearch search` on a home whose disk is full (for real,
tests/fulldisk.py), over a copy of the SciFact slice index built with the real model, in every mode."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from ragsearch.retrieval.embedded import EmbeddedBackend, EmbeddedIndex
from tests.fulldisk import run_on_full_disk

pytestmark = pytest.mark.slow
QUESTION = "Vitamin D deficiency is associated with bone disease"


def test_cli_search_on_a_full_disk(scifact_index: EmbeddedIndex, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(scifact_index.path, src / "indexes" / "sf")
    EmbeddedBackend(src).open("sf").close()  # closed, as on a server's start: the WAL and its index are gone
    assert not list((src / "indexes" / "sf").glob("store.sqlite-*"))
    expected = {h.id for h in scifact_index.bm25_search(QUESTION, 3)}
    mnt = tmp_path / "mnt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSEARCH_")}
    env.update(RAGSEARCH_HOME=str(mnt / "home"), RAGSEARCH_INDEX="sf", HF_HUB_OFFLINE="1",
               RAGSEARCH_EMBEDDING_ONNX_CACHE=os.environ.get("RAGSEARCH_EMBEDDING_ONNX_CACHE", ""))  # fmt: skip
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
