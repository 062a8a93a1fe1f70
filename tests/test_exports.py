"""Real CRM exports exactly as they are downloaded (issue 11), on fixtures built from the Salesforce sample
orgs' public data (tests/data/crm/README.md): every case here failed before the exports were recognised
by content and companies linked by association."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from workspace_factory import NOW, SETTINGS_YAML, write_workspace

from unify_dash import engine
from unify_dash.actions import optouts
from unify_dash.errors import LoadError
from unify_dash.io import exports, normalise
from unify_dash.io.load import cli_load, load_workspace
from unify_dash.model import domains
from unify_dash.model import settings as settings_mod

DATA = Path(__file__).parent / "data" / "crm"
LWC = DATA / "lwc-recipes"
DAY = "2025-03-01"
HS_CONTACTS = f"hubspot/hubspot-crm-exports-all-contacts-{DAY}.csv"
HS_COMPANIES = f"hubspot/hubspot-crm-exports-all-companies-{DAY}.csv"
HS_DEALS = f"hubspot/hubspot-crm-exports-all-deals-{DAY}.csv"
NO_WORKSPACE_RECORDS = {f: None for f in ("contacts.csv", "company_records.csv", "opportunities.csv",
                                          "enrollments.csv", "events.csv")}
# the test settings with every contact in the play's audience (the sample data has no countries)
SETTINGS = SETTINGS_YAML.replace("audience: {field: country, op: in, value: [US, UK, DE]}", "audience: null")


def text(rel: str, base: Path = LWC) -> str:
    return (base / rel).read_text(encoding="utf-8")


def sf(*names: str, base: Path = LWC) -> dict[str, str]:
    return {f"salesforce/{n}.csv": text(f"salesforce/{n}.csv", base) for n in names}


def hs(*rels: str) -> dict[str, str]:
    return {r: text(r) for r in rels}


def load(con, tmp_path, files: dict, *, settings: str = SETTINGS, name: str = "ws") -> dict:
    folder = write_workspace(tmp_path, {**NO_WORKSPACE_RECORDS, "settings.yaml": settings, **files}, name=name)
    return load_workspace(con, folder)


def refused(con, tmp_path, files: dict, **kw) -> list:
    with pytest.raises(LoadError) as exc:
        load(con, tmp_path, files, **kw)
    assert con.execute("SELECT count(*) FROM contacts").fetchone()[0] == 0
    return exc.value.problems


def rows(con, sql, params=None):
    return con.execute(sql, params or []).fetchall()


def table(csv_text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(csv_text)))


def to_csv(records: list[dict], fields: list[str] | None = None, *, quote_all: bool = False) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields or list(records[0]), quoting=csv.QUOTE_ALL if quote_all else
                       csv.QUOTE_MINIMAL, extrasaction="ignore")
    w.writeheader()
    w.writerows(records)
    return buf.getvalue()


def edit(csv_text: str, *, quote_all: bool = True, **by_email) -> str:
    """Change columns of the rows with these emails (``amy={"HasOptedOutOfEmail": "true"}``)."""
    recs = table(csv_text)
    for r in recs:
        r.update(by_email.get(r.get("Email", "").split("@")[0], {}))
    return to_csv(recs, quote_all=quote_all)


def blocked(con, email: str, exclusion: str = "open_opp") -> dict:
    out = engine.explain(con, email)
    return next(x for x in out["exclusions"] if x["id"] == exclusion)


def own_value(con, email: str, exclusion: str = "open_opp"):
    """The contact's own value of the exclusion's (single) leaf: its company's open opportunities."""
    return blocked(con, email, exclusion)["leaves"][0]["value"]


# --- company = domain and association ------------------------------------------------------------------


