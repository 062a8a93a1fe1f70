"""The send scheduler: advances the workspace clock over Plays and sequences.

At every tick ``t`` (``run_until``):

1. **Replies** recorded up to ``t`` end the enrollments they answer (``completed`` / ``replied``;
   an out-of-office auto-reply does not).
2. **Play entry.** The engine (:func:`unify_dash.engine.entry_decisions`, as of ``t`` with the
   settings in effect then) says, for every audience contact and sequence node, ``enrolled``,
   ``not_enrolled`` (blocked at the node: on at the organisation level and in the ruleset),
   ``excluded_at_audience`` or ``opted_out``. A contact with no enrollment at the node is enrolled
   (``queued``, first step due after its delay) or recorded ``not_enrolled`` with the blocking
   exclusions; a ``not_enrolled`` contact that is no longer blocked is enrolled (the "attempt
   enrollment again" of the support article). Audience exclusions and opt-outs are logged once.
3. **Send time.** Every queued or active enrollment due by ``t`` is decided by the engine
   (:func:`unify_dash.engine.send_decisions`): ``send``/``continue`` -> the step goes through the
   :class:`Sender` and a ``send`` event is recorded (after the last step: ``completed`` /
   ``finished``); ``skip`` (queued, blocked or opted out) -> ``completed`` / ``excluded`` or
   ``opted_out``, never emailed; ``remove`` (active: opted out, or an exclusion with
   ``remove_from_active_sequences``) -> ``completed`` / ``excluded_mid_sequence`` or ``opted_out``.

Every decision is an ``execution_log`` row (contact, play, node, sequence, step, time, outcome,
the blocking exclusions and levels as JSON, the settings version). A tick is one transaction:
a failure leaves the clock at the last finished tick and nothing of the failed one.

Set-based: a tick is a handful of SQL statements over all due enrollments. The evaluation is
reused from tick to tick while it provably cannot differ (same settings version, no outside write,
no opt-out event since, and no relative-date criterion crossing a contact's date in between), so
a simulated month costs a few evaluations, not one per tick.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from unify_dash import engine
from unify_dash.engine import incremental
from unify_dash.engine.evaluator import _instance as _db_instance
from unify_dash.errors import NotFound, ValidationError
from unify_dash.model import roles, states
from unify_dash.model.settings import Settings, settings_at
from unify_dash.scheduler import outbox
from unify_dash.scheduler.outbox import Message, RecordingSender, Sender  # noqa: F401
from unify_dash.store import db, ledger

DEFAULT_TICK = dt.timedelta(hours=1)
# DuckDB checkpoints at a commit whose changes it estimates above ``checkpoint_threshold`` (16 MiB by
# default): at a million contacts that is every tick, and a checkpoint rewrites the indexes of every
# table the tick appended to (events, execution_log, enrollments, outbox), after which the next commit
# reads them back from the file. While the scheduler runs the threshold is raised and the write-ahead
# log is checkpointed when it passes WAL_CHECKPOINT_MB (after a tick's commit), once per many ticks.
RUN_CHECKPOINT_THRESHOLD = "4GB"
WAL_CHECKPOINT_MB = 128
HEARTBEAT = dt.timedelta(days=1)  # at least one tick a day: Play entry sees contacts that newly qualify
# False: every tick evaluates every contact (the reference the incremental path is tested against)
INCREMENTAL = True
# A tick larger than this is carried out in batches, each its own transaction (_carry_out): Play entry
# over everyone in parts of about ENTRY_BATCH contacts, the steps due SEND_BATCH at a time
ENTRY_BATCH = 500_000
SEND_BATCH = 200_000


# --- the sender seam: scheduler/outbox.py (Message, Sender, RecordingSender, load_sender) ----------------


# --- helpers -------------------------------------------------------------------------------------------


_ID = np.frompyfunc(id, 1, 1)


class _Codes:
    """Blocking lists as small integer codes, so that a million rows carry an int, not a JSON string.

    The engine shares one blocking list per group of contacts: each distinct list object is dumped
    once; the (code, json) table is joined in SQL."""

    def __init__(self):
        self._by_id: dict[int, int] = {}
        self._by_text: dict[str, int] = {}
        self._json: list[str] = []
        self._keep: list = []  # keep the lists alive while their id() is a key

    def text(self, text: str) -> int:
        code = self._by_text.get(text)
        if code is None:
            code = self._by_text[text] = len(self._json)
            self._json.append(text)
        return code

    def obj(self, value) -> int:
        code = self._by_id.get(id(value))
        if code is None:
            code = self.text(json.dumps(value if value is not None else [], sort_keys=True, default=str))
            self._by_id[id(value)] = code
            self._keep.append(value)
        return code

    def column(self, values: np.ndarray) -> np.ndarray:
        """Codes of an object array of lists (one dump per distinct list object)."""
        if not len(values):
            return np.zeros(0, dtype=np.int64)
        ids = _ID(values).astype(np.int64)
        uniq, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
        codes = np.array([self.obj(values[i]) for i in first], dtype=np.int64)
        return codes[inverse]

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"code": np.arange(len(self._json), dtype=np.int64),
                             "json": pd.Series(self._json, dtype=object)})


def _steps_frame(settings: Settings) -> pd.DataFrame:
    """sequence_id, step (1-based), delay_days, subject, n_steps of every sequence in ``settings``."""
    rows = [(s.id, k + 1, float(st.delay_days), st.subject or s.name, len(s.steps))
            for s in settings.sequences for k, st in enumerate(s.steps)]
    return pd.DataFrame({name: pd.Series([r[i] for r in rows], dtype=object if i in (0, 3) else None)
                         for i, name in enumerate(["sequence_id", "step", "delay_days", "subject", "n_steps"])})


def _opt_outs_moved(con, since: dt.datetime, t: dt.datetime) -> bool:
    """An opt-out or reversal recorded with a time in (``since``, ``t``]: Play entry runs over everyone."""
    return bool(con.execute("SELECT count(*) FROM (SELECT 1 FROM events WHERE type IN ('opt_out', 'opt_out_reversal') "
                            "AND occurred_at > ? AND occurred_at <= ? LIMIT 1)", [since, t]).fetchall()[0][0])


def _changed_contacts(con, ev, since: dt.datetime, t: dt.datetime) -> list[str]:
    """Contacts whose evaluation can differ between ``since`` and ``t`` when only time moved:
    the relative-date crossings and every contact of their company domains."""
    crossing = incremental.crossing_sql(ev.settings, ev.stats_table, since, t)
    if crossing is None:
        return []
    sql, params = crossing
    return [r[0] for r in con.execute(
        f"""WITH x AS ({sql})
            SELECT contact_id FROM contacts
            WHERE contact_id IN (SELECT contact_id FROM x)
               OR domain IN (SELECT domain FROM x WHERE domain IS NOT NULL)""", params).fetchall()]


def _version_at(con, t: dt.datetime) -> int | None:
    row = con.execute("SELECT version FROM settings_versions WHERE effective_at <= ? "
                      "ORDER BY effective_at DESC, version DESC LIMIT 1", [t]).fetchone()
    return row[0] if row else None


def _grid(start: dt.datetime, tick: dt.timedelta, when: dt.datetime, until: dt.datetime) -> dt.datetime:
    """The first tick time at or after ``when`` on the grid start + k * tick (k >= 1), at most ``until``."""
    k = max(1, -(-(when - start) // tick))
    return min(start + k * tick, until)


def _next_due(con, settings: Settings, after: dt.datetime) -> dt.datetime | None:
    seqs = [s.id for s in settings.sequences]
    row = con.execute(f"SELECT min(next_step_at) FROM enrollments WHERE state IN {states.ACTIVE_SQL} "
                      "AND next_step_at IS NOT NULL AND sequence_id IN (SELECT unnest(?::VARCHAR[]))",
                      [seqs]).fetchone()
    due = row[0] if row else None
    if due is not None and due <= after:
        return after
    return due


def _next_version(con, after: dt.datetime) -> dt.datetime | None:
    row = con.execute("SELECT min(effective_at) FROM settings_versions WHERE effective_at > ?", [after]).fetchone()
    return row[0] if row else None


def _new_summary(start: dt.datetime, until: dt.datetime) -> dict:
    return {"from": start, "until": until, "ticks": 0, "evaluations": 0, "evaluation_reasons": Counter(),
            "advances": 0, "advanced_contacts": 0,
            "entry_passes": Counter(), "sends": 0, "queued": 0, "reoffered": 0, "skips": Counter(), "removals": Counter(), "new_enrollments": 0,
            "reenrolled": 0, "not_enrolled": Counter(), "not_enrolled_contacts": 0,
            "excluded_at_audience": Counter(), "opted_out_at_entry": 0, "completions": Counter(), "checkpoints": 0,
            "seconds": 0.0}


def _count_blocking(counter: Counter, pairs) -> None:
    """Add (blocking json, contacts) pairs to a counter by exclusion id (or reason)."""
    for text, n in pairs:
        for item in json.loads(text or "[]") or [{"exclusion_id": None}]:
            counter[item.get("exclusion_id") or item.get("reason") or "unknown"] += int(n)


# --- a tick --------------------------------------------------------------------------------------------


def _complete_replied(con, t: dt.datetime, since: dt.datetime | None, summary: dict) -> None:
    """Replies recorded in (``since``, ``t``] (all up to ``t`` when ``since`` is None), not
    out-of-office, end the queued/active enrollments they answer (``completed`` / ``replied``)."""
    if since is not None and not con.execute(
            "SELECT count(*) FROM (SELECT 1 FROM events WHERE type = 'reply' AND occurred_at > ? AND occurred_at <= ? "
            "LIMIT 1)", [since, t]).fetchall()[0][0]:
        return  # no reply recorded since the last tick: nothing to end (and no scan of the enrollments)
    if since is not None and _complete_few_replied(con, t, since, summary):
        return
    ids = ledger.end_enrollments(con, (
        f"""enrollment_id IN (
           WITH r AS (
               SELECT coalesce(r.contact_id, c.contact_id) AS contact_id, r.enrollment_id, r.sequence_id,
                      r.occurred_at
               FROM events r LEFT JOIN contacts c ON c.email = r.email
               WHERE r.type = 'reply' AND coalesce(lower(r.label), '') <> 'out_of_office'
                 AND r.occurred_at <= ? AND (?::TIMESTAMP IS NULL OR r.occurred_at > ?))
           SELECT e.enrollment_id FROM enrollments e JOIN r ON r.enrollment_id = e.enrollment_id
           WHERE e.state IN {states.ACTIVE_SQL}
             AND r.occurred_at >= coalesce(e.enrolled_at, TIMESTAMP '1970-01-01')
           UNION
           SELECT e.enrollment_id FROM enrollments e JOIN r ON r.contact_id = e.contact_id
           WHERE r.enrollment_id IS NULL AND e.state IN {states.ACTIVE_SQL}
             AND (r.sequence_id IS NULL OR r.sequence_id = e.sequence_id)
             AND r.occurred_at >= coalesce(e.enrolled_at, TIMESTAMP '1970-01-01'))""", [t, since, since]),
        reason="replied", at=t)
    summary["completions"]["replied"] += len(ids)


FEW = 1000  # keys per IN list that DuckDB looks up in an index (index_scan_max_count is 2048)
EPOCH = dt.datetime(1970, 1, 1)


def _in_list(column: str, values: list) -> tuple[str, list]:
    """``column IN (?, ?, ...)``: a list of constants, which DuckDB answers from the column's ART index
    (a join with a list is a scan of the whole table)."""
    return f"{column} IN ({', '.join('?' * len(values))})", list(values)


def _complete_few_replied(con, t: dt.datetime, since: dt.datetime, summary: dict) -> bool:
    """The replies of one tick (a few): the same rule as :func:`_complete_replied`'s SQL, with the
    contacts and enrollments they answer looked up in the indexes. False (nothing done) when there
    are too many for index lookups."""
    replies = con.execute(
        "SELECT contact_id, email, enrollment_id, sequence_id, occurred_at FROM events WHERE type = 'reply' "
        "AND coalesce(lower(label), '') <> 'out_of_office' AND occurred_at > ? AND occurred_at <= ?",
        [since, t]).fetchall()
    if len(replies) > FEW:
        return False
    if not replies:
        return True
    emails = sorted({r[1] for r in replies if r[0] is None and r[1] is not None})
    if len(emails) > FEW:
        return False
    by_email = dict(con.execute("SELECT email, contact_id FROM contacts WHERE " + _in_list("email", emails)[0],
                                emails).fetchall()) if emails else {}
    replies = [(cid if cid is not None else by_email.get(email), eid, seq, at) for cid, email, eid, seq, at in replies]
    eids = sorted({r[1] for r in replies if r[1] is not None})
    cids = sorted({r[0] for r in replies if r[1] is None and r[0] is not None})
    if len(cids) > FEW or len(eids) > FEW:
        return False
    cols = "rowid AS rid, enrollment_id, contact_id, sequence_id, current_step, enrolled_at"
    found = {}
    for column, keys in (("enrollment_id", eids), ("contact_id", cids)):
        if keys:
            where, params = _in_list(column, keys)
            for row in con.execute(f"SELECT {cols} FROM enrollments WHERE {where} AND state IN {states.ACTIVE_SQL}",
                                   params).fetchall():
                found[row[1]] = row
    by_contact: dict[str, list[tuple]] = {}
    for row in found.values():
        by_contact.setdefault(row[2], []).append(row)
    hit = set()
    for cid, eid, seq, at in replies:
        answered = ([found[eid]] if eid in found else []) if eid is not None else [
            row for row in by_contact.get(cid, []) if seq is None or seq == row[3]]
        hit.update(row[1] for row in answered if at >= (row[5] or EPOCH))
    if hit:
        ended = [found[e] for e in sorted(hit)]
        contacts = sorted({r[2] for r in ended if r[2] is not None})
        email_of = dict(con.execute("SELECT contact_id, email FROM contacts WHERE "
                                    + _in_list("contact_id", contacts)[0], contacts).fetchall()) if contacts else {}
        frame = pd.DataFrame({"rid": np.array([r[0] for r in ended], dtype=np.int64),
                              "enrollment_id": pd.Series([r[1] for r in ended], dtype=object),
                              "contact_id": pd.Series([r[2] for r in ended], dtype=object),
                              "email": pd.Series([email_of.get(r[2]) for r in ended], dtype=object),
                              "sequence_id": pd.Series([r[3] for r in ended], dtype=object),
                              "current_step": np.array([r[4] for r in ended], dtype=np.int64)})
        con.register("_sched_replied", frame)
        try:
            ids = ledger.end_enrollments(con, ("TRUE", []), reason="replied", at=t, rows="_sched_replied")
        finally:
            con.unregister("_sched_replied")
        summary["completions"]["replied"] += len(ids)
    return True


ENTRY_COLUMNS = ["contact_id", "play_id", "node_id", "sequence_id", "outcome", "bcode", "ord"]


def _entry_frames(con, ev, codes: _Codes, contact_ids: list[str] | None = None, *,
                  part: tuple[int, int] | None = None) -> pd.DataFrame:
    """The engine's Play-entry decisions of every Play with sequence nodes (``contact_ids`` and ``part``,
    a share of the contacts by hash, restrict)."""
    frames = []
    for play in ev.settings.plays:
        if not play.nodes:
            continue
        df = engine.entry_decisions(con, ev, play.id, contact_ids, part=part)
        if len(df):
            df = df[df["node_id"].notna()]
            frames.append(pd.DataFrame({"contact_id": df["contact_id"].to_numpy(dtype=object),
                                        "play_id": df["play_id"].to_numpy(dtype=object),
                                        "node_id": df["node_id"].to_numpy(dtype=object),
                                        "sequence_id": df["sequence_id"].to_numpy(dtype=object),
                                        "outcome": df["outcome"].to_numpy(dtype=object),
                                        "bcode": codes.column(df["blocking"].to_numpy(dtype=object))}))
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object if c not in ("bcode", "ord") else np.int64)
                             for c in ENTRY_COLUMNS})
    out = pd.concat(frames, ignore_index=True)
    out["ord"] = np.arange(len(out), dtype=np.int64)  # Play order, then the contact's nodes in order
    return out


def _ended_contacts(con, since: dt.datetime, t: dt.datetime) -> list[str]:
    """Contacts with an enrollment that ended in [``since``, ``t``] (the tick at ``since`` wrote after its
    entry pass): one active sequence at a time may let them enter the next."""
    return [r[0] for r in con.execute(
        f"SELECT DISTINCT contact_id FROM enrollments WHERE state NOT IN {states.ACTIVE_SQL} "
        "AND state <> 'not_enrolled' AND updated_at >= ? AND updated_at <= ?", [since, t]).fetchall()]


def _one_at_a_time(con, ev) -> None:
    """One active sequence per contact: of the entries a contact would make in this pass, the first (Play,
    then node order) goes ahead; the others wait, as not enrolled with the engine's reason."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _sched_w AS
        SELECT contact_id, sequence_id, ord FROM (
            SELECT contact_id, sequence_id, ord, row_number() OVER (PARTITION BY contact_id ORDER BY ord) AS r
            FROM _sched_e WHERE outcome = 'enrolled') WHERE r = 1""")
    seqs = [r[0] for r in con.execute("SELECT DISTINCT sequence_id FROM _sched_w").fetchall()]
    if not seqs:
        return
    con.register("_sched_wj", pd.DataFrame({
        "sequence_id": seqs, "json": [json.dumps(engine.enters_first(ev, s), sort_keys=True) for s in seqs]}))
    try:
        con.execute("""
            UPDATE _sched_e SET outcome = 'not_enrolled', blocking_json = j.json
            FROM _sched_w w JOIN _sched_wj j ON j.sequence_id = w.sequence_id
            WHERE _sched_e.contact_id = w.contact_id AND _sched_e.outcome = 'enrolled' AND _sched_e.ord > w.ord""")
    finally:
        con.unregister("_sched_wj")
        con.execute("DROP TABLE IF EXISTS _sched_w")


def _in_part(column: str, part: tuple[int, int] | None) -> str:
    """``AND hash(column) % n = k``: the rows of part ``k`` of ``n`` (:func:`_carry_out`), so that a part's
    statements read only its contacts' enrollments and log rows; empty without parts."""
    return "" if part is None else f" AND hash({column}) % {int(part[1])} = {int(part[0])}"


