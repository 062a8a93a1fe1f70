"""Metrics: per Play and sequence node, enrolled / active / completed by reason / opt-outs by source /
replies by class / Not Enrolled by reason, and activity over time. Every count and every bar opens
the list of contacts behind it (paged, CSV export); the list's length equals the count."""

from urllib.parse import unquote

import pandas as pd
import streamlit as st

from unify_dash import engine
from unify_dash.actions import enrollments as lifecycle
from unify_dash.app import metrics_view, ui
from unify_dash.errors import UnifyError
from unify_dash.model import roles, states
from unify_dash.reports import diagnosis, metrics, playview, units
from unify_dash.reports.metrics import Scope

actor = ui.actor()
st.title("Metrics")
ui.show_flash()

version, cfg, plays = ui.plays_in_effect()

c1, c2 = st.columns(2)
asked = st.query_params.get("play")
if asked and asked not in plays:  # a link to a Play that does not exist (any more): said, not hidden
    st.warning(f"No Play {ui.code(asked)} in the settings in effect (v{version}); showing "
               f"{ui.md(next(iter(plays.values())).name)} instead.", icon=":material/help:")
    st.query_params.pop("list", None)
if "metrics.play" not in st.session_state and asked in plays:
    st.session_state["metrics.play"] = asked
play_id = c1.selectbox("Play", list(plays), format_func=lambda k: plays[k].name, key="metrics.play")
st.query_params["play"] = play_id
play = plays[play_id]
node_names = {n.id: (n.name or cfg.sequence(n.sequence).name) for n in play.nodes}
sequence_names = {q.id for q in cfg.sequences}
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
    st.session_state.pop("metrics.unenroll", None)
    st.query_params["list"] = ":".join([kind, family, key, node or "", exclusion or ""]).rstrip(":")


with ui.cursor() as cur:
    ev = engine.evaluation(cur)
    imp = engine.impact(ev, play_id)
summary, timeline, skips, freq = metrics_view.answers(scope)  # computed at start for every Play (app/warmup.py)
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
        def picked_row(i: int) -> None:
            nd, _, excl = str(reasons["custom"].iloc[i]).partition("|")
            select("now", "not_enrolled", "not_enrolled", nd or None, excl or None)

        ui.bar_table(reasons[["reason", "contacts"] if node_id else ["reason", "node", "contacts"]], "contacts",
                     "metrics.chart.reasons", picked_row, title="Contacts", colour="#d62728",
                     help="Contacts (each once per reason) the reason blocks at the node now")
        st.caption("A contact blocked by several exclusions counts under each of them. Select a row to list them.")


def breakdown_chart(container, family: str, title: str) -> None:
    df = summary[family]
    with container:
        st.subheader(title)
        if not metrics_view.has_counts(df):
            st.caption("None in this scope.")
            return
        unit = units.of_family(family).many
        ui.bar_table(df[["label", "count"]], "count", f"metrics.chart.{family}",
                     lambda i: select("history", family, str(df["key"].iloc[i])), title=unit.capitalize(),
                     help=f"{unit.capitalize()} in this scope; select a row to list them")


breakdown_chart(right, "completed", "Completed by reason")
left2, right2 = st.columns(2)
breakdown_chart(left2, "opt_outs", "Opt-outs by source")
breakdown_chart(right2, "replies", "Replies by class")

# --- over time ------------------------------------------------------------------------------------------------
st.subheader("Over time")
if timeline.empty:
    st.caption("No activity recorded in this scope.")
else:
    ui.bar_table(timeline[["day", "label", "count"]].rename(columns={"day": freq, "label": "event"}), "count",
                 "metrics.chart.activity", lambda i: select("history", metrics.timeline_family(freq),
                                                            str(timeline["key"].iloc[i])),
                 title="Events", help=f"Events of this type in the {freq}")
    st.caption(f"Events per {freq} and type. Select a row to list the events behind it.")

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

# --- the list behind the selected count: a dialog over the page, linked by ?play=...&list=... ----------------------


def open_linked_list() -> None:
    """A link ``?list=kind:family:key[:node[:exclusion]]`` opens its list (once per link)."""
    text = st.query_params.get("list")
    if not text or st.session_state.get("metrics.linked") == (play_id, text):
        return
    st.session_state["metrics.linked"] = (play_id, text)
    parts = (str(text).split(":") + ["", "", "", "", ""])[:5]
    kind, family, key, nd, excl = parts
    known = {"now": ("not_enrolled",), "skip": ("skip",), "history": tuple(metrics.FAMILY_LABELS)}
    reason = excl.startswith(playview.REASON_MARK) and excl[len(playview.REASON_MARK):] in states.BLOCK_REASONS
    if family not in known.get(kind, ()) or (nd and nd not in node_names) or (
            excl and not reason and excl not in {x.id for x in cfg.exclusions}):
        st.warning(f"The link's list {ui.code(text)} is not one of this page; pick a count instead.",
                   icon=":material/help:")
        st.query_params.pop("list", None)
        return
    select(kind, family, key or family, nd or None, excl or None)


def close_list() -> None:
    st.session_state.pop(SEL, None)
    st.session_state.pop("metrics.unenroll", None)
    st.query_params.pop("list", None)


