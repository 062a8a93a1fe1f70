"""The workspace loader: every file, every bad input named by file/row/column, all or nothing, reloads."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from workspace_factory import (
    COMPANY_RECORDS_CSV,
    CONTACTS_CSV,
    ENROLLMENTS_CSV,
    EVENTS_CSV,
    NOW,
    OPPORTUNITIES_CSV,
    SETTINGS_YAML,
    csv_row,
    line_of,
    replace_row,
    with_column,
    with_row,
    write_workspace,
)

from unify_dash import cli
from unify_dash.actions import optouts
from unify_dash.errors import LoadError, PermissionDenied, Problem
from unify_dash.io import workspace as loader
from unify_dash.io.load import cli_load, load_workspace
from unify_dash.model import domains, roles
from unify_dash.model import settings as settings_mod
from unify_dash.store import db

# --- helpers ------------------------------------------------------------------------------------------


def dump(con, *, skip_audit: bool = False) -> dict:
    """Every table, rows sorted: two loads compare equal when this does."""
    out = {}
    for table in db.TABLES:
        if skip_audit and table == "audit_log":
            continue
        rows = con.execute(f"SELECT * FROM {db.ident(table)}").fetchall()
        if skip_audit and table == "meta":  # counters and the random token each saved settings version writes
            rows = [r for r in rows if r[0] not in ("data_generation", "settings_token")]
        out[table] = sorted(rows, key=repr)
    return out


def problems_of(con, folder) -> list[Problem]:
    with pytest.raises(LoadError) as exc:
        load_workspace(con, folder)
    assert "nothing was changed" in str(exc.value)
    return exc.value.problems


def one(problems: list[Problem], file: str, row, column) -> Problem:
    hits = [p for p in problems if p.file == file and p.row == row and p.column == column]
    assert hits, f"no problem at {file}/{row}/{column}: {[str(p) for p in problems]}"
    return hits[0]


@pytest.fixture
def loaded(con, tmp_path):
    folder = write_workspace(tmp_path)
    result = load_workspace(con, folder)
    return con, folder, result


# --- a good workspace ----------------------------------------------------------------------------------


def test_loads_every_file_with_counts(loaded):
    con, _, result = loaded
    assert {k: result[k] for k in db.RECORD_TABLES} == {
        "contacts": 5, "company_records": 3, "opportunities": 2, "enrollments": 3, "contact_records": 0,
        "company_members": 0}
    assert result["events_in_file"] == 3 and result["events_new"] == 3
    assert result["settings_version"] == 1 and result["settings_saved"] is True
    assert result["sources"] == {"contacts.csv": 5, "company_records.csv": 3, "opportunities.csv": 2,
                                 "enrollments.csv": 3, "events.csv": 3}
    assert result["warnings"] == []


def test_contacts_are_normalised(loaded):
    con, _, _ = loaded
    rows = {r[0]: r for r in con.execute(
        "SELECT contact_id, email, email_domain, is_free_mail, domain, sf_email_opt_out, hs_opt_out, created_at "
        "FROM contacts").fetchall()}
    assert rows["c1"][1:5] == ("ana@acme.com", "acme.com", False, "acme.com")  # " Ana@Acme.com " trimmed, lower
    assert rows["c3"][2:5] == ("gmail.com", True, None)  # free mail never makes a company
    assert rows["c4"][4:6] == ("globex.io", True)
    assert rows["c5"][5:] == (False, False, None)  # "no" and empty
    assert rows["c1"][7] == dt.datetime(2026, 1, 5)


def test_company_records_and_opportunities(loaded):
    con, _, _ = loaded
    recs = dict(con.execute("SELECT record_id, domain FROM company_records").fetchall())
    assert recs == {"sf:001A": "acme.com", "hs:9001": "acme.com", "sf:001G": "globex.io"}
    opp = con.execute("SELECT crm_id, is_closed, amount, created_at, close_date FROM opportunities "
                      "WHERE opportunity_id = 'sf:006A'").fetchone()
    assert opp == ("006A", False, 25000.0, dt.datetime(2026, 10, 1, 9, 0), dt.date(2026, 12, 15))


def test_enrollments_and_events(loaded):
    con, _, _ = loaded
    e = con.execute("SELECT state, current_step, play_id, completion_reason FROM enrollments ORDER BY enrollment_id"
                    ).fetchall()
    assert e == [("active", 1, "play_main", None), ("queued", 0, "play_main", None),
                 ("completed", 1, None, "finished")]
    ev = {r[0]: r[1:] for r in con.execute("SELECT event_id, contact_id, email, source, text FROM events").fetchall()}
    assert ev["ev2"] == ("c5", "eve@initech.com", "link", None)  # contact filled in from the email
    assert ev["ev3"] == ("c1", "ana@acme.com", None, "Please remove me from your list")  # email from the contact


def test_clock_settings_audit_generation(loaded):
    con, folder, _ = loaded
    assert db.now(con) == NOW
    assert db.get_meta(con, "workspace_name") == "Test workspace"
    version, s = settings_mod.settings_at(con, NOW)  # in effect at load time: no propagation delay
    assert version == 1 and [e.id for e in s.exclusions] == ["open_opp", "customers", "personal_email"]
    assert con.execute("SELECT created_at, effective_at FROM settings_versions").fetchone() == (NOW, NOW)
    audit = con.execute('SELECT actor, action, target, detail FROM audit_log').fetchall()
    assert [(a, b, c) for a, b, c, _ in audit] == [("system", "data.load", str(folder))]
    assert json.loads(audit[0][3])["contacts"] == 5
    assert db.generation(con) == 1


def test_crm_flags_under_the_mapping_become_opt_out_events(loaded):
    con, _, result = loaded
    assert result["crm_opt_outs_new"] == 2
    rows = con.execute("SELECT event_id, occurred_at, source, detail FROM events WHERE source = 'crm' ORDER BY 1"
                       ).fetchall()
    assert [r[0] for r in rows] == ["crm-optout:carol@gmail.com", "crm-optout:dan@globex.io"]
    assert all(r[1] == NOW and r[2] == "crm" for r in rows)
    assert json.loads(rows[1][3])["field"] == "HasOptedOutOfEmail"
    assert json.loads(rows[0][3])["crm"] == "hubspot"


def test_parquet_loads_like_csv(con, tmp_path):
    csv_folder = write_workspace(tmp_path, name="csv")
    other = duckdb.connect()
    pq: dict[str, str | None] = {}
    for stem in ("contacts", "company_records", "opportunities", "enrollments", "events"):
        out = tmp_path / f"{stem}.parquet"
        other.execute(f"COPY (SELECT * FROM read_csv(?, all_varchar = true)) TO '{out}' (FORMAT parquet)",
                      [str(csv_folder / f"{stem}.csv")])
        pq[f"{stem}.csv"] = None
    pq_folder = write_workspace(tmp_path, pq, name="parquet")
    for stem in ("contacts", "company_records", "opportunities", "enrollments", "events"):
        (tmp_path / f"{stem}.parquet").rename(pq_folder / f"{stem}.parquet")
    load_workspace(con, csv_folder)
    records = (*db.RECORD_TABLES, "events")
    expected = {t: v for t, v in dump(con).items() if t in records}
    con2 = db.connect(None)
    result = load_workspace(con2, pq_folder)
    assert result["sources"]["contacts.parquet"] == 5
    assert {t: v for t, v in dump(con2).items() if t in records} == expected


def test_typed_parquet_columns_are_accepted(con, tmp_path):
    """Parquet with real types (booleans, timestamps with time zone, integers) loads too."""
    folder = write_workspace(tmp_path, {"contacts.csv": None})
    duckdb.connect().execute(
        f"""COPY (SELECT * FROM (VALUES ('c1', 'ana@acme.com', true, TIMESTAMPTZ '2026-11-01 10:00:00+02'),
                                        ('c2', 'bob@acme.com', false, NULL),
                                        ('c3', 'carol@gmail.com', false, NULL),
                                        ('c4', 'dan@globex.io', false, NULL),
                                        ('c5', 'eve@initech.com', false, NULL))
                 t(contact_id, email, sf_email_opt_out, last_contacted_at))
            TO '{folder / "contacts.parquet"}' (FORMAT parquet)""")
    load_workspace(con, folder)
    assert con.execute("SELECT sf_email_opt_out, last_contacted_at FROM contacts WHERE contact_id = 'c1'"
                       ).fetchone() == (True, dt.datetime(2026, 11, 1, 8, 0))


def test_progress_is_reported(con, tmp_path):
    seen: list[tuple[float, str]] = []
    load_workspace(con, write_workspace(tmp_path), progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("contacts.csv" in m for _, m in seen)


def test_permission_is_checked(con, tmp_path):
    with pytest.raises(PermissionDenied):
        load_workspace(con, write_workspace(tmp_path), actor=roles.Actor("mia", "manager"))
    assert con.execute("SELECT count(*) FROM contacts").fetchone()[0] == 0
    load_workspace(con, write_workspace(tmp_path), actor=roles.Actor("rita", "revops"))
    assert con.execute("SELECT actor, role FROM audit_log").fetchall() == [("rita", "revops")]


def test_unknown_files_and_columns_are_warned_about(con, tmp_path):
    folder = write_workspace(tmp_path, {"notes.csv": "a\n1\n", "contacts.csv": with_column(CONTACTS_CSV, "shoe_size", "42")})
    result = load_workspace(con, folder)
    assert any("notes.csv" in w for w in result["warnings"])
    assert any("contacts.csv" in w and "shoe_size" in w for w in result["warnings"])


def test_optional_files_may_be_missing(con, tmp_path):
    folder = write_workspace(tmp_path, {"enrollments.csv": None, "events.csv": None, "workspace.yaml": None,
                                        "opportunities.csv": None, "company_records.csv": None})
    result = load_workspace(con, folder)
    assert (result["contacts"], result["company_records"], result["enrollments"]) == (5, 0, 0)
    assert db.get_meta(con, "clock") is None  # no `now:`: the wall clock


def test_settings_as_section_files_and_json(con, tmp_path):
    import yaml

    doc = yaml.safe_load(SETTINGS_YAML)
    files: dict[str, str | None] = {"settings.yaml": None}
    for section, value in doc.items():
        files[f"{section}.json" if section == "plays" else f"{section}.yaml"] = (
            json.dumps(value, indent=2) if section == "plays" else yaml.safe_dump({section: value}))
    load_workspace(con, write_workspace(tmp_path, files, name="sections"))
    sections = settings_mod.latest_version(con)[1]
    con2 = db.connect(None)
    load_workspace(con2, write_workspace(tmp_path, {"settings.yaml": None,
                                                            "settings.json": json.dumps(doc)}, name="json"))
    assert settings_mod.latest_version(con2)[1].to_json() == sections.to_json()


# --- reloads ---------------------------------------------------------------------------------------------


def test_loading_the_same_workspace_twice_gives_the_same_database(loaded):
    con, folder, _ = loaded
    before = dump(con, skip_audit=True)
    again = load_workspace(con, folder)
    assert again["settings_saved"] is False and again["settings_version"] == 1
    assert again["events_new"] == 0 and again["crm_opt_outs_new"] == 0
    assert dump(con, skip_audit=True) == before
    assert con.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 2  # each load is audited


def test_reload_replaces_records_and_keeps_history(loaded, tmp_path):
    con, _, _ = loaded
    contacts = "contact_id,email\nc1,ana@acme.com\nc2,bob@acme.com\nc5,eve@initech.com\nc9,zed@acme.com\n"
    folder = write_workspace(tmp_path, {"contacts.csv": contacts, "events.csv": None,
                                        "enrollments.csv": None}, name="second")
    load_workspace(con, folder)
    assert [r[0] for r in con.execute("SELECT contact_id FROM contacts ORDER BY 1").fetchall()] == [
        "c1", "c2", "c5", "c9"]
    # enrollments are the platform's progress: merged, never dropped by a reload (docs/ledger.md)
    assert con.execute("SELECT count(*) FROM enrollments").fetchone()[0] == 3
    # history stays: every event of the first load, the settings version, both audits
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 5
    assert con.execute("SELECT count(*) FROM settings_versions").fetchone()[0] == 1


def test_events_are_upserted_by_id(loaded, tmp_path):
    con, _, _ = loaded
    events = replace_row(EVENTS_CSV, 4, "ev3,2026-11-25T09:30:00,reply,,c1,seq_nurture,e3,1,,,Unsubscribe me,opt_out,")
    events = with_row(events, "ev4,2026-11-25T10:00:00,opt_out,bob@acme.com,,,,,admin,support@us,,,")
    load_workspace(con, write_workspace(tmp_path, {"events.csv": events}, name="second"))
    assert con.execute("SELECT text FROM events WHERE event_id = 'ev3'").fetchone() == ("Unsubscribe me",)
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 6
    load_workspace(con, write_workspace(tmp_path, {"events.csv": None}, name="third"))
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 6  # a reload never deletes an event


def test_changed_settings_make_a_version_in_effect_at_load_time(loaded, tmp_path):
    con, _, _ = loaded
    changed = SETTINGS_YAML.replace("name: Open opportunity", "name: Open opportunity (any CRM)")
    later = "name: Test workspace\nnow: 2026-11-27T10:00:00Z\n"
    result = load_workspace(con, write_workspace(tmp_path, {"settings.yaml": changed,
                                                                    "workspace.yaml": later}, name="second"))
    assert result["settings_saved"] is True and result["settings_version"] == 2
    when = dt.datetime(2026, 11, 27, 10, 0)
    assert settings_mod.settings_at(con, when)[0] == 2
    changes = con.execute("SELECT object_id, field, after FROM settings_changes WHERE version = 2").fetchall()
    assert changes == [("open_opp", "name", '"Open opportunity (any CRM)"')]


# --- opt-outs are never lost ------------------------------------------------------------------------------


def _status(con, email, when=NOW + dt.timedelta(days=1)):
    return optouts.opt_out_status(con, settings_mod.settings_at(con, when)[1], email, when)


def test_crm_opt_out_survives_a_cleared_flag_and_a_missing_contact(loaded, tmp_path):
    con, _, _ = loaded
    assert _status(con, "carol@gmail.com")["source"] == "crm"
    cleared = replace_row(CONTACTS_CSV, 4, "c3,carol@gmail.com,Carol,Jones,Founder,UK,,,,101,false,false,false,,,")
    load_workspace(con, write_workspace(tmp_path, {"contacts.csv": cleared}, name="cleared"))
    status = _status(con, "carol@gmail.com")
    assert status["event_id"] == "crm-optout:carol@gmail.com" and status["crm_flag"] is False
    gone = "\n".join(line for line in CONTACTS_CSV.split("\n") if not line.startswith("c3,")) + "\n"
    load_workspace(con, write_workspace(tmp_path, {"contacts.csv": gone}, name="gone"))
    assert con.execute("SELECT count(*) FROM events WHERE event_id = 'crm-optout:carol@gmail.com'").fetchone()[0] == 1
    load_workspace(con, write_workspace(tmp_path, {"contacts.csv": cleared}, name="back"))
    assert _status(con, "carol@gmail.com")["event_id"] == "crm-optout:carol@gmail.com"


def test_workspace_opt_outs_survive_reloads(loaded, tmp_path):
    con, _, _ = loaded
    assert _status(con, "eve@initech.com")["source"] == "link"
    load_workspace(con, write_workspace(tmp_path, {"events.csv": None}, name="no-events"))
    assert _status(con, "eve@initech.com")["source"] == "link"


PERMISSION = {"permission_by": "Carol Jones (the contact)", "permission_at": "2026-11-26T10:00",
              "evidence": "email of 2026-11-26, ticket SUP-31"}
SUPPORT = roles.Actor("sam", "support")


def test_flag_still_set_after_a_reversal_opts_out_again(loaded, tmp_path):
    con, _, _ = loaded
    optouts.reverse_opt_out(con, SUPPORT, "carol@gmail.com", **PERMISSION, at=NOW + dt.timedelta(hours=2))
    assert _status(con, "carol@gmail.com", NOW + dt.timedelta(hours=3)) is None
    # the HubSpot export still has the flag (the write-back is pending): the next load opts her out again
    later = "now: 2026-11-27T09:00:00\n"
    load_workspace(con, write_workspace(tmp_path, {"workspace.yaml": later}, name="reloaded"))
    ids = [r[0] for r in con.execute("SELECT event_id FROM events WHERE email = 'carol@gmail.com' AND "
                                     "type = 'opt_out' ORDER BY occurred_at").fetchall()]
    assert ids == ["crm-optout:carol@gmail.com", "crm-optout:carol@gmail.com:20261127T090000"]
    before = dump(con, skip_audit=True)
    load_workspace(con, write_workspace(tmp_path, {"workspace.yaml": later}, name="reloaded"))
    assert dump(con, skip_audit=True) == before


def test_reversal_without_the_flag_is_not_undone(loaded, tmp_path):
    con, _, _ = loaded
    cleared = replace_row(CONTACTS_CSV, 4, "c3,carol@gmail.com,Carol,Jones,Founder,UK,,,,101,false,false,false,,,")
    load_workspace(con, write_workspace(tmp_path, {"contacts.csv": cleared}, name="cleared"))
    optouts.reverse_opt_out(con, SUPPORT, "carol@gmail.com", **PERMISSION, at=NOW + dt.timedelta(hours=2))
    later = "now: 2026-11-27T09:00:00\n"
    load_workspace(con, write_workspace(tmp_path, {"contacts.csv": cleared, "workspace.yaml": later},
                                               name="reloaded"))
    assert _status(con, "carol@gmail.com", NOW + dt.timedelta(days=1)) is None


# --- all or nothing -------------------------------------------------------------------------------------

BAD_WORKSPACES = {
    "bad date": {"contacts.csv": replace_row(
        CONTACTS_CSV, 3, "c2,bob@acme.com,Bob,Smith,Engineer,US,,,,,false,false,false,31/02/2026,,2026-02-01")},
    "unknown ruleset": {"settings.yaml": SETTINGS_YAML.replace("ruleset: nurture", "ruleset: nurtur")},
    "enrollment of an unknown contact": {"enrollments.csv": replace_row(
        ENROLLMENTS_CSV, 2, "e1,c99,seq_outbound,active,play_main,n1,,1,,,")},
    "empty events file": {"events.csv": ""},
    "a row with too many values (DuckDB stops reading)": {
        "enrollments.csv": with_row(ENROLLMENTS_CSV, "e9,c1,seq_outbound,queued,,,,0,,,,,x")},
    "latin-1 bytes (DuckDB stops reading)": {"events.csv": with_row(EVENTS_CSV, "ev9,2026-11-20,reply,bob@acme.com"
                                                                    ",,,,,,,caf\u00e9,,").encode("latin-1")},
    "not a parquet file": {"company_records.csv": None, "company_records.parquet": "record_id\n"},
}


@pytest.mark.parametrize("case", sorted(BAD_WORKSPACES))
def test_a_failed_load_leaves_the_database_exactly_as_before(loaded, tmp_path, case):
    con, _, _ = loaded
    before = dump(con)
    generation = db.generation(con)
    bad = write_workspace(tmp_path, {**BAD_WORKSPACES[case], "workspace.yaml": "now: 2027-01-01T00:00:00\n"},
                          name="bad")
    problems_of(con, bad)
    assert dump(con) == before
    assert db.generation(con) == generation
    assert con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall() == []


def test_a_failed_first_load_writes_nothing(con, tmp_path):
    before = dump(con)
    problems_of(con, write_workspace(tmp_path, BAD_WORKSPACES["bad date"]))
    assert dump(con) == before


# --- bad input: file, row, column and what was expected ------------------------------------------------

CONTACTS_HEADER = CONTACTS_CSV.split("\n", 1)[0]

# case -> (overrides, file, row, column, fragments of the message)
BAD_INPUT = {
    "missing required column": (
        {"contacts.csv": "contact_id,first_name\nc1,Ana\n"},
        "contacts.csv", 1, "email", ["missing required column 'email'", "expected columns including contact_id"]),
    "bad date": (
        BAD_WORKSPACES["bad date"], "contacts.csv", 3, "last_contacted_at",
        ["'31/02/2026' is not a date/time", "expected ISO 8601"]),
    "impossible date": (
        {"opportunities.csv": replace_row(OPPORTUNITIES_CSV, 2, "sf:006A,salesforce,sf:001A,false,006A,Acme renewal,"
                                                                "Negotiation,false,2026-02-30,25000,")},
        "opportunities.csv", 2, "close_date", ["'2026-02-30' is not a date", "expected ISO 8601"]),
    "bad boolean": (
        {"contacts.csv": replace_row(CONTACTS_CSV, 4, "c3,carol@gmail.com,Carol,Jones,Founder,UK,,,,101,false,"
                                                      "false,maybe,,,")},
        "contacts.csv", 4, "hs_opt_out", ["'maybe' is not a boolean", "expected true/false, 1/0 or yes/no"]),
    "bad boolean in a required column": (
        {"opportunities.csv": replace_row(OPPORTUNITIES_CSV, 3, "hs:7001,hubspot,hs:9001,closed,7001,Acme pilot,"
                                                                "closedwon,true,2026-06-01,5000,2026-04-01")},
        "opportunities.csv", 3, "is_closed", ["'closed' is not a boolean"]),
    "bad number": (
        {"opportunities.csv": replace_row(OPPORTUNITIES_CSV, 2, "sf:006A,salesforce,sf:001A,false,006A,Acme renewal,"
                                                                "Negotiation,false,2026-12-15,25k,")},
        "opportunities.csv", 2, "amount", ["'25k' is not a number", "expected a number"]),
    "bad whole number": (
        {"company_records.csv": replace_row(COMPANY_RECORDS_CSV, 2, "sf:001A,salesforce,001A,Acme,acme.com,false,"
                                                                    "Software,about 500")},
        "company_records.csv", 2, "employees", ["'about 500' is not a whole number", "expected a whole number"]),
    "empty required value": (
        {"contacts.csv": replace_row(CONTACTS_CSV, 3, csv_row(CONTACTS_CSV, contact_id=" ", email="bob@acme.com"))},
        "contacts.csv", 3, "contact_id", ["is empty; a value is required"]),
    "bad email": (
        {"contacts.csv": replace_row(CONTACTS_CSV, 3, csv_row(CONTACTS_CSV, contact_id="c2", email="bob at acme.com"))},
        "contacts.csv", 3, "email", ["'bob at acme.com' is not an email address", "expected an address"]),
    "duplicate id": (
        {"contacts.csv": with_row(CONTACTS_CSV, csv_row(CONTACTS_CSV, contact_id="c2", email="robert@acme.com"))},
        "contacts.csv", 7, "contact_id", ["duplicate contact_id 'c2': also on row 3", "expected each contact_id once"]),
    "duplicate email": (
        {"contacts.csv": with_row(CONTACTS_CSV, csv_row(CONTACTS_CSV, contact_id="c9", email=" BOB@acme.com"))},
        "contacts.csv", 7, "email", ["duplicate email 'bob@acme.com': also on row 3"]),
    "duplicate record id": (
        {"company_records.csv": with_row(COMPANY_RECORDS_CSV, "sf:001A,salesforce,001B,Acme 2,acme.com,,,")},
        "company_records.csv", 5, "record_id", ["duplicate company record id 'sf:001A': also on row 2"]),
    "bad choice": (
        {"enrollments.csv": replace_row(ENROLLMENTS_CSV, 2, "e1,c2,seq_outbound,paused,play_main,n1,,1,,,")},
        "enrollments.csv", 2, "state", ["'paused' is not a valid state", "expected one of queued, active"]),
    "enrollment of an unknown contact": (
        BAD_WORKSPACES["enrollment of an unknown contact"], "enrollments.csv", 2, "contact_id",
        ["unknown contact 'c99'", "expected the contact_id of a contact"]),
    "enrollment in an unknown sequence": (
        {"enrollments.csv": replace_row(ENROLLMENTS_CSV, 4, "e3,c1,seq_gone,completed,,,finished,1,,,")},
        "enrollments.csv", 4, "sequence_id", ["unknown sequence 'seq_gone'", "expected one of"]),
    "enrollment on an unknown node": (
        {"enrollments.csv": replace_row(ENROLLMENTS_CSV, 2, "e1,c2,seq_outbound,active,play_main,n7,,1,,,")},
        "enrollments.csv", 2, "node_id", ["unknown node 'n7'"]),
    "enrollment in another sequence than its node": (
        {"enrollments.csv": replace_row(ENROLLMENTS_CSV, 2, "e1,c2,seq_nurture,active,play_main,n1,,1,,,")},
        "enrollments.csv", 2, "sequence_id", ["is not the sequence of this row's play node"]),
    "event of an unknown type": (
        {"events.csv": replace_row(EVENTS_CSV, 2, "ev1,2026-11-24T09:00:00,click,bob@acme.com,c2,,,,,,,,")},
        "events.csv", 2, "type", ["'click' is not a valid type", "expected one of send, opt_out"]),
    "opt-out from an unknown source": (
        {"events.csv": replace_row(EVENTS_CSV, 3, "ev2,2026-11-25T08:00:00,opt_out,eve@initech.com,,,,,carrier pigeon,,,,")},
        "events.csv", 3, "source", ["'carrier pigeon' is not valid", "expected one of link, reply, admin, crm"]),
    "event of nobody": (
        {"events.csv": replace_row(EVENTS_CSV, 2, "ev1,2026-11-24T09:00:00,send,,,seq_outbound,e1,1,,,,,")},
        "events.csv", 2, "event_id", ["has neither email nor contact_id"]),
    "event of an unknown contact": (
        {"events.csv": replace_row(EVENTS_CSV, 4, "ev3,2026-11-25T09:30:00,reply,,c42,,,,,,hi,,")},
        "events.csv", 4, "contact_id", ["unknown contact 'c42'"]),
    "reversal without permission": (
        {"events.csv": with_row(EVENTS_CSV, "rev1,2026-11-26T08:00:00,opt_out_reversal,eve@initech.com,,,,,,,,,")},
        "events.csv", 5, "detail", ["needs the permission record"]),
    "opportunity on an unknown record": (
        {"opportunities.csv": replace_row(OPPORTUNITIES_CSV, 3, "hs:7001,hubspot,hs:404,true,7001,,,,,,")},
        "opportunities.csv", 3, "record_id", ["unknown company record 'hs:404'", "expected the id of a company record"]),
    "opportunity on a record of another CRM": (
        {"opportunities.csv": replace_row(OPPORTUNITIES_CSV, 3, "hs:7001,hubspot,sf:001A,true,7001,,,,,,")},
        "opportunities.csv", 3, "record_id", ["is a salesforce record but the opportunity is from hubspot"]),
    "empty file": ({"contacts.csv": ""}, "contacts.csv", None, None, ["the file is empty", "expected a header row"]),
    "blank file": ({"company_records.csv": "\n  \n"}, "company_records.csv", None, None, ["the file is empty"]),
    "latin-1 bytes": (
        {"contacts.csv": replace_row(CONTACTS_CSV, 5, csv_row(CONTACTS_CSV, contact_id="c4", email="dan@globex.io",
                                                              first_name="D\u00e4n")).encode("latin-1")},
        "contacts.csv", 5, None, ["not valid UTF-8", "expected UTF-8"]),
    "latin-1 bytes in the header": (
        {"company_records.csv": ("record_id,crm,crm_id,n\u00e4me\n").encode("latin-1")},
        "company_records.csv", 1, None, ["byte 0xe4 is not valid UTF-8", "expected UTF-8"]),
    "utf-16 file": ({"contacts.csv": CONTACTS_CSV.encode("utf-16")}, "contacts.csv", 1, None,
                    ["UTF-16", "expected UTF-8"]),
    "too many values": (
        {"contacts.csv": replace_row(CONTACTS_CSV, 3, "c2,bob@acme.com" + "," * 15 + "extra")},
        "contacts.csv", 3, None, ["expected 16 values as in the header row, found 17"]),
    "unclosed quote": (
        {"contacts.csv": replace_row(CONTACTS_CSV, 4, 'c3,carol@gmail.com,"Carol' + "," * 13)},
        "contacts.csv", 4, None, ["a quoted value is not closed"]),
    "row numbers count records, not lines": (
        {"contacts.csv": replace_row(replace_row(CONTACTS_CSV, 4, "c3,carol@gmail.com,Carol,Jones,Founder,UK,,,,"
                                                                  "101,false,false,true,,,yesterday"),
                                     2, csv_row(CONTACTS_CSV, contact_id="c1", email="ana@acme.com", title="VP\nSales"))},
        "contacts.csv", 4, "created_at", ["'yesterday' is not a date/time"]),
    "a column twice": (
        {"company_records.csv": "record_id,crm,crm_id,Name,name\nsf:1,salesforce,1,A,B\n"},
        "company_records.csv", 1, "name", ["names column 'name' twice", "expected each column once"]),
    "bad workspace clock": ({"workspace.yaml": "name: x\nnow: next tuesday\n"}, "workspace.yaml", 2, "now",
                            ["'next tuesday' is not a date/time", "expected ISO 8601"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_names_file_row_and_column(con, tmp_path, case):
    overrides, file, row, column, fragments = BAD_INPUT[case]
    problem = one(problems_of(con, write_workspace(tmp_path, overrides)), file, row, column)
    for fragment in fragments:
        assert fragment in problem.message, str(problem)


def test_both_csv_and_parquet(con, tmp_path):
    folder = write_workspace(tmp_path)
    (folder / "contacts.parquet").write_bytes(b"PAR1")
    problem = one(problems_of(con, folder), "contacts.parquet", None, None)
    assert "both contacts.csv and contacts.parquet exist" in problem.message and "expected only one" in problem.message


def test_not_a_parquet_file(con, tmp_path):
    folder = write_workspace(tmp_path, {"events.csv": None})
    (folder / "events.parquet").write_text("event_id\nev1\n")
    problem = one(problems_of(con, folder), "events.parquet", None, None)
    assert "expected a Parquet file" in problem.message


def test_many_bad_rows_are_summarised(con, tmp_path):
    rows = "".join(f"c{i},user{i}@acme.com,,,,,,,,,,,,,,soon\n" for i in range(10, 30))
    problems = problems_of(con, write_workspace(tmp_path, {"contacts.csv": CONTACTS_CSV + rows}))
    bad = [p for p in problems if p.column == "created_at"]
    assert [p.row for p in bad] == [7, 8, 9]  # the first bad rows
    assert "(17 more rows like this)" in bad[-1].message


def test_no_contacts_and_no_settings(con, tmp_path):
    folder = write_workspace(tmp_path, {"contacts.csv": None, "settings.yaml": None})
    problems = problems_of(con, folder)
    assert "no settings" in problems[0].message and "settings.yaml" in problems[0].message
    folder = write_workspace(tmp_path, {"contacts.csv": None}, name="no-contacts")
    assert "no contacts" in problems_of(con, folder)[0].message
    assert "not a folder" in problems_of(con, tmp_path / "nowhere")[0].message


# --- settings errors point at the line ------------------------------------------------------------------

SETTINGS_BAD = {
    "unknown ruleset": ("ruleset: nurture", "ruleset: nurtur", "sequences[1].ruleset", "unknown ruleset 'nurtur'"),
    "unknown field": ("field: is_free_mail", "field: is_freemail", "exclusions[2].criteria.field",
                      "unknown field 'is_freemail'"),
    "unknown operator": ("op: gt, value: 0", "op: greater, value: 0", "exclusions[0].criteria.op",
                         "unknown operator 'greater'"),
    "unknown field in a filter": ("{field: email, op: not_equals", "{field: mail, op: not_equals",
                                  "exclusions[2].filters[0].field", "unknown field 'mail'"),
    "operator for another type": ("op: is_true}", "op: contains, value: x}", "exclusions[1].criteria.op",
                                  "does not apply to bool field"),
    "unknown exclusion in a ruleset": ("{open_opp: false, customers: true}", "{open_opp: false, customer: true}",
                                       "rulesets[1].exclusions.customer", "unknown exclusion 'customer'"),
    "unknown sequence in a play": ("sequence: seq_outbound}", "sequence: seq_x}", "plays[0].nodes[0].sequence",
                                   "unknown sequence 'seq_x'"),
    "bad mode": ("mode: read_write", "mode: write", "crm_mapping.hubspot.mode", "expected read_only or read_write"),
    "unknown section": ("org:\n", "organisation:\n", "organisation", "unknown section"),
}


@pytest.mark.parametrize("case", list(SETTINGS_BAD))
def test_settings_errors_name_the_line_and_key_path(con, tmp_path, case):
    old, new, path, fragment = SETTINGS_BAD[case]
    assert SETTINGS_YAML.count(old) == 1
    text = SETTINGS_YAML.replace(old, new)
    problem = one(problems_of(con, write_workspace(tmp_path, {"settings.yaml": text})), "settings.yaml",
                  line_of(text, new.strip().split("\n")[0]), path)
    assert fragment in problem.message


def test_settings_error_in_a_section_file(con, tmp_path):
    exclusions = ("- id: open_opp\n  criteria: {field: open_opportunities, op: gt, value: 0}\n"
                  "- id: customers\n  criteria:\n    field: is_customer\n    op: is_truthy\n")
    text = SETTINGS_YAML.split("exclusions:")[0] + "rulesets: []\n"
    folder = write_workspace(tmp_path, {"settings.yaml": text, "exclusions.yaml": exclusions})
    problem = one(problems_of(con, folder), "exclusions.yaml", 6, "exclusions[1].criteria.op")
    assert "unknown operator 'is_truthy'" in problem.message


def test_settings_errors_in_json_name_the_line(con, tmp_path):
    import yaml

    doc = yaml.safe_load(SETTINGS_YAML)
    doc["sequences"][1]["ruleset"] = "nope"
    text = json.dumps(doc, indent=2)
    folder = write_workspace(tmp_path, {"settings.yaml": None, "settings.json": text})
    one(problems_of(con, folder), "settings.json", line_of(text, '"nope"'), "sequences[1].ruleset")


@pytest.mark.parametrize("name, text, row, fragment", [
    ("settings.yaml", SETTINGS_YAML.replace("    name: Nurture\n", "    name: Nurture\n\tscope: x\n", 1),
     line_of(SETTINGS_YAML, "    name: Nurture") + 1, "invalid YAML"),
    ("settings.yaml", "org: {propagation_minutes: 15\nexclusions: []\n", 2, "invalid YAML"),
    ("settings.json", '{"org": {"propagation_minutes": 15},\n "exclusions": [],\n}\n', 3, "invalid JSON"),
    ("settings.yaml", "", None, "the file is empty"),
    ("settings.yaml", "- just\n- a list\n", 1, "expected a mapping with sections"),
    ("settings.yaml", "org:\n  name: caf\u00e9\n".encode("latin-1"), 2, "not valid UTF-8"),
])
def test_unreadable_settings(con, tmp_path, name, text, row, fragment):
    folder = write_workspace(tmp_path, {"settings.yaml": None, name: text})
    problems = problems_of(con, folder)
    problem = one(problems, name, row, None)
    assert fragment in problem.message
    if fragment.startswith("invalid"):
        assert f"line {row}, column" in problem.message


def test_yaml_comment_only_file_counts_as_empty_document(con, tmp_path):
    folder = write_workspace(tmp_path, {"settings.yaml": "# settings to come\n"})
    assert "expected a mapping" in problems_of(con, folder)[0].message


@pytest.mark.parametrize("files, fragment", [
    ({"exclusions.yaml": "[]\n"}, "defined in both settings.yaml"),
    ({"settings.json": "{}"}, "both settings.yaml and settings.json"),
    ({"settings.yaml": None, "rulesets.yaml": "[]\n", "rulesets.yml": "[]\n"}, "is defined in both"),
])
def test_settings_defined_twice(con, tmp_path, files, fragment):
    problems = problems_of(con, write_workspace(tmp_path, files))
    assert any(fragment in p.message for p in problems), [str(p) for p in problems]


# --- values are data, never code ---------------------------------------------------------------------------

HOSTILE = ["'; DROP TABLE contacts; --", "Robert'); DROP TABLE--", "<script>alert(1)</script>",
           '"quoted", with comma', "back\\slash ${x} {{y}} %s ?"]


def test_hostile_text_loads_as_plain_text(con, tmp_path):
    def q(v: str) -> str:
        return '"' + v.replace('"', '""') + '"'

    rows = "".join(csv_row(CONTACTS_CSV, contact_id=f"h{i}", email=f"h{i}@acme.com", first_name=v, last_name=v,
                           title=v, country=v) + "\n" for i, v in enumerate(HOSTILE))
    events = "".join(f"x{i},2026-11-20,reply,h{i}@acme.com,,,,,,{q(v)},{q(v)},{q(v)},{q(v)}\n"
                     for i, v in enumerate(HOSTILE))
    folder = write_workspace(tmp_path / "it's; DROP TABLE x", {
        "contacts.csv": CONTACTS_CSV + rows, "events.csv": EVENTS_CSV + events,
        "company_records.csv": with_row(COMPANY_RECORDS_CSV, f"sf:x,salesforce,x,{q(HOSTILE[0])},{q(HOSTILE[2])},,,")})
    load_workspace(con, folder)
    got = con.execute("SELECT first_name, last_name, title, country FROM contacts WHERE contact_id LIKE 'h%' "
                      "ORDER BY contact_id").fetchall()
    assert got == [(v, v, v, v) for v in HOSTILE]
    got = con.execute("SELECT actor, text, label, detail FROM events WHERE event_id LIKE 'x%' ORDER BY event_id"
                      ).fetchall()
    assert got == [(v, v, v, v) for v in HOSTILE]
    assert con.execute("SELECT name, website, domain FROM company_records WHERE record_id = 'sf:x'").fetchone() == (
        HOSTILE[0], HOSTILE[2], None)
    assert con.execute("SELECT count(*) FROM contacts").fetchone()[0] == 5 + len(HOSTILE)


def test_hostile_header_names_are_never_sql(con, tmp_path):
    contacts = with_column(CONTACTS_CSV, '"x"") FROM contacts; DROP TABLE contacts; --"')
    result = load_workspace(con, write_workspace(tmp_path, {"contacts.csv": contacts}))
    assert result["contacts"] == 5 and any("DROP TABLE" in w for w in result["warnings"])


# --- normalisation: SQL and Python agree ----------------------------------------------------------------

DOMAIN_CASES = [
    ("https://www.Acme.com/about", "acme.com"), ("ACME.com", "acme.com"), ("http://acme.com:8080/x", "acme.com"),
    ("www.acme.com", "acme.com"), (" acme.com ", "acme.com"), ("gmail.com", "gmail.com"),
    ("bob@Sales.ACME.com", "sales.acme.com"), ("HTTPS://WWW.ACME.COM", "acme.com"),
    ("ftp://files.acme.co.uk?x=1#top", "files.acme.co.uk"), ("user:pw@host.io/path", "host.io"),
    ("mailto:bob@acme.com", "acme.com"), ("acme.com.", "acme.com"), ("..www.acme.com", "acme.com"),
    ("\u00a0acme.com\u2003", "acme.com"), ("a/b@c.com", "c.com"), ("x.com/b@c.org://d", "x.com"),
    ("", None), (None, None), ("nan", None), ("acme", None), ("a b.com", None), ("www.", None), ("www.com", None),
    ("http://", None), ("localhost:8080", None),
]


@pytest.mark.parametrize("value, expected", DOMAIN_CASES)
def test_domain_normalisation_sql_matches_python(con, value, expected):
    assert domains.normalize_domain(value) == expected
    assert loader.sql_normalize_domain(con, [value]) == [expected]


_SHARED = duckdb.connect()
loader.install_sql_helpers(_SHARED)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("aAbW.w:/@?#- _09\t\u00a0xyzhtps")), max_size=24),
                min_size=1, max_size=30))
def test_domain_normalisation_sql_matches_python_on_any_text(values):
    got = loader.sql_normalize_domain(_SHARED, values, install=False)
    assert got == [domains.normalize_domain(v) for v in values]


@pytest.mark.parametrize("email, website, expected", [
    ("bob@acme.com", None, "acme.com"), ("bob@gmail.com", None, None), ("bob@gmail.com", "https://www.acme.com/x", "acme.com"),
    ("bob@acme.com", "gmail.com", "acme.com"), ("bob@www.acme.com", "", "acme.com"), ("Bob@Outlook.COM", None, None),
    ("x@co.uk", "http://Globex.io:8080/", "globex.io"), ("no-at-sign", None, None),
])
def test_company_domain_sql_matches_python(con, email, website, expected):
    normalised = domains.normalize_email(email)
    assert domains.company_domain(normalised, website) == expected
    assert loader.sql_company_domain(con, [(normalised, website)]) == [expected]


@pytest.mark.parametrize("text, expected", [
    ("2026-11-02", dt.datetime(2026, 11, 2)),
    ("2026-11-02T09:30:00", dt.datetime(2026, 11, 2, 9, 30)),
    ("2026-11-02 09:30", dt.datetime(2026, 11, 2, 9, 30)),
    ("2026-11-02T09:30:00Z", dt.datetime(2026, 11, 2, 9, 30)),
    ("2026-11-02T09:30:00+01:00", dt.datetime(2026, 11, 2, 8, 30)),
    ("2026-11-02T09:30:00-05:30", dt.datetime(2026, 11, 2, 15, 0)),
    ("2026-03-01T10:00:00.000+0000", dt.datetime(2026, 3, 1, 10, 0)),  # Salesforce
    ("2026-03-01 10:00", dt.datetime(2026, 3, 1, 10, 0)),  # HubSpot
    ("2026-03-01T10:00:00.123456", dt.datetime(2026, 3, 1, 10, 0, 0, 123456)),
    ("  2026-3-1 ", dt.datetime(2026, 3, 1)),
    ("2026-02-30", None), ("02/03/2026", None), ("20260301", None), ("tomorrow", None), ("2026-03-01T25:00", None),
])
def test_timestamps(con, text, expected):
    loader.install_sql_helpers(con)
    assert con.execute("SELECT _ud_ts(?)", [text]).fetchone()[0] == expected


@pytest.mark.parametrize("text, expected", [
    ("true", True), ("TRUE", True), (" yes ", True), ("Yes", True), ("1", True),
    ("false", False), ("No", False), ("0", False), ("FALSE", False),
    ("y", None), ("maybe", None), ("2", None), ("", None),
])
def test_booleans(con, text, expected):
    loader.install_sql_helpers(con)
    assert con.execute("SELECT _ud_bool(?)", [text]).fetchone()[0] == expected


# --- command line ---------------------------------------------------------------------------------------------


def test_cli_load_prints_a_summary(tmp_path, capsys):
    folder = write_workspace(tmp_path)
    db_path = tmp_path / "unify.duckdb"
    assert cli.main(["load", str(folder), "--db", str(db_path)]) == 0
    out = capsys.readouterr().out
    assert "contacts" in out and "5" in out and "settings saved as version 1" in out
    con = db.connect(db_path)
    assert con.execute("SELECT count(*) FROM contacts").fetchone()[0] == 5
    con.close()


def test_cli_load_reports_problems_and_exits_1(tmp_path, capsys):
    folder = write_workspace(tmp_path, BAD_INPUT["bad date"][0])
    assert cli.main(["load", str(folder), "--db", str(tmp_path / "x.duckdb")]) == 1
    err = capsys.readouterr().err
    assert "contacts.csv, row 3, column 'last_contacted_at'" in err and "nothing was changed" in err


def test_cli_load_function_lets_load_errors_through(tmp_path):
    import argparse

    folder = write_workspace(tmp_path, {"events.csv": ""})
    with pytest.raises(LoadError):
        cli_load(argparse.Namespace(dir=str(folder), db=str(tmp_path / "y.duckdb")))


def test_node_line_walks_paths():
    doc = loader.parse_document("a:\n  - x: 1\n  - x: 2\n    y:\n      z.w: 3\n", "f.yaml")
    assert loader.node_line(doc.node, "a[1].x") == 3
    assert loader.node_line(doc.node, "a[1].y.z.w") == 5
    assert loader.node_line(doc.node, "a[1].missing") == 3
    assert loader.node_line(doc.node, "a[7]") == 1


def test_files_are_read_with_paths_as_parameters(con, tmp_path):
    """A folder name that looks like SQL is only ever a parameter."""
    folder = write_workspace(tmp_path / "x'); DROP TABLE contacts; --")
    assert load_workspace(con, Path(folder))["contacts"] == 5


def test_bulk_event_loads_rebuild_the_event_indexes(con, tmp_path, monkeypatch):
    monkeypatch.setattr(loader, "EVENTS_BULK", 1)
    folder = write_workspace(tmp_path)
    load_workspace(con, folder)
    load_workspace(con, folder)
    names = {r[0] for r in con.execute("SELECT index_name FROM duckdb_indexes() WHERE table_name = 'events'"
                                       ).fetchall()}
    assert {"key_events_event_id", "idx_events_email"} <= names and "idx_events_contact" not in names
    assert con.execute("SELECT count(*) FROM events WHERE email = 'eve@initech.com'").fetchone()[0] == 1


def test_crm_origin_is_recorded_even_after_another_opt_out(con, tmp_path):
    """Carol clicked the opt-out link before; her HubSpot flag still gets its own crm event, so the
    CRM page can tell that the CRM says so too."""
    events = with_row(EVENTS_CSV, "ev5,2026-11-20T08:00:00,opt_out,carol@gmail.com,,,,,link,,,,")
    load_workspace(con, write_workspace(tmp_path, {"events.csv": events}))
    got = con.execute("SELECT event_id, source FROM events WHERE email = 'carol@gmail.com' ORDER BY occurred_at"
                      ).fetchall()
    assert got == [("ev5", "link"), ("crm-optout:carol@gmail.com", "crm")]
