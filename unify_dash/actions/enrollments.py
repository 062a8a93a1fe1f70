"""The sequence lifecycle outside the scheduler: enroll, unenroll (one, or many in resumable
batches), replies and the opt-out reply queue, and the diagnosis of early completions.

Unenroll and opt-out are distinct (the support article's "key distinction"):

* **unenroll** cancels the remaining steps of one sequence (or of every sequence of the contact):
  state ``unenrolled``, reason ``unenrolled``. It does not block future enrollment.
* **opt out** (:func:`unify_dash.actions.optouts.opt_out`) is global and permanent: the contact is removed
  from every active or queued sequence (``completed`` / ``opted_out``) and can enter none.

Every write checks the actor's role (:func:`unify_dash.model.roles.require`), runs in a transaction,
audits and bumps the data generation.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterable

import duckdb
import pandas as pd

from unify_dash.actions import optouts
from unify_dash.errors import NotFound, ValidationError
from unify_dash.model import roles, states, vocabulary
from unify_dash.store import db
from unify_dash.store.ledger import end_enrollments

_rows, _one = db.rows, db.one


# --- enroll ----------------------------------------------------------------------------------------


def enroll(con: duckdb.DuckDBPyConnection, actor, email: str, sequence_id: str, play_id: str | None = None,
           node_id: str | None = None, *, at: dt.datetime | None = None) -> dict:
    """Enroll one contact into a sequence now (queued; the first step is due after its delay).

    The decision is the engine's (:func:`unify_dash.engine.entry_decisions`, as of ``at`` with the
    settings in effect then): an opted-out contact or one blocked by an exclusion is refused with
    the reasons (:class:`ValidationError`), and a ``not_enrolled`` execution-log row records the
    attempt. ``play_id``/``node_id`` default to the first Play node feeding the sequence; a sequence
    that no Play feeds is checked at the sequence level only (organisation and ruleset).
    """
    from unify_dash import scheduler  # the scheduler owns the enrollment writes

    roles.require(actor, "contact.enroll")
    contact = optouts.contact_row(con, email)
    at = at or db.now(con)
    return scheduler.enroll_one(con, actor, contact, sequence_id, play_id=play_id, node_id=node_id, at=at)


# --- unenroll --------------------------------------------------------------------------------------


def _unenroll_tx(con, actor, where_sql: str, params: list, at: dt.datetime, job_id: str | None = None) -> list[str]:
    """Unenroll the queued/active enrollments selected by ``where_sql`` (a fixed predicate over
    ``enrollments``, values as parameters), one ``unenroll`` event each. The caller owns the transaction."""
    return end_enrollments(con, (where_sql, params), reason="unenrolled", at=at, actor=actor.name,
                           source="bulk" if job_id else "contact", cause={"job_id": job_id} if job_id else None)


def unenroll(con: duckdb.DuckDBPyConnection, actor, email: str, sequence_id: str | None = None, *,
             at: dt.datetime | None = None) -> dict:
    """Cancel the remaining steps of one contact in one sequence, or in all its sequences.

    Its queued or active enrollments become ``unenrolled`` (reason ``unenrolled``) with an
    ``unenroll`` event each. Future enrollment is not blocked (that is what an opt-out does).
    Raises :class:`ValidationError` when there is nothing to unenroll.
    """
    roles.require(actor, "contact.unenroll")
    contact = optouts.contact_row(con, email)
    at = at or db.now(con)
    where, params = "contact_id = ?", [contact["contact_id"]]
    if sequence_id is not None:
        where += " AND sequence_id = ?"
        params.append(sequence_id)
    with db.transaction(con):
        ids = _unenroll_tx(con, actor, where, params, at)
        if not ids:
            raise ValidationError(f"{contact['email']} has no queued or active enrollment"
                                  + (f" in sequence {sequence_id!r}" if sequence_id else "") + " to unenroll")
        db.bump_generation(con)
        roles.audit(con, actor, "contact.unenroll", contact["email"],
                    {"sequence_id": sequence_id, "enrollments": ids}, at=at)
    return {"email": contact["email"], "contact_id": contact["contact_id"], "unenrolled": ids}


def _stats_table(con, at: dt.datetime) -> str:
    """The per-domain aggregates company fields read: the engine's, as of ``at`` (fresh, cached)."""
    from unify_dash import engine

    return engine.evaluation(con, as_of=at).stats_table


