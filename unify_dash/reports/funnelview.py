"""The Play view's funnel: the segments from the audience through every layer (opted out, each audience
exclusion, each node's exclusions, Not Enrolled, Enrolled), each with its saved and what-if count and
the drill-down that opens its contacts.

Every number comes from :func:`unify_dash.engine.impact` and every segment names the engine bucket
(``bucket``, ``node_id``, ``exclusion_id``) whose :func:`unify_dash.engine.drilldown` list has exactly
that many contacts: the funnel defines no bucket of its own. Built generically over the impact's
counts (:data:`unify_dash.engine.COUNT_KEYS`), its nodes and each exclusion's ``blocking_at``: a new
bucket or a new place where an exclusion blocks shows up without a change here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import duckdb

from unify_dash import engine
from unify_dash.reports.playview import BUCKET_LABELS

# Buckets of the Play (not of a node) that count contacts that go on, in funnel order: the other Play
# buckets are losses (opted out, excluded at the audience, and any new one) shown under the stage before.
PLAY_STAGES = ("entered", "reached")
NODE_STAGE = "enrolled"  # the node's last stage; its losses: Not Enrolled, by reason


@dataclass(frozen=True)
class Segment:
    """One bar of the funnel. ``kind``: ``stage`` (contacts that go on) | ``loss`` (a bucket that
    stops them) | ``reason`` (the contacts one exclusion stops there; reasons overlap: a contact with
    two reasons is in both). ``level`` is 0 for the Play, 1 for a node and its buckets."""

    key: str  # "bucket|node_id|exclusion_id": the selection handed back by a click
    bucket: str
    node_id: str | None
    exclusion_id: str | None
    kind: str
    level: int
    label: str
    value: int
    saved: int

    @property
    def change(self) -> int:
        return self.value - self.saved

    def drill(self) -> dict:
        """Keyword arguments of :func:`unify_dash.engine.drilldown` for this segment's contacts."""
        return {"bucket": self.bucket, "node_id": self.node_id, "exclusion_id": self.exclusion_id}


def segment_key(bucket: str, node_id: str | None = None, exclusion_id: str | None = None) -> str:
    return f"{bucket}|{node_id or ''}|{exclusion_id or ''}"


def parse_key(key: str) -> tuple[str, str | None, str | None]:
    """``segment_key``'s inverse: (bucket, node_id, exclusion_id)."""
    bucket, _, rest = str(key).partition("|")
    node, _, excl = rest.partition("|")
    return bucket, node or None, excl or None


def _label(bucket: str) -> str:
    return BUCKET_LABELS.get(bucket) or bucket.replace("_", " ").capitalize()


def _reasons(now: dict, saved: dict, place: str, bucket: str, node_id: str | None, level: int) -> list[Segment]:
    """The exclusions that block contacts at ``place`` ("audience" or a node id), largest first."""
    before = {x["id"]: x["blocking_at"].get(place, 0) for x in saved["exclusions"]}
    out = []
    for x in now["exclusions"]:
        value, old = x["blocking_at"].get(place, 0), before.get(x["id"], 0)
        if value or old:
            out.append(Segment(segment_key(bucket, node_id, x["id"]), bucket, node_id, x["id"], "reason", level,
                               x["name"], int(value), int(old)))
    return sorted(out, key=lambda s: (-s.value, -s.saved, s.label))


def segments(now: dict, saved: dict | None = None) -> list[Segment]:
    """The funnel of one Play: ``now`` is :func:`unify_dash.engine.impact` (what-if or saved), ``saved``
    the same without toggles (default ``now``)."""
    saved = saved or now
    out: list[Segment] = []
    for bucket in engine.COUNT_KEYS:
        if bucket in ("not_enrolled", "enrolled"):  # per node, below
            continue
        kind = "stage" if bucket in PLAY_STAGES else "loss"
        out.append(Segment(segment_key(bucket), bucket, None, None, kind, 0, _label(bucket),
                           int(now[bucket]), int(saved[bucket])))
        if bucket == "excluded_at_audience":
            out += _reasons(now, saved, "audience", bucket, None, 0)
    saved_nodes = {n["id"]: n for n in saved["nodes"]}
    for n in now["nodes"]:
        old = saved_nodes.get(n["id"], n)
        out.append(Segment(segment_key("not_enrolled", n["id"]), "not_enrolled", n["id"], None, "loss", 1,
                           f"{_label('not_enrolled')} · {n['name']}", int(n["not_enrolled"]), int(old["not_enrolled"])))
        out += _reasons(now, saved, n["id"], "not_enrolled", n["id"], 1)
        out.append(Segment(segment_key(NODE_STAGE, n["id"]), NODE_STAGE, n["id"], None, "stage", 1,
                           f"{_label(NODE_STAGE)} · {n['name']}", int(n[NODE_STAGE]), int(old[NODE_STAGE])))
    return out


def funnel(con: duckdb.DuckDBPyConnection, play_id: str, toggles: dict | None = None) -> dict:
    """The funnel of a Play under what-if ``toggles`` against the saved settings, JSON-able: the
    segments with their counts, and the evaluation it was computed on (``unify-dash funnel``)."""
    ev = engine.evaluation(con)
    saved = engine.impact(ev, play_id)
    now = engine.impact(ev, play_id, toggles) if toggles else saved
    return {"play": now["play"], "settings_version": now["settings_version"], "as_of": now["as_of"],
            "contacts": now["contacts"], "toggles": now["toggles"],
            "segments": [{**asdict(s), "change": s.change} for s in segments(now, saved)]}

