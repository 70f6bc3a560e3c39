"""The search page: the query form and its controls, results (snippets, votes, why this result), the
answer beside them, pagination."""

from __future__ import annotations

import re
import time
from typing import Any

import pandas as pd
import streamlit as st

from ragsearch.app.settings import get_settings
from ragsearch.app.ui_client import api, send_feedback, serving_line, session_id, sse_events
from ragsearch.app.ui_document import document_link
from ragsearch.app.ui_markup import escape, marked
from ragsearch.app.ui_parts import (
    FILTER_HELP,
    SEARCHING_HTML,
    WRITING,
    answer_html,
    filters_note,
    parse_filter_text,
    result_heading,
    results_list_html,
)


def highlight(text: str, query: str, limit: int = 400) -> str:
    """An escaped snippet with the query's words marked."""
    snippet = text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"
    words = sorted({w for w in re.findall(r"\w{3,}", query.lower())}, key=len, reverse=True)
    out = escape(snippet)
    if not words:
        return out
    pattern = re.compile(r"(?<![&#\w])(" + "|".join(re.escape(w) for w in words) + r")", re.IGNORECASE)
    return pattern.sub(r"<mark>\1</mark>", out)


def link_citations(text: str, n_sources: int) -> str:
    escaped = escape(text)
    for n in range(1, n_sources + 1):
        escaped = escaped.replace(f"&#91;{n}&#93;", f'<a href="#source-{n}">[{n}]</a>')
    return escaped


SERVED = "served"


MODES = [SERVED, "hybrid", "bm25", "dense", "ltr"]


CONTROLS: dict[str, Any] = {"mode": SERVED, "k": 10, "answer": False, "explain": False, "filters": ""}


SEARCH_KEYS = (
    "mode",
    "k",
    "explain",
    "filters",
)  # a change asks the API again (the answer box shows or goes)


def search_page() -> None:
    st.title("ragsearch")
    line = serving_line()
    if line:
        st.caption(line)
    limit = get_settings().api.max_query_chars
    url = (
        st.query_params
    )  # the query and mode live in the URL: a reload or a shared link shows the same search
    from_url = "last" not in st.session_state and bool(url.get("q", "").strip())
    if from_url and "query" not in st.session_state:
        st.session_state["query"] = url["q"][:limit]
        if url.get("mode") in MODES:
            st.session_state["mode"] = url["mode"]
        st.session_state["filters"] = ", ".join(url.get_all("filter"))
    last = st.session_state.get("last")
    for key, default in CONTROLS.items():  # the controls as last searched (they are not drawn on other pages)
        st.session_state.setdefault(key, ", ".join(last["filters"]) if key == "filters" and last
                                    else (last or {}).get(key, default))  # fmt: skip
    with st.form("search"):
        query = st.text_input(
            "Search", key="query", placeholder="Ask or search the documents", max_chars=limit
        )
        submitted = st.form_submit_button("Search")
    now = search_controls()
    if submitted and not query.strip():
        st.session_state.pop("last", None)
        st.info("Type what you are looking for, then press Search.")
        return
    page = max(1, int(url["page"])) if url.get("page", "").isdigit() else 1
    turned = last is not None and not submitted and last.get("page", 1) != page  # a page button was pressed
    # a control changed since the last search: it applies at once, to the last search, from its first page
    changed = last is not None and not submitted and any(last.get(key) != now[key] for key in SEARCH_KEYS)
    answer_slot = st.container()  # above the results, filled after them
    results = st.empty()
    if submitted or from_url or turned or changed:
        if submitted or from_url or changed:
            last = {"query": query if submitted or from_url else last["query"], **now}  # type: ignore[index]
            page = page if from_url else 1
        assert last is not None
        results.markdown(SEARCHING_HTML, unsafe_allow_html=True)  # not a blank page while the API works
        st.query_params.from_dict({"q": last["query"]} | ({} if last["mode"] == SERVED else {"mode": last["mode"]})
                                  | ({"filter": last["filters"]} if last["filters"] else {})
                                  | ({"page": str(page)} if page > 1 else {}))  # fmt: skip
        with api() as c:
            params: dict[str, Any] = {"q": last["query"], "k": last["k"], "offset": (page - 1) * last["k"],
                                      "session_id": session_id(), "filter": last["filters"]}  # fmt: skip
            if last["mode"] != SERVED:
                params["mode"] = last["mode"]
            if last.get("explain"):
                params["explain"] = "true"
            t0 = time.perf_counter()  # the whole wait the user sees: request, server, transfer, parse
            r = c.get("/search", params=params)
            body = r.json()
            round_ms = (time.perf_counter() - t0) * 1000
        last = st.session_state["last"] = {**last, "status": r.status_code, "body": body, "page": page,
                                           "round_ms": round_ms}  # fmt: skip
    if not last:
        return
    last["answer"] = now["answer"]  # the answer box shows or goes at once; the results stay
    with results.container():
        shown = results_section(last)
    if shown and last["answer"]:
        with answer_slot:
            answer_block(last["query"], last["mode"], last["filters"])


