"""Salesforce and HubSpot export files, with their real column names, mapped onto the workspace schema.

A workspace folder may hold ``salesforce/`` (Data Export / Data Loader files ``Contact.csv``,
``Lead.csv``, ``Account.csv``, ``Opportunity.csv``) and ``hubspot/`` (``contacts.csv``,
``companies.csv``, ``deals.csv`` exported from the CRM object views). Each file goes through the
loader's reading and validation (:class:`unify_dash.io.workspace.Loading`), then lands in the same
staging tables as the workspace's own files:

* company records: ``sf:<Account Id>``, ``hs:<Record ID>``; domain from ``Website`` /
  ``Company Domain Name`` (free-mail domains never make a company);
* opportunities: ``sf:<Id>`` on ``sf:<AccountId>``, ``hs:<Record ID>`` on the deal's first
  associated company; open/closed from ``IsClosed`` / ``Is Deal Closed?``, never the stage text;
* contacts: ``sf:<Id>`` (Contact), ``sflead:<Id>`` (Lead; converted leads are skipped, they became
  contacts), ``hs:<Record ID>``; merged by email with the workspace's contacts.csv (workspace >
  Salesforce Contact > Salesforce Lead > HubSpot contact; every CRM id and every opt-out flag is kept).
  A contact's domain is its account's / associated company's domain, else its email domain
  (not free mail).

Salesforce booleans come as ``true/false`` or ``1/0``, dates as ``2026-03-01`` or
``2026-03-01T10:00:00.000+0000``; HubSpot booleans as ``true/false`` or ``Yes/No``, dates as
``2026-03-01 10:00``: the loader's parsers take all of these.
"""

from __future__ import annotations

from pathlib import Path

from unify_dash.io.workspace import (
    DATA_EXTS,
    PRIO_HS_CONTACT,
    PRIO_SF_CONTACT,
    PRIO_SF_LEAD,
    Col,
    Loading,
    Typed,
    _one_of,
    pick_domain_sql,
)
from unify_dash.model.settings import CrmMapping
from unify_dash.store import db

SF, HS = "salesforce", "hubspot"
SF_OPT_OUT = "HasOptedOutOfEmail"
HS_OPT_OUT = "Unsubscribed from all email"
NO_COLUMN = "\x00"  # a header no file has: the column is staged as NULL

# (crm, object) -> file name stem (case-insensitive; .csv or .parquet)
EXPORT_FILES: dict[tuple[str, str], str] = {
    (SF, "Account"): "account",
    (SF, "Contact"): "contact",
    (SF, "Lead"): "lead",
    (SF, "Opportunity"): "opportunity",
    (HS, "companies"): "companies",
    (HS, "contacts"): "contacts",
    (HS, "deals"): "deals",
}

# HubSpot names the association columns of an export in several ways; the first non-empty wins.
HS_CONTACT_COMPANY = ("Primary Associated Company ID", "Associated Company IDs (Primary)", "Associated Company ID",
                      "Associated Company IDs", "Company ID")
HS_DEAL_COMPANY = ("Associated Company IDs (Primary)", "Associated Company IDs", "Associated Company ID",
                   "Primary Associated Company ID", "Company ID")


def _c(name: str, kind: str = "text", need: str | None = None, *aliases: str) -> Col:
    return Col(name, kind, need, tuple(aliases))


def salesforce_person_columns(obj: str, mapping: CrmMapping | None) -> list[Col]:
    """Columns of a Salesforce Contact or Lead export. The opt-out field the CRM mapping names must be
    in the file (an export without it would silently drop opt-outs)."""
    standard = mapping is not None and mapping.field == SF_OPT_OUT
    cols = [
        _c("id", "id", "value", "Id"),
        _c("email", "email", "column", "Email"),
        _c("first_name", "text", None, "FirstName"),
        _c("last_name", "text", None, "LastName"),
        _c("title", "text", None, "Title"),
        _c("email_opt_out", "bool", "column" if standard else None, SF_OPT_OUT),
        _c("created_at", "ts", None, "CreatedDate"),
        _c("last_contacted_at", "ts", None, "LastActivityDate"),
    ]
    if mapping is not None and not standard:
        cols.append(_c("do_not_email", "bool", "column", mapping.field))
    else:
        cols.append(_c("do_not_email", "bool", None, NO_COLUMN))
    if obj == "Contact":
        cols += [_c("account_id", "id", None, "AccountId"), _c("country", "text", None, "MailingCountry")]
    else:
        cols += [_c("company", "text", None, "Company"), _c("website", "text", None, "Website"),
                 _c("is_converted", "bool", None, "IsConverted"), _c("country", "text", None, "Country")]
    return cols