def _entry_pass(con, ev, entry: pd.DataFrame, codes: _Codes, t: dt.datetime, summary: dict,
                part: tuple[int, int] | None = None) -> None:
    """Write the Play-entry outcomes (inside the tick's transaction); ``part``: the entries are those of
    one part of the contacts (:func:`_entry_frames`)."""
    if entry.empty:
        return
    steps = _steps_frame(ev.settings)
    first = steps[steps["step"] == 1][["sequence_id", "delay_days"]]
    con.register("_sched_entry", entry)
    con.register("_sched_first", first)
    con.register("_sched_bj", codes.frame())
    try:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _sched_e AS
            SELECT d.contact_id, d.play_id, d.node_id, d.sequence_id, d.outcome, b.json AS blocking_json,
                   x.engaged, x.ne_id, f.delay_days, d.ord
            FROM _sched_entry d
            LEFT JOIN _sched_bj b ON b.code = d.bcode
            LEFT JOIN (SELECT contact_id, play_id, node_id,
                              bool_or(state <> 'not_enrolled') AS engaged,
                              arg_max(enrollment_id, coalesce(updated_at, enrolled_at))
                                  FILTER (WHERE state = 'not_enrolled') AS ne_id
                       FROM enrollments WHERE play_id IS NOT NULL{_in_part("contact_id", part)} GROUP BY ALL) x
                   ON x.contact_id = d.contact_id AND x.play_id = d.play_id AND x.node_id = d.node_id
            LEFT JOIN _sched_first f ON f.sequence_id = d.sequence_id
            WHERE NOT coalesce(x.engaged, false)
              -- already in this sequence by another way (another Play, a manual enrollment): not twice
              AND NOT EXISTS (SELECT 1 FROM enrollments a WHERE a.contact_id = d.contact_id
                              AND a.sequence_id = d.sequence_id AND a.state IN {states.ACTIVE_SQL}
                              {_in_part("a.contact_id", part)})""")
        if ev.settings.one_active_sequence:
            _one_at_a_time(con, ev)
        version = ev.version
        # enrolled: new rows, and not_enrolled rows whose block has lifted
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _sched_new AS
            SELECT coalesce(ne_id, 'en:' || uuidv7()::VARCHAR) AS enrollment_id, contact_id, play_id, node_id,
                   sequence_id, ne_id IS NOT NULL AS retried,
                   ?::TIMESTAMP + to_microseconds((coalesce(delay_days, 0) * 86400000000)::BIGINT) AS next_step_at
            FROM _sched_e WHERE outcome = 'enrolled'""", [t])
        n_new, n_retried = con.execute("SELECT count(*) FILTER (WHERE NOT retried), count(*) FILTER (WHERE retried) "
                                       "FROM _sched_new").fetchall()[0]
        if n_new or n_retried:
            con.execute("""
                UPDATE enrollments SET state = 'queued', completion_reason = NULL, current_step = 0,
                       next_step_at = n.next_step_at, enrolled_at = ?, updated_at = ?
                FROM _sched_new n WHERE n.retried AND enrollments.enrollment_id = n.enrollment_id""", [t, t])
            con.execute("""
                INSERT INTO enrollments (enrollment_id, contact_id, play_id, node_id, sequence_id, state,
                                         completion_reason, current_step, next_step_at, enrolled_at, updated_at)
                SELECT enrollment_id, contact_id, play_id, node_id, sequence_id, 'queued', NULL, 0, next_step_at, ?, ?
                FROM _sched_new WHERE NOT retried""", [t, t])
            con.execute("""
                INSERT INTO execution_log
                SELECT 'log:' || uuidv7()::VARCHAR, ?, contact_id, play_id, node_id, sequence_id, NULL, 'enrolled',
                       NULL, ? FROM _sched_new""", [t, version])
            con.execute("""
                INSERT INTO events (event_id, occurred_at, type, contact_id, email, sequence_id, enrollment_id, step,
                                    source, actor)
                SELECT 'enroll:' || uuidv7()::VARCHAR, ?, 'enroll', n.contact_id, c.email, n.sequence_id,
                       n.enrollment_id, 0, n.play_id, 'system'
                FROM _sched_new n LEFT JOIN contacts c USING (contact_id)""", [t])
        summary["new_enrollments"] += int(n_new)
        summary["reenrolled"] += int(n_retried)
        # not enrolled at the node: a row with the blocking exclusions (once; a retry that is still
        # blocked writes nothing)
        blocked = con.execute("SELECT blocking_json, count(*) FROM _sched_e WHERE outcome = 'not_enrolled' "
                              "AND ne_id IS NULL GROUP BY ALL").fetchall()
        if blocked:
            con.execute("""
                CREATE OR REPLACE TEMP TABLE _sched_ne AS
                SELECT 'en:' || uuidv7()::VARCHAR AS enrollment_id, contact_id, play_id, node_id, sequence_id,
                       blocking_json
                FROM _sched_e WHERE outcome = 'not_enrolled' AND ne_id IS NULL""")
            con.execute("""
                INSERT INTO enrollments (enrollment_id, contact_id, play_id, node_id, sequence_id, state,
                                         completion_reason, current_step, next_step_at, enrolled_at, updated_at)
                SELECT enrollment_id, contact_id, play_id, node_id, sequence_id, 'not_enrolled', NULL, 0, NULL, NULL, ?
                FROM _sched_ne""", [t])
            con.execute("""
                INSERT INTO execution_log
                SELECT 'log:' || uuidv7()::VARCHAR, ?, contact_id, play_id, node_id, sequence_id, NULL, 'not_enrolled',
                       blocking_json, ? FROM _sched_ne""", [t, version])
            summary["not_enrolled_contacts"] += sum(n for _text, n in blocked)
            _count_blocking(summary["not_enrolled"], blocked)
        _log_still_blocked(con, t, version, part)
        # excluded at the audience / opted out: logged once per contact, play and reason
        logged = _log_once(con, t, version, part)
        for outcome, blocking, n in logged:
            if outcome == "excluded_at_audience":
                _count_blocking(summary["excluded_at_audience"], [(blocking, n)])
            else:
                summary["opted_out_at_entry"] += int(n)
    finally:
        con.unregister("_sched_entry")
        con.unregister("_sched_first")
        con.unregister("_sched_bj")
        for table in ("_sched_e", "_sched_new", "_sched_ne"):
            con.execute(f"DROP TABLE IF EXISTS {table}")


