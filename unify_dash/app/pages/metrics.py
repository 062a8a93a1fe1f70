"""Metrics: per Play and sequence node, enrolled / active / completed by reason / opt-outs by source /
replies by class / Not Enrolled by reason, and activity over time. Every count and every bar opens
the list of contacts behind it (paged, CSV export); the list's length equals the count."""

from urllib.parse import unquote

import pandas as pd
import plotly.express as px
import streamlit as st

from unify_dash import engine
from unify_dash.actions import enrollments as lifecycle
from unify_dash.app import ui
from unify_dash.model import roles, states
from unify_dash.reports import diagnosis, metrics, playview, units
from unify_dash.reports.metrics import Scope

actor = ui.actor()
st.title("Metrics")
ui.show_flash()

version, cfg, plays = ui.plays_in_effect()

c1, c2 = st.columns(2)
if "metrics.play" not in st.session_state and st.query_params.get("play") in plays:
    st.session_state["metrics.play"] = st.query_params["play"]
play_id = c1.selectbox("Play", list(plays), format_func=lambda k: plays[k].name, key="metrics.play")
play = plays[play_id]
node_names = {n.id: (n.name or cfg.sequence(n.sequence).name) for n in play.nodes}
node_id = c2.selectbox("Sequence node", [None, *node_names], key=f"metrics.node.{play_id}",
                       format_func=lambda k: "All sequence nodes" if k is None else node_names[k])
scope = Scope(play_id=play_id, node_id=node_id)
node = next((n for n in play.nodes if n.id == node_id), None)
sequence_id = node.sequence if node else None

SEL = "metrics.sel"


def select(kind: str, family: str, key: str, node: str | None = None, exclusion: str | None = None) -> None:
    """``kind`` ``history`` (metrics: enrollments and events) or ``now`` (the engine's evaluation)."""
    st.session_state[SEL] = {"kind": kind, "family": family, "key": key, "node_id": node, "exclusion_id": exclusion,
                             "scope": (play_id, node_id)}


def chart_selected(chart_key: str, kind: str, family: str) -> None:
    points = (st.session_state.get(chart_key) or {}).get("selection", {}).get("points", [])
    if not points:
        return
    data = points[0].get("customdata")
    data = data[0] if isinstance(data, (list, tuple)) else data
    if kind == "now":
        nd, _, excl = str(data).partition("|")
        select("now", "not_enrolled", "not_enrolled", nd or None, excl or None)
    else:
        select("history", family, str(data))


with ui.cursor() as cur:
    ev = engine.evaluation(cur)
    imp = engine.impact(ev, play_id)
    span = metrics.activity_span(cur)
freq = "week" if span > 120 else "day"
summary = ui.cached(metrics.summary, scope)
timeline = ui.cached(metrics.timeline, scope, freq=freq)
skips = ui.cached(metrics.will_be_skipped, scope)
will_skip = len(skips)

# --- headline counts (each a button that opens its list) ----------------------------------------------------
state_counts = summary["state"].set_index("key")["count"]
not_enrolled = (next(n for n in imp["nodes"] if n["id"] == node_id)["not_enrolled"] if node_id
                else imp["not_enrolled"])
heads = [("history", "state", "enrolled", "Enrolled"), ("history", "state", "active", "Active"),
         ("history", "state", "queued", "Queued"), ("history", "state", "completed", "Completed"),
         ("history", "state", "unenrolled", "Unenrolled")]
cols = st.columns(len(heads) + 2)
cols[0].metric("Not Enrolled", ui.fmt_int(not_enrolled),
               help="Contacts (each once) of the audience that a sequence node blocks now, under the settings in "
                    "effect.")
cols[0].button("List", key="metrics.head.not_enrolled", on_click=select, type="primary",
               args=("now", "not_enrolled", "not_enrolled", node_id), icon=":material/list:")