SF_ACCOUNT = [
    _c("id", "id", "value", "Id"),
    _c("name", "text", None, "Name"),
    _c("website", "text", None, "Website"),
    _c("type", "text", None, "Type"),
    _c("industry", "text", None, "Industry"),
    _c("employees", "int", None, "NumberOfEmployees"),
]
SF_OPPORTUNITY = [
    _c("id", "id", "value", "Id"),
    _c("account_id", "id", "column", "AccountId"),
    _c("name", "text", None, "Name"),
    _c("stage", "text", None, "StageName"),
    _c("is_closed", "bool", "value", "IsClosed"),
    _c("is_won", "bool", None, "IsWon"),
    _c("close_date", "date", None, "CloseDate"),
    _c("amount", "num", None, "Amount"),
    _c("created_at", "ts", None, "CreatedDate"),
]
HS_COMPANIES = [
    _c("id", "id", "value", "Record ID"),
    _c("name", "text", None, "Company name", "Name"),
    _c("domain_name", "text", None, "Company Domain Name"),
    _c("website", "text", None, "Website URL"),
    _c("lifecycle", "text", None, "Lifecycle Stage"),
    _c("industry", "text", None, "Industry"),
    _c("employees", "int", None, "Number of Employees"),
]
HS_DEALS = [
    _c("id", "id", "value", "Record ID"),
    _c("name", "text", None, "Deal Name"),
    _c("stage", "text", None, "Deal Stage"),
    _c("is_closed", "bool", "value", "Is Deal Closed?"),
    _c("is_won", "bool", None, "Is Closed Won"),
    _c("close_date", "date", None, "Close Date"),
    _c("amount", "num", None, "Amount"),
    _c("created_at", "ts", None, "Create Date"),
    _c("company_id", "idlist", None, *HS_DEAL_COMPANY),
]


def hubspot_contact_columns(mapping: CrmMapping | None, headers: list[str]) -> list[Col]:
    """Columns of a HubSpot contacts export. With a HubSpot mapping, the opt-out column must be there:
    the mapped property's column when the export has it, else ``Unsubscribed from all email``."""
    lower = {h.lower() for h in headers}
    mapped = mapping.field if mapping is not None and mapping.field.lower() != HS_OPT_OUT.lower() else None
    has_mapped = mapped is not None and mapped.lower() in lower
    return [
        _c("id", "id", "value", "Record ID"),
        _c("email", "email", "column", "Email"),
        _c("first_name", "text", None, "First Name"),
        _c("last_name", "text", None, "Last Name"),
        _c("title", "text", None, "Job Title"),
        _c("country", "text", None, "Country/Region", "Country"),
        _c("opt_out", "bool", "column" if mapping is not None and not has_mapped else None, HS_OPT_OUT),
        _c("opt_out_mapped", "bool", None, mapped if has_mapped else NO_COLUMN),
        _c("company_id", "idlist", None, *HS_CONTACT_COMPANY),
        _c("created_at", "ts", None, "Create Date"),
        _c("last_contacted_at", "ts", None, "Last Contacted"),
    ]


# --- discovery ---------------------------------------------------------------------------------------


def find_exports(ld: Loading, folder: Path) -> dict[tuple[str, str], tuple[Path, str]]:
    """The export files present: ``(crm, object) -> (path, label)``. Unknown files are warned about."""
    out: dict[tuple[str, str], tuple[Path, str]] = {}
    top = {p.name.lower(): p for p in folder.iterdir()}
    for crm in (SF, HS):
        sub = top.get(crm)
        if sub is None or not sub.is_dir() or not ld.confined(sub, f"{sub.name}/"):
            continue  # a folder outside the workspace root is never listed
        entries = {p.name.lower(): p for p in sub.iterdir()}
        stems = set()
        for (c, obj), stem in EXPORT_FILES.items():
            if c != crm:
                continue
            stems.update(f"{stem}{e}" for e in DATA_EXTS)
            path = _one_of(ld, entries, stem, DATA_EXTS, prefix=f"{sub.name}/")
            if path is not None:
                out[(crm, obj)] = (path, f"{sub.name}/{path.name}")
        for name, p in entries.items():
            if name not in stems and not name.startswith("."):
                expected = ", ".join(sorted(f"{o}.csv" for (c, o) in EXPORT_FILES if c == crm))
                ld.warnings.append(f"{sub.name}/{p.name}: not a {crm} export this loader reads ({expected}); ignored")
        if not any(c == crm for c, _ in out):
            ld.warnings.append(f"{sub.name}/: no export files found")
    return out


