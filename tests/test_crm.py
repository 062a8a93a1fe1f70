"""Salesforce and HubSpot exports (tests/fixtures: real column names and value formats) -> the schema."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from workspace_factory import (
    NOW,
    SETTINGS_YAML,
    csv_row,
    line_of,
    replace_row,
    with_row,
    write_workspace,
)

from unify_dash.actions import optouts
from unify_dash.errors import LoadError
from unify_dash.io.load import load_workspace
from unify_dash.model import settings as settings_mod
from unify_dash.model import vocabulary
from unify_dash.store import db

FIXTURES = Path(__file__).parent / "fixtures"
EXPORTS = {str(p.relative_to(FIXTURES)): p.read_text(encoding="utf-8") for p in sorted(FIXTURES.rglob("*.csv"))}
WORKSPACE_RECORDS = ("contacts.csv", "company_records.csv", "opportunities.csv", "enrollments.csv", "events.csv")
DO_NOT_EMAIL = SETTINGS_YAML.replace("salesforce: {field: HasOptedOutOfEmail, mode: read_only}",
                                     "salesforce: {field: Do_Not_Email__c, mode: read_write}")


def crm_workspace(tmp_path, overrides: dict | None = None, *, with_workspace_records: bool = False,
                  name: str = "crm") -> Path:
    """The fixture exports + settings.yaml (+ workspace.yaml); the workspace's own record files only on demand."""
    files: dict = dict(EXPORTS)
    if not with_workspace_records:
        files.update({f: None for f in WORKSPACE_RECORDS})
    files.update(overrides or {})
    return write_workspace(tmp_path, files, name=name)


@pytest.fixture
def crm(con, tmp_path):
    result = load_workspace(con, crm_workspace(tmp_path))
    return con, result


def rows(con, sql, params=None):
    return con.execute(sql, params or []).fetchall()


def status(con, email):
    return optouts.opt_out_status(con, settings_mod.settings_at(con, NOW)[1], email, NOW)


# --- what lands where ----------------------------------------------------------------------------------


def test_a_folder_of_crm_exports_and_settings_loads(crm):
    con, result = crm
    assert {k: result[k] for k in db.RECORD_TABLES} == {
        "contacts": 10, "company_records": 8, "opportunities": 7, "enrollments": 0, "contact_records": 8,
        "company_members": 0}
    assert result["sources"] == {
        "hubspot/companies.csv": 3, "hubspot/contacts.csv": 4, "hubspot/deals.csv": 3, "salesforce/Account.csv": 5,
        "salesforce/Contact.csv": 7, "salesforce/Lead.csv": 4, "salesforce/Opportunity.csv": 4}
    assert "salesforce/Contact.csv: 1 contacts without an email skipped" in result["warnings"]
    assert "salesforce/Lead.csv: 1 converted leads skipped (they are contacts now)" in result["warnings"]


def test_company_records_from_both_crms(crm):
    con, _ = crm
    recs = {r[0]: r[1:] for r in rows(con, "SELECT record_id, crm, crm_id, domain, is_customer, employees "
                                           "FROM company_records")}
    assert recs["sf:0015e00000AcmeA1AAA"] == ("salesforce", "0015e00000AcmeA1AAA", "acme.com", False, 1200)
    assert recs["sf:0015e00000AcmeA2AAA"][2] == "acme.com"  # "acme.com/emea"
    assert recs["hs:5001"] == ("hubspot", "5001", "acme.com", False, 1200)
    assert recs["sf:0015e00000GlobxAAA"][2:4] == ("globex.io", True)  # http://globex.io:8080/, Type "Customer - Channel"
    assert recs["hs:5002"][2:4] == ("umbrella.co", True)  # Lifecycle Stage "customer"
    assert recs["hs:5003"][2] == "hooli.com"  # no Company Domain Name: Website URL
    assert recs["sf:0015e00000SoloxAAA"][2] is None  # website gmail.com: free mail is never a company
    assert recs["sf:0015e00000InitcAAA"][2] is None  # no website
    acme = rows(con, "SELECT crm, count(*) FROM company_records WHERE domain = 'acme.com' GROUP BY crm ORDER BY crm")
    assert acme == [("hubspot", 1), ("salesforce", 2)]


