"""The Streamlit UI in headless Chromium (Debian's /usr/bin/chromium driven by playwright), against the real
API on loopback: search, see results, send a thumbs-up, find the feedback row. Saves a screenshot to
artifacts/ui-search.png."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from ragsearch.app.feedback import FeedbackStore
from ragsearch.app.impressions import ImpressionLog
from tests.app.test_api import KEY
from tests.app.ui_browser import (
    API,
    AXE,
    CHROMIUM,
    FLAGS,
    REPO,
    serious_violations,
    streamlit_ui,
    ui_home,
    ui_url,
)
from tests.net import free_port

__all__ = ["ui_home", "ui_url"]  # fixtures used by this module's tests

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# an element this script run drew: Streamlit keeps the last run's elements on screen, marked stale, until the
# running script replaces them, so a wait on content that both runs show must not match the old one
FRESH = "[data-testid='stElementContainer'][data-stale='false']"


def test_search_results_feedback_and_no_injection(ui_url: str, ui_home: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    artifacts = REPO / "artifacts"
    artifacts.mkdir(exist_ok=True)
    dialogs: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1600})
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(ui_url)
        box = page.get_by_placeholder("Ask or search the documents")
        box.wait_for(timeout=60_000)
        # what the index serves, and why (a fresh index: the default hybrid)
        expect(page.get_by_text("Index sf serves default (hybrid): fresh index")).to_be_visible(
            timeout=30_000
        )
        box.fill("vitamin D deficiency")
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_text("results in")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("(hybrid, configuration default)")).to_be_visible()
        expect(
            page.get_by_text("<script>alert('x')</script> vitamin D **bold** [link](javascript:alert(1))")
        ).to_be_visible()
        assert page.locator("script:has-text(\"alert('x')\")").count() == 0
        assert page.locator("img[src='x']").count() == 0
        page.get_by_role("button", name="👍 relevant").first.click()
        expect(page.get_by_text("feedback up recorded")).to_be_visible(timeout=30_000)
        page.screenshot(path=str(artifacts / "ui-search.png"), full_page=True)
        page.get_by_text("Evaluation").click()
        expect(page.get_by_text("Offline evaluation")).to_be_visible(timeout=30_000)
        # one chart per metric on 0-1, the significance mark, and the per-query wins and losses
        expect(page.get_by_text("scifact (test, 3 queries)")).to_be_visible()
        expect(
            page.get_by_text("hybrid against bm25, nDCG@10 per query: 1 better, 1 worse, 1 equal.")
        ).to_be_visible(timeout=30_000)
        expect(
            page.get_by_text("* marks a system significantly different from bm25", exact=False)
        ).to_be_visible()
        page.locator(".vega-embed svg, .vega-embed canvas").first.wait_for(timeout=30_000)
        page.screenshot(path=str(artifacts / "ui-evaluation.png"), full_page=True)
        browser.close()
    assert dialogs == []
    rows = FeedbackStore(ui_home / "feedback.sqlite").rows()
    assert rows and rows[-1].kind == "up" and rows[-1].query == "vitamin D deficiency" and rows[-1].rank == 1
    # the vote is also an event on the impression the results came from (position 1, the passage shown there)
    log = ImpressionLog(ui_home / "impressions.sqlite")
    shown = {i.query_id: i for i in log.impressions("sf")}
    vote = log.events("sf")[-1]
    assert (vote.action_name, vote.position) == ("up", 1) and shown[vote.query_id].hit_ids[0] == rows[
        -1
    ].passage_id
    assert shown[vote.query_id].user_query == "vitamin D deficiency" and shown[vote.query_id].session_id
    log.close()


def test_answer_sources_match_the_results_of_the_selected_mode(
    ui_url: str, scifact_index, real_embedder
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect, sync_playwright

    from ragsearch.search.config import Mode, SearchConfig
    from ragsearch.search.engine import SearchEngine

    engine = SearchEngine(scifact_index, real_embedder)

    def top5(q: str, mode: Mode) -> list[str]:
        return [h.id for h in engine.search(q, SearchConfig(mode=mode, k=5)).hits]

    # a query whose bm25 and hybrid top 5 differ at some rank n, so an answer ranked by another mode than
    # the results beside it would show another passage as source [n]
    queries = ["smoking and lung cancer risk", "obesity and insulin resistance", "aspirin and heart attacks",
               "stem cells in tissue repair", "antibiotic resistance in bacteria", "ALDH1 expression in breast cancer"]  # fmt: skip
    q = next(q for q in queries if top5(q, Mode.BM25) != top5(q, Mode.HYBRID))
    bm25, hybrid = top5(q, Mode.BM25), top5(q, Mode.HYBRID)
    n = next(i for i in range(5) if bm25[i] != hybrid[i]) + 1
    title = scifact_index.get([bm25[n - 1]])[0].title
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1600})
        page.goto(ui_url)
        box = page.get_by_placeholder("Ask or search the documents")
        box.wait_for(timeout=60_000)
        box.fill(q)
        page.get_by_text("bm25", exact=True).click()
        page.get_by_text("Answer", exact=True).click()
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_text("results in")).to_be_visible(timeout=60_000)
        expect(page.get_by_text(f"{n}. {title}", exact=True)).to_be_visible()
        source_n = page.locator(".rs-source", has_text=f"[{n}]").filter(has_text=title)
        expect(source_n.first).to_be_visible(timeout=30_000)
        # once the answer is complete, every source says whether the answer cited it
        expect(page.locator(".rs-source").first).to_contain_text("cited", timeout=30_000)
        sources = page.locator(".rs-source").all_inner_texts()
        assert sources and all(t.endswith(("· cited", "· not cited")) for t in sources), sources
        browser.close()


def test_online_page_shows_what_is_served_and_the_experiment(ui_url: str, ui_home: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    from tests.app.test_cli import cli

    r = cli(ui_home, "online", "start", "--index", "sf", "--candidate", "bm25", "--traffic", "0.1")
    assert r.returncode == 0, r.stderr
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1300, "height": 1200})
            page.goto(ui_url)
            page.get_by_text("Online", exact=True).click()
            expect(page.get_by_text("bm25 (candidate) against default (served): running")).to_be_visible(
                timeout=30_000
            )
            expect(page.get_by_text("Index sf serves default (hybrid)")).to_be_visible()
            expect(page.get_by_text("Wins", exact=True)).to_be_visible()
            expect(page.get_by_text("evidence 0.00 of 3.00 needed (alpha 0.05)")).to_be_visible()
            browser.close()
    finally:
        assert cli(ui_home, "online", "stop", "--index", "sf").returncode == 0


def test_empty_no_match_and_api_down_states_say_what_happened(ui_url: str, ui_home: Path) -> None:
    """An empty query, a query nothing matches, and an API that does not answer each get a plain message (no
    traceback); the box carries the API's length limit; Streamlit's developer menu is not shown."""
    from playwright.sync_api import expect, sync_playwright

    closed = free_port()
    # a second UI whose API is down (a closed port)
    with streamlit_ui(ui_home, f"http://127.0.0.1:{closed}") as down_url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1200})
        page.goto(ui_url)
        box = page.get_by_placeholder("Ask or search the documents")
        box.wait_for(timeout=60_000)
        box.fill("a" * 1200)  # the box refuses more than the API's limit (1000): no error after the search
        assert len(box.input_value()) <= 1000
        box.fill("")
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_text("Type what you are looking for, then press Search.")).to_be_visible(
            timeout=30_000
        )
        box.fill("zzqxv wqjjk")
        page.get_by_text("bm25", exact=True).click()
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_text("No results for “zzqxv wqjjk” (bm25")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("results in")).to_have_count(0)
        # dense always finds neighbours: they are said to be weak
        page.locator("label", has=page.get_by_text("hybrid", exact=True)).click()
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_text("Weak evidence: the closest passage's similarity")).to_be_visible(
            timeout=30_000
        )
        assert page.get_by_role("button", name="Deploy").count() == 0
        page.locator("[data-testid='stMainMenu']").wait_for(state="detached", timeout=5_000)
        page.goto(down_url)
        expect(
            page.get_by_text(f"The search service at http://127.0.0.1:{closed} is not answering")
        ).to_be_visible(timeout=60_000)
        assert "Traceback" not in page.content() and "httpx" not in page.content()
        browser.close()


def test_the_url_holds_the_search_and_a_vote_does_not_regenerate_the_answer(
    ui_url: str, ui_home: Path
) -> None:
    """A link with ?q=...&mode=... shows that search; searching writes the URL; the answer streams into its own
    area after the results and is kept: a vote (a rerun of the page) does not ask the API for it again."""
    from playwright.sync_api import expect, sync_playwright

    def answers() -> float:  # POST /answer requests the API has served
        metrics = httpx.get(f"{API['url']}/metrics", headers={"X-API-Key": KEY}).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                   if line.startswith("ragsearch_http_requests_total{") and 'route="/answer"' in line)  # fmt: skip

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1600})
        page.goto(f"{ui_url}/?q=vitamin+D+deficiency&mode=bm25")
        expect(page.get_by_text("results in")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("(bm25")).to_be_visible()
        expect(page.get_by_placeholder("Ask or search the documents")).to_have_value("vitamin D deficiency")
        expect(page.get_by_role("heading", name="Results for “vitamin D deficiency”")).to_be_visible()
        page.get_by_role("button", name="Next page →").click()  # pagination, also in the URL
        expect(page.get_by_text("results 11-20, page 2")).to_be_visible(timeout=30_000)
        page.wait_for_url("**page=2**", timeout=30_000)
        page.reload()
        expect(page.get_by_text("results 11-20, page 2")).to_be_visible(timeout=60_000)
        page.get_by_role("button", name="← Previous page").click()
        expect(page.get_by_text("results 1-10, page 1")).to_be_visible(timeout=30_000)
        # ticking Answer answers the search on screen; it finishes before the next search, so that search's run
        # starts with a complete answer to the old query on screen (the state a CI run once voted in)
        start = answers()
        page.get_by_text("Answer", exact=True).click()
        done = page.locator(f"{FRESH} .rs-source small", has_text="cited").first
        expect(done).to_be_attached(timeout=60_000)
        assert answers() == start + 1
        box = page.get_by_placeholder("Ask or search the documents")
        box.fill("insulin resistance")
        page.get_by_role("button", name="Search").click()
        page.wait_for_url("**q=insulin+resistance**", timeout=30_000)
        assert "mode=bm25" in page.url
        expect(page.get_by_role("heading", name="Answer")).to_be_visible(timeout=60_000)
        expect(page.locator("[id^='source-']").first).to_be_attached(timeout=60_000)
        # this search's answer is complete (each source says cited or not; a vote while it streams restarts it).
        # The last search's answer stays on screen, marked stale, until this run replaces it: only elements this
        # run drew count (waiting on any "cited" raced the stream and once voted mid-answer, in CI)
        expect(done).to_be_attached(timeout=60_000)
        before = answers()
        assert before == start + 2
        page.get_by_role("button", name="👍 relevant").first.click()
        expect(page.get_by_text("feedback up recorded")).to_be_visible(timeout=30_000)
        expect(done).to_be_attached(timeout=60_000)  # the vote's rerun has drawn the answer again
        expect(page.get_by_role("heading", name="Answer")).to_be_visible()
        assert answers() == before
        # the vote shows pressed; changing it replaces it (one current vote per session, query and result)
        up, down = (page.get_by_role("button", name=n).first for n in ("👍 relevant", "👎 not relevant"))
        expect(up).to_have_attribute("data-testid", "stBaseButton-primary", timeout=30_000)
        down.click()
        expect(down).to_have_attribute("data-testid", "stBaseButton-primary", timeout=30_000)
        expect(up).to_have_attribute("data-testid", "stBaseButton-secondary")
        browser.close()
    store = FeedbackStore(ui_home / "feedback.sqlite")
    mine = [r for r in store.rows() if r.query == "insulin resistance"]
    assert (
        [r.kind for r in mine] == ["up", "down"]
        and mine[0].session_id
        and mine[0].session_id == mine[1].session_id
    )
    assert store.judgments()["insulin resistance"][mine[0].doc_id] == 0
    store.close()


def test_why_this_result_shows_the_parts_and_the_features(ui_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1600})
        page.goto(ui_url)
        box = page.get_by_placeholder("Ask or search the documents")
        box.wait_for(timeout=60_000)
        box.fill("vitamin D deficiency")
        page.get_by_text("ltr", exact=True).click()
        page.get_by_text("Why", exact=True).click()
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_text("results in")).to_be_visible(timeout=60_000)
        # a compact bar per explained result, with its parts summed to the score
        expect(page.locator(".why-bar")).to_have_count(10)
        expect(page.get_by_text("score ").filter(has_text="lexical match").first).to_be_visible()
        expect(page.get_by_text("semantic similarity").first).to_be_visible()
        # expandable to every feature's contribution
        page.get_by_text("Why #1: features").click()
        expect(page.get_by_role("cell", name="bm25_rel", exact=True).first).to_be_visible(timeout=30_000)
        page.screenshot(path=str(REPO / "artifacts" / "ui-why.png"), full_page=True)
        browser.close()


def test_search_and_evaluation_pages_have_no_serious_accessibility_violations(ui_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    if not AXE.exists():
        pytest.fail(f"axe-core not found at {AXE}: `make browser` installs it (npm)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1400})
        page.goto(f"{ui_url}/?q=vitamin+D+deficiency")
        expect(page.get_by_text("results in")).to_be_visible(timeout=60_000)
        search = serious_violations(page)
        page.get_by_text("Evaluation").click()
        page.locator(".vega-embed svg, .vega-embed canvas").first.wait_for(timeout=30_000)
        evaluation = serious_violations(page)
        browser.close()
    assert search == [] and evaluation == [], {"search": search, "evaluation": evaluation}