def search_controls() -> dict[str, Any]:
    """The controls beside the search box, outside its form so that a change applies at once (widget keys
    hold them; `search_page` compares them with the last search's)."""
    cols = st.columns([2, 1, 1, 1])
    mode = cols[0].radio(
        "Mode", MODES, horizontal=True, key="mode",  # a key, so the choice survives the URL being written
        help="served: the configuration the index serves (chosen on evidence); the others: that mode on it",
    )  # fmt: skip
    k = cols[1].number_input("Results", 1, 50, key="k")
    want_answer = cols[2].checkbox("Answer", key="answer")
    explain = cols[3].checkbox(
        "Why", key="explain", help="why each of the top 10 results scores what it does, part by part"
    )
    with st.expander("Filters", expanded=bool(st.session_state.get("filters"))):
        text = st.text_input("Metadata filters (key:value)", key="filters", help=FILTER_HELP,
                             placeholder="key:value, key:value")  # fmt: skip
    filters, problem = parse_filter_text(text)
    if problem:  # said, and the filters of the last search stay
        st.warning(problem)
        filters = (st.session_state.get("last") or {}).get("filters", [])
    return {"mode": mode, "k": int(k), "answer": want_answer, "explain": explain, "filters": filters}


def took_line(last: dict[str, Any]) -> str:
    """'212 ms (server 35 ms)': the UI's round trip around `/search`, then the server's own `took_ms`."""
    server = f"{last['body']['took_ms']:.0f} ms"
    return f"{last['round_ms']:.0f} ms (server {server})" if last.get("round_ms") is not None else server


def results_section(last: dict[str, Any]) -> bool:
    """The last search's results (or its error or no-match state); whether there are results to answer from."""
    if last["status"] != 200:
        st.error(last["body"].get("error", {}).get("message", "search failed"))
        return False
    body = last["body"]
    config = body.get("config_name")
    by = f"{body['mode']}, configuration {config}" if config else body["mode"]
    if not body["hits"]:
        more = ", or fewer filters" if last["filters"] else ", or another mode"
        st.info(
            f"No results for “{last['query']}” ({by}){filters_note(last['filters'])}. Try other words{more}."
        )
        return False
    st.subheader(f"Results for “{last['query']}”")
    for notice in body.get("notices", []):  # weak evidence, a fallback from ltr: said, not hidden
        (st.warning if notice.startswith("weak evidence") else st.caption)(notice[:1].upper() + notice[1:])
    first = body["hits"][0]["rank"]
    st.caption(f"{len(body['hits'])} results in {took_line(last)} ({by}) · "
               f"results {first}-{first + len(body['hits']) - 1}, page {last['page']}")  # fmt: skip
    st.markdown(results_list_html([h["rank"] for h in body["hits"]]), unsafe_allow_html=True)
    for hit in body["hits"]:
        result_block(last["query"], hit, last["explain"], body.get("impression_id"))
    pager(last, len(body["hits"]))
    return True


