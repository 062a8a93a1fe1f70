"""Sequence metrics from enrollments and events, and the lists of contacts behind every count.

The evaluation (who would be blocked now, Not Enrolled by exclusion) is the engine's; this module
answers what *happened*: enrollments by state, completions by reason, opt-outs by source, replies
by class, activity over time, and the execution log. Each metric *family* is one SQL relation with
a ``key`` column; a count is ``count(*)`` of the rows with that key and the list behind it is the
same rows, so a list's length always equals its count. All values are parameters.

>>> Scope(play_id="p1").where("e")
('e.play_id = ?', ['p1'])
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

import duckdb
import pandas as pd

from unify_dash.actions import optouts
from unify_dash.actions.enrollments import contact_filter_sql
from unify_dash.model import settings, states
from unify_dash.store import db, schema

# --- labels ----------------------------------------------------------------------------------------

REPLY_LABELS = {
    "opt_out": "Opt-out request",
    "out_of_office": "Out of office",
    "positive": "Positive",
    "not_now": "Not now (later)",
    "negative": "Negative / not now (before the split)",  # stored by workspaces before round 6: still counted
    "other": "Other",
    "needs_review": "Needs review (possible opt-out)",
    "unclassified": "Unclassified",
}
# Event types shown on the activity chart, in stacking order.
ACTIVITY_TYPES = ("send", "reply", "opt_out", "exclusion_skip", "unenroll", "complete")

FAMILY_LABELS = {
    "state": "Enrollments by state",
    "completed": "Completed by reason",
    "opt_outs": "Opt-outs by source",
    "replies": "Replies by class",
    "activity": "Activity per day",
    "activity_week": "Activity per week",
}
ENROLLED = "enrolled"  # key of the "state" family: every enrollment that entered the sequence
ENROLLED_STATES = states.ENTERED_STATES


def label(family: str, key: str) -> str:
    if family == "state":
        return "Enrolled" if key == ENROLLED else states.label(states.ENROLLMENT_STATES, key)
    if family == "completed":
        return states.label(states.COMPLETION_REASONS, key)
    if family == "opt_outs":
        return states.label(states.OPT_OUT_SOURCES, key)
    if family == "replies":
        return REPLY_LABELS.get(key, key)
    if family in ("activity", "activity_week"):
        day, _, kind = key.partition("|")
        return f"{states.label(states.EVENT_TYPES, kind)} {'on' if family == 'activity' else 'in the week of'} {day}"
    return key


# --- scope -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Which enrollments a metric counts: a Play, a sequence node of it, or a sequence."""

    play_id: str | None = None
    node_id: str | None = None
    sequence_id: str | None = None

    def where(self, alias: str, sequence_expr: str | None = None) -> tuple[str, list]:
        """A predicate over an enrollments alias (``sequence_expr`` overrides its sequence column)."""
        parts, params = [], []
        if self.play_id is not None:
            parts.append(f"{alias}.play_id = ?")
            params.append(self.play_id)
        if self.node_id is not None:
            parts.append(f"{alias}.node_id = ?")
            params.append(self.node_id)
        if self.sequence_id is not None:
            parts.append(f"{sequence_expr or alias + '.sequence_id'} = ?")
            params.append(self.sequence_id)
        return (" AND ".join(parts) or "TRUE"), params

    @property
    def is_all(self) -> bool:
        return self.play_id is None and self.node_id is None and self.sequence_id is None


# --- the relations ---------------------------------------------------------------------------------


def blocking_words(column: str) -> str:
    """SQL turning an execution-log ``blocking`` column (a JSON list of {name, level, text, ...}, or
    plain text) into words: the ``text`` of each blocker joined by "; ". ``column`` is a name in code."""
    return (f"CASE WHEN {column} IS NULL OR trim({column}) IN ('', '[]') THEN NULL "
            f"WHEN json_valid({column}) AND json_type({column}) = 'ARRAY' "
            f"THEN array_to_string(json_extract_string({column}, '$[*].text'), '; ') ELSE {column} END")