def contact_filter_sql(con, filter: dict, at: dt.datetime) -> tuple[str, list]:
    """``(SELECT contact_id ...)`` of the contacts a rule condition of the vocabulary selects as of
    ``at`` (company fields over the engine's per-domain aggregates), and its parameters: the one
    filter of the enrollment lists and of :func:`bulk_unenroll`. A condition that does not fit the
    vocabulary is a :class:`ValidationError` saying what to fix."""
    if not isinstance(filter, dict):
        raise ValidationError("a filter is a rule condition, e.g. {\"field\": \"title\", \"op\": \"contains\", "
                              "\"value\": \"VP\"} (docs/rules.md)")
    errors = vocabulary.problems(filter, "filter")
    if errors:
        raise ValidationError("; ".join(str(e) for e in errors))
    cond, params = vocabulary.compile_sql(filter, at)
    stats = _stats_table(con, at) if any(vocabulary.FIELDS[leaf["field"]].entity == "company"
                                         for _path, leaf in vocabulary.leaves(filter)) else None
    source = vocabulary.base_from(stats) if stats else "contacts c"
    return f"(SELECT c.contact_id FROM {source} WHERE {cond})", params


def _selection_sql(con, filter, at: dt.datetime) -> tuple[str, list, list[str]]:
    """A predicate over ``e`` (enrollments) for the bulk selection; returns (sql, params, emails)."""
    if filter is None:
        return "TRUE", [], []
    if isinstance(filter, dict):
        sub, params = contact_filter_sql(con, filter, at)
        return f"e.contact_id IN {sub}", params, []
    if isinstance(filter, (list, tuple, set)):
        emails = sorted({str(x).strip().lower() for x in filter if str(x).strip()})
        if not emails:
            raise ValidationError("the list of emails to unenroll is empty")
        return "e.contact_id IN (SELECT contact_id FROM contacts WHERE email IN (SELECT unnest(?::VARCHAR[])))", [emails], emails
    raise ValidationError("filter must be a rule condition (a mapping), a list of emails, or None for everyone")


def bulk_unenroll(con: duckdb.DuckDBPyConnection, actor, *, sequence_id: str, filter=None, batch_size: int = 500,
                  progress: Callable[[int, int], None] | None = None, job_id: str | None = None,
                  at: dt.datetime | None = None, play_id: str | None = None, node_id: str | None = None,
                  state: str | None = None) -> dict:
    """Unenroll many contacts from one sequence, in batches, with progress; resumable.

    ``filter`` selects the contacts: a rule condition of the vocabulary (e.g.
    ``{"field": "company_domain", "op": "equals", "value": "acme.com"}``), a list of emails, or
    ``None`` for every queued or active enrollment of the sequence; ``play_id``/``node_id`` keep the
    enrollments of that Play (node) only, and ``state`` (``queued`` or ``active``) those in that state,
    as the list it was started from. The selection is computed once
    and recorded (``jobs`` / ``job_items``); each batch commits in its own transaction, so a batch
    that fails leaves nothing half done and :func:`resume_job` continues with it. ``progress(done,
    total)`` is called after every committed batch. Returns the job status.
    """
    roles.require(actor, "enrollment.bulk_unenroll")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
    at = at or db.now(con)
    job_id = job_id or f"unenroll-{uuid.uuid4().hex[:12]}"
    if con.execute("SELECT 1 FROM jobs WHERE job_id = ?", [job_id]).fetchone():
        raise ValidationError(f"job {job_id!r} already exists; resume it with resume_job")
    where, params, emails = _selection_sql(con, filter, at)
    if state is not None and state not in states.ACTIVE_STATES:
        raise ValidationError(f"state must be one of {', '.join(states.ACTIVE_STATES)}, got {state!r}")
    for column, value in (("e.play_id", play_id), ("e.node_id", node_id), ("e.state", state)):
        if value is not None:
            where, params = f"{where} AND {column} = ?", [*params, value]
    job_params = {"sequence_id": sequence_id, "filter": filter if not emails else {"emails": emails},
                  "play_id": play_id, "node_id": node_id, "state": state, "batch_size": batch_size, "at": at.isoformat(sep=" ")}
    with db.transaction(con):
        con.execute(
            "INSERT INTO job_items SELECT ?, (row_number() OVER (ORDER BY e.enrollment_id) - 1)::INTEGER, "
            f"e.enrollment_id FROM enrollments e WHERE e.sequence_id = ? AND e.state IN {states.ACTIVE_SQL} AND {where}",
            [job_id, sequence_id, *params])
        total = con.execute("SELECT count(*) FROM job_items WHERE job_id = ?", [job_id]).fetchone()[0]
        con.execute("INSERT INTO jobs VALUES (?, 'bulk_unenroll', ?, ?, ?, ?, 0, 'running', NULL)",
                    [job_id, at, actor.name, db.dumps(job_params), total])
        roles.audit(con, actor, "enrollment.bulk_unenroll", job_id,
                    {"sequence_id": sequence_id, "filter": job_params["filter"], "total": total}, at=at)
    if emails:
        found = {r[0] for r in con.execute(
            "SELECT DISTINCT c.email FROM job_items j JOIN enrollments e ON e.enrollment_id = j.item_id "
            "JOIN contacts c USING (contact_id) WHERE j.job_id = ?", [job_id]).fetchall()}
        not_selected = [e for e in emails if e not in found]
    else:
        not_selected = []
    result = _run_job(con, actor, job_id, progress=progress, batch_size=batch_size)
    result["not_selected"] = not_selected
    return result


