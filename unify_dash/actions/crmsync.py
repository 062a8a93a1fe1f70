"""CRM sync: the suppression-field mapping per CRM, write-backs, provenance and conflicts.

The mapping (settings section ``crm_mapping``) names, per CRM, the master email-suppression flag
(Salesforce standard "Email Opt Out" = ``HasOptedOutOfEmail`` or a custom "Do Not Email" field;
HubSpot's opt-out property) and whether it is ``read_only`` or ``read_write``:

* read & write: an opt-out made in the platform produces a ``crm_writebacks`` row (pending until
  the CRM integration confirms it, :func:`mark_writebacks`); a documented reversal writes the flag
  back to false; a CRM flag produces a platform opt-out (:func:`apply_crm_flags`, source ``crm``).
* read-only: the CRM flag is respected (the contact is opted out while it is set, and a reversal
  is refused until it is cleared in the CRM); nothing is ever written back.

:func:`provenance` tells, for every opted-out contact, where the opt-out originated (CRM field,
link click, reply, admin) with the evidence row; :func:`conflicts` lists contacts the platform
says are opted out while the CRM flag is false under a read & write mapping and no write-back is
pending or done.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from unify_dash.actions import optouts
from unify_dash.errors import ValidationError
from unify_dash.model import roles, states
from unify_dash.model.settings import Settings
from unify_dash.store import db, ledger

# pending: waiting for the push; sent: the CRM accepted it (unify_dash/connectors/push.py); failed: the CRM
# refused it (last_error says why); done: marked by hand (mark_writebacks)
WRITEBACK_STATUSES = ("pending", "sent", "failed", "done")
SETTLED = ("pending", "sent", "done")  # a write-back in one of these is fixing (or has fixed) the CRM


def mappings(con: duckdb.DuckDBPyConnection, *, as_of: dt.datetime | None = None) -> list[dict]:
    """The CRM mapping in effect at ``as_of``: one dict per CRM with the field, its label, the mode,
    the contacts column that mirrors it and how many contacts have the flag set."""
    as_of = as_of or db.now(con)
    version, settings = optouts.settings_or_empty(con, as_of)
    out = []
    for m in settings.crm_mapping:
        column = optouts.flag_column(m)
        flagged = con.execute(f"SELECT count(*) FROM contacts WHERE {db.ident(column)}").fetchone()[0]
        out.append({"crm": m.crm, "crm_label": states.CRMS[m.crm], "field": m.field,
                    "field_label": optouts.field_label(m), "mode": m.mode, "writable": m.writable,
                    "column": column, "flagged_contacts": int(flagged), "settings_version": version,
                    "writes_back": "opt-outs and reversals made in the platform are written back" if m.writable
                    else "read-only: the CRM flag is respected, nothing is written back"})
    return out


def writebacks(con: duckdb.DuckDBPyConnection, *, status: str | None = None, email: str | None = None) -> pd.DataFrame:
    """Write-back records, newest first (optionally only one status or one contact)."""
    if status is not None and status not in WRITEBACK_STATUSES:
        raise ValidationError(f"unknown write-back status {status!r}; expected one of {', '.join(WRITEBACK_STATUSES)}")
    key = email.strip().lower() if email else None
    return con.execute(
        'SELECT writeback_id, "at", crm, crm_object, crm_id, field, value, contact_id, email, event_id, status, '
        "coalesce(attempts, 0) AS attempts, last_error, sent_at "
        "FROM crm_writebacks WHERE (? IS NULL OR status = ?) AND (? IS NULL OR email = ?) "
        'ORDER BY "at" DESC, writeback_id', [status, status, key, key]).df()


def pending_writebacks(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Write-backs the CRM integration has not confirmed yet (oldest first)."""
    return con.execute(
        'SELECT writeback_id, "at", crm, crm_object, crm_id, field, value, contact_id, email, event_id, status '
        "FROM crm_writebacks WHERE status = 'pending' ORDER BY \"at\", writeback_id").df()


