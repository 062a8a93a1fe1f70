"""The platform's ledger: how an enrollment ends, and (below) whether a contact is opted out.

Both are written out once here and used by every action, the scheduler, the loader and the engine.

Ending an enrollment (:func:`end_enrollments`) sets its state (``completed``, or ``unenrolled`` for
reason ``unenrolled``), its completion reason, clears ``next_step_at``, stamps ``updated_at`` and
records one event per enrollment (type ``complete``, or ``unenroll`` for an unenrollment) whose id is
``<type>:<enrollment_id>:<time>``: the same enrollment never ends twice at the same time, so the id
is unique and a rerun of the same write cannot duplicate it.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from unify_dash.model import states
from unify_dash.store import db


def end_enrollments(con: duckdb.DuckDBPyConnection, select, *, reason: str, at: dt.datetime,
                    cause: dict | None = None, actor: str = "system", source: str | None = None) -> list[str]:
    """End the queued or active enrollments selected by ``select``; returns their ids (sorted).

    ``select`` is a list of enrollment ids, or ``(where_sql, params)``: a fixed predicate over
    ``enrollments`` written in code, values as parameters. ``reason`` is a completion reason
    (:data:`states.COMPLETION_REASONS`); ``cause`` goes into the event's ``detail`` beside the reason;
    ``source`` is the event's source (default the reason). The caller owns the transaction.
    """
    if reason not in states.COMPLETION_REASONS:
        raise ValueError(f"unknown completion reason {reason!r}")
    if isinstance(select, tuple):
        where, params = select
    else:
        where, params = "enrollment_id IN (SELECT unnest(?::VARCHAR[]))", [list(select)]
        if not params[0]:
            return []
    state = "unenrolled" if reason == "unenrolled" else "completed"
    kind = "unenroll" if reason == "unenrolled" else "complete"
    ids = [r[0] for r in con.execute(
        "UPDATE enrollments SET state = ?, completion_reason = ?, next_step_at = NULL, updated_at = ? "
        f"WHERE state IN {states.ACTIVE_SQL} AND ({where}) RETURNING enrollment_id",
        [state, reason, at, *params]).fetchall()]
    if ids:
        stamp = at.strftime("%Y%m%dT%H%M%S.%f")
        con.execute(
            "INSERT INTO events (event_id, occurred_at, type, contact_id, email, sequence_id, enrollment_id, step, "
            "source, actor, detail) "
            "SELECT ? || ':' || e.enrollment_id || ':' || ?, ?, ?, e.contact_id, c.email, e.sequence_id, "
            "e.enrollment_id, e.current_step, ?, ?, ? "
            "FROM enrollments e LEFT JOIN contacts c USING (contact_id) "
            "WHERE e.enrollment_id IN (SELECT unnest(?::VARCHAR[])) "
            "ON CONFLICT (event_id) DO NOTHING",
            [kind, stamp, at, kind, source or reason, actor, db.dumps({"reason": reason, **(cause or {})}), ids])
    return sorted(ids)
