"""Diagnosis of early completions: why an enrollment ended (completed before the first message, or
after the first step without a reply), read from the event log and the execution log, never guessed."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pandas as pd

from unify_dash.actions import optouts
from unify_dash.errors import NotFound
from unify_dash.model import states
from unify_dash.store import db

_rows, _one = db.rows, db.one


PATTERN_BEFORE_FIRST = "completed_before_first_message"
PATTERN_AFTER_FIRST = "completed_after_first_step_without_reply"


def _fmt_delta(delta: dt.timedelta) -> str:
    seconds = int(abs(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = ([f"{days} d"] if days else []) + ([f"{hours} h"] if hours else []) + [f"{minutes} min"]
    return " ".join(parts) + (" before" if delta.total_seconds() < 0 else " after")


def _fmt_time(t) -> str:
    return pd.Timestamp(t).strftime("%Y-%m-%d %H:%M")


def _blocking_text(blocking) -> str:
    """Words for the ``blocking`` JSON of an execution-log row (a list of exclusions with levels)."""
    try:
        items = json.loads(blocking) if isinstance(blocking, str) else blocking
    except ValueError:
        return str(blocking)
    if not items:
        return "no exclusion recorded"
    if isinstance(items, dict):
        items = [items]
    out = []
    for item in items:
        if not isinstance(item, dict):
            out.append(str(item))
            continue
        name = item.get("name") or item.get("exclusion_id") or item.get("id") or item.get("reason") or "?"
        levels = item.get("levels") or item.get("level")
        if isinstance(levels, list):
            levels = ", ".join(str(x) for x in levels)
        out.append(f"{name} ({levels})" if levels else str(name))
    return "; ".join(out)


def _enrollment_facts(con: duckdb.DuckDBPyConnection, enrollment_id: str) -> tuple[dict, list, list]:
    """The enrollment with its contact's email, its sends and its replies (not out-of-office)."""
    e = _one(con, "SELECT e.*, c.email FROM enrollments e LEFT JOIN contacts c USING (contact_id) "
                  "WHERE e.enrollment_id = ?", [enrollment_id])
    if e is None:
        raise NotFound(f"no enrollment {enrollment_id!r}")
    e["_start"] = e["enrolled_at"] or dt.datetime(1970, 1, 1)
    e["_end"] = e["updated_at"] or db.now(con)
    window = [e["contact_id"], e["email"], e["_start"], e["_end"]]
    sends = _rows(con, "SELECT event_id, occurred_at, step FROM events WHERE type = 'send' AND (enrollment_id = ? OR "
                       "(enrollment_id IS NULL AND sequence_id = ? AND (contact_id = ? OR email = ?) "
                       "AND occurred_at >= ? AND occurred_at <= ?)) ORDER BY occurred_at",
                  [enrollment_id, e["sequence_id"], *window])
    replies = _rows(con, "SELECT event_id, occurred_at, text, label FROM events WHERE type = 'reply' "
                         "AND (enrollment_id = ? OR ((contact_id = ? OR email = ?) AND (sequence_id IS NULL OR "
                         "sequence_id = ?))) AND occurred_at >= ? AND occurred_at <= ? ORDER BY occurred_at",
                    [enrollment_id, e["contact_id"], e["email"], e["sequence_id"], e["_start"], e["_end"]])
    return e, sends, [r for r in replies if (r["label"] or "") != "out_of_office"]


def _pattern(e: dict, steps_sent: int, real_replies: list) -> str:
    if e["state"] not in ("completed", "unenrolled"):
        return "not_ended"
    if steps_sent == 0:
        return PATTERN_BEFORE_FIRST
    if steps_sent == 1 and not real_replies:
        return PATTERN_AFTER_FIRST
    return "other"


