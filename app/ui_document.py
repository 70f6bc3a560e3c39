"""The document view of the Streamlit UI: one passage in full, in its document, with the query's terms marked
and the passages around it (`GET /passages/{id}`).

It is reached by plain links (result titles, answer sources, neighbouring passages): a link reloads the page
and starts a new Streamlit session, so the URL holds everything the view needs: `doc` (the passage id), `q`,
`mode` and `page` (for the way back to the results), and, from a result, `imp` and `rank` (the impression and
position the click is recorded on) and `sid` (the session the search belonged to, kept across the reload).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import streamlit as st

from ragsearch.app.ui_markup import escape, link, marked

CONTEXT = 2
"""Passages shown before and after the one opened."""
VIEW_PARAMS = ("doc", "imp", "rank")
"""The view's own URL parameters; every other one (q, mode, page, filters, ...) belongs to the results."""
SESSION = re.compile(r"^[0-9a-f]{32}$")
DOCUMENT_CSS = (
    ".rs-passage {border-left: 4px solid #1a73e8; padding: 0.2rem 0 0.2rem 0.8rem; margin: 0.5rem 0 1rem;} "
    ".rs-near {margin: 0 0 1rem;} .rs-neighbour {border-left: 2px solid #d0d7de; padding-left: 0.8rem; margin-top: 0.3rem;} "
    ".rs-meta {font-size: 0.9em; color: #3c4043;}"
)


def document_href(passage_id: str, query: str, impression: str | None = None, rank: int | None = None) -> str:
    """The link to a passage's document view. The results' parameters (mode, page, filters: the URL the search
    page wrote) ride along for the way back, and the impression and rank when opened from a result, to record
    the click."""
    params = results_params(st.query_params) | {"doc": [passage_id], "q": [query]}
    if impression and rank is not None:
        params |= {"imp": [impression], "rank": [str(rank)]}
    if SESSION.match(str(st.session_state.get("session_id", ""))):
        params["sid"] = [str(st.session_state["session_id"])]
    return "?" + urlencode(params, doseq=True)


def document_link(inner_html: str, passage_id: str, query: str, impression: str | None = None,
                  rank: int | None = None) -> str:  # fmt: skip
    """`inner_html` (already safe markup) as a link to the passage's document view."""
    return link(document_href(passage_id, query, impression, rank), inner_html)


def results_params(url: Any) -> dict[str, list[str]]:
    """The URL's parameters (`st.query_params`; repeated ones kept) less the view's own."""
    return {k: url.get_all(k) for k in url if k not in VIEW_PARAMS}


def back_href(url: Any) -> str:
    """The results the view was opened from (`?q=...&mode=...&page=...`), or the empty search page."""
    return "?" + urlencode(results_params(url), doseq=True)


def adopt_session() -> None:
    """Keep the session id a link carried over the reload it caused (events stay in the search's session)."""
    sid = st.query_params.get("sid", "")
    if "session_id" not in st.session_state and SESSION.match(sid):
        st.session_state["session_id"] = sid


def metadata_html(doc_id: str, metadata: Mapping[str, Any]) -> str:
    """The passage's source metadata, one `key value` item each, escaped; long values are cut."""

    def shown(value: Any) -> str:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 200 else text[:200] + "…"

    items = [("document", doc_id), *((str(k), shown(v)) for k, v in metadata.items())]
    return (
        '<div class="rs-meta">' + " · ".join(f"<b>{escape(k)}</b> {escape(v)}" for k, v in items) + "</div>"
    )


def passage_html(p: Mapping[str, Any], css_class: str) -> str:
    """A passage's whole text, query terms marked, line breaks kept."""
    text = marked(p["text"], p.get("text_highlights", [])).replace("\n", "<br>")
    return f'<div class="{css_class}">{text}</div>'


def neighbour_html(p: Mapping[str, Any], query: str) -> str:
    """A passage near the one opened: its title linked to its own view (no click recorded: not a result)."""
    title = marked(p["title"], p.get("title_highlights", [])) if p["title"] else escape(p["id"])
    link_html = f'<div class="rs-near-title"><b>{document_link(title, p["id"], query)}</b></div>'
    return f'<div class="rs-near">{link_html}{passage_html(p, "rs-neighbour")}</div>'


def record_click(client: Callable[[], httpx.Client], passage_id: str, query: str) -> None:
    """Opened from a result: a click on that impression's position (`POST /events`) and a click in the feedback
    store (`POST /feedback`, what `feedback export` grades 1). Once per open: remembered for the session's
    reruns, and `imp`/`rank` leave the URL, so reloading the view does not count it again."""
    url = st.query_params
    impression, rank = url.get("imp", ""), url.get("rank", "")
    if not impression or not rank.isdigit():
        return
    sent: set[str] = st.session_state.setdefault("clicks_sent", set())
    key = f"{impression}\n{rank}"
    if key not in sent:
        sent.add(key)
        sid = st.session_state.get("session_id")
        with client() as c:
            c.post("/events", json={"impression_id": impression, "action_name": "click", "position": int(rank),
                                    "object_id": passage_id, "session_id": sid})  # fmt: skip
            if query:
                c.post("/feedback", json={"query": query, "passage_id": passage_id, "rank": int(rank),
                                          "kind": "click", "session_id": sid})  # fmt: skip
    del st.query_params["imp"], st.query_params["rank"]


def document_page(client: Callable[[], httpx.Client]) -> None:
    """The view of `?doc=<passage id>`: title, source metadata, the full text with `q`'s terms marked, and the
    passages before and after it in the document; a link back to the results."""
    st.markdown(f"<style>{DOCUMENT_CSS}</style>", unsafe_allow_html=True)
    url = st.query_params
    passage_id, query = url.get("doc", ""), url.get("q", "").strip()
    back = "← Back to results" if query else "← New search"
    st.markdown(link(back_href(url), escape(back)), unsafe_allow_html=True)
    params: dict[str, Any] = {"context": CONTEXT} | ({"q": query} if query else {})
    with client() as c:
        r = c.get(f"/passages/{quote(passage_id, safe='/')}", params=params)
    if r.status_code != 200:
        st.error(r.json().get("error", {}).get("message", r.text))
        return
    record_click(client, passage_id, query)
    view = r.json()
    p = view["passage"]
    title = marked(p["title"], p["title_highlights"]) if p["title"] else escape(p["id"])
    st.markdown(f"<h1>{title}</h1>", unsafe_allow_html=True)
    where = (
        f"passage {view['position'] + 1} of {view['document_passages']}"
        if view["position"] is not None
        else ""
    )
    st.caption(escape(f"id {p['id']}" + (f" · {where}" if where else "")), unsafe_allow_html=True)
    st.markdown(metadata_html(p["doc_id"], p["metadata"]), unsafe_allow_html=True)
    st.markdown(passage_html(p, "rs-passage"), unsafe_allow_html=True)
    for heading, near in (
        ("Earlier in the document", view["before"]),
        ("Later in the document", view["after"]),
    ):
        if near:
            st.subheader(heading)
            st.markdown("".join(neighbour_html(n, query) for n in near), unsafe_allow_html=True)