@st.dialog("Contacts behind the count", width="large", on_dismiss=close_list)
def list_dialog(sel: dict) -> None:
    kind, family, key = sel["kind"], sel["family"], sel["key"]
    enrollment_list = kind == "history" and family == "state" and key in ("enrolled", *states.ACTIVE_STATES)
    condition = None
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
            rows = rows.assign(reasons=[texts.get(e) for e in rows["enrollment_id"]],
                               sequence=[cfg.sequence(q).name if q in sequence_names else q for q in rows["sequence"]],
                               node=[node_names.get(n, n or "") for n in rows["node"]])
            return ui.with_links(rows.drop(columns=["enrollment_id", "state"]))
    else:
        if enrollment_list:
            condition = ui.contact_filter(f"metrics.filter.{key}")
        try:
            with ui.cursor() as cur:
                total = metrics.contacts(cur, family, key, scope, limit=0, contact_filter=condition)["total"]
        except UnifyError as err:
            ui.show_error(err)
            return
        unit = "contact" if family in ("state", "completed", "opt_outs") else ("reply" if family == "replies" else "event")
        matching = " matching the filter" if condition else ""
        st.subheader(f"{ui.md(metrics.label(family, key))}{matching}: "
                     f"{ui.plural(total, unit, 'replies' if unit == 'reply' else None)}")

        def fetch(offset, limit):
            with ui.cursor() as cur:
                rows = metrics.contacts(cur, family, key, scope, offset=offset, limit=limit,
                                        contact_filter=condition)["rows"]
            if family in ("state", "completed"):
                rows = rows.rename(columns={"blocking_criteria": "reasons"})
                rows["reasons"] = [", ".join(str(x) for x in (r, b) if isinstance(x, str) and x)
                                   for r, b in zip(rows["reason"], rows["reasons"], strict=True)]
                rows = rows.drop(columns=["reason", "contact_id", "enrollment_id"])
                rows["state"] = [states.label(states.ENROLLMENT_STATES, v) for v in rows["state"]]
                rows["sequence"] = [cfg.sequence(q).name if q in sequence_names else q for q in rows["sequence"]]
                rows["node"] = [node_names.get(n, n or "") for n in rows["node"]]
            else:
                rows = rows.drop(columns=["contact_id"])
            return ui.with_links(rows)

    state, page, _ = ui.contact_list(fetch, total, key=f"metrics.list.{kind}.{family}.{key}.{sel.get('node_id')}."
                                                      f"{sel.get('exclusion_id')}", file_name=f"{play_id}-{key}.csv",
                                     selectable=enrollment_list and sequence_id is not None)
    if enrollment_list and roles.can(actor, "enrollment.bulk_unenroll"):
        bulk_unenroll(state, page, total, condition, None if key == "enrolled" else key)


def bulk_unenroll(state, page, total: int, condition: dict | None, only: str | None) -> None:
    """Sequences -> Enrollments: filter, select, Unenroll (the selected rows, or every queued or active
    enrollment the filter keeps, in batches with progress: lifecycle.bulk_unenroll, the CLI's too)."""
    if sequence_id is None:
        st.caption("Pick one sequence node on the page to unenroll contacts from its sequence.")
        return
    picked = [unquote(page.iloc[i]["contact"].split("email=", 1)[-1]) for i in (state.selection.rows or [])]
    b1, b2 = st.columns(2)
    if b1.button(f"Unenroll selected ({len(picked)})", key="metrics.unenroll.sel", disabled=not picked,
                 icon=":material/person_remove:"):
        st.session_state["metrics.unenroll"] = {"filter": picked, "n": len(picked), "state": only}
    everyone = "matching the filter" if condition else "in this list"
    which = f"{only} one" if only else "queued or active one"
    if b2.button(f"Unenroll every {which} {everyone}", key="metrics.unenroll.all", disabled=total == 0,
                 icon=":material/group_remove:"):
        st.session_state["metrics.unenroll"] = {"filter": condition, "n": None, "state": only}
    job = st.session_state.get("metrics.unenroll")
    if not job:
        return
    seq = cfg.sequence(sequence_id)
    who = ui.plural(job["n"], "selected contact") if job["n"] is not None else (
        f"every {which.removesuffix(' one')} enrollment {everyone}")
    with st.container(border=True):
        st.warning(f"Cancel the remaining steps of {who} in **{ui.md(seq.name)}** ({ui.md(play.name)}, "
                   f"{ui.md(node_names[node_id])}). This is not an opt-out: they can be enrolled again later.",
                   icon=":material/person_remove:")
        go, cancel = st.columns(2)
        if cancel.button("Cancel", key="metrics.unenroll.cancel"):
            st.session_state.pop("metrics.unenroll", None)
            st.rerun(scope="fragment")
        if go.button("Unenroll", type="primary", key="metrics.unenroll.go"):
            bar = st.progress(0.0, text="Starting…")

            def progress(done, total_):
                bar.progress(done / max(total_, 1), text=f"{ui.fmt_int(done)} of {ui.fmt_int(total_)} unenrolled")

            ok, result = ui.run_write(lambda cur: lifecycle.bulk_unenroll(
                cur, actor, sequence_id=sequence_id, filter=job["filter"], play_id=play_id, node_id=node_id,
                state=job["state"], progress=progress))
            if ok:
                close_list()
                ui.flash(f"Unenrolled {ui.plural(result['unenrolled_now'], 'enrollment')} from {ui.md(seq.name)} "
                         f"(job {result['job_id']}).")
                st.rerun()


open_linked_list()
sel = st.session_state.get(SEL)
if sel and sel.get("scope") == (play_id, node_id):
    list_dialog(sel)
