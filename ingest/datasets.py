"""Public BEIR datasets: use a local copy under the data dir, or download the published archive."""

from __future__ import annotations

import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

from ragsearch.retrieval.errors import RagsearchError, UnknownNameError

BEIR_DATASETS = ("scifact", "nfcorpus", "fiqa", "arguana", "scidocs", "trec-covid", "quora", "nq", "hotpotqa")

ProgressFn = Callable[[int, int | None], None]
"""Called with (bytes so far, total bytes or None)."""


def local_dataset(data_dir: Path, name: str) -> Path | None:
    path = Path(data_dir) / name
    return path if (path / "corpus.jsonl").is_file() else None


def download_dataset(name: str, dest_dir: Path, base_url: str, progress: ProgressFn | None = None) -> Path:
    """Download `<base_url>/<name>.zip`, unpack it to `<dest_dir>/<name>` and check its BEIR layout."""
    if name not in BEIR_DATASETS:
        raise UnknownNameError("dataset", name, list(BEIR_DATASETS))
    dest = Path(dest_dir) / name
    if (dest / "corpus.jsonl").is_file():
        return dest
    url = f"{base_url.rstrip('/')}/{name}.zip"
    Path(dest_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest_dir) as tmp:
        archive = Path(tmp) / f"{name}.zip"
        try:
            with urllib.request.urlopen(url, timeout=60) as resp, open(archive, "wb") as out:
                total = int(resp.headers.get("Content-Length") or 0) or None
                done = 0
                while chunk := resp.read(1 << 20):
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
        except (urllib.error.URLError, OSError) as exc:
            raise RagsearchError(
                f"cannot download {url}: {exc}; set RAGSEARCH_DATASETS_URL to a mirror"
            ) from None
        try:
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    target = (Path(tmp) / member).resolve()
                    if not str(target).startswith(str(Path(tmp).resolve())):
                        raise RagsearchError(f"{url}: archive member {member!r} escapes the target folder")
                zf.extractall(tmp)
        except zipfile.BadZipFile:
            raise RagsearchError(f"{url} is not a zip archive") from None
        unpacked = Path(tmp) / name
        if not (unpacked / "corpus.jsonl").is_file() or not (unpacked / "queries.jsonl").is_file():
            raise RagsearchError(
                f"{url} does not hold {name}/corpus.jsonl and {name}/queries.jsonl (BEIR layout)"
            )
        shutil.move(str(unpacked), dest)
    return dest
