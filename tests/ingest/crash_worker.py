"""Runs one folder ingest; test_crash.py starts it in a subprocess and kills it with SIGKILL.

Usage: python -m tests.ingest.crash_worker HOME DOCS
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ragsearch.retrieval.embedded import EmbeddedBackend
from tests.fakes import FakeHashEmbedder
from tests.ingest.helpers import run_ingest


class SlowFakeHashEmbedder(FakeHashEmbedder):
    """FAKE embedder that takes 20 ms per call, so a kill lands while documents are being written."""

    def embed_documents(self, texts: Sequence[str], batch_size=None, progress=None) -> NDArray[np.float32]:  # type: ignore[no-untyped-def]
        time.sleep(0.02)
        return super().embed_documents(texts)


def main(home: Path, docs: Path) -> None:
    index = EmbeddedBackend(home).open("docs")
    print("ready", flush=True)
    report = run_ingest([docs], index, SlowFakeHashEmbedder(), home, prune=True)
    index.close()
    print(f"done added={report.added} updated={report.updated} removed={report.removed}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
