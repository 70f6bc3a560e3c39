"""Issue 18, 6: an API ingest stops when its client disconnects. A real server process on loopback over a
copy of the SciFact slice index (the real embedding model); the upload is real SciFact abstracts."""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path

import httpx
import pytest

from ragsearch.app.usecases import ADD_BATCH
from ragsearch.retrieval.embedded import EmbeddedBackend, EmbeddedIndex
from tests.app.test_api_hardening import KEY, QUESTION, start_process, stop

pytestmark = pytest.mark.slow
BATCHES = 6


def count(home: Path) -> int:
    """The index's passage count, read by another process's view of the files (as `ragsearch` would)."""
    with EmbeddedBackend(home).open("sf") as idx:
        return idx.count()


def test_upload_stops_when_the_client_disconnects(
    scifact_index: EmbeddedIndex, shared_data: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(scifact_index.path, home / "indexes" / "sf")
    before = count(home)
    lines = (shared_data / "scifact" / "corpus.jsonl").read_text().splitlines()[: ADD_BATCH * BATCHES]
    passages = [
        {"id": f"up-{i}", "title": d["title"], "text": d["text"]}
        for i, d in enumerate(json.loads(ln) for ln in lines)
    ]
    body = json.dumps({"passages": passages}).encode()
    head = (f"POST /documents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-API-Key: {KEY}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")  # fmt: skip
    proc, url = start_process(home)
    try:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(head.encode() + body)
            deadline = time.monotonic() + 300
            while count(home) == before:  # the first batch is written: the work is under way
                assert time.monotonic() < deadline, "the upload wrote nothing in 300 s"
                time.sleep(0.2)
        # the client is gone; on today's code the server embeds and writes every batch anyway
        left = time.monotonic()
        with httpx.Client(base_url=url, timeout=60) as api:
            deadline = time.monotonic() + 600
            while "ragsearch_ingest_disconnects_total{" not in api.get("/metrics").text:
                assert count(home) < before + len(passages), (
                    "the whole upload was written after the client left"
                )
                assert time.monotonic() < deadline, "the ingest neither stopped nor finished in 600 s"
                time.sleep(0.5)
            metrics = api.get("/metrics").text
            assert 'ragsearch_ingest_disconnects_total{route="/documents"} 1.0' in metrics
            written = count(home) - before
            took = time.monotonic() - left
            print(
                f"{written} of {len(passages)} passages written; stopped {took:.1f} s after the client left"
            )
            # only whole batches, in request order; the batch in progress when the client left finished
            assert 0 < written < len(passages) and written % ADD_BATCH == 0, written
            r = api.get("/search", params={"q": QUESTION, "mode": "hybrid"})  # served, and sees the writes
            assert r.status_code == 200 and r.json()["hits"], r.text
            last = passages[written - 1]
            got = api.get("/search", params={"q": last["title"], "mode": "dense", "k": 3}).json()["hits"]
            assert last["id"] in [h["id"] for h in got], got
    finally:
        stop(proc)
    with EmbeddedBackend(home).open("sf") as idx:
        stored = [p.id for p in idx.get([p["id"] for p in passages])]
        assert stored == [f"up-{i}" for i in range(written)]  # a prefix of the request, nothing more since
        check = idx.check()
        assert check.consistent, check.problems
        assert last["id"] in [h.id for h in idx.bm25_search(last["title"], 3)]