def pager(last: dict[str, Any], shown: int) -> None:
    """Previous / next page buttons (the page lives in the URL); next only while a full page came back and the
    API's depth limit allows another."""
    prev, nxt, _ = st.columns([2, 2, 5])
    page, k = last["page"], last["k"]
    if page > 1 and prev.button("← Previous page", key="page-prev"):
        st.query_params["page"] = str(page - 1)
        st.rerun()
    if (
        shown == k
        and (page + 1) * k <= get_settings().api.max_k
        and nxt.button("Next page →", key="page-next")
    ):
        st.query_params["page"] = str(page + 1)
        st.rerun()


def answer_block(query: str, mode: str, filters: list[str] | None = None) -> None:
    """The answer, built from the same search configuration as the results beside it (source [n] is result n),
    streamed after the results are on screen."""
    box = st.container(border=True)
    box.subheader("Answer")
    placeholder = box.empty()
    notes = box.container()
    sources_area = box.empty()
    answers: dict[str, Any] = st.session_state.setdefault("answers", {})
    key = f"{mode}\n{query}\n{filters or []}"
    if key in answers:  # a rerun (a vote, a page switch) shows the answer again; it is not generated twice
        sources, final = answers[key]
    else:
        placeholder.markdown(
            answer_html(f"<em>{WRITING}</em>"), unsafe_allow_html=True
        )  # until the first token
        sources, final = stream_answer(query, mode, box, placeholder, sources_area, filters or [])
        if final is not None:
            answers[key] = (sources, final)
    if final is None:
        return
    placeholder.markdown(answer_html(link_citations(final["text"], len(sources))), unsafe_allow_html=True)
    if final.get("generation_error"):
        notes.caption(f"Generation unavailable: {final['generation_error']}")
    for notice in final.get("notices", []):
        notes.caption(notice[:1].upper() + notice[1:])
    if final.get("invalid_citations"):
        cited = ", ".join(f"[{n}]" for n in final["invalid_citations"])
        notes.caption(
            f"The model cited {cited}, which is not among the {len(sources)} sources: removed from the answer."
        )
    sources_area.markdown(sources_html(sources, {c["n"] for c in final["cited"]}), unsafe_allow_html=True)
    m = final["metrics"]
    if m.get("ttft_ms") is not None:
        box.caption(
            f"first token {m['ttft_ms']:.0f} ms · {m.get('tokens_per_s') or 0:.1f} tokens/s · {m.get('model')}"
        )
    up, down = box.columns(2)
    top = (final["cited"] or final["uncited"] or [None])[0]
    if top and up.button("👍 answer", key="ans-up"):
        send_feedback(query, top["id"], None, "up", "answer")
    if top and down.button("👎 answer", key="ans-down"):
        send_feedback(query, top["id"], None, "down", "answer")


def sources_html(sources: list[dict[str, Any]], cited: set[int] | None = None) -> str:
    """The answer's sources, [n] being result n; once the answer is complete (`cited` known) each says whether
    the answer cited it. Escaped HTML; each source is a link target for its [n] in the answer, and its title a
    link to its document view (with the query in the URL, where the search page put it)."""
    lines = []
    for s in sources:
        state = "" if cited is None else (" <b>· cited</b>" if s["n"] in cited else " · not cited")
        lines.append(f'<div id="source-{s["n"]}" class="rs-source"><b>[{s["n"]}]</b> {document_link(escape(s["title"] or s["id"]), s["id"], st.query_params.get("q", ""))}: '
                     f"{escape(s['snippet'])}<small>{state}</small></div>")  # fmt: skip
    return "".join(lines)


