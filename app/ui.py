"""The Streamlit search UI. It talks only to the JSON API (RAGSEARCH_API_URL), so it works the same on
every backend. Run it with `ragsearch ui`.

Document text is untrusted: it is HTML-escaped (and markdown-escaped) before any highlighting.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import streamlit as st

from ragsearch.app.settings import get_settings
from ragsearch.app.ui_document import adopt_session, document_link, document_page
from ragsearch.app.ui_markup import escape, marked
from ragsearch.app.ui_parts import (
    FILTER_HELP,
    LOADING_CSS,
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


def api() -> httpx.Client:
    s = get_settings()
    headers = {"X-API-Key": s.api.api_key.get_secret_value()} if s.api.api_key else {}
    return httpx.Client(base_url=s.api.url, timeout=120, headers=headers)


def sse_events(client: httpx.Client, body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    with client.stream("POST", "/answer", json=body) as r:
        if r.status_code != 200:
            r.read()
            yield "error", r.json().get("error", {"message": r.text})
            return
        event = "message"
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                yield event, json.loads(line[6:])


def session_id() -> str:
    """This browser session's anonymous id (sent with searches and events; never a user identity)."""
    if "session_id" not in st.session_state:
        st.session_state["session_id"] = uuid.uuid4().hex
    return str(st.session_state["session_id"])


def send_feedback(
    query: str,
    passage_id: str,
    rank: int | None,
    kind: str,
    target: str = "result",
    impression: str | None = None,
) -> None:
    key = f"{target}\n{query}\n{passage_id}"
    votes: dict[str, str] = st.session_state.setdefault("votes", {})
    if votes.get(key) == kind:  # the same vote again: already stored, nothing to send
        st.toast(f"Already recorded: {kind}")
        return
    with api() as c:
        r = c.post("/feedback", json={"query": query, "passage_id": passage_id, "rank": rank, "kind": kind,
                                      "target": target, "session_id": session_id()})  # fmt: skip
        if (
            r.status_code == 200 and impression and rank is not None
        ):  # the vote on the impression, for click models
            c.post("/events", json={"impression_id": impression, "action_name": kind, "position": rank,
                                    "object_id": passage_id, "session_id": session_id()})  # fmt: skip
    if r.status_code == 200:
        votes[key] = kind  # the buttons show it pressed; a changed vote replaces this one for training
        st.toast(f"Thanks: feedback {kind} recorded")
    else:
        st.error(r.json().get("error", {}).get("message", r.text))


def link_citations(text: str, n_sources: int) -> str:
    escaped = escape(text)
    for n in range(1, n_sources + 1):
        escaped = escaped.replace(f"&#91;{n}&#93;", f'<a href="#source-{n}">[{n}]</a>')
    return escaped


SERVED = "served"
CAPTION_CSS = (
    "[data-testid='stCaptionContainer'] {opacity: 1 !important;} "
    "[data-testid='stCaptionContainer'], [data-testid='stCaptionContainer'] * {color: #5f6368 !important;} "
    ".rs-source {scroll-margin-top: 4.5rem; margin-bottom: 0.4rem;}"  # a citation link lands below the header
)
MODES = [SERVED, "hybrid", "bm25", "dense", "ltr"]
CONTROLS: dict[str, Any] = {"mode": SERVED, "k": 10, "answer": False, "explain": False, "filters": ""}
SEARCH_KEYS = (
    "mode",
    "k",
    "explain",
    "filters",
)  # a change asks the API again (the answer box shows or goes)


