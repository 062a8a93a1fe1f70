"""The Play view's funnel, drawn as a table of bars (no chart library): one row per segment of
:func:`unify_dash.reports.funnelview.segments`, indented by level, its count as a bar in the "goes on"
column (stages, blue) or the "stopped" column (a loss, and under it each exclusion's share of it, red),
and while a what-if is on the saved count and the change beside it. Selecting a row hands the
segment's (bucket, node, exclusion) to ``on_pick``, which opens the same engine list.

Why a table: the page's tables already load the grid's code, so the Play view needs no Plotly chunk
(4.7 MB, seconds of a cold browser's first page) and a what-if click redraws a canvas instead of a
Plotly figure (docs/benchmarks.md, "Round 3"). Cells of a table are not Markdown: names are shown as
written (docs/dashboard-security.md)."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from unify_dash.reports import funnelview

COLOURS = {"stage": "#1f77b4", "loss": "#d62728"}
INDENT = "\u2003"  # an em space per level
STEP_PX, BAR_PX, NUMBER_PX = 280, 200, 90


def frame(segs: list[funnelview.Segment], what_if: bool) -> pd.DataFrame:
    """One row per segment: its indented label, its count under "goes on" or "stopped" (the other
    empty), and with a what-if the saved count and the change."""
    stage = [s.kind == "stage" for s in segs]
    data = {"step": [INDENT * (s.level + (1 if s.kind == "reason" else 0)) + s.label for s in segs],
            "goes on": pd.array([s.value if on else None for s, on in zip(segs, stage, strict=True)], dtype="Int64"),
            "stopped": pd.array([None if on else s.value for s, on in zip(segs, stage, strict=True)], dtype="Int64")}
    if what_if:
        data |= {"saved": [s.saved for s in segs], "change": [s.change for s in segs]}
    return pd.DataFrame(data)


def column_config(segs: list[funnelview.Segment]) -> dict:
    top = max([max(s.value, s.saved) for s in segs] + [1])
    bar = st.column_config.ProgressColumn
    return {"step": st.column_config.TextColumn("Step", width=STEP_PX),
            "goes on": bar("Goes on", min_value=0, max_value=top, format="localized", width=BAR_PX,
                           color=COLOURS["stage"], help="Contacts that go on past this step"),
            "stopped": bar("Stopped", min_value=0, max_value=top, format="localized", width=BAR_PX,
                           color=COLOURS["loss"],
                           help="Contacts this layer stops; indented under it, the contacts one exclusion stops "
                                "there (a contact with two reasons is under both)"),
            "saved": st.column_config.NumberColumn("Saved", format="localized", width=NUMBER_PX,
                                                   help="The count with the saved settings"),
            "change": st.column_config.NumberColumn("Change", format="%+d", width=NUMBER_PX,
                                                    help="What-if minus saved")}


def show(saved: dict, now: dict, what_if: bool, key: str,
         on_pick: Callable[[str, str | None, str | None], None]) -> list[funnelview.Segment]:
    """Draw the funnel of ``now`` against ``saved``; selecting a row calls ``on_pick(bucket, node_id,
    exclusion_id)``."""
    segs = funnelview.segments(now, saved)
    keys = [s.key for s in segs]

    def on_select() -> None:
        rows = ((st.session_state.get(key) or {}).get("selection") or {}).get("rows") or []
        if rows and rows[0] < len(keys):
            on_pick(*funnelview.parse_key(keys[rows[0]]))

    st.dataframe(frame(segs, what_if), key=key, on_select=on_select, selection_mode="single-row", hide_index=True,
                 width="content", height=38 + 35 * len(segs), column_config=column_config(segs))
    st.caption("Blue: contacts that go on; red: contacts a layer stops, and indented under it the contacts one "
               "exclusion stops there. " + ("Saved and Change: against the saved settings. " if what_if else "")
               + "Select a row to list its contacts: the list has exactly the row's count.")
    return segs
