"""What the Metrics page shows first, declared once for the page and for the service's warm-up
(app/warmup.py): its answers for a scope (:func:`answers`, then Not Enrolled by reason from the
engine). :func:`first_view` computes them for one Play (every sequence node), as the page's first
visit asks for them. The page draws its counts as tables of bars (:func:`ui.bar_table`): no figure
to build (plotly express took about 0.2 s a figure) and no Plotly code in the browser."""

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


def first_view(play_id: str) -> None:
    """Every answer of the Metrics page of ``play_id`` (all sequence nodes)."""
    from unify_dash import engine
    from unify_dash.reports.metrics import Scope

    answers(Scope(play_id=play_id, node_id=None))
    with ui.cursor() as cur:
        engine.impact(engine.evaluation(cur), play_id)
