"""Trends & forecast: Not Enrolled by reason over time (from the execution log), with alerts where a
settings change or a sync moved a reason, and the send-time forecast (what the next run skips and why,
read-only). Each view is one call into ``unify_dash/reports/``; ``?view=`` deep-links a view."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from unify_dash.app import ui, warmup
from unify_dash.reports import forecast, trends

VIEWS = {"trends": "Reason trends", "forecast": "Send-time forecast"}

st.title("Trends & forecast")
with ui.cursor() as cur:
    version, cfg = ui.settings_in_effect(cur)

if "trends.view" not in st.session_state:
    st.session_state["trends.view"] = st.query_params.get("view") if st.query_params.get("view") in VIEWS else "trends"
view = st.segmented_control("View", list(VIEWS), format_func=VIEWS.get, key="trends.view",
                            label_visibility="collapsed") or "trends"
st.query_params["view"] = view


def trends_view() -> None:
    plays = {p.id: p.name for p in cfg.plays}
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
    play = c1.selectbox("Play", [None, *plays], format_func=lambda k: "All plays" if k is None else plays[k],
                        key="trends.play")
    defaults = warmup.trends_defaults()  # the view the warm-up computes at start (app/warmup.py)
    periods = list(trends.PERIODS)
    period = c2.selectbox("Per", periods, index=periods.index(defaults["period"]), key="trends.period")
    threshold = c3.number_input("Alert above (% of previous)", 0, 1000, defaults["threshold"], 5,
                                key="trends.threshold")
    least = c4.number_input("... and above (contacts)", 0, 10_000_000, defaults["least"], 5, key="trends.min")
    out = warmup.trends_view(play, period, threshold, least)
    if not out["points"]:
        st.info("No execution-log history yet: the scheduler writes it (Data page, Run sends; or "
                "`unify-dash sends --until T`).", icon=":material/history:")
        return
    st.caption("Contacts Not Enrolled at a sequence node, by the exclusions that blocked them (a contact with two "
               "reasons counts under both), at the end of each period, from the execution log. The reasons are "
               "those logged when the block started.")
    for a in out["alerts"]:
        st.warning(f"**{ui.md(a['name'])}**: {ui.fmt_int(a['before'])} → {ui.fmt_int(a['after'])} "
                   f"({ui.fmt_delta(a['change'])}) between {ui.fmt_time(a['from'])} and {ui.fmt_time(a['to'])}: "
                   + "; ".join(ui.md(e["text"]) for e in a["events"]), icon=":material/trending_up:")
    if not out["series"]:
        st.caption("No contact is Not Enrolled in this period.")
        return
    x = pd.to_datetime(out["points"])
    fig = go.Figure()
    for s in out["series"]:
        fig.add_scatter(x=x, y=s["contacts"], mode="lines+markers", name=ui.plot_text(s["name"]),
                        hovertemplate=ui.plot_text(s["name"]) + ": %{y:,}<extra></extra>")
    for a in out["alerts"]:
        fig.add_vline(x=pd.Timestamp(a["to"]).timestamp() * 1000, line_dash="dot", line_color="#d62728")
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h", y=-0.15),
                      yaxis_title="contacts Not Enrolled")
    st.plotly_chart(fig, key="trends.chart", config={"displayModeBar": False})
    last = pd.DataFrame([{"reason": s["name"], "now": s["contacts"][-1],
                          "previous": f"{s['contacts'][-2]:,}" if len(s["contacts"]) > 1 else "no earlier period"}
                         for s in out["series"]])
    st.dataframe(last, hide_index=True, key="trends.table", column_config={
        "now": st.column_config.NumberColumn(format="localized"),
        "previous": st.column_config.TextColumn(help="At the end of the period before")})


def forecast_view() -> None:
    c1, c2 = st.columns([1, 2])
    state = c1.selectbox("Enrollments", [None, *forecast.STATES], key="forecast.state",
                         format_func=lambda s: "queued and active" if s is None else s)
    every = c2.toggle("Show the steps that go out too", key="forecast.all")
    head = warmup.forecast_head(state, every)
    st.caption(f"Every enrollment waiting for its next step, decided as the next run (about "
               f"{ui.fmt_time(head['run_at'])}) will decide it under settings v{head['settings_version']}. Read-only: "
               "nothing is sent, nothing is written.")
    dec = head["decisions"]
    cols = st.columns(4)
    cols[0].metric("Waiting steps", ui.fmt_int(head["due"]))
    cols[1].metric("Will be skipped", ui.fmt_int(dec.get("skip", 0)), help="Queued: never emailed")
    cols[2].metric("Will be removed", ui.fmt_int(dec.get("remove", 0)), help="Active: removed mid-sequence")
    cols[3].metric("Will go out", ui.fmt_int(dec.get("send", 0) + dec.get("continue", 0)))
    if head["by_reason"]:
        reasons = head["by_reason"]
        fig = go.Figure(go.Bar(y=[ui.plot_text(r["reason"]) for r in reasons], x=[r["enrollments"] for r in reasons],
                               orientation="h", marker_color="#d62728",
                               hovertemplate="%{y}: %{x:,}<extra></extra>"))
        fig.update_layout(height=80 + 30 * len(reasons), margin=dict(l=10, r=10, t=10, b=10),
                          yaxis=dict(autorange="reversed"), xaxis_title="enrollments stopped")
        st.subheader("Why")
        st.plotly_chart(fig, key="forecast.chart", config={"displayModeBar": False})
    total = head["total"]

    def fetch(offset: int, limit: int | None) -> pd.DataFrame:
        out = warmup.forecast_page(state, every, offset, limit)
        return pd.DataFrame([{"contact": ui.contact_link(r["email"]) if r["email"] else None,
                              "sequence": r["sequence"], "step": r["step"], "state": r["state"],
                              "decision": forecast.LABELS.get(r["decision"], r["decision"]),
                              "reasons": "; ".join(r["reasons"]) or "–"} for r in out["rows"]],
                            columns=["contact", "sequence", "step", "state", "decision", "reasons"])

    st.subheader(f"{'Every waiting step' if every else 'Stopped at the next run'}: {ui.plural(total, 'enrollment')}")
    ui.contact_list(fetch, total, key=f"forecast.list.{state}.{every}", file_name="send-forecast.csv")


{"trends": trends_view, "forecast": forecast_view}[view]()
