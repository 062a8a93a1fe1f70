"""Play view: the Play's flow from audience to sequence nodes with counts, and what-if toggles per
exclusion at each level (audience, organisation, ruleset). Toggling never touches saved settings;
"Apply" saves the toggles as a settings change with a note, pending until it takes effect."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from unify_dash import engine
from unify_dash.app import ui
from unify_dash.model import roles, settings
from unify_dash.model.levels import with_toggles
from unify_dash.store import db

actor = ui.actor()
st.title("Play view")
ui.show_flash()

version, cfg, plays = ui.plays_in_effect()

if "play.id" not in st.session_state and st.query_params.get("play") in plays:
    st.session_state["play.id"] = st.query_params["play"]
play_id = st.selectbox("Play", list(plays), format_func=lambda k: plays[k].name, key="play.id")
st.query_params["play"] = play_id
st.caption(f"What-if: toggle an exclusion at a level and every count below is recomputed at once, against "
           f"settings v{version} (in effect). Nothing is saved until you apply.")

BUCKET_LABELS = {"entered": "In audience", "opted_out": "Opted out", "excluded_at_audience": "Excluded at audience",
                 "reached": "Reached the sequence nodes", "not_enrolled": "Not Enrolled", "enrolled": "Enrolled",
                 "matched": "Matched", "blocking": "Blocked by", "blocks_alone": "Blocked only by"}


def toggle_key(play: str, exclusion_id: str, level: str, target: str | None) -> str:
    return f"play.t.{play}.{exclusion_id}.{level}.{target or ''}"


def select(bucket: str, node_id: str | None = None, exclusion_id: str | None = None) -> None:
    st.session_state["play.sel"] = {"play": play_id, "bucket": bucket, "node_id": node_id,
                                    "exclusion_id": exclusion_id}


def on_chart_select() -> None:
    points = (st.session_state.get("play.chart") or {}).get("selection", {}).get("points", [])
    if points:
        data = points[0].get("customdata")
        data = data[0] if isinstance(data, (list, tuple)) else data
        bucket, _, node = str(data).partition("|")
        select(bucket, node or None)


def on_table_select() -> None:
    rows = (st.session_state.get("play.excl_table") or {}).get("selection", {}).get("rows", [])
    ids = st.session_state.get("play.excl_ids", [])
    if rows and rows[0] < len(ids):
        select("blocking", None, ids[rows[0]])


@st.fragment
def what_if(play_id: str) -> None:
    play = plays[play_id]
    with ui.cursor() as cur:
        ev = engine.evaluation(cur)
    saved = engine.impact(ev, play_id)
    nodes = saved["nodes"]
    rulesets = list(dict.fromkeys(n["ruleset_id"] for n in nodes))

    # --- toggles: one row per exclusion, one column per level ------------------------------------
    with st.expander("What-if toggles", expanded=True, icon=":material/toggle_on:"):
        widths = [3, 1, 1] + [1] * len(rulesets)
        head = st.columns(widths)
        head[0].markdown("**Exclusion**")
        head[1].markdown(f"**Audience**  \n{play.name}")
        head[2].markdown("**Organisation**  \nexclude from sequences")
        for c, r in zip(head[3:], rulesets, strict=True):
            seqs = ", ".join(n["sequence_name"] for n in nodes if n["ruleset_id"] == r)
            c.markdown(f"**Ruleset {cfg.ruleset(r).name}**  \n{seqs}")
        toggles: dict = {}
        for x in saved["exclusions"]:
            row = st.columns(widths, vertical_alignment="center")
            scope = " · company-wide" if x["scope"] == "company" else ""
            row[0].markdown(f"{x['name']}{scope}", help=cfg.exclusion(x["id"]).description or None)
            levels = [("audience", play_id, x["state"]["audience"]["saved"], row[1]),
                      ("organisation", None, x["state"]["organisation"]["saved"], row[2])]
            levels += [("ruleset", r, x["state"]["rulesets"][r]["saved"], c)
                       for r, c in zip(rulesets, row[3:], strict=True)]
            for level, target, was_on, col in levels:
                where = {"audience": "audience", "organisation": "organisation"}.get(level) or f"ruleset {target}"
                on = col.toggle(f"{x['name']}: {where}", value=was_on,
                                key=toggle_key(play_id, x["id"], level, target), label_visibility="collapsed")
                if on != was_on:
                    toggles[(x["id"], level, target)] = on
        if toggles and st.button("Reset to saved", key="play.reset", icon=":material/undo:"):
            for key in [k for k in st.session_state if str(k).startswith(f"play.t.{play_id}.")]:
                del st.session_state[key]
            st.rerun(scope="fragment")

    imp = engine.impact(ev, play_id, toggles) if toggles else saved

    # --- the flow: counts at each step --------------------------------------------------------------
    label = "what-if" if toggles else "saved settings"
    st.subheader(f"Flow ({label})")
    steps = [("entered", None, imp["entered"], imp["change"]["entered"]),
             ("opted_out", None, imp["opted_out"], imp["change"]["opted_out"]),
             ("excluded_at_audience", None, imp["excluded_at_audience"], imp["change"]["excluded_at_audience"])]
    for n in imp["nodes"]:
        steps.append(("not_enrolled", n["id"], n["not_enrolled"], n["change"]["not_enrolled"]))
        steps.append(("enrolled", n["id"], n["enrolled"], n["change"]["enrolled"]))
    node_names = {n["id"]: n["name"] for n in imp["nodes"]}

    def step_label(bucket: str, node: str | None) -> str:
        return f"{BUCKET_LABELS[bucket]} · {node_names[node]}" if node else BUCKET_LABELS[bucket]

    def show(col, bucket: str, node: str | None, value: int, change: int, title: str) -> None:
        col.metric(title, ui.fmt_int(value), delta=ui.fmt_delta(change) if toggles and change else None,
                   delta_color="inverse" if bucket in ("not_enrolled", "excluded_at_audience") else "normal")
        col.button("List", key=f"play.show.{bucket}.{node or ''}", on_click=select, args=(bucket, node),
                   type="tertiary", icon=":material/list:", help=f"The contacts behind {step_label(bucket, node)}")

    top = st.columns(4)
    for col, (bucket, node, value, change) in zip(top, steps[:3], strict=False):
        show(col, bucket, node, value, change, BUCKET_LABELS[bucket])
    show(top[3], "reached", None, imp["reached"], imp["change"]["reached"], BUCKET_LABELS["reached"])
    for n in imp["nodes"]:
        with st.container(border=True):
            row = st.columns([2, 1, 1], vertical_alignment="center")
            row[0].markdown(f"**{n['name']}**  \nsequence {n['sequence_name']} · ruleset {n['ruleset_name']}")
            show(row[1], "not_enrolled", n["id"], n["not_enrolled"], n["change"]["not_enrolled"], "Not Enrolled")
            show(row[2], "enrolled", n["id"], n["enrolled"], n["change"]["enrolled"], "Enrolled")

    fig = go.Figure()
    names = [step_label(b, n) for b, n, _, _ in steps]
    custom = [f"{b}|{n or ''}" for b, n, _, _ in steps]
    saved_values = [saved["entered"], saved["opted_out"], saved["excluded_at_audience"]]
    for n in saved["nodes"]:
        saved_values += [n["not_enrolled"], n["enrolled"]]
    fig.add_bar(y=names, x=saved_values, orientation="h", name="saved", marker_color="#b8c2cc",
                customdata=custom, hovertemplate="%{y}: %{x:,} (saved)<extra></extra>")
    if toggles:
        fig.add_bar(y=names, x=[v for _, _, v, _ in steps], orientation="h", name="what-if",
                    marker_color="#1f77b4", customdata=custom, hovertemplate="%{y}: %{x:,} (what-if)<extra></extra>")
    fig.update_layout(barmode="group", height=90 + 36 * len(steps) * (2 if toggles else 1),
                      margin=dict(l=10, r=10, t=10, b=10), yaxis=dict(autorange="reversed"),
                      legend=dict(orientation="h", y=1.05), clickmode="event+select")
    st.plotly_chart(fig, key="play.chart", on_select=on_chart_select, selection_mode="points",
                    config={"displayModeBar": False})
    st.caption("Click a bar or a List button to see the contacts behind a count.")

    # --- per exclusion ----------------------------------------------------------------------------------
    st.subheader("Exclusions in this Play")
    table = pd.DataFrame([{
        "exclusion": x["name"],
        "matched": x["matched"],
        "blocking": x["blocking"],
        "blocks alone": x["blocks_alone"],
        "change vs saved": x["change"]["blocking"],
        "levels": " · ".join(
            [f"audience {'on' if x['state']['audience']['what_if'] else 'off'}",
             f"org {'on' if x['state']['organisation']['what_if'] else 'off'}"]
            + [f"{cfg.ruleset(r).name} {'on' if s['what_if'] else 'off'}" for r, s in x["state"]["rulesets"].items()]),
    } for x in imp["exclusions"]])
    st.session_state["play.excl_ids"] = [x["id"] for x in imp["exclusions"]]
    st.dataframe(table, hide_index=True, width="stretch", key="play.excl_table", on_select=on_table_select,
                 height=38 + 35 * len(table),
                 selection_mode="single-row",
                 column_config={
                     "matched": st.column_config.NumberColumn(help="Contacts of the audience (not opted out) "
                                                              "the exclusion applies to", format="localized"),
                     "blocking": st.column_config.NumberColumn(help="Contacts it blocks at a level where it is on",
                                                               format="localized"),
                     "blocks alone": st.column_config.NumberColumn(
                         help="Contacts it alone blocks: released if it is turned off", format="localized"),
                     "change vs saved": st.column_config.NumberColumn(
                         help="Change of 'blocking' against the saved settings", format="%+d"),
                 })
    st.caption("Select a row to list the contacts that exclusion blocks.")

    # --- the list behind the selected count ----------------------------------------------------------
    sel = st.session_state.get("play.sel")
    if sel and sel.get("play") == play_id:
        bucket, node, excl = sel["bucket"], sel["node_id"], sel["exclusion_id"]
        title = step_label(bucket, node)
        if excl:
            title = f"{BUCKET_LABELS[bucket]} {ev.exclusion(excl)[1].name}"
        with ui.cursor() as cur:
            total = engine.drilldown(cur, ev, play_id, bucket, node_id=node, exclusion_id=excl, toggles=toggles,
                                     limit=0)["total"]
        st.subheader(f"{title}: {ui.plural(total, 'contact')} ({label})")

        def fetch(offset: int, limit: int | None) -> pd.DataFrame:
            with ui.cursor() as cur:
                res = engine.drilldown(cur, ev, play_id, bucket, node_id=node, exclusion_id=excl, toggles=toggles,
                                       offset=offset, limit=total if limit is None else limit)
            return ui.engine_rows_frame(res["rows"])

        ui.contact_list(fetch, total, key=f"play.list.{bucket}.{node}.{excl}", file_name=f"{play_id}-{bucket}.csv")

    # --- apply --------------------------------------------------------------------------------------------
    st.subheader("Apply")
    if not toggles:
        st.caption("Toggle an exclusion above to prepare a change.")
    else:
        level_words = {"audience": f"audience of {play.name}", "organisation": "organisation (exclude from sequences)"}
        for (xid, level, target), on in toggles.items():
            where = level_words.get(level) or f"ruleset {cfg.ruleset(target).name}"
            st.markdown(f"- **{cfg.exclusion(xid).name}** at {where}: {'off → on' if on else 'on → off'}")
        allowed = roles.can(actor, "settings.apply")
        note = st.text_input("Note (required)", key="play.note", disabled=not allowed,
                             placeholder="why this change")
        if st.button(f"Apply {ui.plural(len(toggles), 'change')}", type="primary", key="play.apply",
                     disabled=not allowed, icon=":material/publish:",
                     help=None if allowed else f"Your role ({actor.role}) cannot apply settings changes"):
            def write(cur):
                latest = settings.latest_version(cur)[1]
                return settings.apply(cur, actor, with_toggles(latest, toggles), note=note)

            ok, new_version = ui.run_write(write)
            if ok:
                for key in [k for k in st.session_state if str(k).startswith(f"play.t.{play_id}.")]:
                    del st.session_state[key]
                st.session_state.pop("play.note", None)
                ui.flash(f"Applied as settings v{new_version}: pending, it takes effect in "
                         f"{cfg.propagation_minutes} minutes. The counts show the settings in effect until then.")
                st.rerun()
    with ui.cursor() as cur:
        pending = settings.pending_versions(cur)
        clock = db.now(cur)
    for p in pending:
        st.info(f"Pending: settings v{p['version']} by {p['actor']} ({p['note']}) takes effect at "
                f"{ui.fmt_time(p['effective_at'])} ({ui.fmt_relative(p['effective_at'], clock)}).",
                icon=":material/schedule:")


what_if(play_id)
