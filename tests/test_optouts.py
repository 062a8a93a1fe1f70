"""Opt-out actions: every source, idempotence, write-backs, roles, and the reversal rules."""

from __future__ import annotations

import datetime as dt

import pytest
from lifecycle_factory import (
    MANAGER,
    REVOPS,
    SUPPORT,
    T0,
    add_contact,
    add_enrollment,
    add_event,
    enrollment,
    events,
    make_workspace,
    rows,
    settings_doc,
)

from unify_dash.actions import optouts
from unify_dash.errors import NotFound, PermissionDenied, ValidationError
from unify_dash.model.roles import SYSTEM
from unify_dash.model.settings import settings_at
from unify_dash.store import db


@pytest.fixture
def ws(con):
    make_workspace(con)
    ids = {
        "alice": add_contact(con, "Alice@Acme.com ", sf_contact_id="003A", hs_contact_id="HS1"),
        "bob": add_contact(con, "bob@beta.com"),
        "lead": add_contact(con, "lena@lead.com", sf_contact_id="003L", sf_lead_id="00QL"),
        "hub": add_contact(con, "hub@hub.com", hs_contact_id="HS9", hs_opt_out=True),
        "sfflag": add_contact(con, "flag@sf.com", sf_contact_id="003F", sf_email_opt_out=True),
    }
    return ids


def status(con, email, at=T0 + dt.timedelta(days=30)):
    return optouts.opt_out_status(con, settings_at(con, at)[1], email, at)


SOURCES = [("admin", SUPPORT), ("link", SYSTEM), ("reply", SUPPORT), ("crm", REVOPS)]


@pytest.mark.parametrize("source,actor", SOURCES)
def test_every_source_opts_out_of_every_active_or_queued_sequence(con, ws, source, actor):
    c = ws["bob"]
    queued = add_enrollment(con, c, "seq1", state="queued", next_step_at=T0 + dt.timedelta(hours=1))
    active = add_enrollment(con, c, "seq2", state="active", current_step=1, next_step_at=T0 + dt.timedelta(days=2))
    done = add_enrollment(con, c, "seq1", state="completed", completion_reason="finished", current_step=3, play_id=None)
    gen = db.generation(con)

    out = optouts.opt_out(con, actor, "BOB@beta.com", source=source, evidence={"ref": "x"})

    assert out["already_opted_out"] is False
    assert out["removed_enrollments"] == sorted([queued, active])
    for eid in (queued, active):
        e = enrollment(con, eid)
        assert (e["state"], e["completion_reason"], e["next_step_at"]) == ("completed", "opted_out", None)
    assert enrollment(con, done)["completion_reason"] == "finished"
    [ev] = events(con, "opt_out", "bob@beta.com")
    assert (ev["source"], ev["actor"], ev["contact_id"]) == (source, actor.name, c)
    assert '"ref": "x"' in ev["detail"]
    completes = events(con, "complete", "bob@beta.com")
    assert sorted(x["enrollment_id"] for x in completes) == sorted([queued, active])
    assert all(x["source"] == "opted_out" for x in completes)
    assert status(con, "bob@beta.com")["source"] == source
    assert db.generation(con) > gen
    [audit] = rows(con, "SELECT * FROM audit_log WHERE action = 'contact.opt_out'")
    assert (audit["actor"], audit["target"]) == (actor.name, "bob@beta.com")


def test_opt_out_is_idempotent(con, ws):
    first = optouts.opt_out(con, SUPPORT, "alice@acme.com", source="admin", at=T0)
    gen = db.generation(con)
    counts = [con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("events", "audit_log", "crm_writebacks")]
    again = optouts.opt_out(con, SUPPORT, "alice@acme.com", source="link", at=T0 + dt.timedelta(hours=1))
    assert again["already_opted_out"] is True
    assert (again["source"], again["event_id"]) == ("admin", first["event_id"])
    assert [con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("events", "audit_log", "crm_writebacks")] == counts
    assert db.generation(con) == gen


def test_contact_opted_out_by_crm_flag_alone_is_already_opted_out(con, ws):
    out = optouts.opt_out(con, SUPPORT, "hub@hub.com", source="admin")
    assert out["already_opted_out"] and out["crm_flag"] and out["source"] == "crm"
    assert events(con, "opt_out") == []