# The newest execution-log row that names blocking criteria, per contact and sequence.
_LAST_BLOCK = f"""
    SELECT contact_id, sequence_id, arg_max({blocking_words('blocking')}, "at") AS blocking, max("at") AS blocked_at
    FROM execution_log WHERE blocking IS NOT NULL AND trim(blocking) NOT IN ('', '[]')
    GROUP BY contact_id, sequence_id
"""


def _relation(family: str, scope: Scope, as_of: dt.datetime, cfg: settings.Settings, *,
              detail: bool = True) -> tuple[str, list]:
    """SQL selecting ``key, sort_key, <columns shown in the list>`` for one family, and its params.

    ``detail=False`` selects ``key`` only, without the joins that add names and reasons: those are
    LEFT JOINs on unique keys, so both forms have exactly the same rows (a count equals its list)."""
    if family in ("state", "completed"):
        where, params = scope.where("e")
        key = "e.state" if family == "state" else "e.completion_reason"
        extra = "" if family == "state" else " AND e.state = 'completed' AND e.completion_reason IS NOT NULL"
        if not detail:
            return f"SELECT {key} AS key FROM enrollments e WHERE {where}{extra}", params
        sql = f"""
            SELECT {key} AS key, coalesce(c.email, '') || ' ' || e.enrollment_id AS sort_key,
                   c.email, trim(concat_ws(' ', c.first_name, c.last_name)) AS name, c.domain AS company,
                   e.sequence_id AS sequence, e.node_id AS node, e.state, e.completion_reason AS reason,
                   e.current_step AS step, e.next_step_at, e.enrolled_at, e.updated_at,
                   b.blocking AS blocking_criteria, e.enrollment_id, e.contact_id
            FROM enrollments e
            LEFT JOIN contacts c ON c.contact_id = e.contact_id
            LEFT JOIN ({_LAST_BLOCK}) b ON b.contact_id = e.contact_id AND b.sequence_id = e.sequence_id
            WHERE {where}{extra}
        """
        return sql, params
    if family == "opt_outs":
        where, params = scope.where("e")
        scoped = "" if scope.is_all else (
            f" WHERE o.contact_id IN (SELECT e.contact_id FROM enrollments e WHERE {where})")
        relation = optouts.opted_out_relation(cfg)
        all_params = [as_of, *([] if scope.is_all else params)]
        if not detail:
            return f"SELECT o.source AS key FROM ({relation}) o {scoped}", all_params
        sql = f"""
            SELECT o.source AS key, o.email || ' ' || o.contact_id AS sort_key,
                   o.email, trim(concat_ws(' ', c.first_name, c.last_name)) AS name, c.domain AS company,
                   o.source, o.opted_out_at, o.event_id AS evidence_event, o.contact_id
            FROM ({relation}) o
            LEFT JOIN contacts c ON c.contact_id = o.contact_id
            {scoped}
        """
        return sql, all_params
    if family in ("replies", "activity", "activity_week"):
        where, params = scope.where("en", "coalesce(ev.sequence_id, en.sequence_id)")
        if family == "replies":
            key, types, tparams = "coalesce(nullif(ev.label, ''), 'unclassified')", "ev.type = 'reply'", []
        else:
            unit = "week" if family == "activity_week" else "day"  # a constant, not a user value
            key = f"strftime(date_trunc('{unit}', ev.occurred_at), '%Y-%m-%d') || '|' || ev.type"
            types, tparams = "list_contains(?, ev.type)", [list(ACTIVITY_TYPES)]
        scoped_join = "" if scope.is_all else "LEFT JOIN enrollments en ON en.enrollment_id = ev.enrollment_id"
        if not detail:
            return f"SELECT {key} AS key FROM events ev {scoped_join} WHERE {types} AND {where}", [*tparams, *params]
        sql = f"""
            SELECT {key} AS key, coalesce(c1.email, c2.email, ev.email, '') || ' ' || ev.event_id AS sort_key,
                   coalesce(c1.email, c2.email, ev.email) AS email,
                   trim(concat_ws(' ', coalesce(c1.first_name, c2.first_name),
                                       coalesce(c1.last_name, c2.last_name))) AS name,
                   ev.occurred_at, ev.type, coalesce(ev.sequence_id, en.sequence_id) AS sequence,
                   ev.step, ev.source, ev.label, ev.text, ev.event_id,
                   coalesce(c1.contact_id, c2.contact_id) AS contact_id
            FROM events ev
            LEFT JOIN enrollments en ON en.enrollment_id = ev.enrollment_id
            LEFT JOIN contacts c1 ON c1.contact_id = ev.contact_id
            LEFT JOIN contacts c2 ON ev.contact_id IS NULL AND c2.email = ev.email
            WHERE {types} AND {where}
        """
        return sql, [*tparams, *params]
    raise ValueError(f"unknown metric family {family!r}; expected one of {', '.join(FAMILY_LABELS)}")