def stream_answer(
    query: str, mode: str, box: Any, placeholder: Any, sources_area: Any, filters: list[str]
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Stream the answer into `placeholder` (the sources into `sources_area` as soon as the API sends them);
    the sources and the final answer event (None on error)."""
    sources: list[dict[str, Any]] = []
    text = ""
    with api() as c:
        request: dict[str, Any] = {"question": query, "stream": True, "filter": filters}
        if mode != SERVED:
            request["mode"] = mode
        for event, data in sse_events(c, request):
            if event == "sources":
                sources = data
                sources_area.markdown(sources_html(sources), unsafe_allow_html=True)
            elif event == "token":
                text += data["text"]
                placeholder.markdown(answer_html(escape(text)), unsafe_allow_html=True)
            elif event == "answer":
                return sources, data
            elif event == "error":
                box.error(data.get("message", "answer failed"))
                return sources, None
    return sources, None


def result_block(query: str, hit: dict[str, Any], show_scores: bool, impression: str | None = None) -> None:
    box = st.container(border=True)
    title = marked(hit["title"], hit.get("title_highlights", [])) if hit["title"] else escape(hit["id"])
    title = document_link(title, hit["id"], query, impression, hit["rank"])  # opens the document view
    box.markdown(result_heading(hit["rank"], title), unsafe_allow_html=True)
    if "snippet" in hit:  # the query-centred window, marked by the API with the index's analyzer
        box.markdown(marked(hit["snippet"], hit["snippet_highlights"]), unsafe_allow_html=True)
    else:
        box.markdown(highlight(hit["text"], query), unsafe_allow_html=True)
    cols = box.columns([2, 2, 5])
    vote = st.session_state.get("votes", {}).get(f"result\n{query}\n{hit['id']}")
    for col, kind, label in ((cols[0], "up", "👍 relevant"), (cols[1], "down", "👎 not relevant")):
        col.button(label, key=f"{kind}-{hit['id']}", type="primary" if vote == kind else "secondary",
                   on_click=send_feedback, args=(query, hit["id"], hit["rank"], kind),
                   kwargs={"impression": impression}, help="your current vote" if vote == kind else None)  # fmt: skip
    cols[2].caption(f"id {hit['id']} · document {hit['doc_id']}")
    if show_scores and hit.get("explanation"):
        explanation_block(box, hit["rank"], hit["explanation"])
    elif show_scores:  # past the top 10, which are the ones explained
        scores = {k: hit.get(k) for k in ("score", "bm25_score", "bm25_rank", "dense_score", "dense_rank",
                                          "fused_score", "rerank_score")}  # fmt: skip
        box.json(scores, expanded=False)


PART_COLORS = {"prior (fused score)": "#4c78a8", "lexical match": "#f58518", "semantic similarity": "#54a24b",
               "first-stage agreement": "#b279a2", "proximity": "#e45756", "lengths": "#9d755d",
               "query": "#bab0ac", "base": "#d3d3d3", "bm25": "#f58518", "dense": "#54a24b"}  # fmt: skip


def explanation_bar(e: dict[str, Any]) -> str:
    """One compact bar: a segment per part, as wide as its share of the parts' total magnitude (a part
    that takes away is drawn faded), and a line listing the parts with their signs. Escaped HTML."""
    parts = e["parts"]
    total = sum(abs(p["contribution"]) for p in parts) or 1.0
    segments = "".join(
        f'<div title="{escape(p["name"])} {p["contribution"]:+.4f}" style="width:{100 * abs(p["contribution"]) / total:.2f}%;'
        f'background:{PART_COLORS.get(p["name"], "#888")};opacity:{1 if p["contribution"] >= 0 else 0.35}"></div>'
        for p in parts
    )  # fmt: skip
    legend = " · ".join(
        f'<span style="color:{PART_COLORS.get(p["name"], "#888")}">■</span> {escape(p["name"])} {p["contribution"]:+.3f}'
        for p in parts
    )  # fmt: skip
    return (
        f'<div class="why-bar" style="display:flex;height:12px;border-radius:3px;overflow:hidden;margin:2px 0">{segments}</div>'
        f'<div style="font-size:0.8em">score {e["score"]:.4f} = {legend}</div>'
        f'<div style="font-size:0.75em;opacity:0.7">{escape(e.get("detail", ""))}</div>'
    )  # fmt: skip


def explanation_block(box: Any, rank: int, e: dict[str, Any]) -> None:
    """The compact bar, expandable to every feature's contribution (ltr) or the fusion arithmetic."""
    box.markdown(explanation_bar(e), unsafe_allow_html=True)
    what = {"ltr": "features", "fusion": "fusion arithmetic"}.get(e["method"], "score")
    with box.expander(f"Why #{rank}: {what}"):
        if e["features"]:
            table = pd.DataFrame(e["features"])[["name", "family", "value", "contribution"]]
        else:
            table = pd.DataFrame(e["parts"])[["name", "raw", "normalized", "weight", "contribution"]]
        st.table(table)
