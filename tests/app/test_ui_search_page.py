"""The search page in headless Chromium against the real API on loopback, whose LLM is a slow OpenAI-format
server (tests/fake_openai.py, streaming its reply after a delay): controls that apply at once, metadata
filters, the loading placeholders, and the page's list, heading and live-region semantics."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.app.test_api import KEY, serve
from tests.app.ui_browser import AXE, CHROMIUM, FLAGS, serious_violations, streamlit_ui
from tests.fake_openai import servers

pytestmark = [pytest.mark.slow, pytest.mark.browser]

API: dict[str, str] = {}
LLM_DELAY_S = 4.0
REPLY = "Vitamin D deficiency is common in winter [1]."
SEEN_LOADING = """
window.seenLoading = false;
new MutationObserver(() => { if (document.querySelector('.rs-loading')) window.seenLoading = true; })
  .observe(document, {childList: true, subtree: true});
"""
"""Records whether the "Searching…" placeholder was ever on the page."""


SEARCH_DELAY_S = 0.5
"""What the UI's searches take here (the slice answers in milliseconds, too fast to see the placeholder)."""


class SlowSearches(BaseHTTPRequestHandler):
    """A pass-through proxy to the real API (`server.upstream`) that holds GET /search for SEARCH_DELAY_S,
    streaming every response through as it comes (the answer's server-sent events included)."""

    def relay(self) -> None:
        if self.path.startswith("/search"):
            time.sleep(SEARCH_DELAY_S)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        url = f"{self.server.upstream}{self.path}"  # type: ignore[attr-defined]
        with httpx.stream(self.command, url, content=body, headers=headers, timeout=120) as r:
            self.send_response(r.status_code)
            for k, v in r.headers.items():
                if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                    self.send_header(k, v)
            self.end_headers()
            for chunk in r.iter_bytes():
                self.wfile.write(chunk)
                self.wfile.flush()

    do_GET = do_POST = relay

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def page_url(scifact_index, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The UI on an API over the SciFact slice, plus two passages with metadata, with a slow LLM; the UI's
    searches go through `SlowSearches`."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (see .ci/run)")
    home = tmp_path_factory.mktemp("search-page-home")
    shutil.copytree(scifact_index.path, home / "indexes" / "sf")
    start = servers()
    llm = next(start)(lambda n: REPLY, delay_s=LLM_DELAY_S)
    settings = {"api": {"api_key": KEY}, "llm": {"base_url": llm.url, "api_key": "k", "model": "fake"}}
    for api_url in serve(settings, home):
        r = httpx.post(f"{api_url}/documents", headers={"X-API-Key": KEY}, json={"passages": [
            {"id": "winter-de", "title": "Vitamin D im Winter", "text": "Vitamin D deficiency in German winters.",
             "metadata": {"lang": "de"}},
            {"id": "winter-en", "title": "Vitamin D in winter", "text": "Vitamin D deficiency in English winters.",
             "metadata": {"lang": "en"}}]})  # fmt: skip
        assert r.status_code == 200, r.text
        API["url"] = api_url
        proxy = ThreadingHTTPServer(("127.0.0.1", 0), SlowSearches)
        proxy.upstream = api_url  # type: ignore[attr-defined]
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        with streamlit_ui(home, f"http://127.0.0.1:{proxy.server_address[1]}") as url:
            yield url
        proxy.shutdown()
        proxy.server_close()
    next(start, None)  # shuts the LLM server down