def _log_still_blocked(con, t: dt.datetime, version, part: tuple[int, int] | None = None) -> None:
    """A not_enrolled enrollment still blocked at a node gets a log row when none of its node says
    this block yet (a loaded history, or the reasons changed): the Execution logs page always names
    the criteria that block a Not Enrolled contact. An unchanged block writes nothing.

    The blocking lists are compared as numbers (:func:`_blocking_codes`): the first tick checks every
    not-enrolled contact against the loaded log (734k rows at 1M), where joining on the JSON text itself
    hashed and compared some 300 MB of strings."""
    con.execute(f"""
        INSERT INTO execution_log
        WITH s AS (SELECT * FROM _sched_e WHERE outcome = 'not_enrolled' AND ne_id IS NOT NULL),
        {_blocking_codes("s", "'not_enrolled'", part)}
        SELECT 'log:' || uuidv7()::VARCHAR, ?, s.contact_id, s.play_id, s.node_id, s.sequence_id, NULL, 'not_enrolled',
               s.blocking_json, ?
        FROM s JOIN d ON d.b = coalesce(s.blocking_json, '')
        WHERE NOT EXISTS (SELECT 1 FROM l WHERE l.contact_id = s.contact_id AND l.play_id = s.play_id
                          AND l.node_id = s.node_id AND l.outcome = 'not_enrolled' AND l.code = d.code)""", [t, version])


