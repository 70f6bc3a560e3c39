"""The server's long-lived services (app/runtime.py): each index opened once and shared by every thread,
reopened after `forget`, closed with the runtime; no reranker while no model is promoted."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ragsearch.app.runtime import Runtime
from ragsearch.app.settings import Settings
from ragsearch.retrieval.errors import IndexNotFoundError
from ragsearch.retrieval.types import IndexSpec
from tests.retrieval.contract import DOCS, EMB, embed


@pytest.fixture()
def runtime(tmp_path: Path) -> Runtime:
    rt = Runtime(Settings(home=tmp_path, index="kb"))
    idx = rt.backend.create("kb", IndexSpec(EMB.name, EMB.dim))
    idx.upsert(embed(DOCS))
    idx.close()
    return rt


def test_one_open_index_shared_by_all_threads(runtime: Runtime) -> None:
    with ThreadPoolExecutor(8) as pool:
        opened = list(pool.map(lambda _: runtime.index("kb"), range(32)))
    assert all(o is opened[0] for o in opened) and runtime.index() is opened[0]
    assert opened[0].count() == len(DOCS)
    runtime.forget("kb")
    again = runtime.index("kb")
    assert again is not opened[0] and again.count() == len(DOCS)
    runtime.forget("never-opened")  # nothing to close: no error
    runtime.close()


def test_unknown_index_and_no_promoted_model(runtime: Runtime) -> None:
    with pytest.raises(IndexNotFoundError):
        runtime.index("nope")
    assert runtime.reranker("kb") is None and runtime.registry.promoted is None
    runtime.close()
