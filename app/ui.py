"""The Streamlit search UI. It talks only to the JSON API (RAGSEARCH_API_URL), so it works the same on
every backend. Run it with `ragsearch ui`.

Document text is untrusted: it is HTML-escaped (and markdown-escaped) before any highlighting.
"""

from __future__ import annotations

from functools import partial

import httpx
import streamlit as st

from ragsearch.app.settings import get_settings
from ragsearch.app.ui_client import api
from ragsearch.app.ui_document import adopt_session, document_page
from ragsearch.app.ui_pages import evaluation_page, models_page, online_page
from ragsearch.app.ui_parts import LOADING_CSS
from ragsearch.app.ui_search import search_page

CAPTION_CSS = (
    "[data-testid='stCaptionContainer'] {opacity: 1 !important;} "
    "[data-testid='stCaptionContainer'], [data-testid='stCaptionContainer'] * {color: #5f6368 !important;} "
    ".rs-source {scroll-margin-top: 4.5rem; margin-bottom: 0.4rem;}"  # a citation link lands below the header
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