def test_open_or_closed_comes_from_is_closed_never_the_stage(crm):
    con, _ = crm
    opps = {r[0]: r[1:] for r in rows(con, "SELECT opportunity_id, record_id, stage, is_closed, is_won, close_date, "
                                           "amount FROM opportunities")}
    assert opps["sf:0065e00000AbCAAA"][1:4] == ("Contract Signed", True, True)  # closed, stage says nothing of it
    assert opps["sf:0065e00000AbDAAA"][2:4] == (True, False)  # "1" / "0"
    assert opps["sf:0065e00000GxUAAA"] == ("sf:0015e00000GlobxAAA", "Negotiation/Review", False, False,
                                           dt.date(2026, 12, 20), 30500.5)
    assert opps["hs:9003"][1:4] == ("Contract sent", True, False)  # Is Deal Closed? "Yes"
    assert opps["hs:9001"][2:5] == (False, False, dt.date(2026, 12, 31))  # "2026-12-31 00:00"


def test_a_deal_attaches_to_its_first_associated_company(crm):
    con, _ = crm
    assert rows(con, "SELECT record_id FROM opportunities WHERE opportunity_id = 'hs:9002'") == [("hs:5002",)]


def test_open_deals_count_over_every_record_of_the_domain_in_every_crm(crm):
    """acme.com: two Salesforce accounts (closed opportunities only) and one HubSpot company whose open
    deal makes the domain's open-opportunity count 1."""
    con, _ = crm
    con.execute(vocabulary.DOMAIN_STATS_SQL)
    stats = rows(con, "SELECT company_records, open_opportunities, open_opportunities_salesforce, "
                      "open_deals_hubspot, won_opportunities FROM domain_stats WHERE domain = 'acme.com'")
    assert stats == [(3, 1, 0, 1, 1)]
    assert rows(con, "SELECT open_opportunities FROM domain_stats WHERE domain = 'globex.io'") == [(1,)]


def test_contacts_merge_by_email_and_keep_every_crm_id(crm):
    con, _ = crm
    erin = rows(con, "SELECT contact_id, sf_contact_id, sf_lead_id, hs_contact_id, title, domain, last_contacted_at, "
                     "created_at FROM contacts WHERE email = 'erin@umbrella.co'")
    assert erin == [("sf:0035e00000ErnAAA", "0035e00000ErnAAA", "00Q5e00000ErnAAA", "101", "Head of RevOps",
                     "umbrella.co", dt.datetime(2026, 11, 10, 15, 30), dt.datetime(2025, 4, 1, 10, 0))]
    gina = rows(con, "SELECT contact_id, sf_lead_id, hs_contact_id, title FROM contacts WHERE email = 'gina@hooli.com'")
    assert gina == [("sflead:00Q5e00000GinAAA", "00Q5e00000GinAAA", "104", "Director of Sales")]
    assert rows(con, "SELECT count(*) FROM contacts WHERE email = 'erin@umbrella.co' OR email = 'gina@hooli.com'"
                ) == [(2,)]


def test_contact_ids_name_their_source(crm):
    con, _ = crm
    ids = {r[0] for r in rows(con, "SELECT contact_id FROM contacts")}
    assert {"sf:0035e00000AnaAAA", "sflead:00Q5e00000KimAAA", "hs:102", "hs:103"} <= ids
    assert "sflead:00Q5e00000AnaAAA" not in ids  # converted lead: it is the contact now
    assert rows(con, "SELECT sf_lead_id FROM contacts WHERE email = 'ana.lopez@acme.com'") == [(None,)]


def test_contact_domains(crm):
    con, _ = crm
    got = dict(rows(con, "SELECT email, domain FROM contacts"))
    assert got["bob.smith@acme.com"] == "acme.com"  # " Bob.Smith@ACME.com " normalised; account website
    assert got["carol.jones@gmail.com"] is None  # gmail, account without a website
    assert got["ivy.chen@gmail.com"] is None and got["kim.lee@outlook.com"] is None
    assert got["hank@acme.com"] == "acme.com"


def test_the_account_website_decides_the_domain_not_the_email(con, tmp_path):
    contact = csv_row(EXPORTS["salesforce/Contact.csv"], Id="0035e00000ZoeAAA", AccountId="0015e00000AcmeA1AAA",
                      Email="zoe@acme-mail.net", HasOptedOutOfEmail="false", Do_Not_Email__c="false")
    hs = csv_row(EXPORTS["hubspot/contacts.csv"], **{"Record ID": "201", "Email": "li@hooli-mail.com",
                                                     "Associated Company IDs": "5003"})
    folder = crm_workspace(tmp_path, {"salesforce/Contact.csv": with_row(EXPORTS["salesforce/Contact.csv"], contact),
                                      "hubspot/contacts.csv": with_row(EXPORTS["hubspot/contacts.csv"], hs)})
    load_workspace(con, folder)
    got = dict(rows(con, "SELECT email, domain FROM contacts WHERE email IN ('zoe@acme-mail.net', 'li@hooli-mail.com')"))
    assert got == {"zoe@acme-mail.net": "acme.com", "li@hooli-mail.com": "hooli.com"}