@pytest.mark.parametrize("email,source,expected", [
    # Salesforce is read & write: one write-back per Salesforce object the contact comes from
    ("alice@acme.com", "admin", [("salesforce", "Contact", "003A", "HasOptedOutOfEmail", "true")]),
    ("lena@lead.com", "link", [("salesforce", "Contact", "003L", "HasOptedOutOfEmail", "true"),
                               ("salesforce", "Lead", "00QL", "HasOptedOutOfEmail", "true")]),
    # no CRM id: nothing to write back to
    ("bob@beta.com", "admin", []),
    # an opt-out that came from the CRM is not written back to it
    ("alice@acme.com", "crm", []),
])
def test_writeback_under_read_write_mapping(con, ws, email, source, expected):
    actor = REVOPS if source == "crm" else SUPPORT
    out = optouts.opt_out(con, actor if source != "link" else SYSTEM, email, source=source)
    got = sorted((r["crm"], r["crm_object"], r["crm_id"], r["field"], r["value"])
                 for r in rows(con, "SELECT * FROM crm_writebacks"))
    assert got == sorted(expected)
    assert all(r["status"] == "pending" and r["event_id"] == out["event_id"]
               for r in rows(con, "SELECT * FROM crm_writebacks"))


def test_read_only_mapping_writes_nothing_back(con):
    doc = settings_doc(crm_mapping={"salesforce": {"field": "HasOptedOutOfEmail", "mode": "read_only"},
                                    "hubspot": {"field": "hs_email_optout", "mode": "read_only"}})
    make_workspace(con, doc=doc)
    add_contact(con, "alice@acme.com", sf_contact_id="003A", hs_contact_id="HS1")
    optouts.opt_out(con, SUPPORT, "alice@acme.com", source="admin")
    assert rows(con, "SELECT * FROM crm_writebacks") == []


@pytest.mark.parametrize("actor,source,allowed", [
    (SUPPORT, "admin", True), (REVOPS, "admin", True), (MANAGER, "admin", False),
    (MANAGER, "reply", False), (SUPPORT, "reply", True), (SUPPORT, "crm", False), (REVOPS, "crm", True),
])
def test_opt_out_roles(con, ws, actor, source, allowed):
    if allowed:
        assert optouts.opt_out(con, actor, "bob@beta.com", source=source)["already_opted_out"] is False
    else:
        with pytest.raises(PermissionDenied):
            optouts.opt_out(con, actor, "bob@beta.com", source=source)
        assert events(con, "opt_out") == []


def test_opt_out_input_errors(con, ws):
    with pytest.raises(NotFound, match="nobody@x.com"):
        optouts.opt_out(con, SUPPORT, "nobody@x.com", source="admin")
    with pytest.raises(ValidationError, match="unknown opt-out source"):
        optouts.opt_out(con, SUPPORT, "bob@beta.com", source="carrier pigeon")


# --- reversal --------------------------------------------------------------------------------------

PERMISSION = {"permission_by": "Bob Jones (the contact)", "permission_at": "2026-11-05T10:00",
              "evidence": "email of 2026-11-05, ticket SUP-12"}
LATER = T0 + dt.timedelta(days=5)


@pytest.mark.parametrize("missing", ["permission_by", "permission_at", "evidence"])
@pytest.mark.parametrize("empty", [None, "", "   "])
def test_reversal_requires_every_permission_field(con, ws, missing, empty):
    optouts.opt_out(con, SUPPORT, "bob@beta.com", source="admin", at=T0)
    with pytest.raises(ValidationError, match=f"{missing} is required"):
        optouts.reverse_opt_out(con, SUPPORT, "bob@beta.com", **{**PERMISSION, missing: empty}, at=LATER)
    assert status(con, "bob@beta.com") is not None
    assert events(con, "opt_out_reversal") == []


@pytest.mark.parametrize("permission_at,message", [
    ("yesterday-ish", "expected a date and time"),
    ("2027-01-01T00:00", "in the future"),
])
def test_reversal_permission_time_must_be_a_past_time(con, ws, permission_at, message):
    optouts.opt_out(con, SUPPORT, "bob@beta.com", source="admin", at=T0)
    with pytest.raises(ValidationError, match=message):
        optouts.reverse_opt_out(con, SUPPORT, "bob@beta.com", **{**PERMISSION, "permission_at": permission_at},
                                at=LATER)


def test_reversal_records_the_permission_and_ends_the_opt_out(con, ws):
    first = optouts.opt_out(con, SUPPORT, "bob@beta.com", source="link", at=T0)
    out = optouts.reverse_opt_out(con, SUPPORT, "bob@beta.com", **PERMISSION, at=LATER)
    assert status(con, "bob@beta.com") is None
    [ev] = events(con, "opt_out_reversal")
    assert ev["event_id"] == out["event_id"]
    for key in ("permission_by", "evidence"):
        assert PERMISSION[key] in ev["detail"]
    assert "2026-11-05 10:00:00" in ev["detail"] and first["event_id"] in ev["detail"]
    [audit] = rows(con, "SELECT * FROM audit_log WHERE action = 'contact.reverse_opt_out'")
    assert "SUP-12" in audit["detail"] and audit["actor"] == "sam"
    # the opt-out is over: a new opt-out is a new event, not "already opted out"
    assert optouts.opt_out(con, SUPPORT, "bob@beta.com", source="admin", at=LATER)["already_opted_out"] is False


