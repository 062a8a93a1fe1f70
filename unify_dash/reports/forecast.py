"""The send-time forecast, read-only: for the enrollments whose next step is due by the next run, what
that run will decide (send, skip, remove) and why, from :func:`unify_dash.engine.send_decisions` on the
evaluation as of the run's time (the settings in effect then, so a pending change that takes effect
before the run counts). Nothing is sent, nothing is written."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import duckdb
import numpy as np

from unify_dash import engine
from unify_dash.model import states
from unify_dash.scheduler.run import DEFAULT_TICK
from unify_dash.store import db

STATES = ("queued", "active")
LABELS = {"skip": "skipped (never emailed)", "remove": "removed mid-sequence", "send": "sent",
          "continue": "sent (an exclusion applies but does not remove active contacts)"}


_KEPT: dict = {}  # the last decisions, per database file, data generation, clock and question


def _decided(con, wanted: list[str], until: dt.datetime | None, now: dt.datetime):
    """(evaluation, decisions of the waiting steps, the stopped ones); the last answer is kept so the
    pages of a list do not decide every enrollment again."""
    where = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    key = (where[0] if where else None, db.generation(con), now, tuple(wanted), until)
    if key[0] and key in _KEPT:
        return _KEPT[key]
    due = con.execute(
        "SELECT enrollment_id FROM enrollments WHERE state IN (SELECT unnest(?::VARCHAR[])) "
        "AND next_step_at IS NOT NULL AND (?::TIMESTAMP IS NULL OR next_step_at <= ?)",
        [wanted, until, until]).df()["enrollment_id"]
    ev = engine.evaluation(con, as_of=max(until, now) if until else now)
    d = engine.send_decisions(con, ev)  # every enrollment in one pass; those waiting kept below
    waiting = set(due.tolist())  # a set of Python strings: far faster than Series.isin on Arrow strings
    d = d[np.fromiter((e in waiting for e in d["enrollment_id"].to_numpy(dtype=object)), dtype=bool, count=len(d))]
    stopped = d[np.isin(d["decision"].to_numpy(dtype=object), ["skip", "remove"])]
    if key[0]:
        _KEPT.clear()
        _KEPT[key] = (ev, d, stopped)
    return ev, d, stopped


def _reason_counts(stopped) -> Counter:
    """Enrollments per reason of the stopped decisions (a decision with two exclusions counts twice)."""
    out: Counter = Counter()
    for reason, blocking in zip(stopped["reason"].to_numpy(dtype=object), stopped["blocking"].to_numpy(dtype=object),
                                strict=True):
        for r in _reasons({"reason": reason, "blocking": blocking}):
            out[r] += 1
    return out


def _reasons(row) -> list[str]:
    if row["reason"] == "opted_out":
        return ["Opted out"]
    if row["blocking"]:
        return [b["name"] for b in row["blocking"]]
    return [row["reason"]] if row["reason"] else []


def forecast(con: duckdb.DuckDBPyConnection, *, until: dt.datetime | None = None, state: str | None = None,
             limit: int | None = 200, offset: int = 0, only_stopped: bool = True) -> dict:
    """What the next run decides for the enrollments waiting for a step (``state`` queued or active; None:
    both), JSON-able (``unify-dash forecast``): totals by decision, the stopped ones by reason and by
    sequence, and a page of them (``only_stopped=False``: every decision). ``until``: only the steps due
    by then, decided as of then (the settings in effect at that time); default: every waiting step,
    decided as of the workspace clock (the next run, one tick of the scheduler later)."""
    now = db.now(con)
    wanted = [state] if state else list(STATES)
    run_at = max(until, now) if until else now + DEFAULT_TICK
    ev, d, stopped = _decided(con, wanted, until, now)
    by_reason = _reason_counts(stopped)
    by_sequence = Counter(stopped["sequence_id"].value_counts().to_dict())
    chosen = stopped if only_stopped else d
    page = chosen.iloc[offset:] if limit is None else chosen.iloc[offset:offset + limit]
    emails = {}
    if len(page):
        emails = dict(con.execute("SELECT contact_id, email FROM contacts WHERE contact_id IN "
                                  "(SELECT unnest(?::VARCHAR[]))", [page["contact_id"].astype(str).tolist()]).fetchall())
    names = {s.id: s.name for s in ev.settings.sequences}
    rows = [{"enrollment_id": r["enrollment_id"], "contact_id": r["contact_id"], "email": emails.get(r["contact_id"]),
             "sequence_id": r["sequence_id"], "sequence": names.get(r["sequence_id"], r["sequence_id"]),
             "state": r["state"], "step": int(r["current_step"]) + 1, "decision": r["decision"],
             "reasons": _reasons(r), "text": r["text"]} for _, r in page.iterrows()]
    return {"as_of": now.isoformat(), "run_at": run_at.isoformat(), "until": until.isoformat() if until else None, "settings_version": ev.version,
            "states": wanted, "due": len(d),
            "decisions": {k: int(v) for k, v in Counter(d["decision"]).items()} if len(d) else {},
            "stopped": len(stopped),
            "by_reason": [{"reason": k, "enrollments": v} for k, v in by_reason.most_common()],
            "by_sequence": [{"sequence_id": k, "sequence": names.get(k, k), "enrollments": v}
                            for k, v in by_sequence.most_common()],
            "total": len(chosen), "offset": offset, "limit": limit, "rows": rows,
            "labels": LABELS, "state_labels": {s: states.ENROLLMENT_STATES.get(s, s) for s in wanted}}