def _key_filter(family: str, key: str) -> tuple[str, list]:
    if family == "state" and key == ENROLLED:
        return "list_contains(?, key)", [list(ENROLLED_STATES)]
    return "key = ?", [key]


def _settings(con: duckdb.DuckDBPyConnection, as_of: dt.datetime) -> settings.Settings:
    return settings.settings_at(con, as_of)[1]


# --- counts ----------------------------------------------------------------------------------------


def breakdown(con: duckdb.DuckDBPyConnection, family: str, scope: Scope = Scope(), *,
              as_of: dt.datetime | None = None) -> pd.DataFrame:
    """``key, label, count`` of one family in ``scope``, largest first (``state`` also has ``enrolled``)."""
    as_of = as_of or db.now(con)
    sql, params = _relation(family, scope, as_of, _settings(con, as_of), detail=False)
    df = con.execute(f"SELECT key, count(*) AS count FROM ({sql}) WHERE key IS NOT NULL GROUP BY key "
                     "ORDER BY count DESC, key", params).df()
    if family == "state":
        enrolled = int(df.loc[df["key"].isin(ENROLLED_STATES), "count"].sum())
        df = pd.concat([pd.DataFrame({"key": [ENROLLED], "count": [enrolled]}), df], ignore_index=True)
    df["count"] = df["count"].astype("int64")
    df.insert(1, "label", [label(family, k) for k in df["key"]])
    return df


def summary(con: duckdb.DuckDBPyConnection, scope: Scope = Scope(), *,
            as_of: dt.datetime | None = None) -> dict[str, pd.DataFrame]:
    """Every family except ``activity`` (see :func:`timeline`)."""
    as_of = as_of or db.now(con)
    return {f: breakdown(con, f, scope, as_of=as_of) for f in ("state", "completed", "opt_outs", "replies")}


def count(con: duckdb.DuckDBPyConnection, family: str, key: str, scope: Scope = Scope(), *,
          as_of: dt.datetime | None = None) -> int:
    as_of = as_of or db.now(con)
    sql, params = _relation(family, scope, as_of, _settings(con, as_of), detail=False)
    kf, kparams = _key_filter(family, key)
    return int(con.execute(f"SELECT count(*) FROM ({sql}) WHERE {kf}", [*params, *kparams]).fetchone()[0])


