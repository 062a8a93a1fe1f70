"""Play view: the Play's flow from audience to sequence nodes with counts, and what-if toggles per
exclusion at each level (audience, organisation, ruleset). Toggling never touches saved settings;
"Apply" saves the toggles as a settings change with a note, pending until it takes effect."""

import time

import pandas as pd
import streamlit as st

from unify_dash import engine
from unify_dash.app import funnel_chart, toggle_grid, ui
from unify_dash.model import roles, settings
from unify_dash.model.levels import with_toggles
from unify_dash.reports import playview, units

actor = ui.actor()
st.title("Play view")
ui.show_flash()

version, cfg, plays = ui.plays_in_effect()

asked = st.query_params.get("play")
if asked and asked not in plays:  # a link to a Play that does not exist (any more): said, not hidden
    st.warning(f"No Play {ui.code(asked)} in the settings in effect (v{version}); showing "
               f"{ui.md(next(iter(plays.values())).name)} instead.", icon=":material/help:")
    st.query_params.pop("list", None)
if "play.id" not in st.session_state and asked in plays:
    st.session_state["play.id"] = asked
play_id = st.selectbox("Play", list(plays), format_func=lambda k: plays[k].name, key="play.id")  # plain text
st.query_params["play"] = play_id
st.caption(f"What-if: toggle an exclusion at a level and every count below is recomputed at once, against "
           f"settings v{version} (in effect). Nothing is saved until you apply.")


def select(bucket: str, node_id: str | None = None, exclusion_id: str | None = None) -> None:
    """Open the list behind a count in a dialog, over what was clicked; the URL links to it."""
    st.session_state["play.sel"] = {"play": play_id, "bucket": bucket, "node_id": node_id,
                                    "exclusion_id": exclusion_id}
    st.query_params["list"] = playview.list_param(bucket, node_id, exclusion_id)


def close_list() -> None:
    st.session_state.pop("play.sel", None)
    st.query_params.pop("list", None)


def on_table_select() -> None:
    rows = (st.session_state.get("play.excl_table") or {}).get("selection", {}).get("rows", [])
    ids = st.session_state.get("play.excl_ids", [])
    if rows and rows[0] < len(ids):
        select("blocking", None, ids[rows[0]])


WHAT_IF = "play.what_if"  # the what-if fragment's key: a click in the grid reruns it alone


def what_if_grid(play_id: str, saved: dict, rows: list) -> None:
    """The what-if toggles (app/toggle_grid.py: a row per exclusion, a checkbox per level), drawn once
    per page run: a click reruns the what-if fragment only."""
    with st.expander("What-if toggles", expanded=True, icon=":material/toggle_on:"):
        toggle_grid.show(play_id, version, rows, playview.toggle_columns(cfg, play_id, saved), WHAT_IF)
        st.caption("Tick or clear a level: every count below is recomputed with it. Under each level's "
                   "name, where it applies.")


def reset_grid(play_id: str) -> None:
    toggle_grid.reset(play_id)
    st.rerun()  # the grid is drawn outside the fragment: the page draws it again, as saved


def flow(saved: dict, imp: dict, toggles: dict, label: str) -> None:
    """The counts at each step (metrics with a List button) and the chart saved vs what-if."""
    st.subheader(f"Flow ({label})")

    def show(col, step: playview.Step, title: str) -> None:
        col.metric(ui.md(title), ui.fmt_int(step.value),
                   delta=ui.fmt_delta(step.change) if toggles and step.change else None,
                   delta_color="inverse" if step.bucket in playview.INVERSE_BUCKETS else "normal")
        col.button("List", key=f"play.show.{step.bucket}.{step.node_id or ''}", on_click=select,
                   args=(step.bucket, step.node_id), type="tertiary", icon=":material/list:",
                   help=f"The contacts behind {ui.md(step.label)}")

    steps = playview.flow_steps(imp)
    top = st.columns(4)
    for col, step in zip(top, [*steps[:3], playview.reached(imp)], strict=True):
        show(col, step, step.label)
    by_node = {(s.bucket, s.node_id): s for s in steps[3:]}
    for n in imp["nodes"]:
        with st.container(border=True):
            row = st.columns([2, 1, 1], vertical_alignment="center")
            row[0].markdown(f"**{ui.md(n['name'])}**  \nsequence {ui.md(n['sequence_name'])} · "
                            f"ruleset {ui.md(n['ruleset_name'])}"
                            + (f"  \nfor: {ui.md(n['condition'])}" if n.get("condition") else ""))
            show(row[1], by_node[("not_enrolled", n["id"])], "Not Enrolled")
            show(row[2], by_node[("enrolled", n["id"])], "Enrolled")
    if imp.get("unrouted"):
        st.caption(f"{ui.fmt_int(imp['unrouted'])} contacts of the audience meet no node's condition (Play branching): "
                   "they enter no node.")
    st.caption(units.legend(units.CONTACTS) + " Each node shows the contacts that would be enrolled there now; "
               "the Play's numbers count a contact once, even when it would be enrolled at several nodes. "
               "Metrics counts enrollment records.")

    funnel_chart.show(saved, imp, bool(toggles), "play.chart", select)


