"""The use cases behind both front doors: the same delete through the CLI and through the API leaves the
index and the --prune manifest in the same state (real model, real HTTP server on loopback)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import httpx
import pytest

from ragsearch.retrieval.embedded import EmbeddedBackend
from tests.app.test_api import KEY, serve
from tests.app.test_cli import cli

pytestmark = pytest.mark.slow


def state(home: Path) -> tuple[list[str], dict[str, list[str]]]:
    """(documents in the manifest, passage ids per document in the index)."""
    with sqlite3.connect(home / "manifests" / "embedded" / "kb.sqlite") as db:
        manifest = sorted(r[0] for r in db.execute("SELECT doc_id FROM documents"))
    with EmbeddedBackend(home).open("kb") as idx:
        passages = idx.passage_ids_of(["a.md", "b.md", "c.md"])
    return manifest, passages


def test_delete_through_cli_and_api_leaves_the_same_state(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, topic in (
        ("a", "volcanoes erupt lava"),
        ("b", "glaciers carve valleys"),
        ("c", "rivers meet the sea"),
    ):
        (docs / f"{name}.md").write_text(f"# {name.upper()}\n\nThis note says {topic}.\n")
    cli_home, api_home = tmp_path / "cli-home", tmp_path / "api-home"
    r = cli(cli_home, "ingest", str(docs), "--index", "kb")
    assert r.returncode == 0, r.stderr
    shutil.copytree(cli_home, api_home)
    before = state(cli_home)
    assert before[0] == ["a.md", "b.md", "c.md"] and set(before[1]) == {"a.md", "b.md", "c.md"}

    r = cli(cli_home, "delete", "a.md", "--index", "kb")
    assert r.returncode == 0, r.stderr
    for url in serve({"api": {"api_key": KEY}, "index": "kb"}, api_home):
        with httpx.Client(base_url=url, timeout=60) as api:
            r = api.delete("/documents/a.md", headers={"X-API-Key": KEY})
            assert r.status_code == 200 and r.json()["deleted"] == len(before[1]["a.md"])

    after_cli, after_api = state(cli_home), state(api_home)
    assert after_cli == after_api
    assert after_cli[0] == ["b.md", "c.md"] and set(after_cli[1]) == {"b.md", "c.md"}


def test_add_records_stops_between_whole_batches_and_a_resend_completes(tmp_path: Path) -> None:
    from ragsearch.app.usecases import IngestStopped, add_records
    from ragsearch.retrieval.types import Passage
    from tests.retrieval.contract import EMB, SPEC

    records = [Passage(f"r{i}", "Note", f"note number {i} about rivers") for i in range(10)]
    asked: list[int] = []

    def stop() -> bool:  # the client goes away while the second batch is written
        asked.append(1)
        return len(asked) > 2

    with EmbeddedBackend(tmp_path).create("kb", SPEC) as idx:
        with pytest.raises(IngestStopped) as stopped:
            add_records(idx, EMB, records, stop=stop, batch_size=4)
        assert (stopped.value.batches, stopped.value.report.added) == (2, 8)
        assert idx.count() == 8 and [p.id for p in idx.get(["r7", "r8", "r9"])] == ["r7"]
        again = add_records(idx, EMB, records, batch_size=4)  # the same request sent again
        assert (again.added, again.unchanged, idx.count()) == (2, 8, 10)
        assert idx.check().consistent