def mark_writebacks(con: duckdb.DuckDBPyConnection, actor, writeback_ids: list[str] | None = None, *,
                    status: str = "done", at: dt.datetime | None = None) -> int:
    """Record the CRM integration's answer for pending write-backs (all pending ones when
    ``writeback_ids`` is None). A ``done`` write-back also updates the local mirror of the flag.
    Returns how many were marked."""
    roles.require(actor, "crm.sync")
    if status not in ("done", "failed"):
        raise ValidationError("a write-back is marked done or failed")
    at = at or db.now(con)
    with db.transaction(con):
        ids = [r[0] for r in con.execute(
            "UPDATE crm_writebacks SET status = ? WHERE status = 'pending' "
            "AND (? OR writeback_id IN (SELECT unnest(?::VARCHAR[]))) RETURNING writeback_id",
            [status, writeback_ids is None, list(writeback_ids or [])]).fetchall()]
        if status == "done" and ids:
            _mirror(con, ids, at)
            db.bump_generation(con)
        roles.audit(con, actor, "crm.writebacks", status, {"writebacks": ids}, at=at)
    return len(ids)


def record_push_results(con: duckdb.DuckDBPyConnection, actor, results: dict[str, tuple[bool, str | None]], *,
                        at: dt.datetime | None = None) -> dict:
    """Record the CRM's answer for pushed write-backs (``writeback_id -> (ok, error)``), in one transaction:
    ``sent`` (with ``sent_at``; the local mirror of the flag takes the value) or ``failed`` with the CRM's
    error; ``attempts`` counts every answer. Only pending write-backs change (a second push changes nothing)."""
    roles.require(actor, "crm.sync")
    at = at or db.now(con)
    ok_ids = [w for w, (ok, _e) in results.items() if ok]
    failed = [(w, e) for w, (ok, e) in results.items() if not ok]
    with db.transaction(con):
        sent = [r[0] for r in con.execute(
            "UPDATE crm_writebacks SET status = 'sent', sent_at = ?, attempts = coalesce(attempts, 0) + 1, "
            "last_error = NULL WHERE status = 'pending' AND writeback_id IN (SELECT unnest(?::VARCHAR[])) "
            "RETURNING writeback_id", [at, ok_ids]).fetchall()]
        refused = []
        for wid, error in failed:
            refused += [r[0] for r in con.execute(
                "UPDATE crm_writebacks SET status = 'failed', attempts = coalesce(attempts, 0) + 1, last_error = ? "
                "WHERE status = 'pending' AND writeback_id = ? RETURNING writeback_id", [error, wid]).fetchall()]
        if sent:
            _mirror(con, sent, at)
            db.bump_generation(con)
        roles.audit(con, actor, "crm.writebacks", "push", {"sent": sent, "failed": refused}, at=at)
    return {"sent": len(sent), "failed": len(refused)}


def _mirror(con, ids: list[str], at: dt.datetime) -> None:
    """The contacts' copy of each written flag takes the value the CRM accepted."""
    settings = optouts.settings_or_empty(con, at)[1]
    for m in settings.crm_mapping:
        if not m.writable:
            continue
        column = db.ident(optouts.flag_column(m))
        con.execute(f"UPDATE contacts SET {column} = (w.value = 'true') FROM crm_writebacks w "
                    "WHERE w.contact_id = contacts.contact_id AND w.crm = ? AND w.field = ? "
                    "AND w.writeback_id IN (SELECT unnest(?::VARCHAR[]))", [m.crm, m.field, ids])


def queue_conflict_writebacks(con: duckdb.DuckDBPyConnection, actor, *, emails: list[str] | None = None,
                              at: dt.datetime | None = None) -> dict:
    """"Push the platform's opt-out to the CRM": a pending write-back (the flag to true) for every conflict
    (or only those of ``emails``), per CRM whose read & write mapping disagrees. Returns the write-backs."""
    roles.require(actor, "crm.sync")
    at = at or db.now(con)
    settings = optouts.settings_or_empty(con, at)[1]
    keys = None if emails is None else {e.strip().lower() for e in emails}
    with db.transaction(con):
        conf = conflicts(con, as_of=at)
        if keys is not None:
            conf = conf[conf["email"].isin(keys)]
        queued = []
        for row in conf.itertuples(index=False):
            contact = optouts.contact_row(con, row.email)
            for m in settings.crm_mapping:
                if m.writable and not contact.get(optouts.flag_column(m)):
                    queued += optouts._writeback_tx(con, settings, contact, True, row.evidence_event_id, at,
                                                    only_crm=m.crm)
        roles.audit(con, actor, "crm.resolve", "conflicts", {"writebacks": [w["writeback_id"] for w in queued],
                                                             "contacts": len(conf)}, at=at)
    return {"contacts": int(len(conf)), "writebacks": queued}


