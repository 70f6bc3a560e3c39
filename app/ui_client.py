"""How the UI talks to the API: one HTTP client, server-sent events, the anonymous session id, feedback."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import streamlit as st

from ragsearch.app.settings import get_settings


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


def served_now() -> dict[str, Any] | None:
    """`GET /serving`: what the index serves (None when the API cannot say). An API that does not answer
    raises httpx.TransportError, which `main` shows as such."""
    with api() as c:
        r = c.get("/serving")
    return r.json() if r.status_code == 200 else None


def serving_line(now: dict[str, Any] | None = None) -> str | None:
    """What the index serves and why, as the API says it (None when it cannot say)."""
    now = now or served_now()
    if now is None:
        return None
    return f"Index {now['index']} serves {now['name']} ({now['label']}): {now['reason']}"
