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

from unify_dash.model import crms, states
from unify_dash.model.identity import hidden_characters
from unify_dash.store import db


def end_enrollments(con: duckdb.DuckDBPyConnection, select, *, reason: str, at: dt.datetime,
                    cause: dict | None = None, actor: str = "system", source: str | None = None,
                    rows: str | None = None, events: str = "events") -> list[str]:
    """End the queued or active enrollments selected by ``select``; returns their ids (sorted).

    ``select`` is a list of enrollment ids, or ``(where_sql, params)``: a fixed predicate over
    ``enrollments`` written in code, values as parameters. ``reason`` is a completion reason
    (:data:`states.COMPLETION_REASONS`); ``cause`` goes into the event's ``detail`` beside the reason;
    ``source`` is the event's source (default the reason). The caller owns the transaction.

    ``rows`` (the scheduler): a table of the caller's, named in code, with the columns ``rid`` (the
    enrollment's ``rowid``, read in this transaction), ``enrollment_id, contact_id, email,
    sequence_id`` and ``current_step`` (as it is when the enrollment ends); ``select`` is then a
    predicate over it. The enrollments are found by position and the events need no join.
    ``events`` (the scheduler): a table of the caller's, named in code, with the columns of ``events``,
    that takes the events instead; the caller writes them to ``events`` (one insert for its tick).

    The update is a plain ``UPDATE`` by row id (``UPDATE ... RETURNING`` makes DuckDB delete and
    re-insert every row, with its indexes); a row id that no longer holds its enrollment (another
    writer moved it) is caught by the count and updated by key.
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
    found = _active_rows(con, where, params, rows)
    ids = [eid for _rid, eid in found]
    if not ids:
        return []
    sets = "SET state = ?, completion_reason = ?, next_step_at = NULL, updated_at = ?"
    n = con.execute(f"UPDATE enrollments {sets} WHERE rowid IN (SELECT unnest(?::BIGINT[])) "
                    f"AND state IN {states.ACTIVE_SQL}", [state, reason, at, [rid for rid, _eid in found]]).fetchone()[0]
    if n != len(ids):  # a row moved since it was read: the rest by key (the ones done are no longer active)
        con.execute(f"UPDATE enrollments {sets} WHERE enrollment_id IN (SELECT unnest(?::VARCHAR[])) "
                    f"AND state IN {states.ACTIVE_SQL}", [state, reason, at, ids])
    stamp = at.strftime("%Y%m%dT%H%M%S.%f")
    detail = db.dumps({"reason": reason, **(cause or {})})
    if rows is None:
        source_sql = ("SELECT e.enrollment_id, e.contact_id, c.email, e.sequence_id, e.current_step "
                      "FROM enrollments e LEFT JOIN contacts c USING (contact_id) "
                      "WHERE e.enrollment_id IN (SELECT unnest(?::VARCHAR[]))")
    else:
        source_sql = (f"SELECT enrollment_id, contact_id, email, sequence_id, current_step FROM {rows} "
                      "WHERE enrollment_id IN (SELECT unnest(?::VARCHAR[]))")
    columns = ["event_id", "occurred_at", "type", "contact_id", "email", "sequence_id", "enrollment_id", "step",
               "source", "actor", "detail"]
    select = ("SELECT ? || ':' || e.enrollment_id || ':' || ? AS event_id, ?, ?, e.contact_id, e.email, e.sequence_id, "
              f"e.enrollment_id, e.current_step, ?, ?, ? FROM ({source_sql}) e")
    record_events(con, select, [kind, stamp, at, kind, source or reason, actor, detail, ids], columns=columns,
                  into=events)
    return sorted(ids)


def record_events(con: duckdb.DuckDBPyConnection, select: str, params: list, *, columns: list[str],
                  into: str = "events") -> None:
    """Write the events ``select`` gives (SQL written in code, its values as ``params``; its output is
    ``columns`` of ``events``, ``event_id`` among them): into ``events``, where an event id already there
    is not written again (:func:`db.insert_new`), or ``into`` a table of the caller's with the columns of
    ``events``, named in code (the scheduler gathers a tick's events so and writes them to ``events``
    with one insert), plainly."""
    if into == "events":
        db.insert_new(con, "events", "event_id", select, params, columns=columns)
    else:
        con.execute(f"INSERT INTO {into} ({', '.join(db.ident(c) for c in columns)}) {select}", params)


def _active_rows(con: duckdb.DuckDBPyConnection, where: str, params: list, rows: str | None) -> list[tuple[int, str]]:
    """(rowid, enrollment_id) of the queued or active enrollments ``where`` selects (over ``rows``
    when given: their row ids are checked against the table, a moved one is found again by key)."""
    if rows is None:
        return con.execute(f"SELECT rowid, enrollment_id FROM enrollments WHERE state IN {states.ACTIVE_SQL} "
                           f"AND ({where})", params).fetchall()
    want = con.execute(f"SELECT rid, enrollment_id FROM {rows} r WHERE {where}", params).fetchall()
    if not want:
        return []
    there = dict(con.execute(f"SELECT rowid, enrollment_id FROM enrollments WHERE rowid IN "
                             f"(SELECT unnest(?::BIGINT[])) AND state IN {states.ACTIVE_SQL}",
                             [[int(r) for r, _e in want]]).fetchall())
    out = [(int(r), e) for r, e in want if there.get(r) == e]
    if len(out) < len(want):
        moved = [e for r, e in want if there.get(r) != e]
        out += con.execute(f"SELECT rowid, enrollment_id FROM enrollments WHERE state IN {states.ACTIVE_SQL} "
                           "AND enrollment_id IN (SELECT unnest(?::VARCHAR[]))", [moved]).fetchall()
    return out


# --- the opt-out relation ---------------------------------------------------------------------------
#
# A contact is opted out at time T when it has an ``opt_out`` event at or before T (any source:
# ``link`` click, handled ``reply``, ``admin`` button, ``crm`` flag) newer than its newest
# ``opt_out_reversal`` at or before T, **or** a CRM suppression flag under the mapping is set.
# Events are keyed by email: the event's own email, else the email of its contact id. The opt-out
# in force started with the *first* opt-out event after the last reversal: that event is its source
# ("from which source"), its time is "since when", its id and detail are the evidence. A contact
# opted out by a CRM flag alone reports source ``crm`` with no event.
#
# Everything that asks "is this contact opted out" reads this relation: the engine (explain,
# decisions, funnel), metrics, CRM provenance and conflicts, the reply queue, the scheduler (through
# the engine), the CRM-flag pass of loads and CRM syncs, the Contact page (through opt_out_status).


def flag_column(mapping) -> str:
    """The ``contacts`` column mirroring a CRM mapping's suppression flag (a whitelisted name)."""
    return crms.CRMS[mapping.crm].flag(mapping.field).column