def test_controls_and_filters_apply_at_once_and_live_in_the_url(page_url: str) -> None:
    """After a search (Enter in the box), a new mode, number of results, Why or filter re-runs it without
    pressing Search, and the URL follows; a filter that matches stored metadata narrows the results, one that
    matches nothing says so, naming it; a malformed one is refused in words and changes nothing."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1600})
        page.goto(page_url)
        box = page.get_by_placeholder("Ask or search the documents")
        box.wait_for(timeout=60_000)
        box.fill("vitamin D deficiency")
        box.press("Enter")
        expect(page.get_by_text("10 results in")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("(hybrid, configuration default)")).to_be_visible()
        page.get_by_text("bm25", exact=True).click()  # no Search pressed after any of these
        expect(page.get_by_text("(bm25, configuration default)")).to_be_visible(timeout=30_000)
        page.wait_for_url("**mode=bm25**", timeout=30_000)
        number = page.get_by_label("Results", exact=True)
        number.fill("5")
        number.press("Enter")
        expect(page.get_by_text("5 results in")).to_be_visible(timeout=30_000)
        page.get_by_text("Why", exact=True).click()
        expect(page.locator(".why-bar")).to_have_count(5, timeout=30_000)
        page.get_by_text("Filters", exact=True).click()
        filters = page.get_by_role("textbox", name="Metadata filters (key:value)")
        filters.fill("lang:de")
        filters.press("Enter")
        expect(page.get_by_text("1 results in")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("1. Vitamin D im Winter")).to_be_visible()
        page.wait_for_url("**filter=lang%3Ade**", timeout=30_000)
        filters.fill("lang:fr")
        filters.press("Enter")
        expect(page.get_by_text("No results for “vitamin D deficiency” (bm25, configuration default) with "
                                "filters lang:fr")).to_be_visible(timeout=30_000)  # fmt: skip
        filters.fill("lang")
        filters.press("Enter")
        expect(page.get_by_text("Filter “lang” is not of the form key:value")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("with filters lang:fr")).to_be_visible()
        # a shared link holds the filters
        page.goto(f"{page_url}/?q=vitamin+D+deficiency&mode=bm25&filter=lang:en")
        expect(page.get_by_text("1 results in")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("1. Vitamin D in winter")).to_be_visible()
        expect(page.get_by_role("textbox", name="Metadata filters (key:value)")).to_have_value("lang:en")
        browser.close()


def test_placeholders_then_a_live_answer_beside_a_list_of_headed_results(page_url: str) -> None:
    """While the search runs the results area says so; while the (slow) LLM has not sent its first token the
    answer area says so, with the results already on screen; the results are a list of headed items, the
    answer a polite live region; axe-core finds no serious violation with the answer shown."""
    from playwright.sync_api import expect, sync_playwright

    if not AXE.exists():
        pytest.fail(f"axe-core not found at {AXE}: `make browser` installs it (npm)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1600})
        page.add_init_script(SEEN_LOADING)
        page.goto(page_url)
        box = page.get_by_placeholder("Ask or search the documents")
        box.wait_for(timeout=60_000)
        page.get_by_text("Answer", exact=True).click()
        box.fill("vitamin D deficiency")
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_text("Writing the answer…")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("10 results in")).to_be_visible()  # the results did not wait for the answer
        assert page.evaluate("window.seenLoading"), "no 'Searching…' placeholder while the search ran"
        live = page.locator("[aria-live='polite'].rs-answer")
        expect(live).to_contain_text("Vitamin D deficiency is common in winter", timeout=60_000)
        expect(page.get_by_text("Writing the answer…")).to_have_count(0)
        # the results: one list owning ten items, each headed by its title
        owned = page.locator("[role='list'][aria-label='Search results']").get_attribute("aria-owns")
        assert owned is not None and owned.split() == [f"rs-result-{n}" for n in range(1, 11)]
        items = page.locator("[role='listitem'].rs-result")
        expect(items).to_have_count(10)
        expect(items.locator("[role='heading'][aria-level='4']")).to_have_count(10)
        expect(page.get_by_role("heading", name="Results for “vitamin D deficiency”")).to_be_visible()
        violations = serious_violations(page)
        browser.close()
    assert violations == [], violations


def test_the_answer_takes_the_same_filters_as_the_results(page_url: str) -> None:
    """The UI sends its filters with the answer too, so source [n] stays result n of the filtered list."""
    r = httpx.post(f"{API['url']}/answer", headers={"X-API-Key": KEY}, timeout=60,
                   json={"question": "vitamin D deficiency", "mode": "bm25", "filter": ["lang:de"]})  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert [s["id"] for s in body["cited"] + body["uncited"]] == ["winter-de"], body
    bad = httpx.post(
        f"{API['url']}/answer", headers={"X-API-Key": KEY}, json={"question": "x", "filter": ["lang"]}
    )
    assert bad.status_code == 422 and "key:value" in bad.json()["error"]["message"]