for col, (kind, family, key, title) in zip(cols[1:], heads, strict=False):
    col.metric(title, ui.fmt_int(state_counts.get(key, 0)),
               help=f"{units.titled(title, units.of_family(family))}: {units.of_family(family).meaning}.")
    col.button("List", key=f"metrics.head.{key}", on_click=select, args=(kind, family, key), type="tertiary",
               icon=":material/list:")
cols[-1].metric("Will be skipped", ui.fmt_int(will_skip),
                help="Queued contacts that match an exclusion now: exclusions are checked at send time, so they "
                     "will be skipped then and never emailed. No action is needed.")
cols[-1].button("List", key="metrics.head.will_skip", on_click=select, args=("skip", "skip", "skip"),
                type="tertiary", icon=":material/list:")
st.caption("Not Enrolled counts contacts now (the engine, as on the Play view); Enrolled, Active, Queued, Completed, "
           "Unenrolled and Will be skipped count enrollment records. "
           + units.legend(units.CONTACTS, units.ENROLLMENTS))

# --- Not Enrolled by reason (the evaluation now) -------------------------------------------------------------
left, right = st.columns(2)
with left:
    st.subheader("Not Enrolled by reason")
    reasons = playview.not_enrolled_reasons(imp, node_id)
    if reasons.empty:
        st.caption("No contact is blocked at a sequence node.")
    else:
        fig = px.bar(reasons.assign(reason=reasons["reason"].map(ui.plot_text), node=reasons["node"].map(ui.plot_text)),
                     x="contacts", y="reason", color="node", orientation="h", custom_data=["custom"],
                     barmode="group", height=80 + 32 * len(reasons))
        fig.update_layout(margin=dict(l=10, r=10, t=30, b=10), yaxis_title=None, legend_title=None,
                          legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0), showlegend=node_id is None)
        st.plotly_chart(fig, key="metrics.chart.reasons", on_select=lambda: chart_selected(
            "metrics.chart.reasons", "now", "not_enrolled"), selection_mode="points", config={"displayModeBar": False})
        st.caption("A contact blocked by several exclusions counts under each of them.")
        picker = "metrics.pick.reasons"
        options = dict(zip(reasons["custom"], reasons.itertuples(), strict=True))

        def picked_reason() -> None:
            value = st.session_state.get(picker)
            if value:
                nd, _, excl = value.partition("|")
                select("now", "not_enrolled", "not_enrolled", nd, excl)
                st.session_state[picker] = None

        st.pills("Open a list", list(options), key=picker, on_change=picked_reason, label_visibility="collapsed", wrap=True,
                 format_func=lambda k: f"{ui.md(options[k].reason)} · {ui.md(options[k].node)}: "
                                       f"{ui.fmt_int(options[k].contacts)}")


def breakdown_chart(container, family: str, title: str) -> None:
    df = summary[family]
    with container:
        st.subheader(title)
        if df.empty or df["count"].sum() == 0:
            st.caption("None in this scope.")
            return
        fig = px.bar(df.assign(label=df["label"].map(ui.plot_text)), x="count", y="label", orientation="h", custom_data=["key"], height=80 + 32 * len(df))
        fig.update_layout(margin=dict(l=10, r=10, t=10, b=10), yaxis_title=None,
                          xaxis_title=units.of_family(family).many)
        chart_key = f"metrics.chart.{family}"
        st.plotly_chart(fig, key=chart_key, on_select=lambda: chart_selected(chart_key, "history", family),
                        selection_mode="points", config={"displayModeBar": False})
        picker = f"metrics.pick.{family}"
        labels = dict(zip(df["key"], df["label"], strict=True))
        counts = dict(zip(df["key"], df["count"], strict=True))

        def picked() -> None:
            value = st.session_state.get(picker)
            if value:
                select("history", family, value)
                st.session_state[picker] = None

        st.pills("Open a list", list(labels), key=picker, on_change=picked, label_visibility="collapsed", wrap=True,
                 format_func=lambda k: f"{ui.md(labels[k])}: {ui.fmt_int(counts[k])}")


