"""The document view in headless Chromium against the real API on loopback: search, open a result by its title,
read the passage with the query marked, its neighbours and metadata, find the click in the impression log and
the feedback store, go back to the results. Saves docs/ui/ui-document.png."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from ragsearch.app.feedback import FeedbackStore
from ragsearch.app.impressions import ImpressionLog
from tests.app.test_api import KEY
from tests.app.ui_browser import API, CHROMIUM, FLAGS, REPO, serious_violations, ui_home, ui_url

__all__ = ["ui_home", "ui_url"]  # fixtures used by this module's tests

pytestmark = [pytest.mark.slow, pytest.mark.browser]

DOC = "notes/quokka.md"
TEXTS = [
    "Quokkas live on Rottnest Island.",
    "They rest in shade <img src=x onerror=alert(1)> during the day.",
    "Quokka diet: leaves, grasses and succulents.\nThey can go weeks without drinking.",
    "Joeys stay in the pouch for six months.",
    "Numbers fell after foxes arrived.",
]


def test_open_a_result_in_its_document_and_come_back(ui_url: str, ui_home: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    passages = [{"id": f"{DOC}#{i}", "doc_id": DOC, "title": f"Quokka notes {i}", "text": t,
                 "metadata": {"position": i, "source": DOC, "format": "markdown"}} for i, t in enumerate(TEXTS)]  # fmt: skip
    r = httpx.post(f"{API['url']}/documents", headers={"X-API-Key": KEY}, json={"passages": passages})
    assert r.status_code == 200, r.text
    log = ImpressionLog(ui_home / "impressions.sqlite")
    dialogs: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1400})
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(f"{ui_url}/?q=quokka+diet+succulent&mode=bm25")
        expect(page.get_by_text("results in")).to_be_visible(timeout=60_000)
        title = page.get_by_role("link", name="Quokka notes 2")
        href = title.get_attribute("href") or ""
        link = {k: v[0] for k, v in parse_qs(urlparse(href).query).items()}
        assert (link["doc"], link["q"], link["mode"]) == (f"{DOC}#2", "quokka diet succulent", "bm25")
        rank = int(link["rank"])
        title.click()
        # the passage in full (line breaks kept), the query's terms marked as BM25 matches them (stems)
        expect(page.locator("h1", has_text="Quokka notes 2")).to_be_visible(timeout=60_000)
        body = page.locator(".rs-passage")
        expect(body).to_contain_text("They can go weeks without drinking.")
        assert body.locator("mark").all_inner_texts() == ["Quokka", "diet", "succulents"]
        assert page.locator("h1 mark").all_inner_texts() == ["Quokka"]
        expect(page.get_by_text("passage 3 of 5")).to_be_visible()
        expect(page.locator(".rs-meta")).to_contain_text(f"document {DOC} · position 2 · source {DOC}")
        # the two passages before and after it, each a link to its own view; markup in them stays text
        expect(page.get_by_text("Earlier in the document")).to_be_visible()
        neighbours = page.locator(".rs-neighbour").all_inner_texts()
        assert neighbours == [TEXTS[0], TEXTS[1], TEXTS[3], TEXTS[4]]
        assert page.locator("img[src='x']").count() == 0
        expect(page.get_by_role("link", name="Quokka notes 4")).to_be_visible()
        assert serious_violations(page) == []
        page.screenshot(path=str(REPO / "docs" / "ui" / "ui-document.png"), full_page=True)
        # the click, on the impression the results came from, at the result's position; recorded once
        clicks = [e for e in log.events("sf") if e.action_name == "click"]
        assert [(e.object_id, e.position) for e in clicks] == [(f"{DOC}#2", rank)]
        shown = {i.query_id: i for i in log.impressions("sf")}[clicks[0].query_id]
        assert shown.user_query == "quokka diet succulent" and shown.hit_ids[rank - 1] == f"{DOC}#2"
        assert "imp=" not in page.url and "rank=" not in page.url
        page.reload()
        expect(page.locator("h1", has_text="Quokka notes 2")).to_be_visible(timeout=60_000)
        page.wait_for_timeout(2000)
        assert len([e for e in log.events("sf") if e.action_name == "click"]) == 1
        row = FeedbackStore(ui_home / "feedback.sqlite").rows()[-1]
        assert (row.kind, row.query, row.passage_id, row.rank) == (
            "click",
            "quokka diet succulent",
            f"{DOC}#2",
            rank,
        )
        # back to the same results (query and mode from the URL)
        page.get_by_role("link", name="← Back to results").click()
        expect(page.get_by_text("Results for “quokka diet succulent”")).to_be_visible(timeout=60_000)
        assert {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}.items() >= {
            "q": "quokka diet succulent", "mode": "bm25"
        }.items()  # fmt: skip
        # an unknown passage: a plain message, not a traceback
        page.goto(f"{ui_url}/?doc={DOC}%2399&q=quokka")
        expect(page.get_by_text(f"no passage '{DOC}#99'")).to_be_visible(timeout=60_000)
        browser.close()
    log.close()
    assert dialogs == []