def test_salesforce_and_hubspot_dates(crm):
    con, _ = crm
    assert rows(con, "SELECT created_at FROM contacts WHERE email = 'ana.lopez@acme.com'") == [
        (dt.datetime(2024, 3, 1, 10, 0),)]  # 2024-03-01T10:00:00.000+0000
    assert rows(con, "SELECT created_at FROM opportunities WHERE opportunity_id = 'hs:9001'") == [
        (dt.datetime(2026, 10, 20, 14, 0),)]  # 2026-10-20 14:00


@pytest.mark.parametrize("column", ["Associated Company IDs", "Primary Associated Company ID",
                                    "Associated Company IDs (Primary)", "Associated Company ID", "Company ID"])
def test_hubspot_association_columns(con, tmp_path, column):
    contacts = f"Record ID,Email,Unsubscribed from all email,{column}\n201,li@hooli-mail.com,No,5003\n"
    deals = f'Record ID,Deal Name,Is Deal Closed?,{column}\n9100,Hooli expansion,false,"5003;5001"\n'
    load_workspace(con, crm_workspace(tmp_path, {"hubspot/contacts.csv": contacts, "hubspot/deals.csv": deals}))
    assert rows(con, "SELECT domain FROM contacts WHERE contact_id = 'hs:201'") == [("hooli.com",)]
    assert rows(con, "SELECT record_id FROM opportunities WHERE opportunity_id = 'hs:9100'") == [("hs:5003",)]


def test_hubspot_won_from_the_stage_when_the_export_has_no_is_closed_won(con, tmp_path):
    deals = "Record ID,Deal Stage,Is Deal Closed?,Associated Company IDs\n1,closedwon,true,5001\n2,closedlost,true,5001\n"
    load_workspace(con, crm_workspace(tmp_path, {"hubspot/deals.csv": deals}))
    assert rows(con, "SELECT crm_id, is_won FROM opportunities WHERE crm = 'hubspot' ORDER BY 1") == [
        ("1", True), ("2", False)]


def test_workspace_contacts_come_first_in_the_merge(con, tmp_path):
    contacts = ("contact_id,email,first_name,title,company_website\n"
                "w-erin,Erin@Umbrella.co,Erin W.,,https://www.umbrella-group.com\n")
    folder = crm_workspace(tmp_path, {"contacts.csv": contacts})
    load_workspace(con, folder)
    assert rows(con, "SELECT contact_id, first_name, title, sf_contact_id, sf_lead_id, hs_contact_id, domain "
                     "FROM contacts WHERE email = 'erin@umbrella.co'") == [
        ("w-erin", "Erin W.", "Head of RevOps", "0035e00000ErnAAA", "00Q5e00000ErnAAA", "101", "umbrella-group.com")]


def test_workspace_and_exports_together(con, tmp_path):
    result = load_workspace(con, crm_workspace(tmp_path, with_workspace_records=True))
    assert (result["contacts"], result["company_records"], result["opportunities"]) == (14, 11, 9)
    # dan@globex.io is in contacts.csv (c4) and in the Salesforce export: one contact, the workspace's id
    assert rows(con, "SELECT contact_id, sf_contact_id, title FROM contacts WHERE email = 'dan@globex.io'") == [
        ("c4", "003A4", "CTO")]


# --- opt-outs from the CRM ---------------------------------------------------------------------------------


def test_crm_opt_outs_follow_the_mapping(crm):
    con, result = crm
    assert result["crm_opt_outs_new"] == 3
    assert status(con, "dan@globex.io")["event_id"] == "crm-optout:dan@globex.io"  # HasOptedOutOfEmail = 1
    assert status(con, "kim.lee@outlook.com")["source"] == "crm"  # on a Lead
    assert status(con, "hank@acme.com")["event_id"] == "crm-optout:hank@acme.com"  # HubSpot "Yes"
    assert status(con, "frank@acme.com") is None  # Do_Not_Email__c is not the mapped field
    detail = json.loads(rows(con, "SELECT detail FROM events WHERE event_id = 'crm-optout:hank@acme.com'")[0][0])
    assert detail["crm"] == "hubspot"