breakdown_chart(right, "completed", "Completed by reason")
left2, right2 = st.columns(2)
breakdown_chart(left2, "opt_outs", "Opt-outs by source")
breakdown_chart(right2, "replies", "Replies by class")

# --- over time ------------------------------------------------------------------------------------------------
st.subheader("Over time")
if timeline.empty:
    st.caption("No activity recorded in this scope.")
else:
    fig = px.bar(timeline.assign(label=timeline["label"].map(ui.plot_text)), x="day", y="count", color="label", custom_data=["key"], height=320)
    fig.update_layout(margin=dict(l=10, r=10, t=10, b=10), legend_title=None, xaxis_title=None,
                      yaxis_title="events")
    st.plotly_chart(fig, key="metrics.chart.activity", on_select=lambda: chart_selected(
        "metrics.chart.activity", "history", metrics.timeline_family(freq)), selection_mode="points",
        config={"displayModeBar": False})
    st.caption(f"Events per {freq}. Click a bar to list the events behind it.")

# --- early completions ------------------------------------------------------------------------------------------
if sequence_id is not None:
    with st.expander("Completed early: why? (before the first message, or after the first step without a reply)",
                     icon=":material/help:"):
        st.caption("Each diagnosis reads the event and execution logs (opt-out link click, handled reply, admin or "
                   "CRM opt-out, the exclusion that skipped or removed the contact, an unenrollment); when nothing "
                   "explains it, it says so instead of guessing.")
        if st.toggle("Diagnose the latest 50", key=f"metrics.early.{sequence_id}"):
            diagnoses = ui.cached(diagnosis.early_completions, sequence_id=sequence_id, limit=50)
            st.dataframe(ui.with_links(pd.DataFrame(
                [{"email": d["email"], "steps sent": d["steps_sent"], "state": d["state"],
                  "recorded reason": d["completion_reason"], "cause": d["cause"], "why": d["summary"]}
                 for d in diagnoses], columns=["email", "steps sent", "state", "recorded reason", "cause", "why"])),
                hide_index=True, width="stretch", key="metrics.early.table",
                column_config={"contact": ui.LINK_COLUMN, "why": st.column_config.TextColumn(width="large")})