def crm_flag_sql(settings, alias: str = "c") -> str:
    """A boolean SQL expression over ``alias`` (contacts): a mapped CRM suppression flag is set.

    Built only from whitelisted column names chosen by the mapping; no user value is pasted."""
    parts = [f"{alias}.{db.ident(flag_column(m))}" for m in settings.crm_mapping]
    return "(" + " OR ".join(parts) + ")" if parts else "FALSE"


# The opt-out in force per email, from events alone. Parameter: as_of. Columns: email, source,
# event_id, opted_out_at (since), latest_at (the newest opt-out event in force), actor, detail,
# reversed_at (the last reversal before it, if any).
EVENT_OPT_OUTS_SQL = """
SELECT r.email,
       arg_min(r.source, (r.occurred_at, r.event_id)) AS source,
       arg_min(r.event_id, (r.occurred_at, r.event_id)) AS event_id,
       min(r.occurred_at) AS opted_out_at,
       max(r.occurred_at) AS latest_at,
       arg_min(r.actor, (r.occurred_at, r.event_id)) AS actor,
       arg_min(r.detail, (r.occurred_at, r.event_id)) AS detail,
       any_value(r.reversed_at) AS reversed_at
FROM (
    SELECT ev.*, max(occurred_at) FILTER (WHERE type = 'opt_out_reversal') OVER (PARTITION BY email) AS reversed_at
    FROM (
        SELECT lower(trim(coalesce(e.email, ct.email))) AS email, e.type, e.source, e.event_id, e.occurred_at,
               e.actor, e.detail
        FROM events e LEFT JOIN contacts ct ON e.email IS NULL AND ct.contact_id = e.contact_id
        WHERE e.type IN ('opt_out', 'opt_out_reversal') AND e.occurred_at <= ?
    ) ev WHERE ev.email IS NOT NULL
) r
WHERE r.type = 'opt_out' AND (r.reversed_at IS NULL OR r.occurred_at > r.reversed_at)
GROUP BY r.email
"""