def test_open_opportunities_on_accounts_without_a_website_block_their_contacts(con, tmp_path):
    load(con, tmp_path, sf("Account", "Contact", "Opportunity"))
    # lwc-recipes: 10 accounts, none with a website; the 6 contacts belong to Alpha Dynamics and Madison
    assert rows(con, "SELECT count(*) FROM company_records WHERE domain IS NULL") == [(10,)]
    assert rows(con, "SELECT count(*), count(DISTINCT link) FROM contact_records") == [(6, 1)]
    amy = blocked(con, "amy@demo.net")
    assert amy["matches"] is True
    account = rows(con, "SELECT sf_contact_id FROM contacts WHERE email = 'amy@demo.net'")[0][0]
    acc = rows(con, "SELECT record_id FROM contact_records c JOIN contacts USING (contact_id) WHERE email = ?",
               ["amy@demo.net"])[0][0]
    assert account and acc.startswith("sf:001")
    assert any(f"associated with Account {acc[3:]} (no website) by AccountId" in line for line in amy["evidence"])
    assert rows(con, "SELECT count(*) FROM opportunities WHERE NOT is_closed") == [(17,)]
    # Alpha Dynamics' two opportunities are both open: they are Amy's, not all 17
    assert sum(1 for line in amy["evidence"] if line.startswith("open opportunity")) == 2


def test_every_lwc_contact_counts_its_own_accounts_open_opportunities(con, tmp_path):
    load(con, tmp_path, sf("Account", "Contact", "Opportunity"))
    # each account has two opportunities; Madison Investments' include the closed-won one
    expected = {"amy@demo.net": 2, "jennifer@demo.net": 2, "caroline@demo.net": 2, "michael@demo.net": 2,
                "anup@demo.net": 2, "jonathan@demo.net": 2}
    closed = rows(con, "SELECT r.name, count(*) FROM opportunities o JOIN company_records r USING (record_id) "
                       "WHERE o.is_closed GROUP BY 1")
    for name, n in closed:
        if name == "Madison Investments":
            for e in ("michael@demo.net", "anup@demo.net", "jonathan@demo.net"):
                expected[e] -= n
    assert {e: own_value(con, e) for e in expected} == expected


def test_hubspot_exports_under_their_real_names_with_associated_company_ids(con, tmp_path):
    result = load(con, tmp_path, hs(HS_CONTACTS, HS_COMPANIES, HS_DEALS))
    assert result["contacts"] == 6 and result["company_records"] == 10 and result["opportunities"] == 20
    assert not any("not an export" in w for w in result["warnings"])
    assert rows(con, "SELECT DISTINCT link FROM contact_records") == [("associated_company",)]
    x = blocked(con, "michael@demo.net")
    assert x["matches"] is True
    assert any("open deal 9000000002 in HubSpot, associated with company 15000000002 (no website) by "
               "Associated Company IDs" in line for line in x["evidence"]), x["evidence"]


def test_hubspot_opt_outs_load_beside_a_salesforce_folder(con, tmp_path):
    contacts = edit(text(HS_CONTACTS), quote_all=False, anup={"Unsubscribed from all email": "true"})
    result = load(con, tmp_path, {**sf("Account", "Contact"), HS_CONTACTS: contacts})
    assert result["crm_opt_outs_new"] == 1
    settings = settings_mod.settings_at(con, NOW)[1]
    assert optouts.opt_out_status(con, settings, "anup@demo.net", NOW)["source"] == "crm"