def serving_line() -> str | None:
    """What the index serves and why, as the API says it (None when it cannot say). An API that does not
    answer raises httpx.TransportError, which `main` shows as such."""
    with api() as c:
        r = c.get("/serving")
    if r.status_code != 200:
        return None
    now = r.json()
    return f"Index {now['index']} serves {now['name']} ({now['label']}): {now['reason']}"


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
            r = c.get("/search", params=params)
        last = st.session_state["last"] = {**last, "status": r.status_code, "body": r.json(), "page": page}
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
    st.caption(f"{len(body['hits'])} results in {body['took_ms']:.0f} ms ({by}) · "
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


def evaluation_page() -> None:
    st.title("Offline evaluation")
    folder = get_settings().home / "eval"
    files = sorted(folder.glob("*.json")) if folder.exists() else []
    if not files:
        st.info(
            f"No evaluation yet: run `ragsearch eval DATASET --json {folder}/NAME.json` (or `make demo`)."
        )
        return
    line = serving_line()
    if line:
        st.caption(line)
    for f in files:
        evaluation_section(json.loads(Path(f).read_text()))
    drift_section()


def evaluation_section(data: dict[str, Any]) -> None:
    """One evaluation file: a table, one bar chart per metric on 0-1 (* = significantly different from the
    first system, Holm-corrected p < 0.05), and the per-query wins and losses of a system against the first."""
    import altair as alt

    systems: dict[str, dict[str, Any]] = data.get("systems", {})
    measures = list(data.get("measures", ["nDCG@10", "R@100", "RR@10"]))
    if not systems:
        return
    first = next(iter(systems))
    st.subheader(f"{data.get('dataset')} ({data.get('split')}, {data.get('queries', '?')} queries)")
    rows = []
    for name, m in systems.items():
        p = m.get("p_holm_vs_first")
        mark = "*" if p is not None and p < 0.05 else ""
        for measure in measures:
            rows.append(
                {
                    "system": name,
                    "measure": measure,
                    "value": m.get(measure),
                    "label": f"{m.get(measure, 0):.3f}{mark}",
                }
            )
    table = pd.DataFrame(rows)
    st.dataframe(
        table.pivot(index="system", columns="measure", values="value").loc[list(systems), measures].reset_index()
        .assign(**{f"Δ nDCG@10 vs {first}": [systems[s].get("delta_vs_first") for s in systems],
                   "p (Holm)": [systems[s].get("p_holm_vs_first") for s in systems]}),
        hide_index=True,
    )  # fmt: skip
    bars = (
        alt.Chart(table)
        .mark_bar()
        .encode(
            x=alt.X("system:N", sort=list(systems), title=None),
            y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1]), title=None),
            color=alt.Color("system:N", sort=list(systems), legend=None),
        )
    )
    text = bars.mark_text(dy=-6, color="#1f2328").encode(text="label:N")
    chart = (
        alt.layer(bars, text, data=table)
        .properties(width=180, height=220)
        .facet(column=alt.Column("measure:N", sort=measures, title=None))
    )
    st.altair_chart(chart)
    st.caption(f"Bars on 0-1 per metric; * marks a system significantly different from {first} (paired t-test, "
               "Holm-corrected p < 0.05).")  # fmt: skip
    others = [s for s in systems if s != first and systems[s].get("per_query")]
    if not others or not systems[first].get("per_query"):
        return
    other = st.selectbox(
        f"Per query: a system against {first}", others, key=f"pq-{data.get('dataset')}-{data.get('split')}"
    )
    base, cand = systems[first]["per_query"], systems[other]["per_query"]
    deltas = sorted((cand[q].get("nDCG@10", 0.0) - base[q].get("nDCG@10", 0.0), q) for q in base if q in cand)
    wins, losses = sum(d > 0 for d, _ in deltas), sum(d < 0 for d, _ in deltas)
    st.write(f"**{other}** against **{first}**, nDCG@10 per query: {wins} better, {losses} worse, "
             f"{len(deltas) - wins - losses} equal.")  # fmt: skip
    per_query = pd.DataFrame({"query": [q for _, q in deltas], "delta": [d for d, _ in deltas]})
    st.altair_chart(
        alt.Chart(per_query).mark_bar().encode(
            x=alt.X("query:N", sort=None, axis=alt.Axis(labels=False, ticks=False), title="queries, worst to best"),
            y=alt.Y("delta:Q", title=f"nDCG@10 of {other} minus {first}"),
            color=alt.condition("datum.delta > 0", alt.value("#1a7f37"), alt.value("#cf222e")),
            tooltip=["query", "delta"],
        ).properties(height=200),
        use_container_width=True,
    )  # fmt: skip


def drift_section() -> None:
    st.subheader("Query drift")
    with api() as c:
        r = c.get("/drift", params={"recent": 200, "reference": 200})
    if r.status_code != 200:
        st.caption("drift unavailable: " + r.json().get("error", {}).get("message", r.text))
        return
    report = r.json()
    if not report["signals"]:
        st.caption(
            f"Not enough logged queries yet ({report['current_n']} recent, {report['reference_n']} reference)."
        )
        return
    st.write("**Drift flagged**" if report["drifted"] else "No drift flagged.")
    st.dataframe(pd.DataFrame(report["signals"]), hide_index=True)


