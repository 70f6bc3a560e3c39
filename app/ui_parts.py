"""Pure pieces of the search page (app/ui.py): the metadata-filter box's parser, and the HTML that carries the
page's accessibility semantics (the results as a list of headed items, the answer as a live region) and its
loading placeholders. Text passed in is already escaped by the caller."""

from __future__ import annotations

import re

SEARCHING_HTML = '<div class="rs-loading" role="status">Searching…</div>'
WRITING = "Writing the answer…"
FILTER_HELP = (
    "Only passages whose metadata has each key:value (all must hold), e.g. `lang:en, format:pdf`; "
    "commas or new lines between them"
)
LOADING_CSS = ".rs-loading {padding: 1.2rem; border-radius: 6px; background: #f0f2f6; color: #31333f;}"


def parse_filter_text(text: str) -> tuple[list[str], str | None]:
    """The `key:value` entries of the filter box (comma or newline separated; blanks skipped) as the API's
    `filter` values, and a message naming the first malformed entry (None when all are well formed)."""
    items: list[str] = []
    for raw in re.split(r"[,\n]", text):
        item = raw.strip()
        if not item:
            continue
        key, sep, value = item.partition(":")
        if not sep or not key.strip() or not value.strip():
            return (
                items,
                f"Filter “{item}” is not of the form key:value (e.g. lang:en): the filters are not applied.",
            )
        items.append(f"{key.strip()}:{value.strip()}")
    return items, None


def results_list_html(ranks: list[int]) -> str:
    """An (empty) list element that owns the result items drawn below it (Streamlit draws each result in its
    own block, so the list takes them by `aria-owns`): screen readers announce a list of that many results."""
    owned = " ".join(f"rs-result-{r}" for r in ranks)
    return f'<div role="list" aria-label="Search results" aria-owns="{owned}"></div>'


def result_heading(rank: int, title_html: str) -> str:
    """A result's title as a level-4 heading (under the "Results for" heading) inside its list item."""
    return (
        f'<div role="listitem" id="rs-result-{rank}" class="rs-result">'
        f'<div role="heading" aria-level="4"><b>{rank}. {title_html}</b></div></div>'
    )


def answer_html(body_html: str) -> str:
    """The answer's text (or its placeholder) in a polite live region, so screen readers read it as it comes."""
    return f'<div class="rs-answer" aria-live="polite">{body_html}</div>'


def filters_note(filters: list[str]) -> str:
    return f" with filters {', '.join(filters)}" if filters else ""