def test_a_contact_associated_with_records_of_two_domains_counts_both(con, tmp_path):
    # Michael is associated with Madison Investments (given a domain here) and Alpha Dynamics (no website)
    companies = table(text(HS_COMPANIES))
    companies[1]["Company Domain Name"] = "madison-investments.example.com"
    contacts = table(text(HS_CONTACTS))
    contacts[1]["Associated Company IDs"] = "15000000002;15000000001"
    deals = table(text(HS_DEALS))
    for d in deals:  # Madison's deals are all closed: only Alpha Dynamics' open deals can block Michael
        if d["Associated Company IDs"] == "15000000002":
            d["Is Deal Closed?"] = "true"
    load(con, tmp_path, {HS_COMPANIES: to_csv(companies), HS_CONTACTS: to_csv(contacts), HS_DEALS: to_csv(deals)})
    assert rows(con, "SELECT domain, company_key FROM contacts WHERE email = 'michael@demo.net'") == [
        ("example.com", "example.com+hs:15000000001")]
    assert rows(con, "SELECT count(*) FROM company_members WHERE company_key = 'example.com+hs:15000000001'") == [(2,)]
    x = blocked(con, "michael@demo.net")
    assert x["matches"] is True
    assert all("associated with company 15000000001 (no website)" in line for line in x["evidence"]), x["evidence"]
    # Anup is Madison's only: its deals are closed; he is excluded company-wide, through Michael
    anup = blocked(con, "anup@demo.net")
    assert own_value(con, "anup@demo.net") == 0 and anup["matched_by"] == "company", anup
    assert "michael@demo.net" in str(anup["company"]), anup["company"]


# --- recognition ------------------------------------------------------------------------------------------


def _rename_headers(csv_text: str, names: dict[str, str]) -> str:
    head, rest = csv_text.split("\n", 1)
    end = "\r\n" if head.endswith("\r") else "\n"
    cols = next(csv.reader([head.rstrip("\r")]))
    return ",".join(f'"{names.get(c, c)}"' for c in cols) + end + rest


GERMAN = {"Record ID": "Datensatz-ID", "First Name": "Vorname", "Last Name": "Nachname", "Email": "E-Mail",
          "Job Title": "Jobtitel", "Country/Region": "Land/Region",
          "Unsubscribed from all email": "Von allen E-Mails abgemeldet",
          "Associated Company IDs": "Zugeordnete Unternehmens-IDs", "Create Date": "Erstellungsdatum",
          "Company name": "Unternehmensname", "Company Domain Name": "Domain-Name des Unternehmens",
          "Deal Name": "Dealname", "Deal Stage": "Deal-Phase", "Is Deal Closed?": "Ist Deal geschlossen?",
          "Amount": "Betrag", "Close Date": "Abschlussdatum"}
INTERNAL = {"Record ID": "hs_object_id", "First Name": "firstname", "Last Name": "lastname", "Email": "email",
            "Job Title": "jobtitle", "Country/Region": "country", "Unsubscribed from all email": "hs_email_optout",
            "Associated Company IDs": "associatedcompanyid", "Create Date": "createdate", "Company name": "name",
            "Company Domain Name": "domain", "Deal Name": "dealname", "Deal Stage": "dealstage",
            "Is Deal Closed?": "hs_is_closed", "Is Closed Won": "hs_is_closed_won", "Amount": "amount",
            "Close Date": "closedate"}


@pytest.mark.parametrize("names, headers", [(GERMAN, "German labels"), (INTERNAL, "internal names")])
def test_hubspot_exports_in_another_language_or_with_internal_names(con, tmp_path, names, headers):
    contacts = edit(text(HS_CONTACTS), quote_all=False, anup={"Unsubscribed from all email": "true"})
    files = {HS_CONTACTS: _rename_headers(contacts, names), HS_COMPANIES: _rename_headers(text(HS_COMPANIES), names)}
    if names is INTERNAL:
        files[HS_DEALS] = _rename_headers(text(HS_DEALS).replace(",Associated Company IDs", ",Associated Company IDs"),
                                          {k: v for k, v in names.items() if k != "Associated Company IDs"})
    result = load(con, tmp_path, files)
    assert result["contacts"] == 6 and result["crm_opt_outs_new"] == 1
    assert rows(con, "SELECT count(*) FROM contact_records") == [(6,)]
    summary = {f["file"]: f for f in result["files"]}
    assert summary[HS_CONTACTS]["headers"] == headers and summary[HS_CONTACTS]["opt_outs"] == 1


