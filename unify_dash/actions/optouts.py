"""Opt-out actions: opt out (admin button, link click, handled reply, CRM flag) and the documented
reversal. Whether a contact is opted out, since when and from which source is answered by the one
relation in :mod:`unify_dash.store.ledger` (re-exported here as ``opted_out_relation`` and
``opt_out_status``). Opt-outs are keyed by email; re-importing records never clears one: only a
documented reversal ends it.
"""

from __future__ import annotations

import datetime as dt
import uuid

import duckdb

from unify_dash.errors import NotFound, ValidationError
from unify_dash.model import crms, identity, roles, states
from unify_dash.model.settings import Settings, settings_at
from unify_dash.store import db, ledger

# the opt-out relation is declared once, in the ledger; these names are its public face here
crm_flag_sql = ledger.crm_flag_sql
flag_column = ledger.flag_column
opted_out_relation = ledger.opted_out_relation
opt_out_status = ledger.opt_out_status


# --- opt-out actions -------------------------------------------------------------------------------
#
# Everything below writes. Each public action checks the actor's role, runs in one
# ``db.transaction`` (all or nothing), audits and bumps ``db.generation``. The ``_..._tx``
# functions do the work inside a transaction the caller owns, so that other actions (handling an
# opt-out reply, applying CRM flags) compose them without nesting transactions.

# the role-checked action for an opt-out from each source
SOURCE_ACTIONS = {"admin": "contact.opt_out", "link": "contact.opt_out", "reply": "replies.handle",
                  "crm": "crm.sync"}

# CRM -> (object, contacts column with its id) for every CRM object a contact can come from
CRM_ID_COLUMNS = {key: crm.contact_objects for key, crm in crms.CRMS.items()}


def field_label(mapping) -> str:
    """The mapped field as a user knows it, e.g. ``Salesforce field 'Email Opt Out' (HasOptedOutOfEmail)``."""
    return crms.CRMS[mapping.crm].field_label(mapping.field)


def settings_or_empty(con: duckdb.DuckDBPyConnection, when: dt.datetime) -> tuple[int | None, Settings]:
    """The settings in effect at ``when``, or empty settings (no CRM mapping) before any is."""
    try:
        return settings_at(con, when)
    except NotFound:
        return None, Settings()


def override_warning(con: duckdb.DuckDBPyConnection, address: str) -> str | None:
    """What to tell whoever adds "Email is not ``address``" when no contact has that email (a typo, or a
    contact not loaded yet): the filter then lets nobody through until such a contact exists."""
    key = (address or "").strip().lower()
    if con.execute("SELECT 1 FROM contacts WHERE email = ?", [key]).fetchone():
        return None
    return (f"no contact has the email {key}: the filter lets nobody through until a contact with this email is "
            "loaded (check the spelling)")


def contact_row(con: duckdb.DuckDBPyConnection, email: str) -> dict:
    """The contact with ``email`` (in its normal form, :func:`identity.normalize_email`) as a dict;
    :class:`NotFound` otherwise, :class:`ValidationError` when the address hides characters."""
    key = identity.normalize_email(email or "")
    cur = con.execute("SELECT * FROM contacts WHERE email = ?", [key])
    row = cur.fetchone()
    if row is None:
        raise NotFound(f"no contact with email {key!r}")
    return dict(zip([d[0] for d in cur.description], row, strict=True))


def _event_time(con: duckdb.DuckDBPyConnection, email: str, at: dt.datetime) -> dt.datetime:
    """``at``, moved one second past the contact's newest opt-out/reversal event when they tie, so
    that the newest of the two always decides the status. A pinned workspace clock that the event
    would be ahead of moves forward with it: an action is never recorded in the clock's future,
    where "now" would not see it."""
    row = con.execute("SELECT max(occurred_at) FROM events WHERE email = ? AND type IN ('opt_out', 'opt_out_reversal')",
                      [email]).fetchone()
    last = row[0] if row else None
    if last is not None and at <= last:
        at = last + dt.timedelta(seconds=1)
        if db.get_meta(con, "clock") and db.now(con) < at:
            db.set_clock(con, at)
    return at