def readonly_disagreements(con: duckdb.DuckDBPyConnection, *, as_of: dt.datetime | None = None) -> pd.DataFrame:
    """Opted-out contacts whose flag is false in a CRM mapped read-only: nothing can be pushed (the CRM is
    the master), the flag has to be set in the CRM. One row per contact and CRM."""
    as_of = as_of or db.now(con)
    settings = optouts.settings_or_empty(con, as_of)[1]
    relation = optouts.opted_out_relation(settings)
    parts, params = [], []
    for m in settings.crm_mapping:
        if m.writable:
            continue
        ids = " OR ".join(f"c.{db.ident(col)} IS NOT NULL" for _obj, col in optouts.CRM_ID_COLUMNS[m.crm])
        parts.append(f"SELECT c.email, ? AS crm, ? AS field_label, oo.source AS origin, oo.opted_out_at "
                     f"FROM ({relation}) oo JOIN contacts c ON c.contact_id = oo.contact_id "
                     f"WHERE NOT c.{db.ident(optouts.flag_column(m))} AND ({ids})")
        params += [states.CRMS[m.crm], optouts.field_label(m), as_of]
    if not parts:
        return pd.DataFrame(columns=["email", "crm", "field_label", "origin", "opted_out_at"])
    return con.execute(" UNION ALL ".join(parts) + " ORDER BY email, crm", params).df()


def _flag_case(settings: Settings) -> str:
    """SQL (over ``c``) listing the mapped flags that are set, as a list of field names.
    Column names come from :func:`optouts.flag_column`; field names are parameters."""
    parts = []
    params = []
    for m in settings.crm_mapping:
        parts.append(f"CASE WHEN c.{db.ident(optouts.flag_column(m))} THEN ? END")
        params.append(f"{m.crm}.{m.field}")
    if not parts:
        return "[]::VARCHAR[]", []
    return f"list_filter([{', '.join(parts)}], lambda x: x IS NOT NULL)", params


def apply_crm_flags(con: duckdb.DuckDBPyConnection, actor, *, at: dt.datetime | None = None) -> dict:
    """Turn CRM suppression flags (under the mapping) into platform opt-outs, source ``crm``.

    Every contact whose mapped flag is set and who has no opt-out event in force gets one
    (:func:`unify_dash.store.ledger.record_crm_flag_opt_outs`, the same rule as a load's); every
    contact with a mapped flag set is removed from its queued or active enrollments (``completed`` /
    ``opted_out``). A ``crm_sync`` event records the run. Set-based: one pass whatever the size.
    """
    roles.require(actor, "crm.sync")
    at = at or db.now(con)
    settings = optouts.settings_or_empty(con, at)[1]
    flag = optouts.crm_flag_sql(settings)
    with db.transaction(con):
        new = ledger.record_crm_flag_opt_outs(con, settings, at, actor.name)
        removed = ledger.end_enrollments(
            con, (f"contact_id IN (SELECT c.contact_id FROM contacts c WHERE {flag})", []), reason="opted_out",
            at=at, cause={"by": "crm flag"})
        summary = {"new_opt_outs": len(new), "opt_out_events": [n["event_id"] for n in new],
                   "removed_enrollments": len(removed),
                   "mapping": [{"crm": m.crm, "field": m.field, "mode": m.mode} for m in settings.crm_mapping]}
        con.execute("INSERT INTO events (event_id, occurred_at, type, source, actor, detail) "
                    "VALUES ('crm-sync:' || uuidv7()::VARCHAR, ?, 'crm_sync', 'crm', ?, ?)",
                    [at, actor.name, db.dumps(summary)])
        if new or removed:
            db.bump_generation(con)
        roles.audit(con, actor, "crm.sync", "crm flags", summary, at=at)
    return summary