def models_page() -> None:
    st.title("Models")
    with api() as c:
        r = c.get("/models")
    if r.status_code == 404:
        st.info("This server has no model registry endpoint.")
        return
    if r.status_code != 200:
        st.error(r.json().get("error", {}).get("message", r.text))
        return
    models = r.json()
    if not models:
        st.info("No trained model yet: run `ragsearch train`.")
        return
    st.dataframe(models_table(models), hide_index=True)
    st.caption("What each index serves (a model only where evidence on that index supports it) is on the "
               "Online page and in `ragsearch serve-config show`.")  # fmt: skip


def models_table(models: list[dict[str, Any]]) -> pd.DataFrame:
    """One readable row per model: what it was trained on, its trees, and its figures (nested metrics
    flattened to 'dev nDCG@10'-style columns, rounded)."""
    rows = []
    for m in models:
        figures = pd.json_normalize(m.get("metrics") or {}, sep=" ").to_dict("records")
        flat = figures[0] if figures else {}
        rows.append({
            "version": m["version"], "promoted": "yes" if m.get("promoted") else "",
            "created": str(m.get("created_at") or "")[:16].replace("T", " "),
            "trained on": " ".join(str(x) for x in (m.get("dataset"), m.get("train_split")) if x),
            "index": m.get("index"), "trees": m.get("best_iteration"),
            **{k: round(v, 4) for k, v in flat.items() if isinstance(v, int | float) and not isinstance(v, bool)},
        })  # fmt: skip
    return pd.DataFrame(rows)


def online_page() -> None:
    """What the index serves, and its online experiment: counts, the sequential test, the decision."""
    st.title("Serving and online experiments")
    line = serving_line()
    if line:
        st.write(line)
    with api() as c:
        r = c.get("/online")
    if r.status_code != 200:
        st.error(r.json().get("error", {}).get("message", r.text))
        return
    exp = r.json()["experiment"]
    if exp is None:
        st.info("No online experiment on this index: start one with `ragsearch online start`.")
        return
    st.subheader(f"{exp['candidate']} (candidate) against {exp['served']} (served): {exp['status']}")
    cols = st.columns(4)
    for col, (label, key) in zip(cols, (("Wins", "wins"), ("Losses", "losses"), ("Ties", "ties"),
                                        ("Sessions", "sessions")), strict=True):  # fmt: skip
        col.metric(label, exp[key])
    st.progress(min(1.0, max(0.0, exp["log_lr"] / exp["boundary"])),
                text=f"evidence {exp['log_lr']:.2f} of {exp['boundary']:.2f} needed (alpha {exp['alpha']:g})")  # fmt: skip
    st.caption(f"{exp['test']}; traffic {exp['traffic']:g} of sessions, started {exp['started_at']}")
    if exp["status"] != "running":
        st.write(
            f"**{exp['decision'] or 'No decision'}**: {exp['reason']}"
            + (" (promoted)" if exp["promoted"] else "")
        )


def main() -> None:
    st.set_page_config(page_title="ragsearch", layout="wide")
    # users see neither Streamlit's developer menu nor Python tracebacks
    st.set_option("client.toolbarMode", "minimal")
    st.set_option("client.showErrorDetails", False)
    # Streamlit draws captions at opacity 0.6 (3.9:1 on white; WCAG AA asks 4.5:1): #5f6368 at full opacity is 6.3:1
    st.markdown(f"<style>{CAPTION_CSS} {LOADING_CSS}</style>", unsafe_allow_html=True)
    pages = {
        "Search": search_page,
        "Evaluation": evaluation_page,
        "Models": models_page,
        "Online": online_page,
    }
    page = st.sidebar.radio("Page", list(pages))
    adopt_session()  # a link to or from the document view carries the search's session id
    if page == "Search" and st.query_params.get("doc"):  # a result's or source's link: the document view
        pages[page] = partial(document_page, api)
    try:
        pages[page]()
    except httpx.TransportError:
        st.error(
            f"The search service at {get_settings().api.url} is not answering. "
            "Start it with `ragsearch serve` (or check RAGSEARCH_API_URL), then try again."
        )


main()
