"""Reason trends, read-only: Not Enrolled by reason over time, from the execution log's history, with an
alert where a settings change or a sync (a load, a CRM sync) moves a reason by more than a threshold.

A contact is Not Enrolled at a Play's node from the scheduler's ``not_enrolled`` row (which names the
blocking exclusions) until an ``enrolled`` row for the same contact and node (the block lifted); the
count of a reason at time t is the number of contacts Not Enrolled at t with that reason (a contact with
two reasons counts under both). The reasons are those of the row that started the block: a contact still
blocked after a change, for another reason, keeps its first reasons until it is enrolled."""

from __future__ import annotations

import datetime as dt

import duckdb

from unify_dash.errors import ValidationError
from unify_dash.store import db

PERIODS = {"day": dt.timedelta(days=1), "hour": dt.timedelta(hours=1)}
DEFAULT_THRESHOLD = 0.2  # a move of more than 20 % of the reason's previous count ...
DEFAULT_MIN_CONTACTS = 10  # ... and of more than this many contacts
SYNC_ACTIONS = ("data.load", "crm.sync")


def _series(con, play_id: str | None, points: list[dt.datetime]) -> list[tuple]:
    """(t, exclusion_id, name, contacts) for every point ``t``."""
    return con.execute("""
        WITH s AS (
            SELECT contact_id, play_id, node_id, "at", outcome, blocking,
                   lead("at") OVER (PARTITION BY contact_id, play_id, node_id ORDER BY "at", log_id) AS until_at
            FROM execution_log
            WHERE outcome IN ('not_enrolled', 'enrolled') AND node_id IS NOT NULL
              AND (?::VARCHAR IS NULL OR play_id = ?)),
        blocked AS (
            SELECT contact_id, "at", until_at,
                   unnest(json_extract_string(blocking, '$[*].exclusion_id')) AS exclusion_id,
                   unnest(json_extract_string(blocking, '$[*].name')) AS name
            FROM s WHERE outcome = 'not_enrolled' AND json_valid(blocking) AND json_type(blocking) = 'ARRAY'),
        pts AS (SELECT unnest(?::TIMESTAMP[]) AS t)
        SELECT p.t, b.exclusion_id, any_value(b.name) AS name, count(DISTINCT b.contact_id) AS contacts
        FROM pts p JOIN blocked b ON b."at" <= p.t AND (b.until_at IS NULL OR b.until_at > p.t)
        WHERE b.exclusion_id IS NOT NULL
        GROUP BY ALL ORDER BY p.t, contacts DESC""", [play_id, play_id, points]).fetchall()


def _events(con, start: dt.datetime, end: dt.datetime) -> list[dict]:
    """Settings versions taking effect and syncs in (start, end]."""
    out = [{"at": e, "kind": "settings", "text": f"settings v{v} took effect ({note or 'no note'}, by {actor})"}
           for v, e, actor, note in con.execute(
               "SELECT version, effective_at, actor, note FROM settings_versions WHERE effective_at > ? AND "
               "effective_at <= ? ORDER BY effective_at", [start, end]).fetchall()]
    out += [{"at": t, "kind": "sync", "text": f"{action} by {actor}" + (f" ({target})" if target else "")}
            for t, action, actor, target in con.execute(
                'SELECT "at", action, actor, target FROM audit_log WHERE action IN (SELECT unnest(?::VARCHAR[])) '
                'AND "at" > ? AND "at" <= ? ORDER BY "at"', [list(SYNC_ACTIONS), start, end]).fetchall()]
    return sorted(out, key=lambda e: e["at"])


def trends(con: duckdb.DuckDBPyConnection, *, play_id: str | None = None, period: str = "day",
           threshold: float = DEFAULT_THRESHOLD, min_contacts: int = DEFAULT_MIN_CONTACTS) -> dict:
    """Not Enrolled by reason at the end of every ``period`` (day or hour) from the first execution-log
    row to the workspace clock, and the alerts, JSON-able (``unify-dash trends``)."""
    if period not in PERIODS:
        raise ValidationError(f"unknown period {period!r}; expected {' or '.join(PERIODS)}")
    if threshold < 0 or min_contacts < 0:
        raise ValidationError("threshold and min_contacts must be >= 0")
    step = PERIODS[period]
    now = db.now(con)
    first = con.execute('SELECT min("at") FROM execution_log WHERE (?::VARCHAR IS NULL OR play_id = ?)',
                        [play_id, play_id]).fetchone()[0]
    if first is None:
        return {"as_of": now.isoformat(), "period": period, "points": [], "reasons": [], "series": [], "alerts": [],
                "threshold": threshold, "min_contacts": min_contacts}
    start = dt.datetime.combine(first.date(), dt.time()) if period == "day" else first.replace(minute=0, second=0,
                                                                                                 microsecond=0)
    points, t = [], start + step
    while t < now and len(points) < 2000:
        points.append(t)
        t += step
    points.append(now)
    rows = _series(con, play_id, points)
    names: dict[str, str] = {}
    values: dict[str, dict] = {}
    for t, xid, name, n in rows:
        names.setdefault(xid, name)
        values.setdefault(xid, {})[t] = int(n)
    order = sorted(values, key=lambda x: -values[x].get(points[-1], 0))
    series = [{"exclusion_id": x, "name": names[x], "contacts": [values[x].get(p, 0) for p in points]} for x in order]
    alerts = []
    for k in range(1, len(points)):
        events = None
        for s in series:
            before, after = s["contacts"][k - 1], s["contacts"][k]
            moved = after - before
            if abs(moved) <= min_contacts or abs(moved) <= threshold * max(before, 1):
                continue
            if events is None:
                events = _events(con, points[k - 1], points[k])
            if events:
                alerts.append({"from": points[k - 1].isoformat(), "to": points[k].isoformat(),
                               "exclusion_id": s["exclusion_id"], "name": s["name"], "before": before, "after": after,
                               "change": moved, "events": [{**e, "at": e["at"].isoformat()} for e in events]})
    return {"as_of": now.isoformat(), "period": period, "play_id": play_id, "threshold": threshold,
            "min_contacts": min_contacts, "points": [p.isoformat() for p in points], "series": series,
            "alerts": alerts}