def opted_out_relation(settings) -> str:
    """SQL selecting every opted-out contact: ``contact_id, email, source, event_id, opted_out_at,
    latest_at, actor, detail, crm_flag`` (``crm_flag``: a mapped CRM flag is set now).

    One parameter: ``as_of``. A contact opted out both ways reports the event's source and time."""
    flag = crm_flag_sql(settings)
    return f"""
        SELECT c.contact_id, c.email,
               coalesce(o.source, 'crm') AS source,
               o.event_id, o.opted_out_at, o.latest_at, o.actor, o.detail,
               {flag} AS crm_flag
        FROM contacts c
        LEFT JOIN ({EVENT_OPT_OUTS_SQL}) o ON o.email = c.email
        WHERE o.email IS NOT NULL OR {flag}
    """


def opt_out_status(con: duckdb.DuckDBPyConnection, settings, email: str, as_of: dt.datetime) -> dict | None:
    """``{"source", "event_id", "opted_out_at", "latest_at", "actor", "detail", "crm_flag"}`` when ``email`` is opted
    out at ``as_of`` (the row of :func:`opted_out_relation` for this contact), else None."""
    key = (email or "").strip().lower()
    # the same relation over this contact's rows only: the CTEs bind the names ``contacts`` and
    # ``events`` to them, so a point look-up does not aggregate every opt-out event. MATERIALIZED: an
    # inlined CTE gets the relation's ``type IN (...)`` filter pushed into its scan, and DuckDB then
    # scans every row group of events instead of the email index (150-290 ms at 1M, not 2-20 ms)
    cur = con.execute(
        f"""WITH contacts AS MATERIALIZED (SELECT * FROM main.contacts WHERE email = ?),
                 events AS MATERIALIZED (SELECT * FROM main.events WHERE email = ?
                            UNION ALL
                            SELECT * FROM main.events
                            WHERE email IS NULL AND contact_id IN (SELECT contact_id FROM contacts))
            SELECT source, event_id, opted_out_at, latest_at, actor, detail, crm_flag FROM ({opted_out_relation(settings)})""",
        [key, key, as_of])
    row = cur.fetchone()
    if row is None:
        return None
    out = dict(zip([d[0] for d in cur.description], row, strict=True))
    out["crm_flag"] = bool(out["crm_flag"])
    return out


# emails with a crm-source opt-out event since their last reversal. Parameter: as_of.
CRM_EVIDENCE_SQL = """
SELECT email FROM (
    SELECT lower(trim(coalesce(e.email, ct.email))) AS email, e.type, e.source, e.occurred_at,
           max(e.occurred_at) FILTER (WHERE e.type = 'opt_out_reversal')
               OVER (PARTITION BY lower(trim(coalesce(e.email, ct.email)))) AS reversed_at
    FROM events e LEFT JOIN contacts ct ON e.email IS NULL AND ct.contact_id = e.contact_id
    WHERE e.type IN ('opt_out', 'opt_out_reversal') AND e.occurred_at <= ?)
WHERE type = 'opt_out' AND source = 'crm' AND (reversed_at IS NULL OR occurred_at > reversed_at)
GROUP BY email
"""


