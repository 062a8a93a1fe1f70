"""The Play view's funnel chart: one centred bar per segment of :func:`unify_dash.reports.funnelview.segments`
(stages in blue, losses in red, each exclusion's share in a lighter red under its loss), the saved
numbers drawn behind as grey ghost bars while a what-if is on, and every bar clickable: a click hands
the segment's (bucket, node, exclusion) to ``on_pick``, which opens the same engine list.

Text on the chart goes through :func:`unify_dash.app.ui.plot_text`."""

from __future__ import annotations

import functools
from collections.abc import Callable

import plotly.graph_objects as go
import streamlit as st

from unify_dash.app import ui
from unify_dash.reports import funnelview

COLOURS = {"stage": "#1f77b4", "loss": "#d62728", "reason": "#f4a6a6"}
GHOST = "rgba(120,130,140,0.25)"
INDENT = "\u2003"  # an em space per level: plotly keeps it in a tick label


def _tick(s: funnelview.Segment) -> str:
    pad = INDENT * (s.level + (1 if s.kind == "reason" else 0))
    return pad + ui.plot_text(s.label)


def figure(segs: list[funnelview.Segment], what_if: bool) -> go.Figure:
    """The funnel as horizontal bars centred on 0 (so stages narrow like a funnel). Built once per
    segments (a toggle turned back, every session of the same counts): the figure is shared, read-only."""
    return _figure(tuple(segs), what_if)


@functools.lru_cache(maxsize=64)
def _figure(segs: tuple[funnelview.Segment, ...], what_if: bool) -> go.Figure:
    ticks = [_tick(s) for s in segs]
    # the same label may occur under two nodes: plotly needs distinct categories
    ys = [t if ticks.count(t) == 1 else t + "\u200b" * i for i, t in enumerate(ticks)]
    keys = [s.key for s in segs]
    fig = go.Figure()
    if what_if:
        fig.add_bar(y=ys, x=[s.saved for s in segs], base=[-s.saved / 2 for s in segs], orientation="h",
                    name="saved", marker=dict(color=GHOST, line=dict(color="#7f8c8d", width=1)),
                    customdata=keys, width=0.9,
                    hovertemplate=[f"{ui.plot_text(s.label)}: {s.saved:,} saved<extra></extra>" for s in segs])
    text = [f"{s.value:,}" + (f" ({s.change:+,})" if what_if and s.change else "") for s in segs]
    fig.add_bar(y=ys, x=[s.value for s in segs], base=[-s.value / 2 for s in segs], orientation="h",
                name="what-if" if what_if else "saved settings", width=0.6 if what_if else 0.8,
                marker=dict(color=[COLOURS.get(s.kind, COLOURS["loss"]) for s in segs]),
                customdata=keys, text=text, textposition="outside", cliponaxis=False,
                hovertemplate=[f"{ui.plot_text(s.label)}: {s.value:,}"
                               + (f" (saved {s.saved:,})" if what_if else "")
                               + "<br>click to list the contacts<extra></extra>" for s in segs])
    top = max([max(s.value, s.saved) for s in segs] + [1])
    fig.update_layout(barmode="overlay", height=80 + 30 * len(segs), margin=dict(l=10, r=10, t=30, b=10),
                      yaxis=dict(autorange="reversed", automargin=True),
                      xaxis=dict(visible=False, range=[-top * 0.62, top * 0.62]),
                      legend=dict(orientation="h", y=1.02, yanchor="bottom"), showlegend=what_if,
                      clickmode="event+select", dragmode=False)
    return fig


def picked(state: dict | None) -> tuple[str, str | None, str | None] | None:
    """The (bucket, node_id, exclusion_id) of the bar a chart selection event names, or None."""
    points = ((state or {}).get("selection") or {}).get("points") or []
    if not points:
        return None
    data = points[0].get("customdata")
    data = data[0] if isinstance(data, (list, tuple)) else data
    return funnelview.parse_key(data) if data else None


def show(saved: dict, now: dict, what_if: bool, key: str,
         on_pick: Callable[[str, str | None, str | None], None]) -> list[funnelview.Segment]:
    """Draw the funnel of ``now`` against ``saved``; a click calls ``on_pick(bucket, node_id, exclusion_id)``."""
    segs = funnelview.segments(now, saved)

    def on_select() -> None:
        choice = picked(st.session_state.get(key))
        if choice:
            on_pick(*choice)

    st.plotly_chart(figure(segs, what_if), key=key, on_select=on_select, selection_mode="points",
                    config={"displayModeBar": False})
    st.caption("Blue: contacts that go on; red: contacts a layer stops; light red: the contacts one exclusion "
               "stops there (a contact with two reasons is under both). "
               + ("Grey: the saved settings. " if what_if else "")
               + "Click a bar to list its contacts: the list has exactly the bar's count.")
    return segs