def _blocking_codes(rows: str, outcomes: str, part: tuple[int, int] | None = None) -> str:
    """CTEs ``d`` (every distinct blocking JSON of ``rows``, NULL as '', numbered ``code``) and ``l`` (the
    execution log rows with an outcome in ``outcomes`` whose blocking is one of them: contact_id, play_id,
    node_id, outcome, code). An anti-join on ``code`` is the one on ``coalesce(blocking, '')``: a log row
    whose blocking is none of ``d`` matches no row of ``rows`` either. ``part``: only the log rows of that
    part's contacts (``rows`` are all of it)."""
    return f"""d AS (SELECT b, row_number() OVER () AS code
                 FROM (SELECT DISTINCT coalesce(blocking_json, '') AS b FROM {rows})),
        l AS (SELECT l.contact_id, l.play_id, l.node_id, l.outcome, d.code
              FROM execution_log l JOIN d ON d.b = coalesce(l.blocking, '')
              WHERE l.outcome IN ({outcomes}){_in_part("l.contact_id", part)})"""


def _log_once(con, t: dt.datetime, version, part: tuple[int, int] | None = None) -> list[tuple]:
    """Log excluded-at-audience and opted-out entry outcomes once per contact, play, outcome and reason."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _sched_once AS
        WITH s AS (SELECT DISTINCT contact_id, play_id, outcome, blocking_json FROM _sched_e
                   WHERE outcome IN ('excluded_at_audience', 'opted_out') AND ne_id IS NULL),
        {_blocking_codes("s", "'excluded_at_audience', 'opted_out'", part)}
        SELECT s.contact_id, s.play_id, s.outcome, s.blocking_json
        FROM s JOIN d ON d.b = coalesce(s.blocking_json, '')
        WHERE NOT EXISTS (SELECT 1 FROM l WHERE l.contact_id = s.contact_id
                          AND l.play_id = s.play_id AND l.outcome = s.outcome AND l.code = d.code)""")
    try:
        con.execute("""
            INSERT INTO execution_log
            SELECT 'log:' || uuidv7()::VARCHAR, ?, contact_id, play_id, NULL, NULL, NULL, outcome, blocking_json, ?
            FROM _sched_once""", [t, version])
        return con.execute("SELECT outcome, blocking_json, count(*) FROM _sched_once GROUP BY ALL").fetchall()
    finally:
        con.execute("DROP TABLE IF EXISTS _sched_once")


def _opt_out_blocking(text: str | None) -> list[dict]:
    return [{"exclusion_id": None, "name": "Opted out", "level": "global", "reason": "opted_out",
             "text": text or "opted out"}]


def _decision_frame(d: pd.DataFrame, codes: _Codes) -> pd.DataFrame:
    """The engine's send decisions as a slim frame: blocking as codes (NULL when a step goes out
    with nothing to note), a JSON reason for opt-outs and unknown contacts."""
    decision = d["decision"].to_numpy(dtype=object)
    reason = d["reason"].to_numpy(dtype=object)
    text = d["text"].to_numpy(dtype=object)
    blocking = d["blocking"].to_numpy(dtype=object)
    bcode = np.full(len(d), -1, dtype=np.int64)
    for i in np.flatnonzero(decision != "send"):
        if reason[i] == "opted_out":
            bcode[i] = codes.text(json.dumps(_opt_out_blocking(text[i]), sort_keys=True))
        elif not blocking[i]:
            bcode[i] = codes.text(json.dumps([{"exclusion_id": None, "reason": reason[i], "text": text[i]}],
                                             sort_keys=True))
        else:
            bcode[i] = codes.obj(blocking[i])
    stop = np.isin(decision, ["skip", "remove"])
    return pd.DataFrame({
        "enrollment_id": d["enrollment_id"].to_numpy(dtype=object),
        "decision": decision,
        "reason": reason,
        "will_send": d["will_send"].to_numpy(dtype=bool),
        "bcode": bcode,
        "text": np.where(stop, text, None),
    })


EVENTS, LOG = "_sched_events", "_sched_log"  # the send pass's events and log rows, written once (_send_pass)
COMPLETION = {"opted_out": "opted_out", "excluded": "excluded", "excluded_mid_sequence": "excluded_mid_sequence",
              "unknown_contact": "excluded"}