def has_contact_exports(exports: dict) -> bool:
    return any(key in exports for key in ((SF, "Contact"), (SF, "Lead"), (HS, "contacts")))


# --- staging -------------------------------------------------------------------------------------------


def stage(ld: Loading, exports: dict[tuple[str, str], tuple[Path, str]]) -> None:
    """Read and validate every export; stage the company records (accounts, HubSpot companies)."""
    s = ld.settings
    ld.crm_typed = {}
    for i, key in enumerate(sorted(exports)):
        path, label = exports[key]
        crm, obj = key
        ld.progress(0.35 + 0.15 * i / max(len(exports), 1), f"reading {label}")
        raw = ld.read(path, label)
        if raw is None:
            continue
        if key in ((SF, "Contact"), (SF, "Lead")):
            cols = salesforce_person_columns(obj, s.mapping(SF))
        elif key == (SF, "Account"):
            cols = SF_ACCOUNT
        elif key == (SF, "Opportunity"):
            cols = SF_OPPORTUNITY
        elif key == (HS, "contacts"):
            cols = hubspot_contact_columns(s.mapping(HS), raw.headers)
        elif key == (HS, "companies"):
            cols = HS_COMPANIES
        else:
            cols = HS_DEALS
        typed = ld.typed(raw, cols)
        if typed is None:
            continue
        ld.duplicates(typed.table, "id", file=label, column=typed.header("id"), what=f"{cols[0].headers[0]}")
        ld.crm_typed[key] = typed
    ld.check()
    if (SF, "Account") in ld.crm_typed:
        t = ld.crm_typed[(SF, "Account")]
        ld.sql(f"""INSERT INTO _ud_stg_records
            SELECT 'sf:' || id, 'salesforce', id, name, website, CASE WHEN NOT _ud_free(d) THEN d END,
                   coalesce(lower(type) LIKE 'customer%', false), industry, employees, ?, _row, ?
            FROM (SELECT *, _ud_domain(website) AS d FROM {db.ident(t.table)})""", [t.label, t.header("id")])
        ld.done_with(t)
    if (HS, "companies") in ld.crm_typed:
        t = ld.crm_typed[(HS, "companies")]
        ld.sql(f"""INSERT INTO _ud_stg_records
            SELECT 'hs:' || id, 'hubspot', id, name, site, CASE WHEN NOT _ud_free(d) THEN d END,
                   coalesce(lower(_ud_strip(lifecycle)) = 'customer', false), industry, employees, ?, _row, ?
            FROM (SELECT *, coalesce(domain_name, website) AS site, _ud_domain(coalesce(domain_name, website)) AS d
                  FROM {db.ident(t.table)})""", [t.label, t.header("id")])
        ld.done_with(t)


def _skipped(ld: Loading, t: Typed, condition: str, what: str) -> None:
    n = ld.sql(f"SELECT count(*) FROM {db.ident(t.table)} t WHERE {condition}").fetchone()[0]
    if n:
        ld.warnings.append(f"{t.label}: {n:,} {what}")


def _email_duplicates(ld: Loading, t: Typed, condition: str) -> None:
    n = ld.sql(f"""SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {db.ident(t.table)} t
                   WHERE {condition} GROUP BY email HAVING count(*) > 1)""").fetchone()[0]
    if n:
        ld.warnings.append(f"{t.label}: {n:,} rows share an email with an earlier row; merged into one contact "
                           "(values from the first row, opt-out flags from any)")


