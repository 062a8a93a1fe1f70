"""The opt-out ledger against loads (issue 9): every attack a loaded file can try, the reversal's
permission record, the monotonic clock, the merge of the platform's history, email identity and the
load's audit row."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from workspace_factory import (
    CONTACTS_CSV,
    ENROLLMENTS_CSV,
    EVENTS_CSV,
    NOW,
    replace_row,
    with_row,
    write_workspace,
)

from unify_dash import scheduler
from unify_dash.actions import optouts
from unify_dash.errors import LoadError, ValidationError
from unify_dash.io.load import load_workspace
from unify_dash.model import identity, roles
from unify_dash.model import settings as settings_mod
from unify_dash.store import db

SUPPORT = roles.Actor("sam", "support")
H = dt.timedelta(hours=1)
HEADER = EVENTS_CSV.split("\n")[0]
# eve@initech.com opted out by link (ev2, events.csv row 3); carol@gmail.com by her HubSpot flag
EV2 = "ev2,2026-11-25T08:00:00,opt_out,eve@initech.com,,,,,link,,,,"


def status(con, email, when=None):
    when = when or db.now(con)
    return optouts.opt_out_status(con, settings_mod.settings_at(con, when)[1], email, when)


@pytest.fixture
def loaded(con, tmp_path):
    load_workspace(con, write_workspace(tmp_path))
    assert status(con, "eve@initech.com")["event_id"] == "ev2"
    return con


def refused(con, folder) -> list:
    with pytest.raises(LoadError) as exc:
        load_workspace(con, folder)
    return exc.value.problems


# --- the five attacks of the issue: each ended the opt-out before -------------------------------------

ATTACKS = {
    # a reversal row with a placeholder permission record
    "add a reversal": (with_row(EVENTS_CSV, "rv1,2026-11-25T12:00:00,opt_out_reversal,eve@initech.com,,,,,link,"
                                            "mallory,,,x"), 5, "type"),
    # the recorded opt-out retyped into a reversal, or into something harmless
    "retype into a reversal": (replace_row(EVENTS_CSV, 3, EV2.replace(",opt_out,", ",opt_out_reversal,")
                                           .rstrip(",") + ",,,,x"), 3, "type"),
    "retype into a send": (replace_row(EVENTS_CSV, 3, EV2.replace(",opt_out,", ",send,")), 3, "type"),
    # moved into the future, where "now" does not see it
    "re-date into the future": (replace_row(EVENTS_CSV, 3, EV2.replace("2026-11-25T08:00:00", "2027-06-01T08:00:00")),
                                3, "occurred_at"),
    # moved to another address
    "re-assign to another email": (replace_row(EVENTS_CSV, 3, EV2.replace("eve@initech.com", "bob@acme.com")),
                                   3, "email"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_load_cannot_end_a_recorded_opt_out(loaded, tmp_path, attack):
    con = loaded
    events, row, column = ATTACKS[attack]
    before = con.execute("SELECT * FROM events ORDER BY event_id").fetchall()
    problems = refused(con, write_workspace(tmp_path, {"events.csv": events}, name="attack"))
    hits = [p for p in problems if p.file == "events.csv" and p.row == row and p.column == column]
    assert hits, [str(p) for p in problems]
    assert "opt-out" in hits[0].message and ("cannot be changed by a load" in hits[0].message
                                              or "cannot end a recorded opt-out" in hits[0].message)
    # nothing changed: the opt-out is in force, now and later
    assert con.execute("SELECT * FROM events ORDER BY event_id").fetchall() == before
    assert status(con, "eve@initech.com")["event_id"] == "ev2"
    assert status(con, "eve@initech.com", NOW + dt.timedelta(days=400))["event_id"] == "ev2"


def test_a_crm_opt_out_with_its_predictable_id_cannot_be_retyped(loaded, tmp_path):
    con = loaded
    events = with_row(EVENTS_CSV, "crm-optout:carol@gmail.com,2026-11-26T09:00:00,send,carol@gmail.com,,,,,,,,,")
    problems = refused(con, write_workspace(tmp_path, {"events.csv": events}, name="attack"))
    assert any(p.row == 5 and p.column == "type" and "crm-optout:carol@gmail.com" in p.message for p in problems)
    assert status(con, "carol@gmail.com")["source"] == "crm"


def test_an_opt_out_recorded_by_contact_id_stays_with_its_email(con, tmp_path):
    """An opt-out event that names only a contact id is keyed to that contact's email when recorded:
    a later contacts.csv that gives the id another address does not move the opt-out."""
    events = with_row(EVENTS_CSV, "ev9,2026-11-25T10:00:00,opt_out,,c2,,,,admin,sam,,,")
    load_workspace(con, write_workspace(tmp_path, {"events.csv": events}))
    assert status(con, "bob@acme.com")["event_id"] == "ev9"
    moved = replace_row(CONTACTS_CSV, 3, "c2,bobby@acme.com,Bob,Smith,Engineer,US,,,,,false,false,false,,,2026-02-01")
    # the same events file now says ev9 belongs to bobby@: refused, naming the row and the contact_id column
    problems = refused(con, write_workspace(tmp_path, {"contacts.csv": moved, "events.csv": events}, name="moved"))
    assert any(p.row == 5 and p.column == "contact_id" and "cannot be changed" in p.message for p in problems)
    load_workspace(con, write_workspace(tmp_path, {"contacts.csv": moved, "events.csv": None}, name="moved"))
    assert status(con, "bobby@acme.com") is None
    assert con.execute("SELECT email FROM events WHERE event_id = 'ev9'").fetchone() == ("bob@acme.com",)


def test_a_load_may_add_opt_out_evidence_and_keep_it_unchanged(loaded, tmp_path):
    con = loaded
    events = with_row(EVENTS_CSV, "ev7,2026-11-25T11:00:00,opt_out,bob@acme.com,,,,,link,,,,")
    result = load_workspace(con, write_workspace(tmp_path, {"events.csv": events}, name="more"))
    assert status(con, "bob@acme.com")["event_id"] == "ev7"
    assert result["events_new"] == 1
    load_workspace(con, write_workspace(tmp_path, {"events.csv": events}, name="more"))  # same rows: fine


def test_a_first_import_may_bring_a_documented_reversal_of_its_own_opt_out(con, tmp_path):
    permission = json.dumps({"permission_by": "Eve Davis (the contact)", "permission_at": "2026-11-25 10:00",
                             "evidence": "email of 2026-11-25, ticket SUP-9"}).replace('"', '""')
    events = with_row(EVENTS_CSV, f'rv1,2026-11-25T11:00:00,opt_out_reversal,eve@initech.com,,,,,link,sam,,,'
                                  f'"{permission}"')
    load_workspace(con, write_workspace(tmp_path, {"events.csv": events}))
    assert status(con, "eve@initech.com") is None
    # the same history with a placeholder permission record is refused, naming the detail column
    bad = with_row(EVENTS_CSV, "rv1,2026-11-25T11:00:00,opt_out_reversal,eve@initech.com,,,,,link,sam,,,x")
    problems = refused(db.connect(None), write_workspace(tmp_path, {"events.csv": bad}, name="bad"))
    assert any(p.row == 5 and p.column == "detail" and "permission" in p.message for p in problems)


# --- the reversal's permission record ------------------------------------------------------------------


@pytest.mark.parametrize("field,value,message", [
    ("permission_by", "-", "is not a name"),
    ("permission_by", "\u200b\u200b", "cannot be seen"),
    ("permission_by", "Bob\u202e Jones", "cannot be seen"),
    ("evidence", "x", "is not a reference"),
    ("evidence", "ok", "is not a reference"),
    ("evidence", "see ticket", "is not a reference"),
    ("permission_at", "2026-11-20T09:00", "before the opt-out"),
    ("permission_at", "2027-02-01T09:00", "in the future"),
])
def test_reversal_permission_is_validated_as_a_compliance_officer_would(loaded, field, value, message):
    con = loaded
    good = {"permission_by": "Eve Davis (the contact)", "permission_at": "2026-11-25T10:00",
            "evidence": "email of 2026-11-25, ticket SUP-9"}
    with pytest.raises(ValidationError, match=message):
        optouts.reverse_opt_out(con, SUPPORT, "eve@initech.com", **{**good, field: value}, at=NOW)
    assert status(con, "eve@initech.com")["event_id"] == "ev2"
    out = optouts.reverse_opt_out(con, SUPPORT, "eve@initech.com", **good, at=NOW)
    audit = json.loads(con.execute("SELECT detail FROM audit_log WHERE action = 'contact.reverse_opt_out'"
                                   ).fetchone()[0])
    assert audit["before"]["event_id"] == "ev2" and audit["after"]["opted_out"] is False
    assert audit["event_id"] == out["event_id"]


# --- the clock never goes back; history is merged, never rewound ---------------------------------------


def test_a_reload_with_an_older_pinned_now_does_not_rewind(loaded, tmp_path):
    con = loaded
    scheduler.run_until(con, NOW + dt.timedelta(days=5))
    late = NOW + dt.timedelta(days=4)
    optouts.opt_out(con, SUPPORT, "bob@acme.com", source="admin", at=late)
    sends = con.execute("SELECT count(*) FROM events WHERE type = 'send'").fetchone()[0]
    progress = con.execute("SELECT enrollment_id, state, current_step FROM enrollments ORDER BY 1").fetchall()
    log = con.execute("SELECT count(*) FROM execution_log").fetchone()[0]
    result = load_workspace(con, write_workspace(tmp_path, name="again"))  # now: 2026-11-26 09:00 again
    assert db.now(con) == NOW + dt.timedelta(days=5)
    assert any("never goes back" in w for w in result["warnings"])
    assert status(con, "bob@acme.com")["source"] == "admin"
    assert con.execute("SELECT enrollment_id, state, current_step FROM enrollments ORDER BY 1").fetchall() == progress
    assert con.execute("SELECT count(*) FROM execution_log").fetchone()[0] == log
    # the next sends email nobody twice and nobody opted out
    scheduler.run_until(con, NOW + dt.timedelta(days=12))
    twice = con.execute("SELECT enrollment_id, step, count(*) FROM events WHERE type = 'send' "
                        "GROUP BY ALL HAVING count(*) > 1").fetchall()
    assert twice == []
    assert con.execute("SELECT count(*) FROM events WHERE type = 'send' AND email = 'bob@acme.com' AND occurred_at > ?",
                       [late]).fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM events WHERE type = 'send'").fetchone()[0] >= sends


def test_a_reload_keeps_enrollment_progress_unless_the_file_is_newer(loaded, tmp_path):
    con = loaded
    con.execute("UPDATE enrollments SET current_step = 2, updated_at = ? WHERE enrollment_id = 'e1'",
                [NOW + H])
    load_workspace(con, write_workspace(tmp_path, name="again"))
    assert con.execute("SELECT current_step FROM enrollments WHERE enrollment_id = 'e1'").fetchone() == (2,)
    newer = replace_row(ENROLLMENTS_CSV, 2, "e1,c2,seq_outbound,completed,play_main,n1,replied,2,,"
                                            "2026-11-20T09:00:00,2026-11-26T12:00:00")
    load_workspace(con, write_workspace(tmp_path, {"enrollments.csv": newer}, name="newer"))
    assert con.execute("SELECT state, completion_reason FROM enrollments WHERE enrollment_id = 'e1'"
                       ).fetchone() == ("completed", "replied")


# --- the load's audit row ------------------------------------------------------------------------------


def test_a_load_audits_counts_per_table_and_each_opt_out_it_added(con, tmp_path):
    load_workspace(con, write_workspace(tmp_path))
    [(detail, at, wall)] = con.execute("SELECT detail, \"at\", wall_at FROM audit_log WHERE action = 'data.load'"
                                       ).fetchall()
    detail = json.loads(detail)
    assert detail["changes"]["contacts"] == {"before": 0, "after": 5}
    assert detail["changes"]["events"] == {"before": 0, "after": 5}
    assert sorted((o["event_id"], o["source"]) for o in detail["opt_outs_added"]) == [
        ("crm-optout:carol@gmail.com", "crm"), ("crm-optout:dan@globex.io", "crm"), ("ev2", "link")]
    assert at == NOW and abs((wall - dt.datetime.now(dt.UTC).replace(tzinfo=None)).total_seconds()) < 300


# --- email identity ------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw,normal", [
    (" Bob@Acme.COM ", "bob@acme.com"),
    ("ＢＯＢ@ａｃｍｅ.com", "bob@acme.com"),  # full-width (NFKC)
    ("bob@Bücher.example", "bob@xn--bcher-kva.example"),  # IDN -> punycode
    ("ﬁn@acme.com", "fin@acme.com"),  # ligature (NFKC)
])
def test_emails_have_one_normal_form(raw, normal):
    assert identity.normalize_email(raw) == normal


@pytest.mark.parametrize("raw", ["bob\u200b@acme.com", "bob@acme\u200d.com", "\u202ebob@acme.com", "bob\u200e@acme.com",
                                 "bo\x07b@acme.com", "\ufeffbob@acme.com", "bob\u2066@acme.com"])
def test_hidden_characters_are_refused(raw):
    with pytest.raises(ValidationError, match="cannot be seen"):
        identity.normalize_email(raw)


def test_a_load_refuses_hidden_characters_naming_file_row_and_column(loaded, tmp_path):
    con = loaded
    contacts = with_row(CONTACTS_CSV, "c6,bob\u200b@acme.com,Bob,Two,,US,,,,,false,false,false,,,")
    contacts = with_row(contacts, "c7,\u202eeve@initech.com,Eve,Two,,US,,,,,false,false,false,,,")
    problems = refused(con, write_workspace(tmp_path, {"contacts.csv": contacts}, name="hidden"))
    hits = {(p.file, p.row, p.column) for p in problems if "cannot be seen" in p.message}
    assert hits == {("contacts.csv", 7, "email"), ("contacts.csv", 8, "email")}


def test_a_load_normalises_and_flags_look_alikes(con, tmp_path):
    contacts = with_row(CONTACTS_CSV, "c6,ＢＯＢ@Bücher.example,Bob,Two,,US,,,,,false,false,false,,,")
    contacts = with_row(contacts, "c7,ann@pаypal.com,Ann,Lookalike,,US,,,,,false,false,false,,,")  # Cyrillic а
    result = load_workspace(con, write_workspace(tmp_path, {"contacts.csv": contacts}))
    emails = {r[0] for r in con.execute("SELECT email FROM contacts").fetchall()}
    assert "bob@xn--bcher-kva.example" in emails
    assert any("row 8" in w and "Cyrillic and Latin" in w for w in result["warnings"])


def test_actions_look_contacts_up_by_the_normal_form(loaded):
    con = loaded
    out = optouts.opt_out(con, SUPPORT, " BOB@ＡＣＭＥ.com", source="admin")
    assert out["email"] == "bob@acme.com"
    with pytest.raises(ValidationError, match="cannot be seen"):
        optouts.opt_out(con, SUPPORT, "bob\u200b@acme.com", source="admin")


# --- one relation: every consumer gives the same answer ---------------------------------------------


def test_contact_header_profile_and_explain_agree_after_a_load(con, tmp_path):
    """Carol clicked the opt-out link on Nov 20; the load also records her HubSpot flag. The header
    (opt_out_status) said 'crm' (newest event) while the Profile (provenance) said 'link' (first)."""
    from unify_dash import engine
    from unify_dash.actions import crmsync

    events = with_row(EVENTS_CSV, "ev5,2026-11-20T08:00:00,opt_out,carol@gmail.com,,,,,link,,,,")
    load_workspace(con, write_workspace(tmp_path, {"events.csv": events}))
    header = status(con, "carol@gmail.com")
    profile = crmsync.provenance(con, email="carol@gmail.com").iloc[0]
    explained = engine.explain(con, "carol@gmail.com")["opt_out"]
    assert header["source"] == profile["origin"] == explained["source"] == "link"
    assert header["event_id"] == profile["evidence_event_id"] == explained["event_id"] == "ev5"
    assert header["opted_out_at"] == profile["opted_out_at"] == dt.datetime(2026, 11, 20, 8)


def test_provenance_resolves_an_opt_out_recorded_by_contact_id(con):
    from lifecycle_factory import T0, add_contact, add_event, make_workspace

    from unify_dash.actions import crmsync

    make_workspace(con)
    cid = add_contact(con, "lin@delta.com")
    add_event(con, "opt_out", T0 - H, contact_id=cid, email=None, source="link", event_id="click-by-id")
    p = crmsync.provenance(con, as_of=T0).set_index("email").loc["lin@delta.com"]
    assert (p["origin"], p["evidence_event_id"]) == ("link", "click-by-id")
    assert status(con, "lin@delta.com", T0)["event_id"] == "click-by-id"


def test_the_reply_queue_leaves_out_contacts_opted_out_by_a_crm_flag(con):
    from lifecycle_factory import T0, add_contact, make_workspace

    from unify_dash.actions import enrollments as lifecycle

    make_workspace(con)
    add_contact(con, "flag@delta.com", sf_email_opt_out=True)  # Salesforce HasOptedOutOfEmail is mapped
    add_contact(con, "plain@delta.com")
    for email in ("flag@delta.com", "plain@delta.com"):
        lifecycle.record_reply(con, email, "Please remove me from your list", at=T0)
    queue = lifecycle.opt_out_reply_queue(con, as_of=T0 + H)
    assert list(queue["email"]) == ["plain@delta.com"]
    assert status(con, "flag@delta.com", T0 + H)["source"] == "crm"