def timeline(con: duckdb.DuckDBPyConnection, scope: Scope = Scope(), *, freq: str = "day",
             as_of: dt.datetime | None = None) -> pd.DataFrame:
    """``day, type, label, key, count``: events of the activity types per day (``freq="week"``: per
    week, ``day`` is the Monday). Each bar's ``key`` opens its list with family ``activity`` or
    ``activity_week`` (:func:`timeline_family`)."""
    as_of = as_of or db.now(con)
    sql, params = _relation(timeline_family(freq), scope, as_of, _settings(con, as_of), detail=False)
    df = con.execute(f"""
        SELECT split_part(key, '|', 1) AS day, split_part(key, '|', 2) AS type, key, count(*) AS count
        FROM ({sql}) GROUP BY key ORDER BY day, type""", params).df()
    df["count"] = df["count"].astype("int64")
    df.insert(2, "label", [states.label(states.EVENT_TYPES, t) for t in df["type"]])
    return df


def timeline_family(freq: str) -> str:
    if freq not in ("day", "week"):
        raise ValueError(f"freq is day or week, got {freq!r}")
    return "activity" if freq == "day" else "activity_week"


# --- the lists behind the counts -------------------------------------------------------------------

_HIDDEN = ("key", "sort_key")


def contacts(con: duckdb.DuckDBPyConnection, family: str, key: str, scope: Scope = Scope(), *,
             offset: int = 0, limit: int | None = 50, as_of: dt.datetime | None = None,
             contact_filter: dict | None = None) -> dict:
    """``{"total": n, "rows": DataFrame}``: the rows behind ``count(family, key)``, one page of them,
    always in the same order (email, then id). ``limit=None`` returns every row (CSV export).
    ``contact_filter`` (a rule condition) keeps the rows of the contacts it selects: the filter of
    :func:`unify_dash.actions.enrollments.contact_filter_sql`, the one bulk unenroll uses."""
    as_of = as_of or db.now(con)
    cfg = _settings(con, as_of)
    kf, kparams = _key_filter(family, key)
    if contact_filter is not None:
        sub, fparams = contact_filter_sql(con, contact_filter, as_of)
        kf, kparams = f"{kf} AND contact_id IN {sub}", [*kparams, *fparams]
    count_sql, count_params = _relation(family, scope, as_of, cfg, detail=contact_filter is not None)
    total = int(con.execute(f"SELECT count(*) FROM ({count_sql}) WHERE {kf}", [*count_params, *kparams]).fetchone()[0])
    sql, params = _relation(family, scope, as_of, cfg)
    base = f"SELECT * FROM ({sql}) WHERE {kf}"
    page = f"{base} ORDER BY sort_key" + ("" if limit is None else " LIMIT ? OFFSET ?")
    page_params = [*params, *kparams] + ([] if limit is None else [int(limit), int(offset)])
    rows = con.execute(page, page_params).df().drop(columns=list(_HIDDEN))
    return {"total": total, "rows": rows}


def to_csv(con: duckdb.DuckDBPyConnection, family: str, key: str, scope: Scope = Scope(), *,
           as_of: dt.datetime | None = None) -> bytes:
    """The whole list behind a count as CSV (header + one line per row)."""
    rows = contacts(con, family, key, scope, limit=None, as_of=as_of)["rows"]
    return frame_to_csv(rows)


