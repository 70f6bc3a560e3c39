"""The evaluation, models and online pages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from ragsearch.app.settings import get_settings
from ragsearch.app.ui_admin import administer_section
from ragsearch.app.ui_client import api, served_now, serving_line


def evaluation_page() -> None:
    st.title("Offline evaluation")
    folder = get_settings().home / "eval"
    files = sorted(folder.glob("*.json")) if folder.exists() else []
    if not files:
        st.info(
            f"No evaluation yet: run `ragsearch eval DATASET --json {folder}/NAME.json` (or `make demo`)."
        )
        return
    now = served_now()
    line = serving_line(now)
    if line:
        st.caption(line)
    for f in files:
        evaluation_section(json.loads(Path(f).read_text()), now)
    drift_section()


def served_system(now: dict[str, Any] | None, systems: list[str]) -> str | None:
    """The evaluated system that is what the index serves: its configuration's name, or its label (`hybrid`,
    `ltr:v0001`) when the name is the default or a system name of the same mode; None when not evaluated."""
    if now is None:
        return None
    name, label = str(now["name"]), str(now["label"])
    same = name == "default" or name.split(":")[0] == label.split(":")[0]
    return next((s for s in [name, *([label] if same else [])] if s in systems), None)


def not_evaluated_line(now: dict[str, Any], data: dict[str, Any], systems: list[str]) -> str:
    """Says that what the index serves is not among the evaluated systems, and the command that adds it."""
    served, label = f"Index {now['index']} serves {now['name']} ({now['label']})", str(now["label"])
    if label in systems:  # a stored configuration of an evaluated mode, with other settings
        return f"{served}, a stored configuration: the {label} evaluated here has the default settings."
    return (f"{served}, which is not among these systems: `ragsearch eval DATA/{data.get('dataset')} --index "
            f"{now['index']} --split {data.get('split')} --systems {','.join([*systems, label])}` adds it.")  # fmt: skip


def evaluation_section(data: dict[str, Any], now: dict[str, Any] | None = None) -> None:
    """One evaluation file: a table (the system the index serves marked "(served)"), one bar chart per metric
    on 0-1 (* = significantly different from the first system, Holm-corrected p < 0.05), and the per-query
    wins and losses of a system against the first."""
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
    serving = served_system(now, list(systems))
    st.dataframe(
        table.pivot(index="system", columns="measure", values="value").loc[list(systems), measures].reset_index()
        .assign(**{f"Δ nDCG@10 vs {first}": [systems[s].get("delta_vs_first") for s in systems],
                   "p (Holm)": [systems[s].get("p_holm_vs_first") for s in systems]})
        .assign(system=[f"{s} (served)" if s == serving else s for s in systems]),
        hide_index=True,
    )  # fmt: skip
    if now is not None and serving is None:
        st.caption(not_evaluated_line(now, data, list(systems)))
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
    administer_section(models_section())


def models_section() -> list[str]:
    """The model registry as a table; its versions (none when the API has no registry or no model)."""
    with api() as c:
        r = c.get("/models")
    if r.status_code == 404:
        st.info("This server has no model registry endpoint.")
        return []
    if r.status_code != 200:
        st.error(r.json().get("error", {}).get("message", r.text))
        return []
    models = r.json()
    if not models:
        st.info("No trained model yet: run `ragsearch train`.")
        return []
    st.dataframe(models_table(models), hide_index=True)
    promoted = next((m["version"] for m in models if m.get("promoted")), None)
    st.caption(f"Promoted model: {promoted or 'none'}. What each index serves (a model only where evidence "
               "on that index supports it) is below, on the Online page and in `ragsearch serve-config show`.")  # fmt: skip
    return [m["version"] for m in models]


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
