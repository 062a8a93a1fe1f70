"""What the Play view shows, computed without Streamlit: the toggle grid (one row per exclusion, one
column per level), the flow of counts with their labels, the per-exclusion table and the wording of a
pending what-if change. The page lays these out; every text here is plain (the page escapes it).

The input is :func:`unify_dash.engine.impact` for one Play (saved, or with what-if toggles).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from unify_dash.model import settings, states

BUCKET_LABELS = {"entered": "In audience", "opted_out": "Opted out", "excluded_at_audience": "Excluded at audience",
                 "reached": "Reached the sequence nodes", "not_enrolled": "Not Enrolled", "enrolled": "Enrolled",
                 "matched": "Matched", "blocking": "Blocked by", "blocks_alone": "Blocked only by"}
# Counts where a rise is bad news (the metric's delta is shown inverted).
INVERSE_BUCKETS = ("not_enrolled", "excluded_at_audience")
TOP_BUCKETS = ("entered", "opted_out", "excluded_at_audience")

Toggle = tuple[str, str, str | None]  # (exclusion id, level, target: play or ruleset id, None for organisation)


@dataclass(frozen=True)
class Column:
    """A level column of the toggle grid: ``title`` (bold) and ``detail`` under it."""
    level: str
    target: str | None
    title: str
    detail: str


@dataclass(frozen=True)
class Cell:
    level: str
    target: str | None
    saved: bool
    label: str  # the toggle's (hidden) label: "<exclusion>: <where>"


@dataclass(frozen=True)
class Row:
    exclusion_id: str
    name: str
    scope: str  # "" or "company-wide"
    description: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Step:
    bucket: str
    node_id: str | None
    value: int
    change: int
    label: str


def rulesets_of(impact: dict) -> list[str]:
    """The rulesets of the Play's sequence nodes, in node order."""
    return list(dict.fromkeys(n["ruleset_id"] for n in impact["nodes"]))


def toggle_columns(cfg: settings.Settings, play_id: str, impact: dict) -> list[Column]:
    cols = [Column("audience", play_id, "Audience", cfg.play(play_id).name),
            Column("organisation", None, "Organisation", "exclude from sequences")]
    for r in rulesets_of(impact):
        seqs = ", ".join(n["sequence_name"] for n in impact["nodes"] if n["ruleset_id"] == r)
        cols.append(Column("ruleset", r, f"Ruleset {cfg.ruleset(r).name}", seqs))
    return cols


def toggle_rows(cfg: settings.Settings, play_id: str, impact: dict) -> list[Row]:
    """One row per exclusion of the Play with its saved state at every level column."""
    rows = []
    for x in impact["exclusions"]:
        state = x["state"]
        cells = [Cell("audience", play_id, state["audience"]["saved"], f"{x['name']}: audience"),
                 Cell("organisation", None, state["organisation"]["saved"], f"{x['name']}: organisation")]
        cells += [Cell("ruleset", r, state["rulesets"][r]["saved"], f"{x['name']}: ruleset {r}")
                  for r in rulesets_of(impact)]
        rows.append(Row(x["id"], x["name"], "company-wide" if x["scope"] == "company" else "",
                        cfg.exclusion(x["id"]).description or "", tuple(cells)))
    return rows


def column_key(column: Column | Cell) -> str:
    """The toggle grid's column name of a level column (or of a cell's column): ``organisation``,
    ``audience``, ``ruleset:<id>``."""
    return column.level if column.level != "ruleset" else f"ruleset:{column.target}"


def changed(rows: list[Row], chosen: dict[tuple[str, str, str | None], bool]) -> dict[Toggle, bool]:
    """The what-if toggles: the cells whose chosen value (``chosen[(id, level, target)]``, absent =
    saved) differs from the saved one."""
    out: dict[Toggle, bool] = {}
    for row in rows:
        for c in row.cells:
            on = chosen.get((row.exclusion_id, c.level, c.target), c.saved)
            if on != c.saved:
                out[(row.exclusion_id, c.level, c.target)] = on
    return out


def step_label(impact: dict, bucket: str, node_id: str | None = None, exclusion_id: str | None = None) -> str:
    """"Not Enrolled · Outbound", "Blocked by Open opportunity", "In audience"."""
    if exclusion_id:
        name = next(x["name"] for x in impact["exclusions"] if x["id"] == exclusion_id)
        return f"{BUCKET_LABELS[bucket]} {name}"
    if node_id:
        name = next(n["name"] for n in impact["nodes"] if n["id"] == node_id)
        return f"{BUCKET_LABELS[bucket]} · {name}"
    return BUCKET_LABELS[bucket]


def flow_steps(impact: dict) -> list[Step]:
    """The counts of the flow, audience first, then Not Enrolled and Enrolled of each node."""
    steps = [Step(b, None, impact[b], impact["change"][b], BUCKET_LABELS[b]) for b in TOP_BUCKETS]
    for n in impact["nodes"]:
        for b in ("not_enrolled", "enrolled"):
            steps.append(Step(b, n["id"], n[b], n["change"][b], step_label(impact, b, n["id"])))
    return steps


