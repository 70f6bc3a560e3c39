"""Writes through the API run on the server's writer thread at `RAGSEARCH_API_WRITE_NICE`, so a search that
arrives while documents are embedded gets the CPU first (bench.soak measures what that buys). Checked on a real
`ragsearch serve` process through the nice value of each of its threads in /proc."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import httpx
import pytest

from tests.app.test_api import KEY
from tests.app.test_api_hardening import start_process, stop

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's"),
]


@pytest.fixture()
def own_home(scifact_index, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """A home holding a copy of the SciFact slice's index as `sf`."""
    shutil.copytree(scifact_index.path, tmp_path / "home" / "indexes" / "sf")
    return tmp_path / "home"


def thread_nices(pid: int) -> list[int]:
    """The nice value of every thread of process `pid` (field 19 of /proc/PID/task/TID/stat)."""
    out = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        fields = stat.read_text().rsplit(")", 1)[1].split()
        out.append(int(fields[16]))  # fields after the command name start at field 3
    return out


@pytest.mark.parametrize("write_nice", [12, 0])
def test_api_writes_embed_on_a_thread_of_lower_priority(own_home: Path, write_nice: int) -> None:
    proc, url = start_process(own_home, RAGSEARCH_API_WRITE_NICE=str(write_nice))
    try:
        with httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=120) as c:
            text = "Zebrafish fin regeneration depends on osteoblast dedifferentiation near the amputation plane."
            r = c.post("/documents", json={"passages": [{"id": "nice-1", "title": "Fins", "text": text}]})
            assert r.status_code == 200, r.text
            found = c.get("/search", params={"q": "zebrafish fin regeneration", "mode": "dense"})
            assert found.json()["hits"][0]["id"] == "nice-1"
            nices = thread_nices(proc.pid)
    finally:
        stop(proc)
    assert nices.count(0) >= 1  # the event loop and the search threads keep the server's priority
    if write_nice:
        assert write_nice in nices  # the writer thread (and torch's workers it started)
    else:
        assert set(nices) == {0}