def _send_pass(con, ev, t: dt.datetime, summary: dict, sender=None, *, limit: int | None = None,
               checked: bool = True) -> int:
    """Decide and carry out every step due by ``t`` (inside the tick's transaction); at most ``limit`` of
    them (a batch of a large backlog, :func:`_carry_out`). Returns how many due enrollments it took.

    An enrollment whose step already went out at ``t`` (active, updated at ``t``: an earlier batch of
    this tick, committed before a crash) is not due again at ``t``, even when its next step has no delay:
    that step goes out at the next tick, as without batches.

    The due enrollments are read once with their ``rowid``; every later statement of the tick finds
    them by position (a semi-join on row ids, not a scan of the enrollments' ids) and takes the
    contact's email from the decision frame (the evaluation's table), so no statement joins the
    enrollments or contacts tables by key. ``sender``: a local sender (nothing leaves the machine)
    records its deliveries in this transaction (:func:`outbox.queue_delivered`); otherwise the
    messages are queued and delivered after the commit.

    The pass's events (``send``, ``complete``, ``exclusion_skip``) and log rows are gathered in two
    temporary tables and written to ``events`` and ``execution_log`` by one statement each (every
    insert into an indexed table has a fixed cost of tens of milliseconds at a million contacts).
    ``checked=False`` (:func:`_carry_out`): the ``events`` and ``outbox`` rows are inserted without
    looking their keys up first; a key already there fails the transaction (:func:`db.insert_new`)."""
    seqs = [s.id for s in ev.settings.sequences]
    due = con.execute(
        f"SELECT rowid FROM enrollments WHERE state IN {states.ACTIVE_SQL} AND next_step_at <= ? "
        "AND sequence_id IN (SELECT unnest(?::VARCHAR[])) AND (state <> 'active' OR updated_at IS DISTINCT FROM ?)"
        + ("" if limit is None else f" LIMIT {int(limit)}"), [t, seqs, t]).fetchnumpy()["rowid"]
    if not len(due):
        return 0
    d = engine.send_decisions(con, ev, rowids=due.tolist())
    d = d[d["decision"] != "none"]
    if d.empty:
        return len(due)
    codes = _Codes()
    frame = _decision_frame(d, codes)
    for col in ("rid", "contact_id", "email", "play_id", "node_id", "sequence_id", "current_step"):
        frame[col] = d[col].to_numpy(dtype=np.int64 if col in ("rid", "current_step") else object)
    con.register("_sched_d", frame)
    con.register("_sched_bj", codes.frame())
    con.register("_sched_steps", _steps_frame(ev.settings))
    version = ev.version
    try:
        for table, like in ((EVENTS, "events"), (LOG, "execution_log")):
            con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM {like} LIMIT 0")
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _sched_x AS
            SELECT d.rid, d.enrollment_id, d.contact_id, d.email, d.play_id, d.node_id, d.sequence_id,
                   d.current_step + 1 AS step, d.decision, d.reason, d.will_send, d.text, b.json AS blocking_json,
                   s.subject, n.n_steps, nx.delay_days AS next_delay
            FROM _sched_d d
            LEFT JOIN _sched_bj b ON b.code = d.bcode
            LEFT JOIN (SELECT DISTINCT sequence_id, n_steps FROM _sched_steps) n ON n.sequence_id = d.sequence_id
            LEFT JOIN _sched_steps s ON s.sequence_id = d.sequence_id AND s.step = d.current_step + 1
            LEFT JOIN _sched_steps nx ON nx.sequence_id = d.sequence_id AND nx.step = d.current_step + 2""")
        n_send, n_over, n_stop = con.execute(
            "SELECT count(*) FILTER (WHERE will_send AND n_steps IS NOT NULL AND step <= n_steps), "
            "count(*) FILTER (WHERE will_send AND step > n_steps), "
            "count(*) FILTER (WHERE decision IN ('skip', 'remove')) FROM _sched_x").fetchall()[0]
        # sends (a blocking exclusion that does not remove active participants lets the step go)
        if n_send:
            _sends(con, t, version, summary, sender, checked=checked)
        # the sequence got shorter than the steps already sent: nothing left to send
        if n_over:
            ledger.end_enrollments(
                con, ("r.will_send AND r.step > r.n_steps", []), reason="finished", at=t,
                cause={"outcome": "no step left"}, rows="(SELECT *, step - 1 AS current_step FROM _sched_x)",
                events=EVENTS)
            summary["completions"]["finished"] += int(n_over)
        if n_stop:
            _stops(con, t, version, summary)
        con.execute(f"INSERT INTO execution_log SELECT * FROM {LOG}")
        db.insert_new(con, "events", "event_id", f"SELECT * FROM {EVENTS}", checked=checked)  # an event id there: not again
    finally:
        for view in ("_sched_d", "_sched_bj", "_sched_steps"):
            con.unregister(view)
        for table in ("_sched_x", "_sched_go", "_sched_stop", EVENTS, LOG):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    return len(due)


def _sends(con, t: dt.datetime, version, summary: dict, sender, *, checked: bool = True) -> None:
    """The steps that go out: queued in the outbox (a local sender: recorded as delivered) in the
    tick's transaction, the enrollment advanced by row id, a ``sent`` log row; the last step ends it."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _sched_go AS
        SELECT x.*, x.step >= x.n_steps AS last FROM _sched_x x
        WHERE will_send AND n_steps IS NOT NULL AND step <= n_steps""")
    if sender is not None:  # nothing leaves the machine: delivered in this transaction, one commit
        summary["sends"] += outbox.queue_delivered(con, sender, "_sched_go", t, events=EVENTS, checked=checked)
    else:  # committed with the tick, delivered after it (outbox.flush): at most once per enrollment and step
        outbox.queue(con, "_sched_go", t, checked=checked)
    con.execute("""
        UPDATE enrollments SET current_step = g.step, state = 'active',
               next_step_at = ?::TIMESTAMP + to_microseconds((coalesce(g.next_delay, 0) * 86400000000)::BIGINT),
               updated_at = ?
        FROM _sched_go g WHERE enrollments.rowid = g.rid""", [t, t])
    con.execute(f"""
        INSERT INTO {LOG}
        SELECT 'log:' || uuidv7()::VARCHAR, ?, contact_id, play_id, node_id, sequence_id, step, 'sent',
               blocking_json, ? FROM _sched_go""", [t, version])
    sent, finished = con.execute("SELECT count(*), count(*) FILTER (WHERE last) FROM _sched_go").fetchall()[0]
    if finished:
        ledger.end_enrollments(con, ("r.last", []), reason="finished", at=t,
                               rows="(SELECT *, step AS current_step FROM _sched_go)", events=EVENTS)
    summary["queued"] += int(sent)
    summary["completions"]["finished"] += int(finished)


def _stops(con, t: dt.datetime, version, summary: dict) -> None:
    """Skips (queued) and removals (active): a log row, an ``exclusion_skip`` event (not for an
    opt-out), the enrollment ended with its completion reason."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _sched_stop AS
        SELECT x.*, x.step - 1 AS current_step, CASE x.decision WHEN 'skip' THEN 'skipped' ELSE 'removed' END AS outcome,
               CASE x.reason WHEN 'excluded_mid_sequence' THEN 'excluded_mid_sequence'
                             WHEN 'opted_out' THEN 'opted_out' ELSE 'excluded' END AS completion_reason
        FROM _sched_x x WHERE x.decision IN ('skip', 'remove')""")
    stops = con.execute("SELECT decision, reason, completion_reason, count(*) FROM _sched_stop GROUP BY ALL"
                        ).fetchall()
    if not stops:
        return
    con.execute(f"""
        INSERT INTO {LOG}
        SELECT 'log:' || uuidv7()::VARCHAR, ?, contact_id, play_id, node_id, sequence_id, step, outcome,
               blocking_json, ? FROM _sched_stop""", [t, version])
    con.execute(f"""
        INSERT INTO {EVENTS} (event_id, occurred_at, type, contact_id, email, sequence_id, enrollment_id, step,
                            source, actor, text, detail)
        SELECT 'skip:' || uuidv7()::VARCHAR, ?, 'exclusion_skip', contact_id, email, sequence_id,
               enrollment_id, step, outcome, 'system', text, blocking_json
        FROM _sched_stop WHERE reason <> 'opted_out'""", [t])
    for decision, reason, completion, n in stops:
        outcome = "skipped" if decision == "skip" else "removed"
        ledger.end_enrollments(
            con, ("r.decision = ? AND r.reason IS NOT DISTINCT FROM ?", [decision, reason]), reason=completion,
            at=t, cause={"outcome": outcome}, rows="_sched_stop", events=EVENTS)
        (summary["skips"] if decision == "skip" else summary["removals"])[reason] += int(n)
        summary["completions"][completion] += int(n)


# --- running -------------------------------------------------------------------------------------------


@dataclass
class _Run:
    """What the scheduler carries from tick to tick (and from one run to the next in this process):
    its own evaluation (advanced in time, :mod:`unify_dash.engine.incremental`), the data generation
    its last tick left, the last Play entry pass and the time its changed contacts were taken from."""

    ev: engine.Evaluation | None = None
    generation: int | None = None
    last_entry: dt.datetime | None = None
    entry_as_of: dt.datetime | None = None
    now: dt.datetime | None = None


_RUNS: dict[str, _Run] = {}
_RUNS_LOCK = threading.Lock()


def _resume(con, start: dt.datetime) -> _Run:
    """The state the last run in this process left on this database, when nothing happened since (same
    data generation, the clock where it left it): the run goes on as one run. Otherwise a fresh start
    (the first tick evaluates everyone and runs Play entry over everyone)."""
    with _RUNS_LOCK:
        run = _RUNS.pop(_db_instance(con), None)
    if run is not None and run.generation == db.generation(con) and run.now == start:
        return run
    return _Run(last_entry=start, now=start)


def _keep(con, run: _Run) -> None:
    if run.ev is not None:
        with _RUNS_LOCK:
            _RUNS[_db_instance(con)] = run


def forget_runs() -> None:
    """Drop the scheduler state kept between runs (the next run starts fresh)."""
    with _RUNS_LOCK:
        _RUNS.clear()


def _evaluate_for(con, run: _Run, t: dt.datetime, summary: dict) -> str | None:
    """Bring the run's evaluation to as of ``t``. Returns why Play entry must run over every contact
    (None: only time moved).

    The first tick, an outside write (the data generation is not the one this run left), a new
    settings version or an override that expires in between: a full evaluation. Otherwise only time moved, and the evaluation is advanced:
    the contacts whose relative dates flip or whose opt-outs moved are recomputed
    (:func:`unify_dash.engine.incremental.advance`), which gives what a full evaluation as of ``t``
    gives. An opt-out recorded in between also makes Play entry run over everyone."""
    ev = run.ev
    if ev is None:
        why = "first tick"
    elif run.generation is None or db.generation(con) != run.generation:
        why = "data changed"
    elif _version_at(con, t) != ev.version:
        why = "settings version"
    elif ev.settings.expires_between(ev.as_of, t):
        why = "override expiry"
    else:
        why = "opt-out events" if _opt_outs_moved(con, ev.as_of, t) else None
    if why in ("first tick", "data changed", "settings version", "override expiry") or not INCREMENTAL:
        run.ev = engine.evaluate(con, as_of=t, ordered=False)
        summary["evaluations"] += 1
        summary["evaluation_reasons"][why or "time moved"] += 1
    else:
        step = incremental.advance(con, ev, t)
        summary["advances"] += 1
        summary["advanced_contacts"] += step["contacts"]
    return why


def run_until(con: duckdb.DuckDBPyConnection, until: dt.datetime, *, sender=None, actor: roles.Actor = roles.SYSTEM,
              progress: Callable[[dt.datetime, dict], None] | None = None,
              tick: dt.timedelta = DEFAULT_TICK, entry_every: dt.timedelta = HEARTBEAT,
              outbox_batch: int = 20) -> dict:
    """Advance the workspace clock to ``until``, carrying out every entry and send due on the way.

    Ticks lie on the grid clock + k * ``tick`` (default one hour). Ticks with nothing to do are
    skipped: the next tick is the first grid time at or after the first tick, the next due step,
    the next settings version taking effect, the next Play entry pass or ``until``. Every step due
    by a tick is decided as of that tick. Play entry runs over every contact at the first tick and
    after every settings version, outside write or opt-out; in between, at least every
    ``entry_every`` (default one day), over the contacts whose evaluation moved with time (a
    relative date such as "contacted in the last 30 days" expired or began, and their company).

    A tick commits what it is about to send as ``outbox`` rows (idempotency key
    ``<enrollment_id>:<step>``) and delivers them only after its commit (:func:`outbox.flush`,
    ``outbox_batch`` messages per confirmation); a run first re-offers what an earlier run left
    undelivered, with the same keys (``reoffered``). With the default :class:`RecordingSender`
    (nothing leaves the machine) the rows are written delivered in the tick's own transaction and the
    run's audit row in its last one: one commit per tick.

    Returns a summary: sends (delivered), queued, reoffered, skips and removals by reason, new enrollments, not enrolled by
    exclusion, excluded at the audience, completions by reason, ticks, evaluations (and why),
    entry passes and seconds. Raises :class:`ValidationError` when ``until`` is before the clock.
    """
    roles.require(actor, "sends.run")
    sender = sender if sender is not None else RecordingSender()
    for name, value in (("tick", tick), ("entry_every", entry_every)):
        if not isinstance(value, dt.timedelta) or value <= dt.timedelta(0):
            raise ValidationError(f"{name} must be a positive duration")
    start = db.now(con)
    if until < start:
        raise ValidationError(f"--until {until:%Y-%m-%d %H:%M} is before the workspace clock {start:%Y-%m-%d %H:%M}")
    summary = _new_summary(start, until)
    started = time.perf_counter()
    # a previous run that died after committing a tick: its undelivered messages first, same keys
    summary["reoffered"] = outbox.pending(con)
    if summary["reoffered"]:
        summary["sends"] += outbox.flush(con, sender, batch=outbox_batch)
    # a local sender (nothing leaves the machine) records its deliveries in the tick's transaction: one
    # commit per tick, the run's audit row in the last one
    local = sender if isinstance(sender, RecordingSender) else None
    # the ticks insert their events and outbox rows unchecked (_carry_out) only where a unique index refuses a key
    # already there (a load that stopped before building the events' key index leaves none) and the sender's
    # in-transaction delivery is only a recording (a subclass of RecordingSender may deliver: redone, it would twice)
    unchecked = db.keys_enforced(con, "events") and (local is None or type(local) is RecordingSender)
    run = _resume(con, start)
    # a run that goes on from the last one (same process, nothing written since) has handled the replies
    # up to ``start``; a fresh run's first tick takes every reply up to it
    replies_since = start if run.ev is not None else None
    with _batched_checkpoints(con):
        now = start
        while now < until:
            # the next tick: the first grid time at or after the next thing to do (``until`` when no grid
            # time lies before it: one hourly tick, scheduler.tick, asks nothing)
            t = _grid(start, tick, now + dt.timedelta(microseconds=1), until)
            if t < until:
                candidates = [until, run.last_entry + entry_every] + ([start + tick] if run.ev is None else [])
                due = _next_due(con, (run.ev.settings if run.ev is not None else settings_at(con, now)[1]), now)
                if due is not None:
                    candidates.append(due)
                nv = _next_version(con, now)
                if nv is not None:
                    candidates.append(nv)
                t = _grid(start, tick, max(min(candidates), now + dt.timedelta(microseconds=1)), until)
            entry_due = run.ev is None or t - run.last_entry >= entry_every
            why = _evaluate_for(con, run, t, summary)
            changed = None  # Play entry over everyone (why), over the contacts time moved, or none
            if why is not None:
                summary["entry_passes"]["full"] += 1
            elif entry_due and run.entry_as_of is not None:
                changed = _changed_contacts(con, run.ev, run.entry_as_of, t)
                if run.ev.settings.one_active_sequence:  # their sequence ended: they may enter the next one
                    changed = list(dict.fromkeys([*changed, *_ended_contacts(con, run.entry_as_of, t)]))
                if changed:
                    summary["entry_passes"]["time-moved contacts"] += 1
            entering = why is not None or bool(changed)
            if entering:
                run.entry_as_of = t
            if entry_due or entering:
                run.last_entry = t
            last = (lambda: _audit_run(con, actor, start, until, summary, ticks=summary["ticks"] + 1)) if (
                local is not None and t >= until) else None
            _carry_out(con, run, t, summary, replies_since=replies_since if summary["ticks"] == 0 else now,
                       entry=(None if not entering else changed or "all"), local=local, sender=sender,
                       outbox_batch=outbox_batch, last=last, unchecked=unchecked)
            summary["ticks"] += 1
            summary["checkpoints"] += _checkpoint_if_due(con)  # after the commit (and the deliveries)
            now = run.now = t
            if progress is not None:
                progress(t, summary)
        _keep(con, run)
        if summary["ticks"] and local is None:
            with db.transaction(con):
                _audit_run(con, actor, start, until, summary, ticks=summary["ticks"])
    summary["seconds"] = round(time.perf_counter() - started, 3)
    return _plain(summary)


def _carry_out(con, run: _Run, t: dt.datetime, summary: dict, *, replies_since: dt.datetime | None,
               entry: str | list[str] | None, local, sender, outbox_batch: int, last: Callable[[], None] | None,
               unchecked: bool = False) -> None:
    """The writes of the tick at ``t``: replies, Play entry (``"all"`` contacts, the ``entry`` list, or
    none), sends, then the clock (and ``last``, the run's audit row) with the last of them.

    A tick is one transaction, unless it is large: Play entry over more than :data:`ENTRY_BATCH`
    contacts goes in parts of about that many (by hash of the contact id), and the steps due in batches
    of :data:`SEND_BATCH`, each part and batch a transaction of its own, the clock moved with the last.
    So memory (DuckDB's transaction, the frames of the decisions) is bounded by the batch, not by the
    backlog (the first tick after loading millions of contacts). Every batch is decided with the same
    evaluation as of ``t`` (a new one when someone else wrote in between), so the result is the one
    transaction's. A crash between batches keeps the batches done and the clock where it was; the next
    run does the same tick again: the contacts already entered are not entered twice, the steps already
    sent are not due again (:func:`_send_pass`), and the outbox's keys deliver a step once.

    ``unchecked`` (the run decides, :func:`run_until`): the tick's ``events`` and ``outbox`` rows are
    inserted plainly, their keys not looked up first (a key is new unless a loaded history or an earlier
    run holds it: ``send:<enrollment>:<step>`` for a step not sent yet); a key already there fails the insert and DuckDB aborts the transaction, which is
    rolled back whole (a local sender's messages were only recorded) and done again with every key
    looked up (``checked``, as :func:`db.insert_new` does by default), once: the same rows as a checked
    tick, nothing written twice."""
    parts = 1
    if entry == "all":
        parts = max(1, -(-int(run.ev.counts.sum()) // ENTRY_BATCH))
    checked = not unchecked
    done, k = False, 0
    while not done:
        if k and db.generation(con) != run.generation:  # someone else wrote between two batches
            run.ev = engine.evaluate(con, as_of=t, ordered=False)
            summary["evaluations"] += 1
            summary["evaluation_reasons"]["data changed"] += 1
        ev = run.ev
        # the engine reads before the transaction opens (it cannot see tables created after)
        codes, frames = _Codes(), None
        part = (k, parts) if parts > 1 else None
        if entry is not None and k < parts:
            frames = _entry_frames(con, ev, codes, None if entry == "all" else entry, part=part)
        before = copy.deepcopy(summary)
        try:
            with db.transaction(con):
                if k == 0:
                    _complete_replied(con, t, replies_since, summary)
                if frames is not None:
                    _entry_pass(con, ev, frames, codes, t, summary, part)
                # Play entry is done: the steps due, a batch at a time
                last_batch = k >= parts - 1 and _send_pass(con, ev, t, summary, local, limit=SEND_BATCH,
                                                           checked=checked) < SEND_BATCH
                if last_batch:
                    db.set_clock(con, t)
                generation = db.bump_generation(con)
                if last_batch and last is not None:
                    last()
        except duckdb.Error as err:
            if checked or not _refused_by_constraint(err):
                raise
            summary.clear()  # rolled back: the batch again, its keys looked up
            summary.update(before)
            checked = True
            continue
        finally:
            del frames, codes
        done, run.generation = last_batch, generation
        if local is None:
            summary["sends"] += outbox.flush(con, sender, batch=outbox_batch)  # after the commit, never inside
        if not done:
            summary["checkpoints"] += _checkpoint_if_due(con)
        k += 1


def _refused_by_constraint(err: BaseException) -> bool:
    """``err`` is, or was raised while handling, a DuckDB constraint refusal (a key a unique index already
    holds, or a key repeated in one insert; the statements that clean up after a failed one fail too, the
    transaction being aborted): the batch is redone checked, and a second failure is raised."""
    seen = 0
    while err is not None and seen < 10:
        if isinstance(err, duckdb.ConstraintException):  # "Duplicate key ...", "duplicate key ..." (within one INSERT)
            return True
        err, seen = err.__cause__ or err.__context__, seen + 1
    return False


_RAISED: dict[str, list] = {}  # database instance -> [runs inside _batched_checkpoints, the threshold before]


@contextmanager
def _batched_checkpoints(con):
    """Raise DuckDB's ``checkpoint_threshold`` for the block (a global setting of the database, restored
    when the last run on it in this process ends): the run checkpoints by :func:`_checkpoint_if_due`
    instead of at every commit."""
    key = _db_instance(con)
    with _RUNS_LOCK:
        entry = _RAISED.get(key)
        if entry is None:
            old = con.execute("SELECT current_setting('checkpoint_threshold')").fetchone()[0]
            con.execute(f"SET checkpoint_threshold = '{RUN_CHECKPOINT_THRESHOLD}'")
            entry = _RAISED[key] = [0, old]
        entry[0] += 1
    try:
        yield
    finally:
        with _RUNS_LOCK:
            entry[0] -= 1
            if not entry[0]:
                del _RAISED[key]
                try:
                    con.execute(f"SET checkpoint_threshold = '{entry[1]}'")
                except duckdb.Error:
                    pass  # the connection failed (the error that ended the block is the one to tell)


def _checkpoint_if_due(con) -> bool:
    """Checkpoint when the database's write-ahead log is over :data:`WAL_CHECKPOINT_MB` (outside a
    transaction). True when it did."""
    path = db.database_file(con)
    wal = Path(path + ".wal") if path else None
    if wal is None or not wal.exists() or wal.stat().st_size <= WAL_CHECKPOINT_MB * 2**20:
        return False
    db.checkpoint(con)
    return True


def _audit_run(con, actor: roles.Actor, start: dt.datetime, until: dt.datetime, summary: dict, *, ticks: int) -> None:
    roles.audit(con, actor, "sends.run", f"until {until.isoformat(sep=' ')}",
                {"from": start.isoformat(sep=" "), "ticks": ticks, "sends": summary["sends"]}, at=until)


def tick(con: duckdb.DuckDBPyConnection, *, every: dt.timedelta = DEFAULT_TICK, sender=None) -> dict:
    """One scheduler tick: :func:`run_until` the clock + ``every`` (default one hour). Called again in
    the same process with nothing written in between, it goes on from the state the last tick left
    (its evaluation is advanced, not redone): the hourly tick the benchmark times
    (``scripts/bench_ticks.py``)."""
    return run_until(con, db.now(con) + every, sender=sender, tick=every)


def _plain(summary: dict) -> dict:
    out = {}
    for k, v in summary.items():
        if isinstance(v, Counter):
            out[k] = dict(sorted(((a, n) for a, n in v.items() if n), key=lambda kv: (-kv[1], str(kv[0]))))
        elif isinstance(v, dt.datetime):
            out[k] = v.isoformat(sep=" ")
        else:
            out[k] = v
    return out


# --- one manual enrollment (lifecycle.enroll) ------------------------------------------------------------


def enroll_one(con: duckdb.DuckDBPyConnection, actor, contact: dict, sequence_id: str, *, play_id: str | None,
               node_id: str | None, at: dt.datetime) -> dict:
    """Enroll one contact now, decided by the engine; see :func:`unify_dash.actions.enrollments.enroll`."""
    ev = engine.evaluation(con, as_of=at)  # before the transaction (the engine's rule)
    settings = ev.settings
    seq = settings.sequence(sequence_id)
    if node_id is not None and play_id is None:
        raise ValidationError("a node is given without its play")
    if play_id is not None:
        play = settings.play(play_id)
        nodes = [n for n in play.nodes if (n.id == node_id if node_id else n.sequence == seq.id)]
        if not nodes:
            raise NotFound(f"play {play_id!r} has no node {node_id!r}" if node_id else
                           f"play {play_id!r} has no node feeding sequence {seq.id!r}")
        if nodes[0].sequence != seq.id:
            raise ValidationError(f"node {nodes[0].id!r} of play {play_id!r} feeds sequence {nodes[0].sequence!r}, "
                                  f"not {seq.id!r}")
        node_id = nodes[0].id
    busy = con.execute("SELECT enrollment_id FROM enrollments WHERE contact_id = ? AND sequence_id = ? "
                       f"AND state IN {states.ACTIVE_SQL}", [contact["contact_id"], seq.id]).fetchone()
    if busy:
        raise ValidationError(f"{contact['email']} is already enrolled in sequence {seq.id!r} ({busy[0]})")
    entry = None
    if play_id is not None:
        df = engine.entry_decisions(con, ev, play_id, [contact["contact_id"]])
        df = df[df["node_id"] == node_id]
        if df.empty:
            raise ValidationError(f"{contact['email']} is not in the audience of play {play_id!r}")
        entry = df.iloc[0]
    enrollment_id = f"en:{uuid.uuid4().hex}"
    next_at = at + dt.timedelta(days=seq.steps[0].delay_days)
    refused = None
    with db.transaction(con):
        con.execute("INSERT INTO enrollments VALUES (?, ?, ?, ?, ?, 'queued', NULL, 0, ?, ?, ?)",
                    [enrollment_id, contact["contact_id"], play_id, node_id, seq.id, next_at, at, at])
        if entry is not None and entry["outcome"] != "enrolled":
            blocking = entry["blocking"] if entry["outcome"] != "opted_out" else _opt_out_blocking(entry["reason"])
            refused = (entry["outcome"], blocking, entry["reason"])
        else:
            d = engine.send_decisions(con, ev, [enrollment_id]).iloc[0]
            if d["decision"] != "send":
                blocking = _opt_out_blocking(d["text"]) if d["reason"] == "opted_out" else d["blocking"]
                refused = ("opted_out" if d["reason"] == "opted_out" else "not_enrolled", blocking, d["text"])
        if refused:
            outcome, blocking, text = refused
            con.execute("UPDATE enrollments SET state = 'not_enrolled', next_step_at = NULL, enrolled_at = NULL "
                        "WHERE enrollment_id = ?", [enrollment_id])
            con.execute("INSERT INTO execution_log VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)",
                        [f"log:{uuid.uuid4().hex}", at, contact["contact_id"], play_id, node_id, seq.id, outcome,
                         json.dumps(blocking, sort_keys=True, default=str), ev.version])
            roles.audit(con, actor, "contact.enroll", contact["email"],
                        {"sequence_id": seq.id, "play_id": play_id, "refused": outcome, "reason": text}, at=at)
        else:
            con.execute("INSERT INTO execution_log VALUES (?, ?, ?, ?, ?, ?, NULL, 'enrolled', NULL, ?)",
                        [f"log:{uuid.uuid4().hex}", at, contact["contact_id"], play_id, node_id, seq.id, ev.version])
            con.execute("INSERT INTO events (event_id, occurred_at, type, contact_id, email, sequence_id, "
                        "enrollment_id, step, source, actor) VALUES (?, ?, 'enroll', ?, ?, ?, ?, 0, 'manual', ?)",
                        [f"enroll:{uuid.uuid4().hex}", at, contact["contact_id"], contact["email"], seq.id,
                         enrollment_id, actor.name])
            roles.audit(con, actor, "contact.enroll", contact["email"],
                        {"sequence_id": seq.id, "play_id": play_id, "enrollment_id": enrollment_id}, at=at)
        db.bump_generation(con)
    if refused:
        outcome, blocking, text = refused
        what = "is opted out" if outcome == "opted_out" else (
            "is excluded at the audience" if outcome == "excluded_at_audience" else "is blocked")
        raise ValidationError(f"{contact['email']} {what} and was not enrolled in {seq.name!r}: {text}")
    return {"enrollment_id": enrollment_id, "email": contact["email"], "sequence_id": seq.id, "play_id": play_id,
            "node_id": node_id, "state": "queued", "next_step_at": next_at, "settings_version": ev.version}


# --- CLI -----------------------------------------------------------------------------------------------


def parse_duration(text: str) -> dt.timedelta:
    """``15m``, ``1h``, ``1d`` (or a number of hours) -> a positive timedelta."""
    raw = str(text).strip().lower()
    units = {"m": "minutes", "h": "hours", "d": "days"}
    try:
        if raw and raw[-1] in units:
            value = dt.timedelta(**{units[raw[-1]]: float(raw[:-1])})
        else:
            value = dt.timedelta(hours=float(raw))
    except ValueError:
        value = None
    if value is None or value <= dt.timedelta(0):
        raise ValidationError(f"--tick: expected a positive duration like 15m, 1h or 1d, got {text!r}")
    return value


def format_summary(s: dict) -> str:
    def counts(d: dict) -> str:
        return ", ".join(f"{k} {v}" for k, v in d.items()) if d else "none"

    lines = [
        f"sends from {s['from']} to {s['until']}: {s['ticks']} ticks, {s['evaluations']} evaluations, "
        f"{sum(s['entry_passes'].values())} Play entry passes, {s['seconds']:.1f} s",
        f"  emails sent:             {s['sends']} (queued this run {s['queued']}, re-offered from an earlier "
        f"run {s['reoffered']})",
        f"  skipped at send time:    {sum(s['skips'].values())} ({counts(s['skips'])})",
        f"  removed mid-sequence:    {sum(s['removals'].values())} ({counts(s['removals'])})",
        f"  new enrollments:         {s['new_enrollments']} (+{s['reenrolled']} enrolled on a later attempt)",
        f"  not enrolled:            {s['not_enrolled_contacts']} (by exclusion: {counts(s['not_enrolled'])})",
        f"  excluded at audience:    {sum(s['excluded_at_audience'].values())} "
        f"(by exclusion: {counts(s['excluded_at_audience'])})",
        f"  opted out at entry:      {s['opted_out_at_entry']}",
        f"  completed:               {sum(s['completions'].values())} ({counts(s['completions'])})",
    ]
    return "\n".join(lines)


def cli_sends(args) -> int:
    """``unify-dash sends --until TIMESTAMP [--db PATH] [--tick 1h] [--sender package.module:factory] [--json]``."""
    until = db.parse_timestamp(args.until, "--until", "an ISO timestamp like 2026-12-26T00:00")
    tick = parse_duration(getattr(args, "tick", None) or "1h")
    sender = outbox.load_sender(args.sender) if getattr(args, "sender", None) else None
    con = db.connect(args.db)
    shown = set()
    try:
        def progress(t: dt.datetime, s: dict) -> None:  # one line per simulated day, on stderr
            if not args.json and t.date() not in shown:
                shown.add(t.date())
                print(f"  {t:%Y-%m-%d %H:%M}  sends {s['sends']:,}  evaluations {s['evaluations']}",
                      file=sys.stderr, flush=True)

        summary = run_until(con, until, progress=progress, tick=tick, sender=sender)
    finally:
        con.close()
    if args.json:
        print(json.dumps(summary, sort_keys=True, default=str))
    else:
        print(format_summary(summary))
    return 0
