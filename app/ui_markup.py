"""Safe markup for the Streamlit UI (`app/ui.py`, `app/ui_document.py`): document text is untrusted, so it is
escaped for HTML and markdown before anything is marked or linked."""

from __future__ import annotations

import re

SPECIAL = re.compile(r"""[\\`*_{}\[\]()#+\-.!|~<>$:&"']""")


def escape(text: str) -> str:
    """Plain text safe to pass to st.markdown(unsafe_allow_html=True): every HTML or markdown
    special character becomes a numeric character reference, so nothing is read as a tag or as syntax."""
    return SPECIAL.sub(lambda m: f"&#{ord(m.group(0))};", text)


def marked(text: str, spans: list[list[int]] | list[tuple[int, int]]) -> str:
    """`text` escaped, with the [start, end) spans (from the API: words that match the query as BM25 does)
    wrapped in <mark>."""
    out, pos = [], 0
    for start, end in sorted((int(a), int(b)) for a, b in spans):
        if start < pos or end > len(text):
            continue
        out += [escape(text[pos:start]), "<mark>", escape(text[start:end]), "</mark>"]
        pos = end
    return "".join(out) + escape(text[pos:])


def link(href: str, inner_html: str, label: str | None = None) -> str:
    """An <a> to a page of this UI (`href` a query string such as `?doc=...`), opened in the same tab (Streamlit
    opens other links in a new one). `inner_html` must already be safe markup; the href is escaped here."""
    aria = f' aria-label="{escape(label)}"' if label else ""
    return f'<a href="{escape(href)}" target="_self"{aria}>{inner_html}</a>'
