"""CRM sync: the mapping, CRM flags becoming opt-outs, write-backs, provenance and conflicts."""

from __future__ import annotations

import json

import pytest
from lifecycle_factory import (
    REVOPS,
    SUPPORT,
    T0,
    H,
    add_contact,
    add_enrollment,
    add_event,
    enrollment,
    events,
    make_workspace,
    rows,
    settings_doc,
)

from unify_dash.actions import crmsync, optouts
from unify_dash.actions import enrollments as lifecycle
from unify_dash.errors import PermissionDenied
from unify_dash.model.roles import SYSTEM


@pytest.fixture
def ws(con):
    make_workspace(con)
    c = {
        "sf": add_contact(con, "sf@acme.com", sf_contact_id="003S", sf_email_opt_out=True),
        "hs": add_contact(con, "hs@beta.com", hs_contact_id="HS2", hs_opt_out=True),
        "dne": add_contact(con, "dne@gamma.com", sf_contact_id="003D", sf_do_not_email=True),  # field not mapped
        "link": add_contact(con, "link@delta.com", sf_contact_id="003K"),
        "reply": add_contact(con, "reply@delta.com"),
        "admin": add_contact(con, "admin@delta.com", sf_contact_id="003A", hs_contact_id="HS3"),
        "free": add_contact(con, "free@delta.com", sf_contact_id="003X"),
    }
    for name, cid in c.items():
        add_enrollment(con, cid, "seq1", state="queued", enrollment_id=f"en-{name}", next_step_at=T0 + H)
    return c


def test_mappings(con, ws):
    m = {x["crm"]: x for x in crmsync.mappings(con)}
    assert (m["salesforce"]["field"], m["salesforce"]["mode"], m["salesforce"]["column"]) == (
        "HasOptedOutOfEmail", "read_write", "sf_email_opt_out")
    assert m["salesforce"]["field_label"] == "Salesforce field 'Email Opt Out' (HasOptedOutOfEmail)"
    assert m["salesforce"]["flagged_contacts"] == 1 and m["salesforce"]["writable"]
    assert (m["hubspot"]["mode"], m["hubspot"]["flagged_contacts"], m["hubspot"]["writable"]) == ("read_only", 1, False)
    assert "nothing is written back" in m["hubspot"]["writes_back"]


def test_apply_crm_flags_opts_out_under_the_mapping_only(con, ws):
    out = crmsync.apply_crm_flags(con, REVOPS, at=T0)
    assert (out["new_opt_outs"], out["removed_enrollments"]) == (2, 2)
    got = {e["email"]: e for e in events(con, "opt_out")}
    assert set(got) == {"sf@acme.com", "hs@beta.com"}  # Do Not Email is not the mapped Salesforce field
    assert got["sf@acme.com"]["event_id"] == "crm-optout:sf@acme.com"
    assert json.loads(got["hs@beta.com"]["detail"]) == {"evidence": {"crm_fields": ["hubspot.hs_email_optout"]},
                                                        "crm": "hubspot", "field": "hs_email_optout",
                                                        "mode": "read_only"}
    assert all(e["source"] == "crm" for e in got.values())
    assert enrollment(con, "en-sf")["completion_reason"] == "opted_out"
    assert enrollment(con, "en-dne")["state"] == "queued"
    assert rows(con, "SELECT * FROM crm_writebacks") == []  # came from the CRM: nothing to write back
    [sync] = events(con, "crm_sync")
    assert json.loads(sync["detail"])["new_opt_outs"] == 2
    # a second run finds nothing new
    again = crmsync.apply_crm_flags(con, REVOPS, at=T0 + H)
    assert (again["new_opt_outs"], again["removed_enrollments"]) == (0, 0)
    with pytest.raises(PermissionDenied):
        crmsync.apply_crm_flags(con, SUPPORT)


def test_apply_crm_flags_after_a_reversal_uses_a_new_event_id(con, ws):
    crmsync.apply_crm_flags(con, REVOPS, at=T0)
    optouts.reverse_opt_out(con, SUPPORT, "sf@acme.com", permission_by="the contact", permission_at=T0 + H,
                            evidence="call notes of 2026-11-02, ticket SUP-7", at=T0 + 2 * H)
    con.execute("UPDATE contacts SET sf_email_opt_out = TRUE WHERE email = 'sf@acme.com'")  # set again in the CRM
    out = crmsync.apply_crm_flags(con, REVOPS, at=T0 + 3 * H)
    assert out["new_opt_outs"] == 1
    ids = [e["event_id"] for e in events(con, "opt_out", "sf@acme.com")]
    assert ids[0] == "crm-optout:sf@acme.com" and ids[1].startswith("crm-optout:sf@acme.com:")