def _opt_out_candidate(con: duckdb.DuckDBPyConnection, e: dict, rel) -> dict | None:
    """The opt-out in effect at completion (the newest one not reversed before it), in words."""
    end = e["_end"]
    status = optouts.opt_out_status(con, optouts.settings_or_empty(con, end)[1], e["email"], end)
    opt = (_one(con, "SELECT * FROM events WHERE event_id = ?", [status["event_id"]])
           if status and status["event_id"] else None)
    if opt is None:
        return None
    source = opt["source"]
    when = _fmt_time(opt["occurred_at"])
    words = {
        "link": f"The recipient clicked the opt-out link on {when}{rel(opt['occurred_at'])}.",
        "reply": f"An opt-out reply was handled on {when} by {opt['actor']}{rel(opt['occurred_at'])}.",
        "admin": f"{opt['actor']} opted the contact out with the Opt-Out button on {when}{rel(opt['occurred_at'])}.",
        "crm": f"The CRM opt-out flag was set (synced on {when}){rel(opt['occurred_at'])}.",
    }.get(source, f"Opted out ({source}) on {when}{rel(opt['occurred_at'])}.")
    evidence = [{"table": "events", **opt}]
    if source == "reply":
        try:
            reply_id = (json.loads(opt["detail"] or "{}").get("evidence") or {}).get("reply_event_id")
        except (ValueError, AttributeError):
            reply_id = None
        reply = _one(con, "SELECT * FROM events WHERE event_id = ?", [reply_id]) if reply_id else None
        if reply:
            evidence.append({"table": "events", **reply})
            words += f" The reply ({_fmt_time(reply['occurred_at'])}): {str(reply['text'] or '')[:200]!r}."
    return {"cause": f"opt_out_{source}", "at": opt["occurred_at"], "summary": words,
            "evidence": evidence, "reasons": {"opted_out"}}


def _log_candidates(con: duckdb.DuckDBPyConnection, e: dict) -> list[dict]:
    """Exclusion decisions of the scheduler (execution log), loaded exclusion_skip events, unenrollments."""
    out = []
    eid, contact_id, email, seq, start, end = (e["enrollment_id"], e["contact_id"], e["email"], e["sequence_id"],
                                               e["_start"], e["_end"])
    for row in _rows(con, "SELECT * FROM execution_log WHERE contact_id = ? AND (sequence_id = ? OR sequence_id IS NULL) "
                          "AND outcome IN ('skipped', 'removed') AND \"at\" >= ? AND \"at\" <= ? ORDER BY \"at\" DESC "
                          "LIMIT 1", [contact_id, seq, start, end]):
        mid = row["outcome"] == "removed"
        step = f"step {row['step']}" if row["step"] else "a step"
        what = "Removed mid-sequence" if mid else "Skipped at send time"
        summary = (f"{what} on {_fmt_time(row['at'])} before {step} by: {_blocking_text(row['blocking'])} "
                   f"(settings version {row['settings_version']}).")
        if "opt_out" in (row["blocking"] or ""):
            reasons = {"opted_out"}
        else:
            reasons = {"excluded_mid_sequence"} if mid else {"excluded"}
        out.append({"cause": "exclusion_mid_sequence" if mid else "exclusion_skip", "at": row["at"],
                    "summary": summary, "evidence": [{"table": "execution_log", **row}], "reasons": reasons})
    for row in _rows(con, "SELECT * FROM events WHERE type = 'exclusion_skip' AND (enrollment_id = ? OR "
                          "((contact_id = ? OR email = ?) AND (sequence_id IS NULL OR sequence_id = ?))) "
                          "AND occurred_at >= ? AND occurred_at <= ? ORDER BY occurred_at DESC LIMIT 1",
                     [eid, contact_id, email, seq, start, end]):
        text = _blocking_text(row["detail"]) if row["detail"] else (row["text"] or "an exclusion")
        out.append({"cause": "exclusion_skip", "at": row["occurred_at"],
                    "summary": f"Skipped by an exclusion on {_fmt_time(row['occurred_at'])}: {text}.",
                    "evidence": [{"table": "events", **row}], "reasons": {"excluded", "excluded_mid_sequence"}})
    for row in _rows(con, "SELECT * FROM events WHERE type = 'unenroll' AND (enrollment_id = ? OR (enrollment_id IS NULL "
                          "AND (contact_id = ? OR email = ?) AND (sequence_id IS NULL OR sequence_id = ?) "
                          "AND occurred_at >= ? AND occurred_at <= ?)) ORDER BY occurred_at DESC LIMIT 1",
                     [eid, contact_id, email, seq, start, end]):
        how = "in a bulk unenrollment" if row["source"] == "bulk" else "from the contact's profile"
        out.append({"cause": "unenrolled", "at": row["occurred_at"],
                    "summary": f"{row['actor']} unenrolled the contact {how} on {_fmt_time(row['occurred_at'])}.",
                    "evidence": [{"table": "events", **row}], "reasons": {"unenrolled"}})
    return out


def _crm_flag_candidates(con: duckdb.DuckDBPyConnection, e: dict) -> list[dict]:
    """Opted out by the CRM flag alone (no event): the flag under the mapping is the evidence."""
    _version, settings = optouts.settings_or_empty(con, e["_end"])
    contact = _one(con, "SELECT * FROM contacts WHERE contact_id = ?", [e["contact_id"]]) or {}
    return [{"cause": "opt_out_crm", "at": None, "reasons": {"opted_out"},
             "summary": f"The contact's {optouts.field_label(m)} is set in {states.CRMS[m.crm]} (mapping {m.mode}).",
             "evidence": [{"table": "contacts", "contact_id": e["contact_id"], "column": optouts.flag_column(m),
                           "value": True}]}
            for m in settings.crm_mapping if contact.get(optouts.flag_column(m))]