def stage_links(ld: Loading) -> None:
    """Stage contacts (joined to their company records for the domain) and opportunities."""
    typed = getattr(ld, "crm_typed", {})
    person_rows = "t.email IS NOT NULL"
    t = typed.get((SF, "Contact"))
    if t is not None:
        _skipped(ld, t, "t.email IS NULL", "contacts without an email skipped")
        _skipped(ld, t, "t.account_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM _ud_stg_records r "
                        "WHERE r.record_id = 'sf:' || t.account_id)",
                 "contacts whose AccountId is not in the Account export (domain taken from the email)")
        _email_duplicates(ld, t, person_rows)
        ld.sql(f"""INSERT INTO _ud_stg_contacts
            SELECT 'sf:' || id, email, first_name, last_name, title, country, e, {pick_domain_sql('s', 'e')},
                   id, NULL, NULL, coalesce(email_opt_out, false), coalesce(do_not_email, false), false,
                   last_contacted_at, NULL, created_at, {PRIO_SF_CONTACT}, ?, _row, ?
            FROM (SELECT t.*, r.domain AS s, _ud_email_domain(t.email) AS e FROM {db.ident(t.table)} t
                  LEFT JOIN _ud_stg_records r ON r.record_id = 'sf:' || t.account_id
                  WHERE {person_rows})""", [t.label, t.header("id")])
        ld.done_with(t)
    t = typed.get((SF, "Lead"))
    if t is not None:
        _skipped(ld, t, "coalesce(t.is_converted, false)", "converted leads skipped (they are contacts now)")
        _skipped(ld, t, "t.email IS NULL AND NOT coalesce(t.is_converted, false)", "leads without an email skipped")
        keep = f"{person_rows} AND NOT coalesce(t.is_converted, false)"
        _email_duplicates(ld, t, keep)
        ld.sql(f"""INSERT INTO _ud_stg_contacts
            SELECT 'sflead:' || id, email, first_name, last_name, title, country, e, {pick_domain_sql('s', 'e')},
                   NULL, id, NULL, coalesce(email_opt_out, false), coalesce(do_not_email, false), false,
                   last_contacted_at, NULL, created_at, {PRIO_SF_LEAD}, ?, _row, ?
            FROM (SELECT t.*, _ud_domain(t.website) AS s, _ud_email_domain(t.email) AS e FROM {db.ident(t.table)} t
                  WHERE {keep})""", [t.label, t.header("id")])
        ld.done_with(t)
    t = typed.get((HS, "contacts"))
    if t is not None:
        _skipped(ld, t, "t.email IS NULL", "contacts without an email skipped")
        _skipped(ld, t, "t.company_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM _ud_stg_records r "
                        "WHERE r.record_id = 'hs:' || t.company_id)",
                 "contacts whose associated company is not in the companies export (domain taken from the email)")
        _email_duplicates(ld, t, person_rows)
        ld.sql(f"""INSERT INTO _ud_stg_contacts
            SELECT 'hs:' || id, email, first_name, last_name, title, country, e, {pick_domain_sql('s', 'e')},
                   NULL, NULL, id, false, false, coalesce(opt_out, false) OR coalesce(opt_out_mapped, false),
                   last_contacted_at, NULL, created_at, {PRIO_HS_CONTACT}, ?, _row, ?
            FROM (SELECT t.*, r.domain AS s, _ud_email_domain(t.email) AS e FROM {db.ident(t.table)} t
                  LEFT JOIN _ud_stg_records r ON r.record_id = 'hs:' || t.company_id
                  WHERE {person_rows})""", [t.label, t.header("id")])
        ld.done_with(t)
    t = typed.get((SF, "Opportunity"))
    if t is not None:
        ld.sql(f"""INSERT INTO _ud_stg_opps
            SELECT 'sf:' || id, 'salesforce', id, CASE WHEN account_id IS NOT NULL THEN 'sf:' || account_id END,
                   name, stage, is_closed, coalesce(is_won, false), close_date, amount, created_at, ?, _row, ?, ?
            FROM {db.ident(t.table)}""", [t.label, t.header("id"), t.header("account_id")])
        ld.done_with(t)
    t = typed.get((HS, "deals"))
    if t is not None:
        ld.sql(f"""INSERT INTO _ud_stg_opps
            SELECT 'hs:' || id, 'hubspot', id, CASE WHEN company_id IS NOT NULL THEN 'hs:' || company_id END,
                   name, stage, is_closed,
                   coalesce(is_won, is_closed AND lower(_ud_strip(stage)) IN ('closedwon', 'closed won'), false),
                   close_date, amount, created_at, ?, _row, ?, ?
            FROM {db.ident(t.table)}""", [t.label, t.header("id"), t.header("company_id")])
        ld.done_with(t)
