"""The Models page's "Administer" section: promote a model version, roll back what an index serves, and its
serving history, behind the API key. The key is typed into a password field and kept only in this
browser session's state (never in the URL, never shown back); the API decides whether it is valid."""

from __future__ import annotations

from typing import Any

import httpx
import pandas as pd
import streamlit as st

from ragsearch.app.settings import get_settings
from ragsearch.app.ui_client import serving_line

NOTE = "admin_note"
"""Session-state key of the last change's message, shown once after the page is drawn again."""


def admin_client(key: str) -> httpx.Client:
    """A client that sends the typed key only (not the UI's own, so the section needs the key to be typed)."""
    headers = {"X-API-Key": key} if key else {}
    return httpx.Client(base_url=get_settings().api.url, timeout=120, headers=headers)


def refusal(r: httpx.Response) -> str:
    """A plain message for a refused change: the key (401/403) or the API's own message."""
    message = r.json().get("error", {}).get("message", r.text)
    if r.status_code in (401, 403):
        return f"Nothing changed: the API refused the key ({message}). Enter the server's API key."
    return f"Nothing changed: {message}"


def changed(message: str) -> None:
    """Keep `message` for the next run and draw the page again, so everything on it shows the new state."""
    st.session_state[NOTE] = message
    st.rerun()


def administer_section(versions: list[str]) -> None:
    st.subheader("Administer")
    note = st.session_state.pop(NOTE, None)
    if note:
        st.success(note)
    key = st.text_input(
        "API key", type="password", key="admin_key", autocomplete="off",
        help="the server's write key (X-API-Key); kept only in this browser session",
    )  # fmt: skip
    if versions:
        cols = st.columns([2, 1])
        version = cols[0].selectbox("Model version", versions, key="admin_version")
        if cols[1].button("Promote model", key="admin_promote"):
            with admin_client(key) as c:
                r = c.post(f"/models/{version}/promote")
            if r.status_code == 200:
                changed(f"Model {version} promoted: ltr searches that name no version use it from now on.")
            st.error(refusal(r))
    serving_section(key)


def serving_section(key: str) -> None:
    """What the index serves, its history, and a rollback of its last promotion."""
    st.markdown("**What the index serves**")
    line = serving_line()
    if line:
        st.write(line)
    with admin_client(key) as c:
        r = c.get("/serving/history")
    log: list[dict[str, Any]] = r.json() if r.status_code == 200 else []
    if r.status_code != 200:
        st.caption("history unavailable: " + refusal(r).removeprefix("Nothing changed: "))
    elif log:
        st.dataframe(history_table(log), hide_index=True)
    else:
        st.caption("No promotion on this index yet: it serves the default configuration.")
    st.caption("A configuration is promoted only on evidence (a paired test on a judgment list's held part): "
               "`ragsearch serve-config promote CANDIDATE --index INDEX --judgments LIST`.")  # fmt: skip
    if st.button("Roll back the last promotion", key="admin_rollback"):
        with admin_client(key) as c:
            r = c.post("/serving/rollback")
        if r.status_code == 200:
            now = r.json()
            changed(f"Rolled back: index {now['index']} serves {now['name']} ({now['label']}).")
        st.error(refusal(r))


def history_table(log: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per promotion or rollback, newest first: what it served and on what evidence."""
    rows = []
    for e in reversed(log):
        ev = e.get("evidence") or {}
        if ev.get("action") == "rollback":
            why = f"undid #{ev.get('undid')} ({ev.get('undid_name')})"
        elif ev.get("online"):
            o = ev["online"]
            why = f"online experiment {o.get('experiment')}: {o.get('wins')} wins, {o.get('losses')} losses"
        else:
            held = ev.get("held") or {}
            why = (f"{ev.get('judgments')}: {ev.get('measure')} {held.get('candidate', float('nan')):.4f} vs "
                   f"{held.get('served', float('nan')):.4f}, p={held.get('p_value', float('nan')):.3g}")  # fmt: skip
        rows.append({"#": e.get("number"), "at": str(e.get("at", ""))[:19].replace("T", " "),
                     "action": ev.get("action", "promote"), "serves": e.get("name"), "evidence": why})  # fmt: skip
    return pd.DataFrame(rows)