def test_data_loader_export_all_upper_case_headers_and_deleted_rows(con, tmp_path):
    contacts = table(text("salesforce/Contact.csv"))
    contacts[0]["IsDeleted"] = "true"  # Amy was deleted: Data Loader's "Export All" still lists her
    opps = table(text("salesforce/Opportunity.csv"))
    for o in opps:  # Madison Investments' open opportunities are deleted too
        if o["AccountId"] == contacts[1]["AccountId"] and o["IsClosed"] == "false":
            o["IsDeleted"] = "true"
    upper = {k: k.upper() for k in contacts[0]} | {k: k.upper() for k in opps[0]}
    accounts = text("salesforce/Account.csv")
    files = {"salesforce/Account.csv": _rename_headers(accounts, {k: k.upper() for k in table(accounts)[0]}),
             "salesforce/Contact.csv": _rename_headers(to_csv(contacts), upper),
             "salesforce/Opportunity.csv": _rename_headers(to_csv(opps), upper)}
    result = load(con, tmp_path, files)
    assert result["contacts"] == 5
    assert rows(con, "SELECT count(*) FROM contacts WHERE email = 'amy@demo.net'") == [(0,)]
    summary = {f["file"]: f for f in result["files"]}
    assert summary["salesforce/Contact.csv"]["skipped"] == {"deleted in Salesforce (IsDeleted = true)": 1}
    assert summary["salesforce/Contact.csv"]["headers"] == "API names (upper case, Data Loader)"
    assert own_value(con, "michael@demo.net") == 0  # Madison's open opportunities were deleted
    assert own_value(con, "jennifer@demo.net") == 2  # Alpha Dynamics' were not


def test_fifteen_and_eighteen_character_ids_are_one_id(con, tmp_path):
    contacts = table(text("salesforce/Contact.csv"))
    for c in contacts:
        c["AccountId"] = c["AccountId"][:15]  # as reports and formulas give them
    opps = table(text("salesforce/Opportunity.csv"))
    for o in opps[::2]:
        o["AccountId"] = o["AccountId"][:15]
    result = load(con, tmp_path, {**sf("Account"), "salesforce/Contact.csv": to_csv(contacts, quote_all=True),
                                  "salesforce/Opportunity.csv": to_csv(opps, quote_all=True)})
    assert not any("not in the Account export" in w for w in result["warnings"])
    assert rows(con, "SELECT count(*) FROM contact_records") == [(6,)]
    assert rows(con, "SELECT count(*) FROM opportunities WHERE length(crm_id) = 18 AND length(record_id) = 21") \
        == [(20,)]
    assert blocked(con, "amy@demo.net")["matches"] is True
    assert exports.sfid18("001A000000LuWkz") == "001A000000LuWkzIAF"


def test_a_fifteen_character_duplicate_of_an_id_is_a_duplicate(con, tmp_path):
    contacts = table(text("salesforce/Contact.csv"))
    contacts.append({**contacts[0], "Id": contacts[0]["Id"][:15], "Email": "amy.taylor@demo.net"})
    problems = refused(con, tmp_path, {**sf("Account"), "salesforce/Contact.csv": to_csv(contacts, quote_all=True)})
    assert any("duplicate Id" in p.message and p.row == 8 for p in problems), [str(p) for p in problems]


def _latin1_contacts() -> bytes:
    recs = table(text("salesforce/Contact.csv"))
    recs[0].update(FirstName="Amélie", LastName="Taylor-Müller", Title="Directrice Générale")
    recs[1].update(FirstName="João", LastName="Conceição")
    return to_csv(recs, quote_all=True).encode("latin-1")


def test_a_latin1_contact_export_loads_and_says_so(con, tmp_path):
    result = load(con, tmp_path, {**sf("Account", "Opportunity"), "salesforce/Contact.csv": _latin1_contacts()})
    assert rows(con, "SELECT first_name, last_name FROM contacts WHERE email IN ('amy@demo.net', 'michael@demo.net') "
                     "ORDER BY email") == [("Amélie", "Taylor-Müller"), ("João", "Conceição")]
    summary = {f["file"]: f for f in result["files"]}
    assert summary["salesforce/Contact.csv"]["encoding"] == "windows-1252"
    assert summary["salesforce/Account.csv"]["encoding"] == "utf-8"