def test_reversal_at_the_same_instant_still_orders_events(con, ws):
    optouts.opt_out(con, SUPPORT, "bob@beta.com", source="admin", at=T0)
    optouts.reverse_opt_out(con, SUPPORT, "bob@beta.com", **{**PERMISSION, "permission_at": T0}, at=T0)
    assert status(con, "bob@beta.com") is None
    optouts.opt_out(con, SUPPORT, "bob@beta.com", source="admin", at=T0)
    assert status(con, "bob@beta.com")["source"] == "admin"


def test_reversal_refused_when_not_opted_out(con, ws):
    with pytest.raises(ValidationError, match="not opted out"):
        optouts.reverse_opt_out(con, SUPPORT, "bob@beta.com", **PERMISSION, at=LATER)


@pytest.mark.parametrize("actor", [MANAGER, REVOPS])
def test_reversal_role(con, ws, actor):
    optouts.opt_out(con, SUPPORT, "bob@beta.com", source="admin", at=T0)
    with pytest.raises(PermissionDenied):
        optouts.reverse_opt_out(con, actor, "bob@beta.com", **PERMISSION, at=LATER)


def test_read_only_crm_flag_still_set_refuses_reversal(con, ws):
    with pytest.raises(ValidationError) as err:
        optouts.reverse_opt_out(con, SUPPORT, "hub@hub.com", **PERMISSION, at=LATER)
    message = str(err.value)
    assert "HubSpot" in message and "hs_email_optout" in message and "read-only" in message
    assert "stays opted out" in message
    assert status(con, "hub@hub.com")["crm_flag"] is True
    assert events(con, "opt_out_reversal") == [] and rows(con, "SELECT * FROM crm_writebacks") == []


def test_read_only_custom_do_not_email_field_named_in_refusal(con):
    doc = settings_doc(crm_mapping={"salesforce": {"field": "Do_Not_Email__c", "mode": "read_only"}})
    make_workspace(con, doc=doc)
    add_contact(con, "dora@x.com", sf_contact_id="003D", sf_do_not_email=True)
    optouts.opt_out(con, SYSTEM, "dora@x.com", source="link", at=T0)  # already opted out by the flag
    with pytest.raises(ValidationError, match=r"Salesforce field 'Do Not Email' \(Do_Not_Email__c\)"):
        optouts.reverse_opt_out(con, SUPPORT, "dora@x.com", **PERMISSION, at=LATER)


def test_read_only_flag_cleared_in_crm_allows_reversal(con, ws):
    # the CRM cleared the flag (a later sync/load); the crm opt-out event remains until reversed
    add_event(con, "opt_out", T0, email="hub@hub.com", contact_id=ws["hub"], source="crm",
              event_id="crm-optout:hub@hub.com")
    con.execute("UPDATE contacts SET hs_opt_out = FALSE WHERE email = 'hub@hub.com'")
    assert status(con, "hub@hub.com")["source"] == "crm"
    out = optouts.reverse_opt_out(con, SUPPORT, "hub@hub.com", **PERMISSION, at=LATER)
    assert out["writebacks"] == []  # read-only: nothing written
    assert status(con, "hub@hub.com") is None


def test_read_write_crm_flag_is_cleared_locally_and_written_back(con, ws):
    assert status(con, "flag@sf.com")["source"] == "crm"
    out = optouts.reverse_opt_out(con, SUPPORT, "flag@sf.com", **PERMISSION, at=LATER)
    assert out["crm_flags_cleared"] == [{"crm": "salesforce", "field": "HasOptedOutOfEmail",
                                         "column": "sf_email_opt_out"}]
    assert con.execute("SELECT sf_email_opt_out FROM contacts WHERE email = 'flag@sf.com'").fetchone()[0] is False
    [wb] = rows(con, "SELECT * FROM crm_writebacks")
    assert (wb["crm"], wb["crm_id"], wb["field"], wb["value"], wb["status"]) == (
        "salesforce", "003F", "HasOptedOutOfEmail", "false", "pending")
    assert status(con, "flag@sf.com") is None


def test_reversal_of_platform_opt_out_writes_false_back(con, ws):
    optouts.opt_out(con, SUPPORT, "alice@acme.com", source="admin", at=T0)
    optouts.reverse_opt_out(con, SUPPORT, "alice@acme.com", **PERMISSION, at=LATER)
    assert [(r["value"], r["crm"]) for r in rows(con, 'SELECT * FROM crm_writebacks ORDER BY "at"')] == [
        ("true", "salesforce"), ("false", "salesforce")]