# A spreadsheet reads a cell that starts with one of these as a formula (=HYPERLINK(...), +cmd|..., @SUM,
# a tab or carriage return before any of them): every CSV the dashboard exports prefixes such a text cell
# with a single quote, which spreadsheets show as text (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value):
    """``value`` safe to open in a spreadsheet: a text starting with ``= + - @ TAB CR`` gets a leading
    single quote; anything else (numbers, dates, other text, missing) is returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def frame_to_csv(frame: pd.DataFrame) -> bytes:
    """The one CSV writer of every export (lists, execution log): UTF-8, header, no index, CRLF rows,
    text cells neutralised for spreadsheets (:func:`neutralise_cell`), column names too."""
    safe = frame.rename(columns=lambda c: neutralise_cell(str(c)))
    text_cols = [c for c in safe.columns if not (pd.api.types.is_numeric_dtype(safe[c])
                                                 or pd.api.types.is_datetime64_any_dtype(safe[c])
                                                 or pd.api.types.is_bool_dtype(safe[c]))]
    if text_cols:
        safe = safe.assign(**{c: safe[c].map(neutralise_cell) for c in text_cols})
    buf = io.StringIO()
    # CRLF rows (RFC 4180): the writer then quotes every cell holding a CR or LF, so a spreadsheet
    # reads one record per row (with "\n" rows a bare CR would be written unquoted).
    safe.to_csv(buf, index=False, lineterminator="\r\n")
    return buf.getvalue().encode("utf-8")


# --- execution log ---------------------------------------------------------------------------------


def log_outcomes(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("SELECT DISTINCT outcome FROM execution_log ORDER BY outcome").fetchall()]


def execution_log(con: duckdb.DuckDBPyConnection, *, play_id: str | None = None, sequence_id: str | None = None,
                  outcome: str | None = None, email: str | None = None, blocked_only: bool = False,
                  offset: int = 0, limit: int | None = 50) -> dict:
    """``{"total", "rows"}``: enrollment attempts and send-time checks, newest first, with the
    criteria that blocked them (``email`` matches exactly, trimmed and case-insensitive)."""
    parts, params = [], []
    if play_id:
        parts.append("l.play_id = ?")
        params.append(play_id)
    if sequence_id:
        parts.append("l.sequence_id = ?")
        params.append(sequence_id)
    if outcome:
        parts.append("l.outcome = ?")
        params.append(outcome)
    if email:  # contact_id is the key of contacts: the same rows as joining and filtering on c.email
        parts.append("l.contact_id IN (SELECT contact_id FROM contacts WHERE email = ?)")
        params.append(email.strip().lower())
    if blocked_only:
        parts.append("l.blocking IS NOT NULL AND trim(l.blocking) NOT IN ('', '[]')")
    where = " AND ".join(parts) or "TRUE"
    # The count and the page read execution_log alone; the contacts are joined to the page's rows only
    # (at 1M a join of every log row before the sort cost seconds a page).
    total = int(con.execute(f"SELECT count(*) FROM execution_log l WHERE {where}", params).fetchone()[0])
    page_params = [] if limit is None else [int(limit), int(offset)]
    picked = (f"SELECT * FROM execution_log l WHERE {where} ORDER BY l.\"at\" DESC, l.log_id"
              + ("" if limit is None else " LIMIT ? OFFSET ?"))
    rows = con.execute(f"""
        SELECT l."at", c.email, l.play_id AS play, l.node_id AS node, l.sequence_id AS sequence, l.step,
               l.outcome, {blocking_words('l.blocking')} AS blocking_criteria, l.settings_version, l.log_id
        FROM ({picked}) l LEFT JOIN contacts c ON c.contact_id = l.contact_id
        ORDER BY l."at" DESC, l.log_id""", params + page_params).df()
    return {"total": total, "rows": rows}


def log_display(rows: pd.DataFrame, cfg: settings.Settings) -> pd.DataFrame:
    """Execution-log rows as a page shows them: Play, node and sequence by name, the outcome by its
    label (:data:`states.LOG_OUTCOMES`), no internal id and no "None"."""
    plays = {p.id: p for p in cfg.plays}
    seqs = {q.id: q.name for q in cfg.sequences}

    def node_name(play, node):
        p = plays.get(play)
        n = next((n for n in p.nodes if n.id == node), None) if p else None
        return (n.name or seqs.get(n.sequence, n.sequence)) if n else (node or "")

    out = rows.drop(columns=[c for c in ("log_id",) if c in rows.columns]).copy()
    out["node"] = [node_name(p, n) for p, n in zip(out["play"], out["node"], strict=True)]
    out["play"] = [plays[p].name if p in plays else (p or "") for p in out["play"]]
    out["sequence"] = [seqs.get(q, q) if q else "" for q in out["sequence"]]
    out["outcome"] = [states.label(states.LOG_OUTCOMES, o) for o in out["outcome"]]
    out["blocking_criteria"] = out["blocking_criteria"].fillna("")
    out["step"] = out["step"].astype("Int64")
    return out


# --- small look-ups for pages ----------------------------------------------------------------------


def workspace_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Row counts of the record and history tables (the Data page)."""
    out = {}
    for table in (*schema.RECORD_FILES, "execution_log", "settings_versions", "audit_log"):
        out[table] = int(con.execute(f"SELECT count(*) FROM {db.ident(table)}").fetchone()[0])
    return out