def test_a_data_export_zip_is_read_in_place(con, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in ("Account", "Contact", "Opportunity"):
            z.writestr(f"{name}.csv", text(f"salesforce/{name}.csv"))
        z.writestr("Task.csv", '"Id","WhoId","Subject"\r\n"00THp000001","003Hp00000BhX01IAF","Call"\r\n')
        z.writestr("User.csv", '"Id","Email","Username"\r\n"005Hp000001","admin@demo.net","admin@demo.net"\r\n')
    result = load(con, tmp_path, {"WE_00D5e000000ABCD_1.ZIP": buf.getvalue()})
    assert result["contacts"] == 6 and result["opportunities"] == 20
    assert any("WE_00D5e000000ABCD_1.ZIP: 2 other file(s) not used (Task.csv, User.csv)" in w
               for w in result["warnings"])
    assert blocked(con, "amy@demo.net")["matches"] is True
    assert {f["file"] for f in result["files"]} == {f"WE_00D5e000000ABCD_1.ZIP/{n}.csv"
                                                    for n in ("Account", "Contact", "Opportunity")}


def test_a_hubspot_xlsx_export_is_read(con, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    recs = table(text(HS_CONTACTS))
    sheet.append(list(recs[0]))
    for r in recs:
        sheet.append([int(v) if k in ("Record ID", "Associated Company IDs") else
                      (v == "true" if k == "Unsubscribed from all email" else v) for k, v in r.items()])
    sheet.cell(row=3, column=8).value = True  # Michael unsubscribed
    path = tmp_path / "book.xlsx"
    book.save(path)
    name = f"hubspot-crm-exports-all-contacts-{DAY}.xlsx"
    result = load(con, tmp_path, {f"hubspot/{name}": path.read_bytes(), **hs(HS_COMPANIES, HS_DEALS)})
    assert result["contacts"] == 6 and result["crm_opt_outs_new"] == 1
    assert rows(con, "SELECT hs_contact_id FROM contacts WHERE hs_opt_out") == [("52",)]
    assert blocked(con, "jennifer@demo.net")["matches"] is True


# --- default-view deals --------------------------------------------------------------------------------


def _default_view(deals_csv: str, stage_of=None) -> str:
    recs = table(deals_csv)
    for r in recs:
        r.pop("Is Deal Closed?"), r.pop("Is Closed Won")
        if stage_of:
            r["Deal Stage"] = stage_of(r["Deal Stage"])
    return to_csv(recs)


def test_a_default_view_deals_export_reads_open_and_closed_from_the_default_pipeline(con, tmp_path):
    result = load(con, tmp_path, {**hs(HS_CONTACTS, HS_COMPANIES), HS_DEALS: _default_view(text(HS_DEALS))})
    assert rows(con, "SELECT count(*) FILTER (WHERE NOT is_closed), count(*) FILTER (WHERE is_won) "
                     "FROM opportunities") == [(17, 2)]
    notes = {f["file"]: f["notes"] for f in result["files"]}[HS_DEALS]
    assert any("open/closed read from the default pipeline's stages" in n for n in notes)


def test_a_default_view_deals_export_with_custom_stages_is_refused_with_the_setting_to_use(con, tmp_path):
    custom = _default_view(text(HS_DEALS), lambda s: "Verbal yes" if s == "Contract Sent" else s)
    problems = refused(con, tmp_path, {**hs(HS_CONTACTS, HS_COMPANIES), HS_DEALS: custom})
    p = next(p for p in problems if p.file == HS_DEALS)
    assert p.column == "Is Deal Closed?" and "'Verbal yes'" in p.message
    assert "Include all properties and associations" in p.message


# --- what is refused, all at once ------------------------------------------------------------------------


def test_an_unrecognised_people_file_under_a_crm_mapping_is_an_error_and_all_problems_come_at_once(con, tmp_path):
    people = "Mail,Name,Opted out\namy@demo.net,Amy,yes\n"
    opps = edit(text("salesforce/Opportunity.csv"))
    opps = opps.replace('"false","false","2025-03-01', '"maybe","false","2025-03-01', 1)
    problems = refused(con, tmp_path, {**sf("Account", "Contact"), "salesforce/Opportunity.csv": opps,
                                       "hubspot/people.csv": people,
                                       "salesforce/Lead.csv": '"Id","Name"\r\n"00Q1","X"\r\n'},
                       settings=SETTINGS.replace("ruleset: nurture", "ruleset: missing"))
    files = {p.file for p in problems}
    assert {"hubspot/people.csv", "salesforce/Lead.csv", "settings.yaml", "salesforce/Opportunity.csv"} <= files, \
        [str(p) for p in problems]
    people_problem = next(p for p in problems if p.file == "hubspot/people.csv")
    assert "Mail, Opted out" in people_problem.message and "opt-outs would be lost" in people_problem.message
    lead = next(p for p in problems if p.file == "salesforce/Lead.csv")
    assert "named like a Salesforce Lead export" in lead.message
    opp = next(p for p in problems if p.file == "salesforce/Opportunity.csv")
    assert (opp.row, opp.column) == (2, "IsClosed") and "'maybe' is not a boolean" in opp.message


def test_a_crm_mapping_whose_contacts_are_missing_is_an_error(con, tmp_path):
    problems = refused(con, tmp_path, {**sf("Contact"), **hs(HS_COMPANIES, HS_DEALS)})
    p = next(p for p in problems if p.file == HS_COMPANIES)
    assert "no hubspot contacts export was found" in p.message and "opt-outs would be lost" in p.message


def test_a_deals_export_without_associations_is_refused(con, tmp_path):
    recs = table(text(HS_DEALS))
    for r in recs:
        r.pop("Associated Company IDs")
    problems = refused(con, tmp_path, {**hs(HS_CONTACTS, HS_COMPANIES), HS_DEALS: to_csv(recs)})
    assert any(p.column == "Associated Company IDs" and "would count for no company" in p.message for p in problems)


def test_mapping_yaml_reads_a_custom_export(con, tmp_path):
    recs = table(text("salesforce/Contact.csv"))
    custom = [{"Contact": r["Id"], "Account": r["AccountId"], "E-mail address": r["Email"], "Given": r["FirstName"],
               "No email please": "1" if r["FirstName"] == "Amy" else "0"} for r in recs]
    mapping = ("files:\n  exports/our-people.csv:\n    kind: salesforce Contact\n    columns:\n"
               "      Contact: Id\n      Account: AccountId\n      E-mail address: Email\n      Given: FirstName\n"
               "      No email please: HasOptedOutOfEmail\n")
    folder = write_workspace(tmp_path, {**NO_WORKSPACE_RECORDS, "settings.yaml": SETTINGS, **sf("Account", "Opportunity"),
                                        "mapping.yaml": mapping}, name="ws")
    (folder / "exports").mkdir()
    (folder / "exports" / "our-people.csv").write_text(to_csv(custom), encoding="utf-8")
    # a mapped file outside the CRM folders and the top level is named in the mapping: it is still read
    with pytest.raises(LoadError) as exc:
        load_workspace(con, folder)
    assert "not in salesforce/, hubspot/ or the top level" in str(exc.value)
    (folder / "exports" / "our-people.csv").rename(folder / "our-people.csv")
    (folder / "mapping.yaml").write_text(mapping.replace("exports/our-people.csv", "our-people.csv"), encoding="utf-8")
    result = load_workspace(con, folder)
    assert result["contacts"] == 6 and result["crm_opt_outs_new"] == 1
    assert {f["file"]: f["headers"] for f in result["files"]}["our-people.csv"] == "mapping.yaml"
    assert blocked(con, "amy@demo.net")["matches"] is True


def test_mapping_yaml_naming_an_unknown_column_is_refused(con, tmp_path):
    mapping = "files:\n  Contact.csv:\n    kind: salesforce Contact\n    columns: {Mail: Emial}\n"
    problems = refused(con, tmp_path, {**sf("Account"), "Contact.csv": text("salesforce/Contact.csv"),
                                       "mapping.yaml": mapping})
    p = next(p for p in problems if p.file == "mapping.yaml")
    assert "'Emial' is not a Salesforce Contact column" in p.message and "Email" in p.message


# --- bounces, countries, domains ---------------------------------------------------------------------------


def test_bounce_flags_are_fields_rules_can_use(con, tmp_path):
    contacts = edit(text("salesforce/Contact.csv"), amy={"IsEmailBounced": "true"})
    hs_contacts = table(text(HS_CONTACTS))
    for r in hs_contacts:
        r["Email hard bounce reason"] = "UNKNOWN_USER" if r["First Name"] == "Michael" else ""
    bounced = SETTINGS.replace("exclusions:\n", "exclusions:\n  - id: bounced\n    name: Bounced\n"
                               "    criteria: {field: email_bounced, op: is_true}\n", 1).replace(
        "exclusions: {open_opp: true,", "exclusions: {bounced: true, open_opp: true,")
    load(con, tmp_path, {**sf("Account"), "salesforce/Contact.csv": contacts, HS_CONTACTS: to_csv(hs_contacts),
                         **hs(HS_COMPANIES)}, settings=bounced)
    assert rows(con, "SELECT email FROM contacts WHERE email_bounced ORDER BY email") == [
        ("amy@demo.net",), ("michael@demo.net",)]
    assert blocked(con, "amy@demo.net", "bounced")["matches"] is True
    assert blocked(con, "jennifer@demo.net", "bounced")["matches"] is False


def test_country_from_the_accounts_billing_country_and_iso_codes(con, tmp_path):
    base = DATA / "ebikes-dreamhouse"
    contacts = table(text("salesforce/Contact.csv", base))
    contacts[0]["MailingCountry"] = "Deutschland"
    load(con, tmp_path, {"salesforce/Account.csv": text("salesforce/Account.csv", base),
                         "salesforce/Contact.csv": to_csv(contacts, quote_all=True)})
    got = dict(((e, (c, k)) for e, c, k in rows(con, "SELECT email, country, country_code FROM contacts")))
    assert got["bholmes@goodmail.com"] == ("Deutschland", "DE")
    assert got["leslie@pentagon.com"] == ("USA", "US")  # MailingCountry empty: Wheelworks' BillingCountry
    assert {k for _c, k in got.values()} == {"DE", "US"}
    assert normalise.country_code("United States") == normalise.country_code("US") == "US"
    assert normalise.country_code("Vereinigte Staaten") == "US"


def test_free_mail_from_the_maintained_list_and_public_suffix_domains(con, tmp_path):
    recs = table(text("salesforce/Contact.csv"))
    addresses = ["amy@yahoo.co.jp", "michael@uol.com.br", "jennifer@eu.acme.com", "anup@acme.com",
                 "caroline@sales.acme.co.uk", "jonathan@mail.acme.co.uk"]
    for r, a in zip(recs, addresses, strict=True):
        r["Email"], r["AccountId"] = a, ""
    load(con, tmp_path, {**sf("Account"), "salesforce/Contact.csv": to_csv(recs, quote_all=True)})
    got = dict(rows(con, "SELECT email, domain FROM contacts"))
    assert got["amy@yahoo.co.jp"] is None and got["michael@uol.com.br"] is None
    assert got["jennifer@eu.acme.com"] == got["anup@acme.com"] == "acme.com"
    assert got["caroline@sales.acme.co.uk"] == got["jonathan@mail.acme.co.uk"] == "acme.co.uk"
    assert rows(con, "SELECT count(*) FROM contacts WHERE is_free_mail") == [(2,)]


@pytest.mark.parametrize("host", ["eu.acme.com", "sales.acme.co.uk", "acme.com", "a.b.city.kobe.jp", "x.kobe.jp",
                                  "www.ck", "foo.bar.ck", "co.uk", "localhost.localdomain", "x.y.z.example.org"])
def test_public_suffix_sql_matches_tldextract(con, host):
    assert normalise.sql_registered_domain(con, [host]) == [domains.registered_domain(host)]


def test_tldextract_never_fetches_the_list(monkeypatch):
    import urllib.request

    def no_network(*_a, **_k):
        raise AssertionError("tldextract tried to fetch the public suffix list")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    domains._extractor.cache_clear()
    assert domains.registered_domain("sales.acme.co.uk") == "acme.co.uk"
    assert domains._extractor().suffix_list_urls == ()


# --- the load summary ----------------------------------------------------------------------------------------


def test_the_load_prints_a_summary_per_file(con, tmp_path, capsys):
    folder = write_workspace(tmp_path, {**NO_WORKSPACE_RECORDS, "settings.yaml": SETTINGS,
                                        **sf("Account", "Contact", "Opportunity")}, name="ws")

    class Args:
        dir = str(folder)
        db = str(tmp_path / "x.duckdb")

    assert cli_load(Args()) == 0
    out = capsys.readouterr().out
    assert ("file: salesforce/Contact.csv: Salesforce Contact (csv, utf-8, API names), 6 rows read, 6 used, "
            "skipped: none, 0 opt-outs") in out


def test_a_failed_load_still_says_what_it_left_out(con, tmp_path, capsys):
    from unify_dash import cli

    folder = write_workspace(tmp_path, {**NO_WORKSPACE_RECORDS, "settings.yaml": SETTINGS,
                                        **sf("Account", "Contact"), "salesforce/Task.csv": '"Id","Subject"\r\n"1","x"\r\n',
                                        "salesforce/Opportunity.csv": text("salesforce/Opportunity.csv").replace(
                                            '"false","false","2025-03-01', '"maybe","false","2025-03-01', 1)},
                             name="ws")
    with pytest.raises(LoadError) as exc:
        load_workspace(con, folder)
    assert any(w.startswith("salesforce/Task.csv: not an export this loader reads") for w in exc.value.warnings)
    assert cli.main(["load", str(folder), "--db", str(tmp_path / "x.duckdb")]) == 1
    err = capsys.readouterr().err
    assert "'maybe' is not a boolean" in err and "warning: salesforce/Task.csv: not an export" in err


def test_under_a_workspace_root_exports_read_from_copies_and_links_out_are_refused(con, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in ("Account", "Opportunity"):
            z.writestr(f"{name}.csv", text(f"salesforce/{name}.csv"))
    write_workspace(root, {**NO_WORKSPACE_RECORDS, "settings.yaml": SETTINGS, "Export.zip": buf.getvalue(),
                           "salesforce/Contact.csv": _latin1_contacts()}, name="ws")
    result = load_workspace(con, "ws", root=root)  # the ZIP members and the transcoded copy are read
    assert result["contacts"] == 6 and result["opportunities"] == 20
    outside = tmp_path / "elsewhere.csv"
    outside.write_text(text(HS_CONTACTS), encoding="utf-8")
    (root / "ws" / "hubspot").mkdir()
    (root / "ws" / "hubspot" / "contacts.csv").symlink_to(outside)
    with pytest.raises(LoadError) as exc:
        load_workspace(con, "ws", root=root)
    assert any(p.file == "hubspot/contacts.csv" and "outside the workspace root" in p.message
               for p in exc.value.problems)