def diagnose_completion(con: duckdb.DuckDBPyConnection, enrollment_id: str) -> dict:
    """Why an enrollment ended, from the event log and the execution log, never guessed.

    Meant for "completed after the first step without a reply" and "completed before the first
    message", it answers every ended enrollment: the opt-out (link click, with its time relative to
    the step-1 send; handled opt-out reply; admin; CRM flag), the exclusion that skipped or removed
    it (blocking exclusions, levels and the settings version, from the execution log), an
    unenrollment, a reply, or all steps sent. When nothing in the logs explains it, the cause is
    ``unknown`` and the summary says so.

    Returns ``{"enrollment_id", "email", "sequence_id", "state", "completion_reason", "steps_sent",
    "first_send_at", "completed_at", "pattern", "cause", "summary", "evidence": [rows]}``.
    """
    e, sends, real_replies = _enrollment_facts(con, enrollment_id)
    steps_sent = max(int(e["current_step"] or 0), len(sends))
    first_send_at = sends[0]["occurred_at"] if sends else None
    pattern = _pattern(e, steps_sent, real_replies)
    base = {"enrollment_id": enrollment_id, "email": e["email"], "sequence_id": e["sequence_id"], "state": e["state"],
            "completion_reason": e["completion_reason"], "steps_sent": steps_sent, "first_send_at": first_send_at,
            "completed_at": e["updated_at"] if pattern != "not_ended" else None, "pattern": pattern}
    if pattern == "not_ended":
        return {**base, "cause": "not_ended", "evidence": [],
                "summary": f"The enrollment is {e['state']}; it has not ended."}

    def rel(t):
        return (f", {_fmt_delta(t - first_send_at)} step 1 was sent ({_fmt_time(first_send_at)})"
                if first_send_at is not None else ", before any step was sent")

    candidates = [c for c in [_opt_out_candidate(con, e, rel)] if c] + _log_candidates(con, e)
    if real_replies:
        r = real_replies[0]
        candidates.append({"cause": "replied", "at": r["occurred_at"],
                           "summary": f"The recipient replied on {_fmt_time(r['occurred_at'])} "
                                      f"({r['label'] or 'unclassified'}).",
                           "evidence": [{"table": "events", **r}], "reasons": {"replied"}})
    if e["completion_reason"] == "finished" and sends:
        candidates.append({"cause": "finished", "at": sends[-1]["occurred_at"],
                           "summary": f"All {steps_sent} steps were sent; the last on {_fmt_time(sends[-1]['occurred_at'])}.",
                           "evidence": [{"table": "events", **s} for s in sends], "reasons": {"finished"}})
    reason = e["completion_reason"]
    matching = [c for c in candidates if reason in c["reasons"]] if reason else candidates
    if not matching and e["state"] == "unenrolled":
        matching = [c for c in candidates if c["cause"] == "unenrolled"]
    if not matching and reason == "opted_out":
        matching = _crm_flag_candidates(con, e)
    if not matching:
        recorded = f" (the enrollment records reason {reason!r})" if reason else ""
        return {**base, "cause": "unknown", "evidence": [], "summary": f"unknown — no event explains it{recorded}."}
    best = max(matching, key=lambda c: (c["at"] is not None, c["at"] or dt.datetime.min))
    return {**base, "cause": best["cause"], "summary": best["summary"], "evidence": best["evidence"]}


def early_completions(con: duckdb.DuckDBPyConnection, *, sequence_id: str | None = None,
                      limit: int = 200) -> list[dict]:
    """Diagnoses of the enrollments that ended before the first message, or after the first step
    without a reply (newest first, at most ``limit``)."""
    ids = [r[0] for r in con.execute(
        "SELECT e.enrollment_id FROM enrollments e WHERE e.state IN ('completed', 'unenrolled') "
        "AND e.current_step <= 1 AND coalesce(e.completion_reason, '') NOT IN ('replied', 'finished') "
        "AND (? IS NULL OR e.sequence_id = ?) ORDER BY e.updated_at DESC, e.enrollment_id LIMIT ?",
        [sequence_id, sequence_id, limit]).fetchall()]
    out = [diagnose_completion(con, i) for i in ids]
    return [d for d in out if d["pattern"] in (PATTERN_BEFORE_FIRST, PATTERN_AFTER_FIRST)]
