"""Shared pieces of the browser tests: a SciFact-slice home with an evaluation result and a small LTR model,
the real API and the Streamlit UI on loopback (`ui_url`), headless Debian Chromium flags, and axe-core.
Test modules import the fixtures they use (`from tests.app.ui_browser import ui_home, ui_url`)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.app.test_api import KEY, serve
from tests.net import free_port, wait_for_http

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("UI_TEST_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


API: dict[str, str] = {}
"""The URL of the API the module's UI talks to (set by `ui_url`)."""


@pytest.fixture(scope="module")
def ui_home(
    scifact_index, real_embedder, scifact_slice: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:  # type: ignore[no-untyped-def]
    h = tmp_path_factory.mktemp("ui-home")
    shutil.copytree(scifact_index.path, h / "indexes" / "sf")
    # an evaluation result for the evaluation page
    (h / "eval").mkdir()
    (h / "eval" / "scifact.test.json").write_text(
        json.dumps(
            {
                "dataset": "scifact",
                "split": "test",
                "queries": 3,
                "measures": ["nDCG@10", "R@100", "RR@10"],
                "systems": {
                    "bm25": {
                        "nDCG@10": 0.69,
                        "R@100": 0.91,
                        "RR@10": 0.66,
                        "delta_vs_first": None,
                        "p_holm_vs_first": None,
                        "per_query": {"1": {"nDCG@10": 0.5}, "2": {"nDCG@10": 1.0}, "3": {"nDCG@10": 0.2}},
                    },
                    "hybrid": {
                        "nDCG@10": 0.72,
                        "R@100": 0.95,
                        "RR@10": 0.68,
                        "delta_vs_first": 0.03,
                        "p_holm_vs_first": 0.005,
                        "per_query": {"1": {"nDCG@10": 0.7}, "2": {"nDCG@10": 1.0}, "3": {"nDCG@10": 0.1}},
                    },
                },
            }
        )
    )
    # a small LTR model for the explanation (plumbing only: trained on the slice's test judgments)
    from ragsearch.eval.data import load_split
    from ragsearch.rerank.build import train_ltr
    from ragsearch.rerank.extract import FeatureLogger
    from ragsearch.rerank.registry import ModelRegistry
    from ragsearch.rerank.train import TrainParams
    from ragsearch.retrieval.searcher import Retriever

    retriever = Retriever(scifact_index, real_embedder, bm25_depth=30, dense_depth=30)
    params = TrainParams(num_boost_round=30, min_data_in_leaf=5, prior_weight=0.0)  # 0: trees from scratch
    split = load_split(scifact_slice, "test")
    train_ltr(retriever, FeatureLogger(scifact_index), ModelRegistry(h), split, None, None, params,
              promote_if_better=True)  # fmt: skip
    return h


@pytest.fixture(scope="module")
def ui_url(ui_home: Path) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (see .ci/run)")
    for api_url in serve({"api": {"api_key": KEY}}, ui_home):
        API["url"] = api_url
        # a document with markup in it, to check the UI shows it as text
        httpx.post(f"{api_url}/documents", headers={"X-API-Key": KEY}, json={"passages": [
            {"id": "xss", "title": "<img src=x onerror=alert(1)>Vitamin", "text": "<script>alert('x')</script> vitamin D **bold** [link](javascript:alert(1))"}]})  # fmt: skip
        with streamlit_ui(ui_home, api_url) as url:
            yield url


@contextlib.contextmanager
def streamlit_ui(home: Path, api_url: str) -> Iterator[str]:
    """The Streamlit UI on a free loopback port, talking to the API at `api_url`, over `home` (index `sf`)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSEARCH_")}
    env.update(RAGSEARCH_HOME=str(home), RAGSEARCH_API_URL=api_url, RAGSEARCH_INDEX="sf")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "app" / "ui.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/_stcore/health", proc, 60, "streamlit")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


AXE = Path(os.environ.get("UI_TEST_AXE", REPO / ".venv" / "node_modules" / "axe-core" / "axe.min.js"))


def serious_violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    """axe-core's serious and critical violations on the page as it is now (WCAG 2 A/AA rules)."""
    page.wait_for_timeout(3000)  # let the script run finish: stale elements are drawn faded
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']})).violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => v.id + ': ' + v.help + ' (' + v.nodes.length + ', e.g. ' + v.nodes[0].html.slice(0, 120) + ': ' + v.nodes[0].failureSummary.slice(0, 300) + ' at ' + v.nodes[0].target.join(' ') + ')')"
    )
    return list(found)