def job_status(con: duckdb.DuckDBPyConnection, job_id: str) -> dict:
    job = _one(con, "SELECT * FROM jobs WHERE job_id = ?", [job_id])
    if job is None:
        raise NotFound(f"no job {job_id!r}")
    job["params"] = json.loads(job["params"] or "{}")
    return job


def _run_job(con, actor, job_id: str, *, progress=None, batch_size: int | None = None) -> dict:
    job = job_status(con, job_id)
    batch_size = batch_size or int(job["params"].get("batch_size") or 500)
    at = dt.datetime.fromisoformat(job["params"]["at"]) if job["params"].get("at") else db.now(con)
    done, total = job["done"], job["total"]
    unenrolled = 0
    while done < total:
        stop = min(done + batch_size, total)
        try:
            with db.transaction(con):
                ids = _unenroll_tx(
                    con, actor, "enrollment_id IN (SELECT item_id FROM job_items WHERE job_id = ? "
                    "AND position >= ? AND position < ?)", [job_id, done, stop], at, job_id=job_id)
                con.execute("UPDATE jobs SET done = ?, status = 'running', error = NULL WHERE job_id = ?",
                            [stop, job_id])
                db.bump_generation(con)
        except Exception as err:
            con.execute("UPDATE jobs SET status = 'failed', error = ? WHERE job_id = ?",
                        [f"batch {done // batch_size + 1} ({done}-{stop}): {err}", job_id])
            raise
        unenrolled += len(ids)
        done = stop
        if progress is not None:
            progress(done, total)
    with db.transaction(con):
        con.execute("UPDATE jobs SET status = 'done' WHERE job_id = ?", [job_id])
        roles.audit(con, actor, "enrollment.bulk_unenroll.done", job_id, {"total": total}, at=at)
    status = job_status(con, job_id)
    status["unenrolled_now"] = unenrolled
    return status


def resume_job(con: duckdb.DuckDBPyConnection, actor, job_id: str, *,
               progress: Callable[[int, int], None] | None = None) -> dict:
    """Continue a failed or interrupted bulk job from its first uncommitted batch."""
    roles.require(actor, "enrollment.bulk_unenroll")
    job = job_status(con, job_id)
    if job["kind"] != "bulk_unenroll":
        raise ValidationError(f"job {job_id!r} is a {job['kind']} job; only bulk_unenroll jobs resume here")
    if job["status"] == "done":
        return {**job, "unenrolled_now": 0}
    with db.transaction(con):
        roles.audit(con, actor, "enrollment.bulk_unenroll.resume", job_id, {"done": job["done"], "total": job["total"]})
    return _run_job(con, actor, job_id, progress=progress)


# --- replies ---------------------------------------------------------------------------------------


def _classify(text: str | None, headers=None, subject=None):
    from unify_dash.classify import replies  # written by a teammate; imported when first needed

    return replies.classify(text or "", headers=headers, subject=subject)