def reached(impact: dict) -> Step:
    return Step("reached", None, impact["reached"], impact["change"]["reached"], BUCKET_LABELS["reached"])


def exclusion_table(cfg: settings.Settings, impact: dict) -> pd.DataFrame:
    """One row per exclusion: matched, blocking, blocks alone, change vs saved, and its levels."""
    def levels(x: dict) -> str:
        on = {True: "on", False: "off"}
        parts = [f"audience {on[x['state']['audience']['what_if']]}",
                 f"org {on[x['state']['organisation']['what_if']]}"]
        parts += [f"{cfg.ruleset(r).name} {on[s['what_if']]}" for r, s in x["state"]["rulesets"].items()]
        return " · ".join(parts)

    return pd.DataFrame([{"exclusion": x["name"], "matched": x["matched"], "blocking": x["blocking"],
                          "blocks alone": x["blocks_alone"], "change vs saved": x["change"]["blocking"],
                          "levels": levels(x)} for x in impact["exclusions"]],
                        columns=["exclusion", "matched", "blocking", "blocks alone", "change vs saved", "levels"])


@dataclass(frozen=True)
class Change:
    exclusion: str
    where: str
    change: str  # "off → on" / "on → off"


def change_lines(cfg: settings.Settings, play_id: str, toggles: dict[Toggle, bool]) -> list[Change]:
    """The what-if toggles in words, as the Apply section lists them."""
    out = []
    for (xid, level, target), on in toggles.items():
        if level == "audience":
            where = f"audience of {cfg.play(play_id).name}"
        elif level == "organisation":
            where = "organisation (exclude from sequences)"
        else:
            where = f"ruleset {cfg.ruleset(target).name}"
        out.append(Change(cfg.exclusion(xid).name, where, "off → on" if on else "on → off"))
    return out


REASON_MARK = "@"  # in a reason key: not an exclusion id but an engine bucket (one active sequence at a time)


def not_enrolled_reasons(impact: dict, node_id: str | None = None) -> pd.DataFrame:
    """Not Enrolled by reason: one row per (exclusion, node) that blocks contacts at the node (``node_id``:
    that node only), and per node the contacts one active sequence at a time holds, with ``custom`` =
    ``"node|exclusion"`` (or ``"node|@active_elsewhere"``) to open the list behind it."""
    rows = [{"reason": x["name"], "node": n["name"], "contacts": x["blocking_at"].get(n["id"], 0),
             "custom": f"{n['id']}|{x['id']}"}
            for n in impact["nodes"] if not node_id or n["id"] == node_id
            for x in impact["exclusions"] if x["blocking_at"].get(n["id"], 0)]
    rows += [{"reason": states.BLOCK_REASONS["active_elsewhere"], "node": n["name"],
              "contacts": n["active_elsewhere"], "custom": f"{n['id']}|{REASON_MARK}active_elsewhere"}
             for n in impact["nodes"] if (not node_id or n["id"] == node_id) and n.get("active_elsewhere")]
    return pd.DataFrame(rows, columns=["reason", "node", "contacts", "custom"])


# --- the list behind a count, as a link (?play=...&list=...) ------------------------------------------------


def list_param(bucket: str, node_id: str | None = None, exclusion_id: str | None = None) -> str:
    """``not_enrolled:ent-1`` / ``blocking::open_opp``: the ``list`` query parameter of a drill-down."""
    return ":".join([bucket, node_id or "", exclusion_id or ""]).rstrip(":")


def parse_list_param(text: str | None, impact: dict) -> tuple[dict | None, str | None]:
    """``(selection, None)`` for a ``list`` query parameter naming a bucket (and node, exclusion) of
    this Play, ``(None, why)`` when it names none of them, ``(None, None)`` without one."""
    if not text:
        return None, None
    bucket, _, rest = str(text).partition(":")
    node_id, _, exclusion_id = rest.partition(":")
    nodes = {n["id"] for n in impact["nodes"]}
    exclusions = {x["id"] for x in impact["exclusions"]}
    if bucket not in BUCKET_LABELS:
        return None, f"no list {bucket!r}; lists are " + ", ".join(BUCKET_LABELS)
    if node_id and node_id not in nodes:
        return None, f"this Play has no sequence node {node_id!r}"
    if exclusion_id and exclusion_id not in exclusions:
        return None, f"this Play has no exclusion {exclusion_id!r}"
    return {"bucket": bucket, "node_id": node_id or None, "exclusion_id": exclusion_id or None}, None


def reason_bucket(reason: str | None) -> tuple[str, str | None, str | None]:
    """A reason key of :func:`not_enrolled_reasons` -> (drill-down bucket, exclusion id, the reason's label
    when it is not an exclusion)."""
    if reason and reason.startswith(REASON_MARK):
        bucket = reason[len(REASON_MARK):]
        return bucket, None, states.BLOCK_REASONS.get(bucket, bucket)
    return "not_enrolled", reason or None, None
