"""The Play view's what-if toggle grid: one data editor (a row per exclusion, a checkbox column per
level), not a toggle widget per cell. A click then redraws one canvas instead of re-rendering some
fifty widgets in the browser (docs/benchmarks.md, "Round 3"). The edits live in the editor's session
state (``{"edited_rows": {row position: {column: value}}}``), so the page reads the toggles before it
draws the grid: the counts go out first, the grid last.

The geometry constants are the grid's layout; tests/browser_support.py clicks cells by them."""

from __future__ import annotations

import streamlit as st

from unify_dash.reports import playview

NAME_PX, CELL_PX, TEXT_PX, ROW_PX = 320, 140, 420, 35  # column widths and row height, in pixels
KEY_PREFIX = "play.grid."


def key(play_id: str, version: int) -> str:
    """The grid's widget key: per Play and settings version (its edits name rows by position), and per
    reset (``.g<n>``: the browser keeps a grid's edits while its key stays the same)."""
    return f"{KEY_PREFIX}{play_id}.v{version}.g{st.session_state.get(GENERATION + play_id, 0)}"


GENERATION = "play.gridreset."  # + play id: how many times this session reset that Play's grid


def reset(play_id: str) -> None:
    """Forget this session's edits of the grid of ``play_id`` (every version) and draw a new grid: back
    to saved."""
    for k in [k for k in st.session_state if str(k).startswith(f"{KEY_PREFIX}{play_id}.")]:
        del st.session_state[k]
    st.session_state[GENERATION + play_id] = st.session_state.get(GENERATION + play_id, 0) + 1


def chosen(play_id: str, version: int, rows: list[playview.Row]) -> dict:
    """The what-if toggles this session holds (the grid's edits), known before the grid is drawn:
    what :func:`show` returns when it is."""
    edits = (st.session_state.get(key(play_id, version)) or {}).get("edited_rows") or {}
    return playview.changed(rows, playview.grid_chosen(rows, edits))


def show(play_id: str, version: int, rows: list[playview.Row], columns: list[playview.Column]) -> dict:
    """Draw the grid; returns the changed toggles ``{(exclusion id, level, target): on}``."""
    from unify_dash.app import ui

    check = st.column_config.CheckboxColumn
    config = {"exclusion": st.column_config.TextColumn("Exclusion", width=NAME_PX, pinned=True),
              **{playview.column_key(c): check(c.title, width=CELL_PX, help=ui.md(c.detail)) for c in columns},
              "description": st.column_config.TextColumn("Description", width=TEXT_PX)}
    edited = st.data_editor(playview.toggle_frame(rows, columns), key=key(play_id, version), hide_index=True,
                            width="content", height=ROW_PX * (len(rows) + 1) + 3, row_height=ROW_PX,
                            column_config=config, disabled=["exclusion", "description"])
    by_column = {name: edited[name].tolist() for name in map(playview.column_key, columns)}  # not a cell at a time
    values = {(r.exclusion_id, c.level, c.target): bool(by_column[playview.column_key(c)][i])
              for i, r in enumerate(rows) for c in r.cells}
    return playview.changed(rows, values)
