"""The Models page's Administer section in headless Chromium against the real API: a wrong key is refused and
changes nothing; with the key a model version is promoted and the index's last promotion rolled back, and
the page shows the new state. Also the evaluation table's "(served)" mark and the search caption's two
latencies. axe-core: no serious or critical violation on the Models page."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from ragsearch.search.config import Mode, build_config
from ragsearch.search.serving import ServingStore
from tests.app.test_api import KEY
from tests.app.ui_browser import API, CHROMIUM, FLAGS, serious_violations, ui_home, ui_url

__all__ = ["ui_home", "ui_url"]  # fixtures used by this module's tests

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def second_model(home: Path, scifact_index, real_embedder, scifact_slice: Path) -> None:  # type: ignore[no-untyped-def]
    """v0002 beside the promoted v0001, not promoted (plumbing only, as the fixture's)."""
    from ragsearch.eval.data import load_split
    from ragsearch.rerank.build import train_ltr
    from ragsearch.rerank.extract import FeatureLogger
    from ragsearch.rerank.registry import ModelRegistry
    from ragsearch.rerank.train import TrainParams
    from ragsearch.retrieval.searcher import Retriever

    retriever = Retriever(scifact_index, real_embedder, bm25_depth=30, dense_depth=30)
    params = TrainParams(num_boost_round=10, min_data_in_leaf=5, prior_weight=0.0)
    train_ltr(retriever, FeatureLogger(scifact_index), ModelRegistry(home), load_split(scifact_slice, "test"),
              None, None, params, promote_if_better=False)  # fmt: skip


EVIDENCE = {"judgments": "sf@v0001", "part": "held", "measure": "nDCG@10", "level": 0.05, "replaced": "default",
            "held": {"candidate": 0.71, "served": 0.66, "p_value": 0.01, "queries": 20, "part": "held"}}  # fmt: skip
"""What `serve-config promote` records (the figures here are made up: the gate is tested elsewhere)."""


def cell(scope, text: str):  # type: ignore[no-untyped-def]
    """A data-frame cell in `scope` (a page or a row) whose text is `text`. Streamlit's grid draws on a
    canvas; its accessible table is in the page but visually hidden, and role locators skip hidden elements."""
    return scope.locator("td[role=gridcell]").filter(has_text=re.compile(f"^{re.escape(text)}$"))


def promoted() -> list[str]:
    return [m["version"] for m in httpx.get(f"{API['url']}/models").json() if m["promoted"]]


def test_models_page_promotes_and_rolls_back_only_with_the_key(  # type: ignore[no-untyped-def]
    ui_url: str, ui_home: Path, scifact_index, real_embedder, scifact_slice: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    second_model(ui_home, scifact_index, real_embedder, scifact_slice)
    assert promoted() == ["v0001"]
    fresh = build_config(httpx.get(f"{API['url']}/serving").json()["config"])
    ServingStore(ui_home).promote("sf", "bm25", fresh.replace(mode=Mode.BM25),
                                  EVIDENCE)  # fmt: skip
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1600})
        # the search caption: the UI's whole wait, then the server's own time
        page.goto(f"{ui_url}/?q=vitamin+D+deficiency")
        expect(page.get_by_text(re.compile(r"\d+ results in \d+ ms \(server \d+ ms\)"))).to_be_visible(
            timeout=60_000
        )
        # the evaluation table marks the system the index serves (bm25, promoted above)
        page.get_by_text("Evaluation").click()
        expect(cell(page, "bm25 (served)")).to_be_attached(timeout=30_000)

        page.get_by_text("Models", exact=True).click()
        expect(page.get_by_text("Promoted model: v0001.", exact=False)).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Index sf serves bm25 (bm25)")).to_be_visible(timeout=30_000)
        assert serious_violations(page) == []
        key = page.get_by_label("API key", exact=True)
        assert key.get_attribute("type") == "password"
        page.get_by_test_id("stSelectbox").click()
        page.get_by_role("option", name="v0002").click()
        # a wrong key: refused, in words; nothing changes
        key.fill("wrong")
        key.press("Enter")
        page.get_by_role("button", name="Promote model").click()
        expect(
            page.get_by_text("Nothing changed: the API refused the key (the API key is not valid)")
        ).to_be_visible(timeout=30_000)
        page.get_by_role("button", name="Roll back the last promotion").click()
        expect(page.get_by_text("Nothing changed: the API refused the key")).to_be_visible(timeout=30_000)
        assert promoted() == ["v0001"]
        assert httpx.get(f"{API['url']}/serving").json()["name"] == "bm25"
        # the key: the version is promoted, the table says so
        key.fill(KEY)
        key.press("Enter")
        page.get_by_role("button", name="Promote model").click()
        expect(page.get_by_text("Model v0002 promoted")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Promoted model: v0002.", exact=False)).to_be_visible()
        row = page.locator("tr[role=row]").filter(has=cell(page, "v0002"))
        expect(cell(row, "yes")).to_have_count(1)
        assert promoted() == ["v0002"]
        # rollback: the index serves what it served before (the default), the history says why
        page.get_by_role("button", name="Roll back the last promotion").click()
        expect(page.get_by_text("Rolled back: index sf serves default (hybrid).")).to_be_visible(
            timeout=30_000
        )
        expect(page.get_by_text("Index sf serves default (hybrid): fresh index")).to_be_visible()
        expect(cell(page, "undid #1 (bm25)")).to_be_attached()
        assert httpx.get(f"{API['url']}/serving").json()["name"] == "default"
        assert KEY not in page.url
        # what the index serves was not evaluated: the evaluation page says so, with the command that adds it
        ServingStore(ui_home).promote("sf", "dense", fresh.replace(mode=Mode.DENSE), EVIDENCE)
        page.get_by_text("Evaluation").click()
        expect(
            page.get_by_text("Index sf serves dense (dense), which is not among these systems")
        ).to_be_visible(timeout=30_000)
        expect(page.get_by_text("--systems bm25,hybrid,dense", exact=False)).to_be_visible()
        expect(cell(page, "hybrid")).to_be_attached()
        browser.close()