def test_a_custom_do_not_email_field_under_the_mapping(con, tmp_path):
    load_workspace(con, crm_workspace(tmp_path, {"settings.yaml": DO_NOT_EMAIL}))
    assert status(con, "frank@acme.com")["source"] == "crm"
    assert status(con, "dan@globex.io") is None  # HasOptedOutOfEmail is not the master flag under this mapping
    assert rows(con, "SELECT sf_email_opt_out, sf_do_not_email FROM contacts WHERE email = 'dan@globex.io'") == [
        (True, False)]  # both flags are still stored
    detail = json.loads(rows(con, "SELECT detail FROM events WHERE event_id = 'crm-optout:frank@acme.com'")[0][0])
    assert detail["field"] == "Do_Not_Email__c"


def test_a_cleared_crm_flag_keeps_the_opt_out(con, tmp_path):
    load_workspace(con, crm_workspace(tmp_path))
    contact = EXPORTS["salesforce/Contact.csv"]
    cleared = contact.replace('"dan@globex.io","CTO","","Germany","1"', '"dan@globex.io","CTO","","Germany","0"')
    assert cleared != contact
    load_workspace(con, crm_workspace(tmp_path, {"salesforce/Contact.csv": cleared}, name="cleared"))
    got = status(con, "dan@globex.io")
    assert got["event_id"] == "crm-optout:dan@globex.io" and got["crm_flag"] is False


def test_a_hubspot_mapping_may_name_its_own_property(con, tmp_path):
    text = SETTINGS_YAML.replace("hubspot: {field: hs_email_optout", "hubspot: {field: Do not contact")
    contacts = "Record ID,Email,Do not contact\n301,pat@acme.com,Yes\n302,quinn@acme.com,No\n"
    load_workspace(con, crm_workspace(tmp_path, {"settings.yaml": text, "hubspot/contacts.csv": contacts}))
    assert status(con, "pat@acme.com")["source"] == "crm" and status(con, "quinn@acme.com") is None


def test_exports_load_the_same_twice(con, tmp_path):
    folder = crm_workspace(tmp_path)
    load_workspace(con, folder)
    before = {t: sorted(rows(con, f"SELECT * FROM {db.ident(t)}"), key=repr) for t in db.TABLES
              if t not in ("audit_log", "meta")}
    again = load_workspace(con, folder)
    assert again["crm_opt_outs_new"] == 0 and again["settings_saved"] is False
    assert {t: sorted(rows(con, f"SELECT * FROM {db.ident(t)}"), key=repr) for t in before} == before


# --- bad exports --------------------------------------------------------------------------------------------

OPP = EXPORTS["salesforce/Opportunity.csv"]
SF_CONTACT = EXPORTS["salesforce/Contact.csv"]
DEALS = EXPORTS["hubspot/deals.csv"]