def provenance(con: duckdb.DuckDBPyConnection, *, as_of: dt.datetime | None = None,
               email: str | None = None) -> pd.DataFrame:
    """Where each opted-out contact's opt-out originated, with the evidence.

    One row per opted-out contact (or only ``email``), read from the one opt-out relation
    (:func:`unify_dash.store.ledger.opted_out_relation`): ``origin`` is the source of the first
    opt-out event since the contact's last reversal (``crm``, ``link``, ``reply``, ``admin``), or
    ``crm`` when only a mapped CRM flag says so; ``evidence_event_id`` / ``evidence_at`` /
    ``evidence_actor`` / ``evidence_detail`` are that event (or the CRM field name); one boolean
    column per mapped CRM flag (``crm_flag_<crm>``); ``writeback`` is the newest write-back status
    for the contact (``pending``, ``done``, ``failed`` or none); ``conflict`` is true when a read &
    write mapping's flag is false in the CRM with no write-back pending or done.
    """
    as_of = as_of or db.now(con)
    settings = optouts.settings_or_empty(con, as_of)[1]
    relation = optouts.opted_out_relation(settings)
    flag_cols = ", ".join(f"c.{db.ident(optouts.flag_column(m))} AS {db.ident('crm_flag_' + m.crm)}"
                          for m in settings.crm_mapping)
    conflict_parts = []
    conflict_params: list = []
    for m in settings.crm_mapping:
        if not m.writable:
            continue
        ids = " OR ".join(f"c.{db.ident(col)} IS NOT NULL" for _obj, col in optouts.CRM_ID_COLUMNS[m.crm])
        conflict_parts.append(
            f"(NOT c.{db.ident(optouts.flag_column(m))} AND ({ids}) AND NOT EXISTS (SELECT 1 FROM crm_writebacks w "
            "WHERE w.contact_id = c.contact_id AND w.crm = ? AND w.value = 'true' AND w.status IN ('pending', 'sent', 'done') "
            "AND w.\"at\" >= coalesce(oo.opted_out_at, TIMESTAMP '1970-01-01')))")
        conflict_params.append(m.crm)
    conflict = " OR ".join(conflict_parts) if conflict_parts else "FALSE"
    flag_names, flag_params = _flag_case(settings)
    key = email.strip().lower() if email else None
    sql = f"""
        SELECT c.email, c.contact_id,
               oo.source AS origin,
               oo.opted_out_at,
               oo.event_id AS evidence_event_id, oo.opted_out_at AS evidence_at, oo.actor AS evidence_actor,
               coalesce(oo.detail, to_json({{'crm_fields': {flag_names}}})::VARCHAR) AS evidence_detail,
               {flag_names} AS crm_flags_set
               {(", " + flag_cols) if flag_cols else ""},
               (SELECT w.status FROM crm_writebacks w WHERE w.contact_id = c.contact_id AND w.value = 'true'
                ORDER BY w."at" DESC LIMIT 1) AS writeback,
               ({conflict}) AS conflict
        FROM ({relation}) oo JOIN contacts c ON c.contact_id = oo.contact_id
        WHERE (? IS NULL OR c.email = ?)
        ORDER BY c.email
    """
    # parameter order follows the text: flag names (x2), conflict, relation (as_of), email
    params = [*flag_params, *flag_params, *conflict_params, as_of, key, key]
    df = con.execute(sql, params).df()
    df["origin_label"] = df["origin"].map(states.OPT_OUT_SOURCES).fillna(df["origin"])
    return df


def conflicts(con: duckdb.DuckDBPyConnection, *, as_of: dt.datetime | None = None) -> pd.DataFrame:
    """Opted-out contacts whose CRM flag is false under a read & write mapping, with no write-back
    pending or done since the opt-out: the two systems disagree and nothing is fixing it."""
    df = provenance(con, as_of=as_of)
    return df[df["conflict"]].reset_index(drop=True)
