"""The search page's pure pieces (app/ui_parts.py), and a guard on app/ui.py itself."""

from __future__ import annotations

import ast

from ragsearch.app.ui_parts import parse_filter_text
from tests.app.ui_browser import REPO


def test_the_filter_box_reads_comma_or_newline_separated_key_value_entries() -> None:
    assert parse_filter_text(" lang:en ,\nformat: pdf\n\n,") == (["lang:en", "format:pdf"], None)
    assert parse_filter_text("url:http://x") == (["url:http://x"], None)  # split at the first ':'
    for bad in ("lang", ":en", "lang:", "lang:en, oops"):
        _, problem = parse_filter_text(bad)
        assert problem is not None and "is not of the form key:value" in problem, bad


def test_ui_script_has_no_bare_strings_streamlit_would_draw() -> None:
    """Streamlit's "magic" writes any bare string statement of the script onto the page (an attribute
    docstring once showed above the title); only the module docstring is exempt."""
    tree = ast.parse((REPO / "app" / "ui.py").read_text())
    bare = [n.lineno for n in tree.body[1:] if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)]
    assert bare == []