def record_crm_flag_opt_outs(con: duckdb.DuckDBPyConnection, settings, at: dt.datetime, actor: str) -> list[dict]:
    """CRM suppression flags (under the mapping) become ``opt_out`` events, source ``crm``: the one
    rule used by loads and by CRM syncs. Returns ``[{"event_id", "email"}]`` of the new events.

    A contact whose mapped flag is set and who has no ``crm`` opt-out event since its last reversal
    (as of ``at``) gets one, even when another opt-out (a link click) is in force: the CRM's word is
    evidence of its own, so provenance can tell that the CRM says so too. Its id is
    ``crm-optout:<email>`` the first time and ``crm-optout:<email>:<at>`` after a documented
    reversal (the flag is still, or again, set). ``detail`` names the CRM fields that are set
    (``evidence.crm_fields``) and the first of them (``crm``, ``field``, ``mode``). The caller owns the
    transaction; ending the contact's enrollments is the caller's choice.
    """
    mappings = list(settings.crm_mapping)
    if not mappings:
        return []
    flag = crm_flag_sql(settings)
    cases = {key: [] for key in ("name", "crm", "field", "mode")}
    params: dict[str, list] = {key: [] for key in cases}
    for m in mappings:
        test = f"c.{db.ident(flag_column(m))}"
        for key, value in (("name", f"{m.crm}.{m.field}"), ("crm", m.crm), ("field", m.field), ("mode", m.mode)):
            cases[key].append(f"CASE WHEN {test} THEN ?::VARCHAR END")
            params[key].append(value)
    stamp = at.strftime("%Y%m%dT%H%M%S")
    rows = con.execute(
        f"""INSERT INTO events (event_id, occurred_at, type, contact_id, email, source, actor, detail)
            SELECT CASE WHEN EXISTS (SELECT 1 FROM events x WHERE x.event_id = 'crm-optout:' || c.email)
                        THEN 'crm-optout:' || c.email || ':' || ? ELSE 'crm-optout:' || c.email END,
                   ?, 'opt_out', c.contact_id, c.email, 'crm', ?,
                   to_json({{'evidence': {{'crm_fields': list_filter([{', '.join(cases['name'])}],
                                                                     lambda x: x IS NOT NULL)}},
                            'crm': coalesce({', '.join(cases['crm'])}),
                            'field': coalesce({', '.join(cases['field'])}),
                            'mode': coalesce({', '.join(cases['mode'])})}})::VARCHAR
            FROM contacts c
            LEFT JOIN ({CRM_EVIDENCE_SQL}) o ON o.email = c.email
            WHERE {flag} AND o.email IS NULL
              AND NOT EXISTS (SELECT 1 FROM events x WHERE x.event_id = 'crm-optout:' || c.email || ':' || ?)
            ORDER BY c.email
            RETURNING event_id, email""",
        [stamp, at, actor, *params["name"], *params["crm"], *params["field"], *params["mode"], at, stamp]).fetchall()
    return [{"event_id": r[0], "email": r[1]} for r in rows]


def pin_event_emails(con: duckdb.DuckDBPyConnection) -> int:
    """Give every opt-out and reversal event recorded by contact id only the email of that contact,
    now: opt-outs are keyed by email, so a later load that changes the contact's email (or reuses
    its id for somebody else) cannot carry the opt-out over to another address. Returns the count."""
    return con.execute(
        "UPDATE events SET email = c.email FROM contacts c WHERE events.email IS NULL "
        "AND events.contact_id = c.contact_id AND events.type IN ('opt_out', 'opt_out_reversal')").fetchone()[0]


# --- the permission record of a reversal ------------------------------------------------------------

PLACEHOLDERS = frozenset({"-", "--", "?", "x", "xx", "xxx", "n/a", "na", "none", "null", "nil", "unknown", "test",
                          "tbd", "todo", "asdf", "someone", "somebody", "nobody", "anonymous", "ok", "yes", "no",
                          "see above", "see ticket", "per request", "requested"})