# --- the list behind the selected count ------------------------------------------------------------------------
sel = st.session_state.get(SEL)
if sel and sel.get("scope") == (play_id, node_id):
    st.divider()
    kind, family, key = sel["kind"], sel["family"], sel["key"]
    enrollment_list = False
    if kind == "now":
        sel_node = sel["node_id"]
        bucket, excl, reason = playview.reason_bucket(sel["exclusion_id"])
        with ui.cursor() as cur:
            total = engine.drilldown(cur, ev, play_id, bucket, node_id=sel_node, exclusion_id=excl,
                                     limit=0)["total"]
        where = f" at {ui.md(node_names[sel_node])}" if sel_node else ""
        because = f" by {ui.md(ev.exclusion(excl)[1].name)}" if excl else (f": {ui.md(reason)}" if reason else "")
        st.subheader(f"Not Enrolled{where}{because}: {ui.plural(total, 'contact')}")

        def fetch(offset, limit):
            with ui.cursor() as cur:
                res = engine.drilldown(cur, ev, play_id, bucket, node_id=sel_node, exclusion_id=excl,
                                       offset=offset, limit=total if limit is None else limit)
            return ui.engine_rows_frame(res["rows"])
    elif kind == "skip":
        total = len(skips)
        st.subheader(f"Queued, will be skipped at send time: {ui.plural(total, 'contact')}")
        ids = skips["enrollment_id"].tolist()
        texts = dict(zip(skips["enrollment_id"], skips["text"], strict=True))

        def fetch(offset, limit):
            with ui.cursor() as cur:
                rows = metrics.enrollments_by_id(cur, ids, offset=offset, limit=limit)["rows"]
            rows = rows.assign(reasons=[texts.get(e) for e in rows["enrollment_id"]])
            return ui.with_links(rows.drop(columns=["enrollment_id", "state"]))
    else:
        with ui.cursor() as cur:
            total = metrics.count(cur, family, key, scope)
        unit = "contact" if family in ("state", "completed", "opt_outs") else ("reply" if family == "replies" else "event")
        st.subheader(f"{ui.md(metrics.label(family, key))}: {ui.plural(total, unit, 'replies' if unit == 'reply' else None)}")
        enrollment_list = family == "state" and key in ("enrolled", *states.ACTIVE_STATES)

        def fetch(offset, limit):
            with ui.cursor() as cur:
                rows = metrics.contacts(cur, family, key, scope, offset=offset, limit=limit)["rows"]
            if family in ("state", "completed"):
                rows = rows.rename(columns={"blocking_criteria": "reasons"})
                rows["reasons"] = [", ".join(str(x) for x in (r, b) if isinstance(x, str) and x)
                                   for r, b in zip(rows["reason"], rows["reasons"], strict=True)]
                rows = rows.drop(columns=["reason", "contact_id"])
            else:
                rows = rows.drop(columns=["contact_id"])
            return ui.with_links(rows)

    state, page, _ = ui.contact_list(fetch, total, key=f"metrics.list.{kind}.{family}.{key}.{sel.get('node_id')}."
                                  f"{sel.get('exclusion_id')}", file_name=f"{play_id}-{key}.csv",
                                  selectable=enrollment_list and sequence_id is not None)

    # bulk unenroll (Sequences -> Enrollments: filter, select, Unenroll)
    if enrollment_list and roles.can(actor, "enrollment.bulk_unenroll"):
        if sequence_id is None:
            st.caption("Pick one sequence node above to unenroll contacts from its sequence.")
        else:
            picked = [unquote(page.iloc[i]["contact"].split("email=", 1)[-1]) for i in (state.selection.rows or [])]
            b1, b2 = st.columns(2)
            if b1.button(f"Unenroll selected ({len(picked)})", key="metrics.unenroll.sel", disabled=not picked,
                         icon=":material/person_remove:"):
                st.session_state["metrics.unenroll"] = {"emails": picked, "sequence": sequence_id}
            if b2.button(f"Unenroll all {ui.fmt_int(total)} in this list", key="metrics.unenroll.all",
                         disabled=total == 0, icon=":material/group_remove:"):
                with ui.cursor() as cur:
                    everyone = metrics.contacts(cur, family, key, scope, limit=None)["rows"]["email"].tolist()
                st.session_state["metrics.unenroll"] = {"emails": everyone, "sequence": sequence_id}

    job = st.session_state.get("metrics.unenroll")
    if job:
        def close():
            st.session_state.pop("metrics.unenroll", None)

        @st.dialog("Unenroll contacts", on_dismiss=close)
        def confirm_unenroll():
            seq = cfg.sequence(job["sequence"])
            st.write(f"Cancel the remaining steps of **{ui.plural(len(job['emails']), 'contact')}** in "
                     f"**{ui.md(seq.name)}**. This is not an opt-out: they can be enrolled again later.")
            if st.button("Unenroll", type="primary", key="metrics.unenroll.go"):
                bar = st.progress(0.0, text="Starting…")

                def progress(done, total_):
                    bar.progress(done / max(total_, 1), text=f"{ui.fmt_int(done)} of {ui.fmt_int(total_)}")

                ok, result = ui.run_write(lambda cur: lifecycle.bulk_unenroll(
                    cur, actor, sequence_id=job["sequence"], filter=job["emails"], progress=progress))
                if ok:
                    close()
                    ui.flash(f"Unenrolled {ui.plural(result['unenrolled_now'], 'enrollment')} from {ui.md(seq.name)} "
                             f"(job {result['job_id']}).")
                    st.rerun()

        confirm_unenroll()