def recent_audit(con: duckdb.DuckDBPyConnection, *, limit: int = 20, target: str | None = None,
                 detail_chars: int | None = None) -> pd.DataFrame:
    """Who did what, newest first (optionally for one target, e.g. an email). ``detail_chars``: the
    detail cut to that many characters, with "…" when it is longer (a load's detail is its whole
    result: megabytes at 1M, for a table that shows one line of it)."""
    where, params = ("WHERE target = ?", [target]) if target else ("", [])
    detail = "detail" if detail_chars is None else (
        "CASE WHEN length(detail) > ? THEN left(detail, ?) || '…' ELSE detail END AS detail")
    cut = [] if detail_chars is None else [int(detail_chars)] * 2
    return con.execute(f"SELECT \"at\", actor, role, action, target, {detail} FROM audit_log {where} "
                       "ORDER BY \"at\" DESC, audit_id LIMIT ?", [*cut, *params, int(limit)]).df()


def writebacks(con: duckdb.DuckDBPyConnection, *, offset: int = 0, limit: int = 50) -> dict:
    """CRM write-backs, newest first, paged."""
    total = int(con.execute("SELECT count(*) FROM crm_writebacks").fetchone()[0])
    rows = con.execute("SELECT \"at\", crm, crm_object, crm_id, field, value, email, status, "
                       "coalesce(attempts, 0) AS attempts, last_error, sent_at, event_id "
                       "FROM crm_writebacks ORDER BY \"at\" DESC, writeback_id LIMIT ? OFFSET ?",
                       [int(limit), int(offset)]).df()
    return {"total": total, "rows": rows}


# --- one contact -----------------------------------------------------------------------------------


def find_contacts(con: duckdb.DuckDBPyConnection, text: str, *, limit: int = 10) -> list[str]:
    """Emails containing ``text`` (trimmed, case-insensitive), for the Contact page's suggestions."""
    needle = (text or "").strip().lower()
    if not needle:
        return []
    return [r[0] for r in con.execute(
        "SELECT email FROM contacts WHERE contains(email, ?) ORDER BY starts_with(email, ?) DESC, email LIMIT ?",
        [needle, needle, int(limit)]).fetchall()]


def contact_enrollments(con: duckdb.DuckDBPyConnection, email: str) -> pd.DataFrame:
    """The contact's enrollments, newest first."""
    return con.execute("""
        SELECT e.enrollment_id, e.play_id AS play, e.node_id AS node, e.sequence_id AS sequence, e.state,
               e.completion_reason AS reason, e.current_step AS step, e.next_step_at, e.enrolled_at, e.updated_at
        FROM enrollments e JOIN contacts c ON c.contact_id = e.contact_id
        WHERE c.email = ? ORDER BY e.enrolled_at DESC NULLS LAST, e.enrollment_id""",
        [(email or "").strip().lower()]).df()


def contact_events(con: duckdb.DuckDBPyConnection, email: str, *, offset: int = 0, limit: int = 50) -> dict:
    """``{"total", "rows"}``: the contact's events (sends, replies, opt-outs, ...), newest first."""
    key = (email or "").strip().lower()
    base = """
        SELECT ev.occurred_at, ev.type, ev.sequence_id AS sequence, ev.step, ev.source, ev.actor, ev.label,
               ev.text, ev.detail, ev.event_id
        FROM events ev
        WHERE ev.email = ? OR ev.contact_id IN (SELECT contact_id FROM contacts WHERE email = ?)
    """
    total = int(con.execute(f"SELECT count(*) FROM ({base})", [key, key]).fetchone()[0])
    rows = con.execute(f"{base} ORDER BY ev.occurred_at DESC, ev.event_id LIMIT ? OFFSET ?",
                       [key, key, int(limit), int(offset)]).df()
    return {"total": total, "rows": rows}