BAD_EXPORTS = {
    "missing IsClosed": (
        {"salesforce/Opportunity.csv": OPP.replace('"IsClosed",', "").replace('"true","true","2025-11-03', '"true",'
                                                                                '"2025-11-03')},
        "salesforce/Opportunity.csv", 1, "IsClosed", ["missing required column 'IsClosed'"]),
    "opportunity on an unknown account": (
        {"salesforce/Opportunity.csv": replace_row(OPP, 3, csv_row(OPP, Id="0065e00000AbDAAA",
                                                                   AccountId="0015e00000GoneAAA", IsClosed="false"))},
        "salesforce/Opportunity.csv", 3, "AccountId", ["unknown company record 'sf:0015e00000GoneAAA'"]),
    "bad IsClosed": (
        {"salesforce/Opportunity.csv": replace_row(OPP, 2, csv_row(OPP, Id="0065e00000AbCAAA",
                                                                   AccountId="0015e00000AcmeA1AAA", IsClosed="Y?"))},
        "salesforce/Opportunity.csv", 2, "IsClosed", ["'Y?' is not a boolean", "expected true/false, 1/0 or yes/no"]),
    "empty IsClosed": (
        {"salesforce/Opportunity.csv": replace_row(OPP, 4, csv_row(OPP, Id="0065e00000GxUAAA",
                                                                   AccountId="0015e00000GlobxAAA"))},
        "salesforce/Opportunity.csv", 4, "IsClosed", ["is empty; a value is required"]),
    "duplicate Id": (
        {"salesforce/Contact.csv": with_row(SF_CONTACT, csv_row(SF_CONTACT, Id="0035e00000DanAAA",
                                                                Email="dan2@globex.io", HasOptedOutOfEmail="false"))},
        "salesforce/Contact.csv", 9, "Id", ["duplicate Id '0035e00000DanAAA': also on row 4"]),
    "bad email": (
        {"salesforce/Contact.csv": with_row(SF_CONTACT, csv_row(SF_CONTACT, Id="0035e00000BadAAA",
                                                                Email="not an email", HasOptedOutOfEmail="false"))},
        "salesforce/Contact.csv", 9, "Email", ["'not an email' is not an email address"]),
    "bad Salesforce date": (
        {"salesforce/Contact.csv": with_row(SF_CONTACT, csv_row(SF_CONTACT, Id="0035e00000BadAAA", Email="x@y.io",
                                                                HasOptedOutOfEmail="false", CreatedDate="3/1/2026"))},
        "salesforce/Contact.csv", 9, "CreatedDate", ["'3/1/2026' is not a date/time", "expected ISO 8601"]),
    "deal on an unknown company": (
        {"hubspot/deals.csv": replace_row(DEALS, 2, csv_row(DEALS, **{"Record ID": "9001", "Is Deal Closed?": "false",
                                                                     "Associated Company IDs": "7777"}))},
        "hubspot/deals.csv", 2, "Associated Company IDs", ["unknown company record 'hs:7777'"]),
    "bad HubSpot date": (
        {"hubspot/deals.csv": replace_row(DEALS, 3, csv_row(DEALS, **{"Record ID": "9002", "Is Deal Closed?": "true",
                                                                     "Close Date": "31.12.2026"}))},
        "hubspot/deals.csv", 3, "Close Date", ["'31.12.2026' is not a date"]),
    "missing HubSpot opt-out column": (
        {"hubspot/contacts.csv": "Record ID,Email\n1,a@b.co\n"},
        "hubspot/contacts.csv", 1, "Unsubscribed from all email",
        ["missing required column 'Unsubscribed from all email'"]),
    "missing mapped Salesforce field": (
        {"settings.yaml": DO_NOT_EMAIL, "salesforce/Lead.csv": EXPORTS["salesforce/Lead.csv"].replace(
            '"Do_Not_Email__c"', '"Other__c"')},
        "salesforce/Lead.csv", 1, "Do_Not_Email__c", ["missing required column 'Do_Not_Email__c'"]),
    "record id used by the workspace and an export": (
        {"company_records.csv": "record_id,crm,crm_id\nsf:0015e00000GlobxAAA,salesforce,0015e00000GlobxAAA\n"},
        "salesforce/Account.csv", 4, "Id", ["duplicate company record id 'sf:0015e00000GlobxAAA'",
                                            "also on company_records.csv row 2"]),
    "empty export": ({"hubspot/companies.csv": ""}, "hubspot/companies.csv", None, None, ["the file is empty"]),
}


@pytest.mark.parametrize("case", list(BAD_EXPORTS))
def test_bad_exports_name_file_row_and_column(con, tmp_path, case):
    overrides, file, row, column, fragments = BAD_EXPORTS[case]
    with pytest.raises(LoadError) as exc:
        load_workspace(con, crm_workspace(tmp_path, overrides))
    hits = [p for p in exc.value.problems if (p.file, p.row, p.column) == (file, row, column)]
    assert hits, [str(p) for p in exc.value.problems]
    for fragment in fragments:
        assert fragment in hits[0].message, str(hits[0])
    assert rows(con, "SELECT count(*) FROM contacts") == [(0,)]


def test_both_csv_and_parquet_export(con, tmp_path):
    folder = crm_workspace(tmp_path)
    (folder / "salesforce" / "Contact.parquet").write_bytes(b"PAR1")
    with pytest.raises(LoadError) as exc:
        load_workspace(con, folder)
    assert "both salesforce/Contact.csv and salesforce/Contact.parquet" in str(exc.value)


def test_unknown_export_files_are_warned_about(con, tmp_path):
    result = load_workspace(con, crm_workspace(tmp_path, {"salesforce/Task.csv": "Id\n1\n"}))
    assert any("salesforce/Task.csv" in w and "Contact.csv" in w for w in result["warnings"])


def test_settings_line_numbers_still_work_with_exports(con, tmp_path):
    text = SETTINGS_YAML.replace("ruleset: nurture", "ruleset: missing")
    with pytest.raises(LoadError) as exc:
        load_workspace(con, crm_workspace(tmp_path, {"settings.yaml": text}))
    problem = exc.value.problems[0]
    assert (problem.file, problem.row, problem.column) == ("settings.yaml", line_of(text, "ruleset: missing"),
                                                           "sequences[1].ruleset")