def exclusions_table(imp: dict) -> None:
    st.subheader("Exclusions in this Play")
    table = playview.exclusion_table(cfg, imp)
    st.session_state["play.excl_ids"] = [x["id"] for x in imp["exclusions"]]
    number = st.column_config.NumberColumn
    st.dataframe(table, hide_index=True, width="stretch", key="play.excl_table", on_select=on_table_select,
                 height=38 + 35 * len(table), selection_mode="single-row", column_config={
                     "matched": number(help="Contacts of the audience (not opted out) the exclusion applies to",
                                       format="localized"),
                     "blocking": number(help="Contacts it blocks at a level where it is on", format="localized"),
                     "blocks alone": number(help="Contacts it alone blocks: released if it is turned off",
                                            format="localized"),
                     "change vs saved": number(help="Change of 'blocking' against the saved settings",
                                               format="%+d")})
    st.caption("Select a row to list the contacts that exclusion blocks.")


def linked_list(imp: dict) -> None:
    """A link ``?play=...&list=bucket:node:exclusion`` opens its list (once per link)."""
    text = st.query_params.get("list")
    if not text or st.session_state.get("play.linked") == (play_id, text):
        return
    st.session_state["play.linked"] = (play_id, text)
    sel, why = playview.parse_list_param(text, imp)
    if why:
        st.warning(f"The link's list is not shown: {ui.md(why)}.", icon=":material/help:")
        st.query_params.pop("list", None)
    elif sel:
        st.session_state["play.sel"] = {"play": play_id, **sel}


@st.dialog("Contacts behind the count", width="large", on_dismiss=close_list)
def selected_list(ev, imp: dict, toggles: dict, label: str) -> None:
    """The contacts behind the selected count (paged, CSV export), in a dialog over the page."""
    sel = st.session_state.get("play.sel")
    if not sel or sel.get("play") != play_id:
        return
    bucket, node, excl = sel["bucket"], sel["node_id"], sel["exclusion_id"]
    query = dict(node_id=node, exclusion_id=excl, toggles=toggles)
    with ui.cursor() as cur:
        total = engine.drilldown(cur, ev, play_id, bucket, limit=0, **query)["total"]
    st.subheader(f"{ui.md(playview.step_label(imp, bucket, node, excl))}: {ui.plural(total, 'contact')} ({label})")

    def fetch(offset: int, limit: int | None) -> pd.DataFrame:
        with ui.cursor() as cur:
            res = engine.drilldown(cur, ev, play_id, bucket, offset=offset, limit=total if limit is None else limit,
                                   **query)
        return ui.engine_rows_frame(res["rows"])

    ui.contact_list(fetch, total, key=f"play.list.{bucket}.{node}.{excl}", file_name=f"{play_id}-{bucket}.csv")


def apply_panel(toggles: dict) -> None:
    """The what-if toggles as a settings change with a note (pending until it takes effect)."""
    st.subheader("Apply")
    if not toggles:
        st.caption("Toggle an exclusion above to prepare a change.")
    else:
        for c in playview.change_lines(cfg, play_id, toggles):
            st.markdown(f"- **{ui.md(c.exclusion)}** at {ui.md(c.where)}: {c.change}")
        allowed = roles.can(actor, "settings.apply")
        note = st.text_input("Note (required)", key="play.note", disabled=not allowed, placeholder="why this change")
        buttons = st.container(horizontal=True)
        buttons.button("Reset to saved", key="play.reset", icon=":material/undo:", on_click=reset_grid, args=(play_id,))
        if buttons.button(f"Apply {ui.plural(len(toggles), 'change')}", type="primary", key="play.apply",
                          disabled=not allowed, icon=":material/publish:",
                          help=None if allowed else f"Your role ({actor.role}) cannot apply settings changes"):
            def write(cur):
                latest = settings.latest_version(cur)[1]
                return settings.apply(cur, actor, with_toggles(latest, toggles), note=note)

            ok, new_version = ui.run_write(write)
            if ok:
                toggle_grid.reset(play_id)
                st.session_state.pop("play.note", None)
                ui.flash(f"Applied as settings v{new_version}: pending, it takes effect in "
                         f"{cfg.propagation_minutes} minutes. The counts show the settings in effect until then.")
                st.rerun()
    pending = ui.cached(settings.pending_versions)  # a saved version bumps the data generation
    clock = ui.now()
    for p in pending:
        st.info(f"Pending: settings v{p['version']} by {ui.code(p['actor'])} ({ui.md(p['note'])}) takes effect at "
                f"{ui.fmt_time(p['effective_at'])} ({ui.fmt_relative(p['effective_at'], clock)}).",
                icon=":material/schedule:")


@st.fragment(key=WHAT_IF)
def what_if(play_id: str) -> None:
    """Every count of the Play with this session's toggles (read from the grid's checkboxes, drawn
    outside): a click in the grid reruns this alone."""
    started = time.perf_counter()
    with ui.cursor() as cur:
        ev = engine.evaluation(cur)
    saved = engine.impact(ev, play_id)
    toggles = toggle_grid.chosen(play_id, version, playview.toggle_rows(cfg, play_id, saved))
    imp = engine.impact(ev, play_id, toggles) if toggles else saved
    label = "what-if" if toggles else "saved settings"
    flow(saved, imp, toggles, label)
    exclusions_table(imp)
    linked_list(imp)
    sel = st.session_state.get("play.sel")
    if sel and sel.get("play") == play_id:
        selected_list(ev, imp, toggles, label)
    apply_panel(toggles)
    ui.log_timing("fragment play.what_if", started)


grid_slot = st.container()  # the grid stays on top but is drawn last: the counts are sent first
what_if(play_id)
with ui.cursor() as _cur:
    _saved = engine.impact(engine.evaluation(_cur), play_id)
with grid_slot:
    what_if_grid(play_id, _saved, playview.toggle_rows(cfg, play_id, _saved))
