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
