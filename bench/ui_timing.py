"""How long the search page takes, as a user sees it: Enter in the search box → the first result on screen, and
→ the first answer token on screen, in headless Chromium against the real API and Streamlit UI on loopback.

    python -m bench.ui_timing --home DIR [--queries 20] [--no-llm] [--max-tokens 64] [--json FILE]

DIR holds the index `scifact` (`ragsearch ingest`); it is only read (the API runs on a copy: it writes logs).
With an LLM (default) the API answers through a llama.cpp server with the packaged SmolLM2-135M (one thread,
as the tests run it); `--no-llm` points it at a closed port (the answer falls back to an extract). The page
has Answer ticked; after one warm-up search, each SciFact test query is typed and sent with Enter, and a
MutationObserver in the page timestamps (on the browser's clock, from the Enter keydown) the moment the
"Results for" heading of that query and its first result are in the DOM, and the first answer text (neither
the "Writing the answer…" placeholder nor the previous query's answer). Each query waits for its answer to finish before the next. Prints
p50/p95 of both and how often the results came after the first answer token (they never should: the page
draws them before it asks for the answer).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.judge_speed import start as start_llm
from bench.latency import percentiles
from bench.load import free_port, start_server
from bench.serving_study import DATA, say
from ragsearch.eval.data import load_split

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("RAGSEARCH_TEST_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
]
TIMESTAMPS = """
window.rsT = {armed: false};
window.rsArm = (q) => {
  const a = document.querySelector('.rs-answer');
  window.rsT = {armed: true, q, t0: null, results: null, token: null, old: a ? a.textContent.trim() : ''};
};
document.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && window.rsT.armed) { window.rsT.t0 = e.timeStamp; window.rsT.armed = false; }
}, true);
new MutationObserver(() => {
  const t = window.rsT, now = performance.now();
  if (t.t0 === null || t.t0 === undefined) return;
  if (t.results === null && document.getElementById('rs-result-1') && [...document.querySelectorAll('h3')]
      .some((h) => h.textContent.includes('Results for \u201c' + t.q + '\u201d'))) t.results = now;
  const a = document.querySelector('.rs-answer');
  if (!a) return;
  const text = a.textContent.trim();
  if (t.token === null && text && text !== t.old && text !== 'Writing the answer\u2026') t.token = now;
}).observe(document, {childList: true, subtree: true, characterData: true});
"""


def start_ui(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "app" / "ui.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the Streamlit UI did not start")


def measure(ui_url: str, queries: list[str]) -> list[dict[str, Any]]:
    """One row per query (the first is the warm-up): ms from Enter to the first result and to the first answer
    text, and whether the results came after the answer's first text."""
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1400})
        page.add_init_script(TIMESTAMPS)
        page.goto(ui_url)
        box = page.get_by_placeholder("Ask or search the documents")
        box.wait_for(timeout=120_000)
        page.get_by_text("Answer", exact=True).click()
        for q in queries:
            box.fill(q)
            page.evaluate("(q) => rsArm(q)", q)
            box.press("Enter")
            try:
                page.wait_for_function("() => rsT.results !== null && rsT.token !== null", timeout=120_000)
            except Exception:
                page.screenshot(path="/tmp/ui-timing-failed.png", full_page=True)
                raise SystemExit(
                    f"no result or answer for {q!r} in 120 s: {page.evaluate('() => rsT')}"
                ) from None
            # the answer is complete when its sources say whether it cited them; then the page's run is over
            page.locator(".rs-source", has_text="cited").first.wait_for(timeout=300_000)
            page.locator("[data-testid='stStatusWidget']").wait_for(state="detached", timeout=300_000)
            t = page.evaluate("() => rsT")
            ttft = page.get_by_text(
                re.compile(r"^first token \d+ ms")
            ).all_inner_texts()  # the API's own figure
            rows.append({"query": q, "results_ms": t["results"] - t["t0"], "answer_ms": t["token"] - t["t0"],
                         "results_waited": t["results"] > t["token"],
                         "api_ttft_ms": float(ttft[0].split()[2]) if ttft else None})  # fmt: skip
            say(f"{len(rows) - 1:>3} results {rows[-1]['results_ms']:7.0f} ms · first answer text "
                f"{rows[-1]['answer_ms']:7.0f} ms · {q[:60]}")  # fmt: skip
        browser.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path, required=True, help="a home with the index scifact (read only)")
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--no-llm", action="store_true", help="a closed LLM port: the answer is an extract")
    ap.add_argument("--max-tokens", type=int, default=64, help="the LLM's answer length cap")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    split = load_split(DATA / "scifact", "test")
    queries = list(split.queries.values())[: a.queries + 1]
    with tempfile.TemporaryDirectory(prefix="ui-timing-") as tmp:
        home = Path(tmp) / "home"
        shutil.copytree(a.home, home, ignore=shutil.ignore_patterns("write.lock"))
        procs: list[subprocess.Popen[bytes]] = []
        try:
            if a.no_llm:
                llm_url = f"http://127.0.0.1:{free_port()}/v1"
            else:
                llm, llm_url = start_llm(
                    ["--n_threads", "1", "--n_threads_batch", "1"], Path(tmp) / "llm.log"
                )
                procs.append(llm)
            env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSEARCH_")}
            env.update(RAGSEARCH_HOME=str(home), RAGSEARCH_INDEX="scifact", RAGSEARCH_LLM_BASE_URL=llm_url,
                       RAGSEARCH_LLM_API_KEY="none", RAGSEARCH_LLM_MODEL="smollm2",
                       RAGSEARCH_LLM_MAX_TOKENS=str(a.max_tokens), RAGSEARCH_LLM_CONNECT_TIMEOUT_S="1")  # fmt: skip
            api, api_url = start_server(env, Path(tmp) / "api.log")
            procs.append(api)
            ui, ui_url = start_ui({**env, "RAGSEARCH_API_URL": api_url})
            procs.append(ui)
            rows = measure(ui_url, queries)
        finally:
            for p in reversed(procs):
                p.terminate()
                p.wait(timeout=30)
    warm = rows[1:]
    out = {"llm": None if a.no_llm else f"SmolLM2-135M llama.cpp, max {a.max_tokens} tokens",
           "queries": len(warm), "results": percentiles([r["results_ms"] for r in warm]),
           "first_answer_text": percentiles([r["answer_ms"] for r in warm]),
           "results_after_answer": sum(r["results_waited"] for r in rows), "rows": rows}  # fmt: skip
    say(f"\nwarm, {len(warm)} queries ({out['llm'] or 'no LLM: extractive answers'}):")
    for name in ("results", "first_answer_text"):
        pct = out[name]
        say(
            f"  Enter → {name.replace('_', ' '):<18} p50 {pct['p50_ms']:6.0f} ms · p95 {pct['p95_ms']:6.0f} ms"
        )
    ttfts = [r["api_ttft_ms"] for r in warm if r["api_ttft_ms"] is not None]
    if ttfts:  # from the API's request to the LLM to its first token (prompt evaluation included)
        out["api_first_token"] = ttft = percentiles(ttfts)
        say(
            f"  LLM first token, as the API timed it p50 {ttft['p50_ms']:6.0f} ms · p95 {ttft['p95_ms']:6.0f} ms"
        )
    say(f"  results shown after the answer's first text: {out['results_after_answer']} of {len(rows)}")
    if a.json:
        a.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