def record_reply(con: duckdb.DuckDBPyConnection, email: str, text: str, *, at: dt.datetime | None = None,
                 enrollment_id: str | None = None, sequence_id: str | None = None, headers: dict | None = None,
                 subject: str | None = None, actor=roles.SYSTEM) -> dict:
    """Record an incoming reply (a ``reply`` event labelled by the classifier).

    A reply ends the sequence it answers (``completed`` / ``replied``), except an out-of-office
    auto-reply. The reply's enrollment is ``enrollment_id``, else the contact's queued or active
    enrollment in ``sequence_id``, else every queued or active enrollment of the contact.
    An opt-out reply is *not* an opt-out until someone handles it (:func:`handle_opt_out_replies`).
    """
    contact = optouts.contact_row(con, email)
    at = at or db.now(con)
    c = _classify(text, headers, subject)
    event_id = f"reply:{uuid.uuid4().hex}"
    detail = {"evidence": getattr(c, "evidence", None), "confidence": getattr(c, "confidence", None)}
    if subject:
        detail["subject"] = subject
    with db.transaction(con):
        if enrollment_id is not None:
            row = _one(con, "SELECT sequence_id, current_step FROM enrollments WHERE enrollment_id = ? AND contact_id = ?",
                       [enrollment_id, contact["contact_id"]])
            if row is None:
                raise NotFound(f"no enrollment {enrollment_id!r} of {contact['email']}")
            sequence_id = row["sequence_id"]
        con.execute("INSERT INTO events (event_id, occurred_at, type, contact_id, email, sequence_id, enrollment_id, "
                    "source, actor, text, label, detail) VALUES (?, ?, 'reply', ?, ?, ?, ?, 'recipient', ?, ?, ?, ?)",
                    [event_id, at, contact["contact_id"], contact["email"], sequence_id, enrollment_id, actor.name,
                     text, c.label, db.dumps(detail)])
        completed = []
        if c.label != "out_of_office":
            where, params = "contact_id = ?", [contact["contact_id"]]
            if enrollment_id is not None:
                where, params = "enrollment_id = ?", [enrollment_id]
            elif sequence_id is not None:
                where += " AND sequence_id = ?"
                params.append(sequence_id)
            completed = end_enrollments(con, (where, params), reason="replied", at=at,
                                        cause={"reply_event_id": event_id})
        db.bump_generation(con)
    return {"event_id": event_id, "label": c.label, "evidence": getattr(c, "evidence", None),
            "completed_enrollments": sorted(completed)}


QUEUE_LABELS = ("opt_out", "needs_review")  # = unify_dash.classify.labels.QUEUE_LABELS (checked by a test)


def reply_queue_sql(settings) -> str:
    """Unhandled opt-out reply candidates as of the parameter ``as_of`` (twice): replies of contacts
    that are not opted out (the one opt-out relation: events and CRM flags) and not handled since."""
    return f"""
SELECT r.event_id, r.occurred_at, coalesce(r.email, c.email) AS email, coalesce(r.contact_id, c.contact_id) AS contact_id,
       r.sequence_id, r.enrollment_id, r.step, r.text, r.label
FROM events r
LEFT JOIN contacts c ON (r.email IS NULL AND c.contact_id = r.contact_id)
WHERE r.type = 'reply' AND r.occurred_at <= ?
  AND (lower(r.label) IN ('opt_out', 'needs_review') OR r.label IS NULL OR r.label = '')
  AND coalesce(r.email, c.email) NOT IN (SELECT email FROM ({optouts.opted_out_relation(settings)}))
  AND NOT EXISTS (
      SELECT 1 FROM events x
      WHERE x.email = coalesce(r.email, c.email) AND x.type IN ('opt_out', 'reply_handled')
        AND x.occurred_at >= r.occurred_at)
ORDER BY r.occurred_at, r.event_id
"""


def opt_out_reply_queue(con: duckdb.DuckDBPyConnection, *, as_of: dt.datetime | None = None) -> pd.DataFrame:
    """Unhandled opt-out replies, oldest first.

    A reply is in the queue when its label is ``opt_out`` or ``needs_review`` (the classifier could not
    decide a reply that may be an opt-out: a person reads it; the label stored on the event, or the
    classifier's when the event has none) and no ``opt_out`` or ``reply_handled`` event of that
    email came at or after it, and the contact is not opted out as of ``as_of`` (by any source,
    a CRM flag included: there is nothing left to handle). Columns: event_id, occurred_at, email, contact_id, sequence_id,
    enrollment_id, step, text, label, label_source (``event`` | ``classifier``), evidence.
    """
    as_of = as_of or db.now(con)
    settings = optouts.settings_or_empty(con, as_of)[1]
    df = con.execute(reply_queue_sql(settings), [as_of, as_of]).df()
    if df.empty:
        return df.assign(label_source=pd.Series(dtype=object), evidence=pd.Series(dtype=object))
    df["label"] = df["label"].fillna("").astype(str).str.lower()
    stored = df["label"].isin(QUEUE_LABELS)
    df["label_source"] = "event"
    df["evidence"] = None
    missing = ~stored
    if missing.any():
        results = [_classify(t) for t in df.loc[missing, "text"].fillna("")]
        df.loc[missing, "label"] = [r.label for r in results]
        df.loc[missing, "evidence"] = [getattr(r, "evidence", None) for r in results]
        df.loc[missing, "label_source"] = "classifier"
    df = df[df["label"].isin(QUEUE_LABELS)].reset_index(drop=True)
    return df