def _writeback_tx(con, settings: Settings, contact: dict, value: bool, event_id: str, at: dt.datetime,
                  *, only_crm: str | None = None) -> list[dict]:
    """One pending ``crm_writebacks`` row per read & write mapping and CRM id of the contact."""
    out = []
    for mapping in settings.crm_mapping:
        if not mapping.writable or (only_crm and mapping.crm != only_crm):
            continue
        for crm_object, column in CRM_ID_COLUMNS[mapping.crm]:
            crm_id = contact.get(column)
            if not crm_id:
                continue
            wid = uuid.uuid4().hex
            con.execute("INSERT INTO crm_writebacks (writeback_id, \"at\", crm, crm_object, crm_id, field, value, "
                        "contact_id, email, event_id, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
                        [wid, at, mapping.crm, crm_object, crm_id, mapping.field, "true" if value else "false",
                         contact["contact_id"], contact["email"], event_id])
            out.append({"writeback_id": wid, "crm": mapping.crm, "crm_object": crm_object, "crm_id": crm_id,
                        "field": mapping.field, "value": value})
    return out


def remove_from_sequences_tx(con, contact_id: str, at: dt.datetime, opt_out_event_id: str) -> list[str]:
    """Complete every queued or active enrollment of the contact with reason ``opted_out``,
    with a ``complete`` event each. Returns the enrollment ids."""
    return ledger.end_enrollments(con, ("contact_id = ?", [contact_id]), reason="opted_out", at=at,
                                  cause={"opt_out_event_id": opt_out_event_id})


def opt_out_tx(con, actor, contact: dict, *, source: str, at: dt.datetime, evidence=None,
               event_id: str | None = None) -> dict:
    """The opt-out itself, inside the caller's transaction (no role check, no audit)."""
    at = _event_time(con, contact["email"], at)
    settings = settings_or_empty(con, at)[1]
    existing = opt_out_status(con, settings, contact["email"], at)
    if existing is not None:
        return {"email": contact["email"], "contact_id": contact["contact_id"], "already_opted_out": True,
                "source": existing["source"], "event_id": existing["event_id"],
                "opted_out_at": existing["opted_out_at"], "crm_flag": existing["crm_flag"],
                "removed_enrollments": [], "writebacks": []}
    event_id = event_id or f"optout:{uuid.uuid4().hex}"
    detail = {"evidence": evidence} if evidence is not None else {}
    con.execute("INSERT INTO events (event_id, occurred_at, type, contact_id, email, source, actor, detail) "
                "VALUES (?, ?, 'opt_out', ?, ?, ?, ?, ?)",
                [event_id, at, contact["contact_id"], contact["email"], source, actor.name, db.dumps(detail)])
    removed = remove_from_sequences_tx(con, contact["contact_id"], at, event_id)
    # an opt-out that came from the CRM is already there; every other one is written back
    writebacks = [] if source == "crm" else _writeback_tx(con, settings, contact, True, event_id, at)
    return {"email": contact["email"], "contact_id": contact["contact_id"], "already_opted_out": False,
            "source": source, "event_id": event_id, "opted_out_at": at, "crm_flag": False,
            "removed_enrollments": removed, "writebacks": writebacks}


def opt_out(con: duckdb.DuckDBPyConnection, actor, email: str, *, source: str, at: dt.datetime | None = None,
            evidence=None) -> dict:
    """Opt a contact out of every sequence, now and in the future (global and permanent).

    ``source`` is ``admin`` (the Opt-Out button), ``reply`` (a handled opt-out reply), ``link`` (an
    opt-out link click) or ``crm`` (the CRM flag under the mapping). Records an ``opt_out`` event
    (``detail.evidence`` = ``evidence``), completes every queued or active enrollment with reason
    ``opted_out``, writes back to each CRM whose mapping is read & write and where the contact has an
    id, audits. Idempotent: when the contact is already opted out nothing is written and the result
    says ``already_opted_out`` with the existing source.
    """
    if source not in states.OPT_OUT_SOURCES:
        raise ValidationError(f"unknown opt-out source {source!r}; expected one of {', '.join(states.OPT_OUT_SOURCES)}")
    roles.require(actor, SOURCE_ACTIONS[source])
    contact = contact_row(con, email)
    at = at or db.now(con)
    with db.transaction(con):
        result = opt_out_tx(con, actor, contact, source=source, at=at, evidence=evidence)
        if not result["already_opted_out"]:
            db.bump_generation(con)
            roles.audit(con, actor, "contact.opt_out", contact["email"],
                         {"source": source, "event_id": result["event_id"], "evidence": evidence,
                          "removed_enrollments": result["removed_enrollments"],
                          "writebacks": [w["writeback_id"] for w in result["writebacks"]]}, at=at)
    return result