def _plain(text) -> str:
    return " ".join(str(text).split()).strip().lower() if text is not None else ""


def permission_problems(permission_by, permission_at: dt.datetime | None, evidence, *,
                        opted_out_at: dt.datetime | None, now: dt.datetime) -> list[str]:
    """What a compliance officer would refuse in a reversal's permission record (empty: acceptable).

    * who gave it: a name (at least two letters), no invisible characters, not a placeholder such
      as ``-`` or ``n/a``;
    * when: not in the future, and not before the opt-out it ends (the newest one in force);
    * evidence: a real reference (a ticket or message id, an address, a link, or a description of
      at least three words), no invisible characters, not a placeholder such as ``x``.
    """
    out = []
    for name, value in (("permission_by", permission_by), ("evidence", evidence)):
        found = hidden_characters(str(value or ""))
        if found:
            pos, char = found[0]
            out.append(f"{name} contains a character that cannot be seen ({char} at character {pos})")
    who = _plain(permission_by)
    if who in PLACEHOLDERS or sum(ch.isalpha() for ch in who) < 2:
        out.append(f"permission_by {str(permission_by)!r} is not a name; expected who gave the permission, "
                   "e.g. 'Bob Jones (the contact)'")
    if permission_at is not None:
        if permission_at > now:
            out.append(f"permission_at {permission_at:%Y-%m-%d %H:%M} is in the future (now is {now:%Y-%m-%d %H:%M})")
        if opted_out_at is not None and permission_at < opted_out_at:
            out.append(f"permission_at {permission_at:%Y-%m-%d %H:%M} is before the opt-out it would end "
                       f"({opted_out_at:%Y-%m-%d %H:%M}); permission must be given after opting out")
    ref = _plain(evidence)
    words = [w for w in ref.replace(",", " ").split() if any(ch.isalnum() for ch in w)]
    has_ref = any(ch.isdigit() for ch in ref) or "@" in ref or "#" in ref or "://" in ref
    if ref in PLACEHOLDERS or sum(ch.isalnum() for ch in ref) < 6 or not (has_ref or len(words) >= 3):
        out.append(f"evidence {str(evidence)!r} is not a reference; expected where the permission is recorded, "
                   "e.g. 'email of 2026-11-05, ticket SUP-12'")
    return out


# --- the clock never goes back -----------------------------------------------------------------------


def latest_activity(con: duckdb.DuckDBPyConnection) -> dt.datetime | None:
    """The newest recorded moment of the workspace: its pinned clock, its newest event and its newest
    execution-log row. A load never sets the clock before it."""
    row = con.execute(
        """SELECT greatest(
               (SELECT try_cast(value AS TIMESTAMP) FROM meta WHERE key = 'clock'),
               (SELECT max(occurred_at) FROM events),
               (SELECT max("at") FROM execution_log))""").fetchone()
    return row[0] if row else None


def load_clock(con: duckdb.DuckDBPyConnection, pinned: dt.datetime | None) -> tuple[dt.datetime | None, str | None]:
    """The clock a load leaves, and a warning: ``pinned`` (workspace.yaml ``now``) unless it is older
    than :func:`latest_activity`, which then stays (a warning says so). Without a pin the wall clock
    runs, unless recorded activity is ahead of it (a simulated workspace): then the clock stays there.
    Returns ``(clock, warning)``; ``clock`` None = the wall clock."""
    latest = latest_activity(con)
    if pinned is not None:
        if latest is not None and pinned < latest:
            return latest, (f"workspace.yaml: now {pinned:%Y-%m-%d %H:%M:%S} is before recorded activity "
                            f"({latest:%Y-%m-%d %H:%M:%S}); ignored: the clock never goes back, it stays at "
                            f"{latest:%Y-%m-%d %H:%M:%S}")
        return pinned, None
    wall = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    if latest is not None and latest > wall:
        return latest, None
    return None, None