def handle_opt_out_replies(con: duckdb.DuckDBPyConnection, actor, event_ids: Iterable[str], *,
                           at: dt.datetime | None = None, note: str | None = None) -> list[dict]:
    """Handle opt-out replies, one or many: opt the sender out (source ``reply``, evidence = the reply
    event), which removes the contact from every queued or active sequence (``completed`` /
    ``opted_out``), and record a ``reply_handled`` event. Each reply is handled in its own
    transaction and audited. A reply already handled is reported, not handled twice; a contact
    already opted out (e.g. it also clicked the link) gets the ``reply_handled`` event only.
    All ids are checked before anything is written.
    """
    roles.require(actor, "replies.handle")
    ids = list(dict.fromkeys(event_ids))
    if not ids:
        raise ValidationError("no reply selected")
    found = {r["event_id"]: r for r in _rows(
        con, "SELECT r.event_id, r.occurred_at, coalesce(r.email, c.email) AS email, r.text, r.label, r.sequence_id "
        "FROM events r LEFT JOIN contacts c ON (r.email IS NULL AND c.contact_id = r.contact_id) "
        "WHERE r.type = 'reply' AND r.event_id IN (SELECT unnest(?::VARCHAR[]))", [ids])}
    unknown = [i for i in ids if i not in found]
    if unknown:
        raise NotFound(f"not reply events: {', '.join(unknown[:5])}")
    handled = {r[0] for r in con.execute(
        "SELECT json_extract_string(detail, '$.reply_event_id') FROM events WHERE type = 'reply_handled' "
        "AND json_extract_string(detail, '$.reply_event_id') IN (SELECT unnest(?::VARCHAR[]))", [ids]).fetchall()}
    at = at or db.now(con)
    results = []
    for event_id in ids:
        reply = found[event_id]
        if event_id in handled:
            results.append({"reply_event_id": event_id, "email": reply["email"], "status": "already_handled"})
            continue
        contact = optouts.contact_row(con, reply["email"])
        label = reply["label"] or _classify(reply["text"]).label
        evidence = {"reply_event_id": event_id, "label": label,
                    "text": (reply["text"] or "")[:500], "replied_at": str(reply["occurred_at"])}
        with db.transaction(con):
            out = optouts.opt_out_tx(con, actor, contact, source="reply", at=at, evidence=evidence)
            handled_id = f"handled:{uuid.uuid4().hex}"
            detail = {"reply_event_id": event_id, "opt_out_event_id": out["event_id"],
                      "already_opted_out": out["already_opted_out"],
                      "removed_enrollments": out["removed_enrollments"], "note": note}
            con.execute("INSERT INTO events (event_id, occurred_at, type, contact_id, email, sequence_id, source, "
                        "actor, detail) VALUES (?, ?, 'reply_handled', ?, ?, ?, 'opt_out', ?, ?)",
                        [handled_id, max(at, out["opted_out_at"] or at) if not out["already_opted_out"] else at,
                         contact["contact_id"], contact["email"], reply["sequence_id"], actor.name, db.dumps(detail)])
            db.bump_generation(con)
            roles.audit(con, actor, "replies.handle", contact["email"], {**detail, "handled_event_id": handled_id},
                        at=at)
        results.append({"reply_event_id": event_id, "email": contact["email"],
                        "status": "already_opted_out" if out["already_opted_out"] else "opted_out",
                        "opt_out_event_id": out["event_id"], "removed_enrollments": out["removed_enrollments"],
                        "writebacks": out["writebacks"], "handled_event_id": handled_id})
    return results