def reversal_blocker(settings, contact: dict) -> str | None:
    """Why an opt-out cannot be reversed here (a CRM flag still set under a read-only mapping: Unify
    cannot clear it), or ``None``. The Contact page offers no Reverse button then, and says this."""
    blocked = [m for m in settings.crm_mapping if not m.writable and contact.get(flag_column(m))]
    if not blocked:
        return None
    names = "; ".join(f"{field_label(m)} is set and the mapping is read-only" for m in blocked)
    crms = " and ".join(states.CRMS[m.crm] for m in blocked)
    return (f"{names}. Clear the flag in {crms} first (Unify cannot write to a read-only mapping); "
            "the contact stays opted out.")


def reverse_opt_out(con: duckdb.DuckDBPyConnection, actor, email: str, *, permission_by: str, permission_at,
                    evidence: str, at: dt.datetime | None = None) -> dict:
    """End an opt-out, only with the contact's documented permission to resume outreach.

    ``permission_by`` (who gave it), ``permission_at`` (when) and ``evidence`` (how: a note, a ticket
    or email reference) are all required. A CRM flag under a read-only mapping that is still set
    cannot be cleared from here: the reversal is refused, naming the CRM and field, and the contact
    stays opted out. Under a read & write mapping the local flag is cleared and a write-back record
    clears it in the CRM. Records an ``opt_out_reversal`` event whose ``detail`` is the permission
    record, audits. Afterwards the contact can be re-enrolled (:func:`unify_dash.actions.enrollments.enroll`).
    """
    roles.require(actor, "contact.reverse_opt_out")
    missing = [name for name, value in (("permission_by", permission_by), ("permission_at", permission_at),
                                        ("evidence", evidence))
               if value is None or (isinstance(value, str) and not value.strip())]
    if missing:
        raise ValidationError(
            "an opt-out can be reversed only with the contact's documented permission to resume outreach: "
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required (who gave the permission, "
            "when, and how: a note or reference)")
    permission_time = db.parse_timestamp(permission_at, "permission_at")
    at = at or db.now(con)
    contact = contact_row(con, email)
    settings = settings_or_empty(con, at)[1]
    status = opt_out_status(con, settings, contact["email"], _event_time(con, contact["email"], at))
    if status is None:
        raise ValidationError(f"{contact['email']} is not opted out; nothing to reverse")
    problems = ledger.permission_problems(permission_by, permission_time, evidence,
                                          opted_out_at=status["latest_at"], now=max(at, db.now(con)))
    if problems:
        raise ValidationError(f"the opt-out of {contact['email']} was not reversed: " + "; ".join(problems))
    blocker = reversal_blocker(settings, contact)
    if blocker:
        raise ValidationError(f"cannot reverse the opt-out of {contact['email']}: {blocker}")
    permission = {"permission_by": permission_by.strip(), "permission_at": permission_time.isoformat(sep=" "),
                  "evidence": evidence.strip(), "reverses": status["event_id"], "reversed_source": status["source"],
                  "before": {"opted_out": True, "source": status["source"], "since": str(status["opted_out_at"]),
                             "event_id": status["event_id"], "crm_flag": status["crm_flag"]}}
    with db.transaction(con):
        at_event = _event_time(con, contact["email"], at)
        event_id = f"reversal:{uuid.uuid4().hex}"
        cleared = []
        writebacks = []
        for m in settings.crm_mapping:
            if not m.writable:
                continue
            column = flag_column(m)
            if contact.get(column):
                # whitelisted column name from flag_column; the value is a parameter
                con.execute(f"UPDATE contacts SET {db.ident(column)} = FALSE WHERE contact_id = ?",
                            [contact["contact_id"]])
                cleared.append({"crm": m.crm, "field": m.field, "column": column})
            writebacks += _writeback_tx(con, settings, contact, False, event_id, at_event, only_crm=m.crm)
        permission["crm_flags_cleared"] = cleared
        con.execute("INSERT INTO events (event_id, occurred_at, type, contact_id, email, source, actor, detail) "
                    "VALUES (?, ?, 'opt_out_reversal', ?, ?, ?, ?, ?)",
                    [event_id, at_event, contact["contact_id"], contact["email"], status["source"], actor.name,
                     db.dumps(permission)])
        db.bump_generation(con)
        roles.audit(con, actor, "contact.reverse_opt_out", contact["email"],
                     {**permission, "event_id": event_id, "after": {"opted_out": False, "crm_flags_cleared": cleared},
                      "writebacks": [w["writeback_id"] for w in writebacks]}, at=at)
    return {"email": contact["email"], "contact_id": contact["contact_id"], "event_id": event_id,
            "permission": permission, "crm_flags_cleared": cleared, "writebacks": writebacks}
