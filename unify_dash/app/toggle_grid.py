"""The Play view's what-if toggle grid: a row per exclusion (a flex row of fixed widths: its name, a
checkbox per level, its description), drawn by the page outside the what-if fragment. A click reruns
only that fragment (``st.rerun(<fragment key>)`` from the checkbox's callback): the counts are
computed and sent again, the grid is not (docs/benchmarks.md, "Round 6"). Checkboxes send a click at
once, where a data editor waits 150 ms (its edit debounce) before the server hears of it.

The toggles live in the checkboxes' session state, so the fragment reads them before anything is
drawn. Names and descriptions are Markdown escaped with :func:`ui.md`."""

from __future__ import annotations

import streamlit as st

from unify_dash.reports import playview

NAME_PX, CELL_PX = 260, 120  # column widths, in pixels (the description takes the rest)
KEY_PREFIX = "play.grid."
ROW_PREFIX = "play.gridrow."  # + row position: a row's container (tests/browser_support.py clicks in it)
GENERATION = "play.gridreset."  # + play id: how many times this session reset that Play's grid


def key(play_id: str, version: int) -> str:
    """The grid's key, and the prefix of its checkboxes' keys: per Play and settings version (a new
    version draws new checkboxes with its saved states), and per reset (``.g<n>``)."""
    return f"{KEY_PREFIX}{play_id}.v{version}.g{st.session_state.get(GENERATION + play_id, 0)}"


def cell_key(grid: str, row: playview.Row, cell: playview.Cell) -> str:
    return f"{grid}.{row.exclusion_id}.{playview.column_key(cell)}"


def reset(play_id: str) -> None:
    """Forget this session's toggles of ``play_id`` (every version) and draw new checkboxes: back to
    saved."""
    for k in [k for k in st.session_state if str(k).startswith(f"{KEY_PREFIX}{play_id}.")]:
        del st.session_state[k]
    st.session_state[GENERATION + play_id] = st.session_state.get(GENERATION + play_id, 0) + 1


def chosen(play_id: str, version: int, rows: list[playview.Row]) -> dict:
    """The changed toggles ``{(exclusion id, level, target): on}`` this session holds (a checkbox not
    drawn yet is at its saved state)."""
    grid = key(play_id, version)
    values = {}
    for r in rows:
        for c in r.cells:
            on = st.session_state.get(cell_key(grid, r, c))
            if on is not None:
                values[(r.exclusion_id, c.level, c.target)] = bool(on)
    return playview.changed(rows, values)


def _rerun(fragment: str) -> None:
    st.rerun(fragment)  # from a callback: this fragment only, instead of the app


def show(play_id: str, version: int, rows: list[playview.Row], columns: list[playview.Column],
         fragment: str) -> None:
    """Draw the grid; a click reruns the fragment keyed ``fragment`` alone."""
    from unify_dash.app import ui

    grid = key(play_id, version)
    with st.container(key=grid, gap=None):
        head = st.container(horizontal=True, gap="small", wrap=False)
        head.markdown("**Exclusion**", width=NAME_PX)
        for c in columns:
            head.markdown(f"**{ui.md(c.title)}**  \n{ui.md(c.detail)}", width=CELL_PX)
        head.markdown("**Description**", width="stretch")
        for i, r in enumerate(rows):
            line = st.container(horizontal=True, gap="small", wrap=False, vertical_alignment="center",
                                key=f"{ROW_PREFIX}{i}")
            line.markdown(ui.md(r.name + (f" · {r.scope}" if r.scope else "")), width=NAME_PX)
            for c in r.cells:
                line.checkbox(ui.md(c.label), value=c.saved, key=cell_key(grid, r, c), label_visibility="collapsed",
                              width=CELL_PX, on_change=_rerun, args=(fragment,))
            line.caption(ui.md(r.description), width="stretch")