def _opt_out_everyone(con):
    crmsync.apply_crm_flags(con, REVOPS, at=T0)
    add_event(con, "opt_out", T0 + H, email="link@delta.com", source="link", event_id="click-1")
    reply = add_event(con, "reply", T0 + H, email="reply@delta.com", text="remove me", label="opt_out")
    lifecycle.handle_opt_out_replies(con, SUPPORT, [reply], at=T0 + 2 * H)
    optouts.opt_out(con, SUPPORT, "admin@delta.com", source="admin", at=T0 + 3 * H)
    return reply


def test_provenance_of_every_opted_out_contact(con, ws):
    reply = _opt_out_everyone(con)
    p = crmsync.provenance(con, as_of=T0 + 5 * H).set_index("email")
    assert dict(p["origin"]) == {"sf@acme.com": "crm", "hs@beta.com": "crm", "link@delta.com": "link",
                                 "reply@delta.com": "reply", "admin@delta.com": "admin"}
    assert p.loc["link@delta.com", "evidence_event_id"] == "click-1"
    assert reply in p.loc["reply@delta.com", "evidence_detail"]
    assert p.loc["admin@delta.com", "evidence_actor"] == "sam"
    assert p.loc["admin@delta.com", "origin_label"] == "Admin opt-out"
    assert bool(p.loc["hs@beta.com", "crm_flag_hubspot"]) and not bool(p.loc["hs@beta.com", "crm_flag_salesforce"])
    assert list(p.loc["sf@acme.com", "crm_flags_set"]) == ["salesforce.HasOptedOutOfEmail"]
    assert p.loc["admin@delta.com", "writeback"] == "pending"
    # one contact
    one = crmsync.provenance(con, as_of=T0 + 5 * H, email=" Admin@Delta.com")
    assert list(one["email"]) == ["admin@delta.com"]


def test_provenance_of_a_flag_without_event(con, ws):
    p = crmsync.provenance(con, as_of=T0).set_index("email")
    assert set(p.index) == {"sf@acme.com", "hs@beta.com"}
    assert p.loc["hs@beta.com", "origin"] == "crm"
    assert "hubspot.hs_email_optout" in p.loc["hs@beta.com", "evidence_detail"]


def test_conflicts_under_read_write_mapping(con, ws):
    _opt_out_everyone(con)
    at = T0 + 5 * H
    # link@delta.com: opted out by a click, has a Salesforce id, Salesforce read & write, nothing written back
    assert list(crmsync.conflicts(con, as_of=at)["email"]) == ["link@delta.com"]
    # admin@delta.com has a pending write-back: not a conflict while pending or done; a failed one is
    [wb] = [r for r in rows(con, "SELECT * FROM crm_writebacks") if r["email"] == "admin@delta.com"]
    assert crmsync.mark_writebacks(con, REVOPS, [wb["writeback_id"]], status="failed") == 1
    assert sorted(crmsync.conflicts(con, as_of=at)["email"]) == ["admin@delta.com", "link@delta.com"]


def test_done_writeback_updates_the_local_mirror(con, ws):
    optouts.opt_out(con, SUPPORT, "admin@delta.com", source="admin", at=T0)
    assert len(crmsync.pending_writebacks(con)) == 1
    assert crmsync.mark_writebacks(con, REVOPS) == 1
    assert crmsync.pending_writebacks(con).empty
    assert con.execute("SELECT sf_email_opt_out, hs_opt_out FROM contacts WHERE email = 'admin@delta.com'"
                       ).fetchone() == (True, False)
    assert list(crmsync.writebacks(con, status="done")["email"]) == ["admin@delta.com"]
    assert crmsync.conflicts(con, as_of=T0 + H).empty


def test_read_only_mapping_never_conflicts_and_never_writes(con):
    doc = settings_doc(crm_mapping={"salesforce": {"field": "HasOptedOutOfEmail", "mode": "read_only"}})
    make_workspace(con, doc=doc)
    add_contact(con, "a@x.com", sf_contact_id="003A")
    optouts.opt_out(con, SYSTEM, "a@x.com", source="link", at=T0)
    assert crmsync.pending_writebacks(con).empty
    assert crmsync.conflicts(con, as_of=T0 + H).empty
    p = crmsync.provenance(con, as_of=T0 + H)
    assert list(p["origin"]) == ["link"] and not p["conflict"].any()
