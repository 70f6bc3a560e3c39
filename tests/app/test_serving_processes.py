"""A served home shared with other processes, as a user does it: `ragsearch serve` running while the CLI
searches, ingests and checks the same index, and a second server starts on it. Real processes, the real
model, a SciFact slice (real text)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.app.test_cli import cli
from tests.net import serve_process

pytestmark = pytest.mark.slow
KEY = "test-key-0123456789"


def passages_of(folder: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in (folder / "corpus.jsonl").read_text().splitlines() if line.strip()]


def start_server(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    return serve_process(home, "kb", KEY)


@pytest.fixture()
def served(scifact_slice: Path, tmp_path: Path) -> Iterator[tuple[Path, str, subprocess.Popen[bytes]]]:
    home = tmp_path / "home"
    first = tmp_path / "first"
    first.mkdir()
    records = passages_of(scifact_slice)
    (first / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records[:60]))
    r = cli(home, "ingest", str(first / "corpus.jsonl"), "--index", "kb")
    assert r.returncode == 0, r.stderr
    proc, url = start_server(home)
    yield home, url, proc
    proc.terminate()
    proc.wait(timeout=30)


def found_by_own_text(api: httpx.Client, records: list[dict[str, str]]) -> dict[str, list[str]]:
    """{mode: ids of passages that are not their own text's top hit}."""
    missed: dict[str, list[str]] = {"bm25": [], "dense": []}
    for rec in records:
        for mode in missed:
            r = api.get("/search", params={"q": f"{rec['title']} {rec['text']}"[:900], "k": 1, "mode": mode})
            assert r.status_code == 200, r.text
            if r.json()["hits"][0]["id"] != rec["_id"]:
                missed[mode].append(rec["_id"])
    return missed


def test_cli_search_ingest_and_a_second_server_beside_a_running_one(
    served, scifact_slice: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    home, url, proc = served
    records = passages_of(scifact_slice)
    h = {"X-API-Key": KEY}
    with httpx.Client(base_url=url, timeout=120) as api:
        # dead rows at the tail of the vector file: an add then a delete through the server
        extra = {"id": "extra", "title": "Quokkas", "text": "Quokkas live on Rottnest Island near Perth."}
        assert api.post("/documents", headers=h, json={"passages": [extra]}).status_code == 200
        assert api.delete("/documents/extra", headers=h).status_code == 200
        # a read-only CLI search on the same home must change nothing the server relies on
        r = cli(home, "search", "vitamin D", "--index", "kb", "--mode", "dense")
        assert r.returncode == 0, r.stderr
        more = {"id": "more", "title": "Axolotls", "text": "Axolotls regrow limbs in Mexican lakes."}
        assert api.post("/documents", headers=h, json={"passages": [more]}).status_code == 200
        # an ingest from the CLI while the server runs: the server sees the new passages in every mode
        second = tmp_path / "second.jsonl"
        second.write_text("".join(json.dumps(r) + "\n" for r in records[60:90]))
        r = cli(home, "ingest", str(second), "--index", "kb")
        assert r.returncode == 0, r.stderr
        # a second server on the same home answers health, and the first keeps writing
        other, other_url = start_server(home)
        try:
            health = httpx.get(f"{other_url}/health", timeout=60).json()
            assert health["indexes"]["kb"] == 91
        finally:
            other.terminate()
            other.wait(timeout=30)
        late = {"id": "late", "title": "Pangolins", "text": "Pangolins are covered in keratin scales."}
        assert api.post("/documents", headers=h, json={"passages": [late]}).status_code == 200
        assert api.get("/health").json()["indexes"]["kb"] == 92
        missed = found_by_own_text(api, records[:90])
        assert missed == {"bm25": [], "dense": []}
        for rec in (more, late):
            for mode in ("bm25", "dense"):
                top = api.get("/search", params={"q": rec["text"], "k": 1, "mode": mode}).json()["hits"][0]
                assert top["id"] == rec["id"], (mode, rec["id"])
    assert proc.poll() is None  # the server never died
    r = cli(home, "indexes", "check", "kb", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    check = json.loads(r.stdout)
    assert check["consistent"] and check["passages"] == 92 and check["bm25_docs"] == 92
