"""`datasets get` against a local HTTP server serving a BEIR archive built from the shared copy."""

from __future__ import annotations

import functools
import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragsearch.ingest.datasets import download_dataset
from ragsearch.retrieval.errors import RagsearchError, UnknownNameError


@pytest.fixture()
def server(scifact_slice: Path, tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    root.mkdir()
    with zipfile.ZipFile(root / "scifact.zip", "w") as zf:
        for f in scifact_slice.rglob("*"):
            if f.is_file():
                zf.write(f, Path("scifact") / f.relative_to(scifact_slice))
    (root / "nfcorpus.zip").write_text("not a zip")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_download_unpacks_a_beir_folder(server: str, scifact_slice: Path, tmp_path: Path) -> None:
    seen: list[int] = []
    path = download_dataset("scifact", tmp_path / "d", server, lambda done, total: seen.append(done))
    assert (path / "corpus.jsonl").read_text() == (scifact_slice / "corpus.jsonl").read_text()
    assert (path / "qrels" / "test.tsv").is_file()
    assert seen and seen[-1] == (tmp_path / "www" / "scifact.zip").stat().st_size
    assert (
        download_dataset("scifact", tmp_path / "d", "http://127.0.0.1:9") == path
    )  # already there: no fetch


def test_download_errors(server: str, tmp_path: Path) -> None:
    with pytest.raises(RagsearchError, match="not a zip"):
        download_dataset("nfcorpus", tmp_path, server)
    with pytest.raises(RagsearchError, match="cannot download"):
        download_dataset("fiqa", tmp_path, server)
    with pytest.raises(UnknownNameError):
        download_dataset("msmarco-typo", tmp_path, server)