def settings_history(con: duckdb.DuckDBPyConnection, *, offset: int = 0, limit: int = 50) -> dict:
    """``{"total", "rows"}``: every saved settings change (who, when, before/after, effective time), newest first."""
    total = int(con.execute("SELECT count(*) FROM settings_changes").fetchone()[0])
    rows = con.execute(
        "SELECT version, changed_at, effective_at, actor, object_type, object_id, field, before, after, note "
        "FROM settings_changes ORDER BY version DESC, change_id LIMIT ? OFFSET ?", [int(limit), int(offset)]).df()
    return {"total": total, "rows": rows}


def activity_span(con: duckdb.DuckDBPyConnection) -> int:
    """Days between the first and the last event (the activity chart is weekly beyond ~4 months)."""
    row = con.execute("SELECT date_diff('day', min(occurred_at), max(occurred_at)) FROM events").fetchone()
    return int(row[0] or 0)


def will_be_skipped(con: duckdb.DuckDBPyConnection, scope: Scope = Scope(), *,
                    as_of: dt.datetime | None = None) -> pd.DataFrame:
    """Queued enrollments in ``scope`` that the engine will skip at send time (PRODUCT.md 7), with the
    engine's words: ``enrollment_id, contact_id, sequence_id, reason, text``."""
    from unify_dash import engine  # the decision is the engine's, never recomputed here

    ids = enrollment_ids(con, "queued", scope)
    columns = ["enrollment_id", "contact_id", "sequence_id", "reason", "text"]
    if not ids:
        return pd.DataFrame(columns=columns)
    decisions = engine.send_decisions(con, engine.evaluation(con, as_of=as_of), ids)
    return decisions.loc[decisions["decision"] == "skip", columns].reset_index(drop=True)


def enrollment_ids(con: duckdb.DuckDBPyConnection, state: str, scope: Scope = Scope()) -> list[str]:
    """Ids of the enrollments in ``state`` within ``scope`` (e.g. the queued ones the engine checks)."""
    where, params = scope.where("e")
    return [r[0] for r in con.execute(f"SELECT e.enrollment_id FROM enrollments e WHERE e.state = ? AND {where} "
                                      "ORDER BY e.enrollment_id", [state, *params]).fetchall()]


def enrollments_by_id(con: duckdb.DuckDBPyConnection, ids: list[str], *, offset: int = 0,
                      limit: int | None = 50) -> dict:
    """``{"total", "rows"}``: the given enrollments with their contact, ordered by email (a list the
    engine selected, e.g. queued contacts that will be skipped at send time)."""
    base = """
        SELECT e.enrollment_id, c.email, trim(concat_ws(' ', c.first_name, c.last_name)) AS name,
               c.domain AS company, e.sequence_id AS sequence, e.node_id AS node, e.state, e.next_step_at
        FROM enrollments e JOIN contacts c ON c.contact_id = e.contact_id
        WHERE e.enrollment_id IN (SELECT unnest(?::VARCHAR[]))
    """
    ids = [str(i) for i in ids]
    total = int(con.execute(f"SELECT count(*) FROM ({base})", [ids]).fetchone()[0])
    page = f"{base} ORDER BY c.email, e.enrollment_id" + ("" if limit is None else " LIMIT ? OFFSET ?")
    rows = con.execute(page, [ids] + ([] if limit is None else [int(limit), int(offset)])).df()
    return {"total": total, "rows": rows}
