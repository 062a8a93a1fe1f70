"""Execution logs: every enrollment attempt and send-time check, with the criteria that blocked it."""

import streamlit as st

from unify_dash.app import ui
from unify_dash.model import states
from unify_dash.reports import metrics

st.title("Execution logs")
st.caption("Every enrollment attempt and every send-time check the scheduler made, newest first, "
           "with the exclusions (and levels) that blocked it and the settings version in effect.")

with ui.cursor() as cur:
    _, cfg = ui.settings_in_effect(cur)
outcomes = ui.cached(metrics.log_outcomes)  # every write to the log bumps the data generation

plays = {p.id: p.name for p in cfg.plays}
sequences = {s.id: s.name for s in cfg.sequences}
c1, c2, c3, c4 = st.columns([1, 1, 1, 1.4])
play = c1.selectbox("Play", [None, *plays], format_func=lambda k: "All plays" if k is None else plays[k],
                    key="logs.play")
sequence = c2.selectbox("Sequence", [None, *sequences],
                        format_func=lambda k: "All sequences" if k is None else sequences[k], key="logs.sequence")
outcome = c3.selectbox("Outcome", [None, *outcomes], key="logs.outcome",
                       format_func=lambda k: "All outcomes" if k is None else states.label(states.LOG_OUTCOMES, k))
if "logs.email" not in st.session_state:
    st.session_state["logs.email"] = st.query_params.get("email", "")
email = c4.text_input("Contact email", key="logs.email", placeholder="exact email, e.g. ann@acme.com")
blocked = st.toggle("Only attempts blocked by an exclusion", key="logs.blocked")
filters = dict(play_id=play, sequence_id=sequence, outcome=outcome, email=email or None, blocked_only=blocked)

total = ui.cached(metrics.execution_log, limit=0, **filters)["total"]  # the count, once per data generation
st.markdown(f"**{ui.plural(total, 'log row')}**")
offset, limit = ui.pager(total, key="logs.page")
# the page too: newest first over every log row is a sort of 1.2M rows at 1M (ties on "at" by log_id)
rows = ui.cached(metrics.execution_log, offset=offset, limit=limit, **filters)["rows"]
shown = metrics.log_display(rows, cfg)
shown.insert(1, "contact", [ui.contact_link(e) if e else None for e in rows["email"]])
st.dataframe(
    shown.drop(columns=["email"]), hide_index=True, width="stretch", key="logs.table",
    column_config={
        "at": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm", width="small"),
        "contact": st.column_config.LinkColumn("Contact", display_text=r"email=(.*)$", width="medium"),
        "blocking_criteria": st.column_config.TextColumn("Blocking criteria", width="large"),
        "settings_version": st.column_config.NumberColumn("Settings", format="v%d", width="small"),
        "step": st.column_config.NumberColumn("Step", width="small"),
    },
)


def _export() -> bytes:
    with ui.cursor() as cur:
        return metrics.frame_to_csv(metrics.execution_log(cur, limit=None, **filters)["rows"])


st.download_button("Export CSV", _export, file_name="execution_log.csv", mime="text/csv",
                   icon=":material/download:", key="logs.csv", on_click="ignore", disabled=total == 0)
