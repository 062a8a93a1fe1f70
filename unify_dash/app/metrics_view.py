"""What the Metrics page shows first, declared once for the page and for the service's warm-up
(app/warmup.py): its answers for a scope (:func:`answers`) and its Plotly figures (Not Enrolled by
reason, each breakdown, the timeline). :func:`first_view` computes all of them for one Play (every
sequence node), as the page's first visit asks for them."""

from __future__ import annotations

from typing import Any

from unify_dash.app import ui


def answers(scope) -> tuple[Any, Any, Any, str]:
    """The Metrics page's answers for ``scope``: (summary, timeline, will be skipped, timeline unit)."""
    from unify_dash.reports import metrics

    with ui.cursor() as cur:
        span = metrics.activity_span(cur)
    freq = "week" if span > 120 else "day"
    return (ui.cached(metrics.summary, scope), ui.cached(metrics.timeline, scope, freq=freq),
            ui.cached(metrics.will_be_skipped, scope), freq)


def has_counts(df) -> bool:
    return not (df.empty or df["count"].sum() == 0)


# The Metrics page's plotly figures (plotly express takes about 0.2 s a figure, built once per data by
# :func:`ui.bar_figure`): the page draws them and the warm-up builds the very same ones.
def reasons_figure(reasons, node_id: str | None):
    return ui.bar_figure(
        reasons.assign(reason=reasons["reason"].map(ui.plot_text), node=reasons["node"].map(ui.plot_text)),
        dict(margin=dict(l=10, r=10, t=30, b=10), yaxis_title=None, legend_title=None,
             legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0), showlegend=node_id is None),
        x="contacts", y="reason", color="node", orientation="h", custom_data=["custom"], barmode="group",
        height=80 + 32 * len(reasons))


def breakdown_figure(df, family: str):
    from unify_dash.reports import units

    return ui.bar_figure(df.assign(label=df["label"].map(ui.plot_text)),
                         dict(margin=dict(l=10, r=10, t=10, b=10), yaxis_title=None,
                              xaxis_title=units.of_family(family).many),
                         x="count", y="label", orientation="h", custom_data=["key"], height=80 + 32 * len(df))


def timeline_figure(timeline):
    return ui.bar_figure(timeline.assign(label=timeline["label"].map(ui.plot_text)),
                         dict(margin=dict(l=10, r=10, t=10, b=10), legend_title=None, xaxis_title=None,
                              yaxis_title="events"),
                         x="day", y="count", color="label", custom_data=["key"], height=320)


BREAKDOWNS = ("completed", "opt_outs", "replies")  # the Metrics page's breakdown charts, in page order


def first_view(play_id: str) -> None:
    """Every answer and figure of the Metrics page of ``play_id`` (all sequence nodes)."""
    from unify_dash import engine
    from unify_dash.reports import playview
    from unify_dash.reports.metrics import Scope

    summary, timeline, _, _ = answers(Scope(play_id=play_id, node_id=None))
    with ui.cursor() as cur:
        imp = engine.impact(engine.evaluation(cur), play_id)
    reasons = playview.not_enrolled_reasons(imp, None)
    if not reasons.empty:
        reasons_figure(reasons, None)
    for family in BREAKDOWNS:
        if has_counts(summary[family]):
            breakdown_figure(summary[family], family)
    if not timeline.empty:
        timeline_figure(timeline)
