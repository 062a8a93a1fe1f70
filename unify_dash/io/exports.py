"""Salesforce and HubSpot export files, exactly as they are downloaded, mapped onto the workspace schema.

Files are found by their content (:mod:`unify_dash.io.discover`, :mod:`unify_dash.io.recognise`),
wherever they sit in the workspace folder (``salesforce/``, ``hubspot/`` or the top level), under any
name, as CSV in any encoding, Parquet, HubSpot XLSX, or inside a Salesforce Data Export ZIP. Each file
goes through the loader's reading and validation (:class:`unify_dash.io.workspace.Loading`), then lands
in the loader's staging tables:

* company records: ``sf:<Account Id>``, ``hs:<Record ID>``; domain from ``Website`` /
  ``Company Domain Name`` (registered domain, see :mod:`unify_dash.io.normalise`; free mail never);
* opportunities: ``sf:<Id>`` on ``sf:<AccountId>``, ``hs:<Record ID>`` on the deal's first
  associated company; open/closed from ``IsClosed`` / ``Is Deal Closed?``. A deals export without that
  column (HubSpot's default view) is read from the stage only when every stage is one of HubSpot's
  default pipeline, else refused with the export setting to use;
* contacts: ``sf:<Id>`` (Contact), ``sflead:<Id>`` (Lead; converted leads are skipped, they became
  contacts), ``hs:<Record ID>``; merged by email with the workspace's contacts.csv (workspace >
  Salesforce Contact > Salesforce Lead > HubSpot contact; every CRM id and every opt-out flag is kept);
* associations (``_ud_stg_links`` -> ``contact_records``): ``AccountId`` (``account``), every id of
  ``Associated Company IDs`` (``associated_company``), a Lead's ``Company`` when exactly one Account has
  that name (``lead_company``).

Salesforce ids are compared as 18-character ids (a 15-character id gets its checksum suffix, as Salesforce
computes it), rows with ``IsDeleted`` true (Data Loader "Export All") are left out, bounce flags become
``email_bounced``, and the country comes from the best column (``MailingCountry``, else the account's
``BillingCountry``; HubSpot: the contact's, else its company's).
"""

from __future__ import annotations

from unify_dash.io import discover
from unify_dash.io.discover import ExportFile, claimed, has_contact_exports
from unify_dash.io.export_columns import columns_for
from unify_dash.io.recognise import HS, HS_DEFAULT_STAGES, HS_WON_STAGES, SF
from unify_dash.io.workspace import (
    PRIO_HS_CONTACT,
    PRIO_SF_CONTACT,
    PRIO_SF_LEAD,
    STG_CONTACTS_INSERT,
    Loading,
    Typed,
    pick_domain_sql,
)
from unify_dash.store import db

__all__ = ["find_exports", "has_contact_exports", "claimed", "stage", "stage_links", "summary_lines", "sfid18"]

find_exports = discover.find_exports

# A deals export without "Is Deal Closed?": the export setting to use (HubSpot's export dialog, its view)
DEALS_SETTING = ("export the deals again with 'Include all properties and associations' selected in HubSpot's "
                 "export dialog (or add the 'Is Deal Closed?' and 'Associated Company IDs' columns to the view "
                 "before exporting)")

_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
# 15-character Salesforce id -> 18 characters (the case-safe checksum suffix); anything else unchanged
SFID_MACRO = (
    "CREATE OR REPLACE TEMP MACRO _ud_sfid(s) AS CASE WHEN regexp_full_match(s, '[a-zA-Z0-9]{15}') THEN s || "
    f"array_to_string(list_transform([0, 1, 2], lambda i: substr('{_CHECKSUM}', CAST(1 + list_sum(list_transform("
    "[0, 1, 2, 3, 4], lambda j: CASE WHEN regexp_full_match(substr(s, i * 5 + j + 1, 1), '[A-Z]') THEN (1 << j) "
    "ELSE 0 END)) AS BIGINT), 1)), '') ELSE s END")


def sfid18(value: str | None) -> str | None:
    """Python twin of ``_ud_sfid``: ``001A000000LuWkz`` -> ``001A000000LuWkzIAF``."""
    if value is None or len(value) != 15 or not value.isalnum() or not value.isascii():
        return value
    suffix = ""
    for i in range(3):
        bits = sum(1 << j for j in range(5) if "A" <= value[i * 5 + j] <= "Z")
        suffix += _CHECKSUM[bits]
    return value + suffix


_SF_ID_COLS = ("id", "account_id")


def _summary(f: ExportFile, t: Typed | None) -> dict:
    return {"file": f.label, "kind": f.kind.label, "format": f.fmt, "encoding": f.encoding, "headers": f.headers,
            "rows_read": t.rows if t else 0, "rows_used": t.rows if t else 0, "skipped": {}, "opt_outs": 0,
            "notes": []}


def _skip(ld: Loading, t: Typed, summary: dict, condition: str, reason: str, *, delete: bool) -> int:
    n = ld.sql(f"SELECT count(*) FROM {db.ident(t.table)} t WHERE {condition}").fetchone()[0]
    if n:
        summary["skipped"][reason] = summary["skipped"].get(reason, 0) + n
        summary["rows_used"] -= n
        if delete:
            ld.sql(f"DELETE FROM {db.ident(t.data)} t WHERE {condition}")
    return n


def stage(ld: Loading, exports: dict[tuple[str, str], ExportFile]) -> None:
    """Read and validate every export; stage the company records (accounts, HubSpot companies)."""
    ld.crm_typed = {}
    ld.file_summary = []
    ld.sql(SFID_MACRO)
    for i, key in enumerate(sorted(exports)):  # copies (ZIP members, XLSX, transcoded) sit in ld.scratch()
        f = exports[key]
        ld.progress(0.35 + 0.15 * i / max(len(exports), 1), f"reading {f.label}")
        t = _read_one(ld, f)
        f.summary = _summary(f, t)
        ld.file_summary.append(f.summary)
        if t is None:
            continue
        _prepare(ld, f, t)
        ld.crm_typed[key] = t
    ld.check()
    ld.crm_files = exports
    _stage_records(ld)


def _read_one(ld: Loading, f: ExportFile) -> Typed | None:
    raw = ld.read(f.path, f.label)
    if raw is None:
        return None
    for alias, canonical in f.rename.items():
        if alias in raw.columns:
            raw.columns.setdefault(canonical.lower(), raw.columns[alias])
    cols = columns_for(f.kind, ld, [*raw.headers, *f.rename.values()])
    if f.kind.key == (HS, "deals") and not any(c in raw.columns for c in ("associated company ids",)):
        ld.problem(f.label, raw.header_row, "Associated Company IDs",
                   "the deals export has no 'Associated Company IDs' column: its deals would count for no company; "
                   + DEALS_SETTING)
    return ld.typed(raw, cols)


def _prepare(ld: Loading, f: ExportFile, t: Typed) -> None:
    """Ids, deleted rows, duplicates, open/closed of default-view deals; the file's summary."""
    tbl = db.ident(t.table)
    s = f.summary
    if f.kind.crm == SF:
        ids = [c for c in _SF_ID_COLS if c in t.present]
        ld.sql(f"UPDATE {db.ident(t.data)} SET {', '.join(f'{c} = _ud_sfid({c})' for c in ids)}")
        if "is_deleted" in t.present:
            opted = "coalesce(t.email_opt_out, false) OR coalesce(t.do_not_email, false)" \
                if f.kind.obj in ("Contact", "Lead") else "false"
            n_opt = ld.sql(f"SELECT count(*) FROM {tbl} t WHERE coalesce(t.is_deleted, false) AND ({opted})").fetchone()[0]
            if _skip(ld, t, s, "coalesce(t.is_deleted, false)", "deleted in Salesforce (IsDeleted = true)", delete=True):
                if n_opt:
                    s["notes"].append(f"{n_opt:,} of the deleted rows had an opt-out flag (a deleted record is "
                                      "not a contact; the same email in another source keeps its own flags)")
    ld.duplicates(t.table, "id", file=t.label, column=t.header("id"), what=t.header("id"))
    if f.kind.key == (HS, "deals") and "is_closed" not in t.present:
        _deals_from_stage(ld, f, t)


def _deals_from_stage(ld: Loading, f: ExportFile, t: Typed) -> None:
    tbl = db.ident(t.table)
    known = list(HS_DEFAULT_STAGES)
    unknown = [r[0] for r in ld.sql(
        f"SELECT DISTINCT stage FROM {tbl} WHERE NOT list_contains(?::VARCHAR[], lower(_ud_strip(stage))) "
        "ORDER BY stage LIMIT 4", [known]).fetchall()]
    other_pipelines = [r[0] for r in ld.sql(
        f"SELECT DISTINCT pipeline FROM {tbl} WHERE pipeline IS NOT NULL AND lower(_ud_strip(pipeline)) NOT IN "
        "('sales pipeline', 'default') ORDER BY pipeline LIMIT 3").fetchall()]
    if unknown or other_pipelines:
        what = (f"stage(s) {', '.join(repr(u) for u in unknown)}" if unknown
                else f"pipeline(s) {', '.join(repr(p) for p in other_pipelines)}")
        ld.problem(f.label, 1, "Is Deal Closed?",
                   f"the export has no 'Is Deal Closed?' column (HubSpot's default deals view) and {what} are not "
                   f"stages of HubSpot's default pipeline, so open and closed deals cannot be told apart; "
                   + DEALS_SETTING)
        return
    closed = [k for k, v in HS_DEFAULT_STAGES.items() if v]
    ld.sql(f"""UPDATE {db.ident(t.data)} SET is_closed = list_contains(?::VARCHAR[], lower(_ud_strip(stage))),
               is_won = coalesce(is_won, list_contains(?::VARCHAR[], lower(_ud_strip(stage))))""",
           [closed, list(HS_WON_STAGES)])
    f.summary["notes"].append("no 'Is Deal Closed?' column: open/closed read from the default pipeline's stages")


def _stage_records(ld: Loading) -> None:
    ld.sql("CREATE OR REPLACE TEMP TABLE _ud_rec_country (record_id VARCHAR, country VARCHAR)")
    ld._temps.append("_ud_rec_country")
    t = ld.crm_typed.get((SF, "Account"))
    if t is not None:
        ld.sql(f"""INSERT INTO _ud_stg_records
            SELECT 'sf:' || id, 'salesforce', id, name, website, CASE WHEN NOT _ud_free(d) THEN d END,
                   coalesce(lower(type) LIKE 'customer%', false), industry, employees, ?, _row, ?
            FROM (SELECT *, _ud_domain(website) AS d FROM {db.ident(t.table)})""", [t.label, t.header("id")])
        ld.sql(f"INSERT INTO _ud_rec_country SELECT 'sf:' || id, country FROM {db.ident(t.table)} "
               "WHERE country IS NOT NULL")
        ld.done_with(t)
    t = ld.crm_typed.get((HS, "companies"))
    if t is not None:
        ld.sql(f"""INSERT INTO _ud_stg_records
            SELECT 'hs:' || id, 'hubspot', id, name, site, CASE WHEN NOT _ud_free(d) THEN d END,
                   coalesce(lower(_ud_strip(lifecycle)) = 'customer', false), industry, employees, ?, _row, ?
            FROM (SELECT *, coalesce(domain_name, website) AS site, _ud_domain(coalesce(domain_name, website)) AS d
                  FROM {db.ident(t.table)})""", [t.label, t.header("id")])
        ld.sql(f"INSERT INTO _ud_rec_country SELECT 'hs:' || id, country FROM {db.ident(t.table)} "
               "WHERE country IS NOT NULL")
        ld.done_with(t)


def _skipped(ld: Loading, t: Typed, condition: str, what: str, reason: str | None = None) -> None:
    n = ld.sql(f"SELECT count(*) FROM {db.ident(t.table)} t WHERE {condition}").fetchone()[0]
    if n:
        ld.warnings.append(f"{t.label}: {n:,} {what}")
        f = _file_of(ld, t)
        if f is not None and reason:
            f.summary["skipped"][reason] = f.summary["skipped"].get(reason, 0) + n
            f.summary["rows_used"] -= n


def _file_of(ld: Loading, t: Typed) -> ExportFile | None:
    return next((f for f in getattr(ld, "crm_files", {}).values() if f.label == t.label), None)


def _email_duplicates(ld: Loading, t: Typed, condition: str) -> None:
    n = ld.sql(f"""SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {db.ident(t.table)} t
                   WHERE {condition} GROUP BY email HAVING count(*) > 1)""").fetchone()[0]
    if n:
        ld.warnings.append(f"{t.label}: {n:,} rows share an email with an earlier row; merged into one contact "
                           "(values from the first row, opt-out flags from any)")


def _opt_outs(ld: Loading, t: Typed, flags: str, where: str) -> None:
    f = _file_of(ld, t)
    if f is not None:
        f.summary["opt_outs"] = ld.sql(f"SELECT count(*) FROM {db.ident(t.table)} t WHERE ({where}) "
                                       f"AND ({flags})").fetchone()[0]


def _stage_sf_contacts(ld: Loading, t: Typed, person_rows: str) -> None:
    _skipped(ld, t, "t.email IS NULL", "contacts without an email skipped", "no email")
    _skipped(ld, t, "t.account_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM _ud_stg_records r "
                    "WHERE r.record_id = 'sf:' || t.account_id)",
             "contacts whose AccountId is not in the Account export (domain taken from the email)")
    _email_duplicates(ld, t, person_rows)
    _opt_outs(ld, t, "coalesce(t.email_opt_out, false) OR coalesce(t.do_not_email, false)", person_rows)
    ld.sql(f"""{STG_CONTACTS_INSERT}
        SELECT 'sf:' || id, email, first_name, last_name, title, coalesce(country, rc_country), e,
               {pick_domain_sql('s', 'e')}, id, NULL, NULL, coalesce(email_opt_out, false),
               coalesce(do_not_email, false), false, last_contacted_at, NULL, created_at, {PRIO_SF_CONTACT}, ?, _row, ?,
               coalesce(email_bounced, false), NULL
        FROM (SELECT t.*, r.domain AS s, _ud_email_domain(t.email) AS e FROM {db.ident(t.table)} t
              LEFT JOIN _ud_stg_records r ON r.record_id = 'sf:' || t.account_id
              WHERE {person_rows}) x
        LEFT JOIN (SELECT record_id AS rc_id, country AS rc_country FROM _ud_rec_country) rc
            ON rc.rc_id = 'sf:' || x.account_id""", [t.label, t.header("id")])
    ld.sql(f"""INSERT INTO _ud_stg_links SELECT t.email, 'sf:' || t.account_id, 'account', ?, t._row
               FROM {db.ident(t.table)} t JOIN _ud_stg_records r ON r.record_id = 'sf:' || t.account_id
               WHERE {person_rows}""", [t.label])


def _stage_sf_leads(ld: Loading, t: Typed, person_rows: str) -> None:
    _skipped(ld, t, "coalesce(t.is_converted, false)", "converted leads skipped (they are contacts now)",
             "converted (IsConverted = true)")
    _skipped(ld, t, "t.email IS NULL AND NOT coalesce(t.is_converted, false)", "leads without an email skipped",
             "no email")
    keep = f"{person_rows} AND NOT coalesce(t.is_converted, false)"
    _email_duplicates(ld, t, keep)
    _opt_outs(ld, t, "coalesce(t.email_opt_out, false) OR coalesce(t.do_not_email, false)", keep)
    ld.sql(f"""{STG_CONTACTS_INSERT}
        SELECT 'sflead:' || id, email, first_name, last_name, title, country, e, {pick_domain_sql('s', 'e')},
               NULL, id, NULL, coalesce(email_opt_out, false), coalesce(do_not_email, false), false,
               last_contacted_at, NULL, created_at, {PRIO_SF_LEAD}, ?, _row, ?, coalesce(email_bounced, false), NULL
        FROM (SELECT t.*, _ud_domain(t.website) AS s, _ud_email_domain(t.email) AS e FROM {db.ident(t.table)} t
              WHERE {keep})""", [t.label, t.header("id")])
    # Lead.Company names exactly one Account: the lead belongs to that account
    ld.sql(f"""INSERT INTO _ud_stg_links SELECT t.email, a.record_id, 'lead_company', ?, t._row
               FROM {db.ident(t.table)} t
               JOIN (SELECT lower(_ud_strip(name)) AS n, min(record_id) AS record_id FROM _ud_stg_records
                     WHERE crm = 'salesforce' AND name IS NOT NULL GROUP BY 1 HAVING count(*) = 1) a
                 ON a.n = lower(_ud_strip(t.company))
               WHERE {keep}""", [t.label])


def _stage_hs_contacts(ld: Loading, t: Typed, person_rows: str) -> None:
    _skipped(ld, t, "t.email IS NULL", "contacts without an email skipped", "no email")
    _skipped(ld, t, "t.company_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM _ud_stg_records r "
                    "WHERE r.record_id = 'hs:' || t.company_id)",
             "contacts whose associated company is not in the companies export (domain taken from the email)")
    _email_duplicates(ld, t, person_rows)
    _opt_outs(ld, t, "coalesce(t.opt_out, false) OR coalesce(t.opt_out_mapped, false)", person_rows)
    ld.sql(f"""{STG_CONTACTS_INSERT}
        SELECT 'hs:' || id, email, first_name, last_name, title, coalesce(country, rc_country), e,
               {pick_domain_sql('s', 'e')}, NULL, NULL, id, false, false,
               coalesce(opt_out, false) OR coalesce(opt_out_mapped, false),
               last_contacted_at, NULL, created_at, {PRIO_HS_CONTACT}, ?, _row, ?,
               coalesce(quarantined, false) OR coalesce(bad_address, false) OR bounce_reason IS NOT NULL, NULL
        FROM (SELECT t.*, r.domain AS s, _ud_email_domain(t.email) AS e FROM {db.ident(t.table)} t
              LEFT JOIN _ud_stg_records r ON r.record_id = 'hs:' || t.company_id
              WHERE {person_rows}) x
        LEFT JOIN (SELECT record_id AS rc_id, country AS rc_country FROM _ud_rec_country) rc
            ON rc.rc_id = 'hs:' || x.company_id""", [t.label, t.header("id")])
    ld.sql(f"""INSERT INTO _ud_stg_links SELECT DISTINCT x.email, 'hs:' || x.cid, 'associated_company', ?, x._row
               FROM (SELECT t.email, t._row, unnest(list_filter(list_transform(
                         regexp_split_to_array(coalesce(t.company_ids, ''), '[;,]'), lambda v: _ud_strip(v)),
                         lambda v: v <> '')) AS cid
                     FROM {db.ident(t.table)} t WHERE {person_rows}) x
               JOIN _ud_stg_records r ON r.record_id = 'hs:' || x.cid""", [t.label])


def stage_links(ld: Loading) -> None:
    """Stage contacts (joined to their company records for the domain), their associations and opportunities."""
    typed = getattr(ld, "crm_typed", {})
    person_rows = "t.email IS NOT NULL"
    for key, fn in (((SF, "Contact"), _stage_sf_contacts), ((SF, "Lead"), _stage_sf_leads),
                    ((HS, "contacts"), _stage_hs_contacts)):
        t = typed.get(key)
        if t is not None:
            fn(ld, t, person_rows)
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


def summary_lines(files: list[dict]) -> list[str]:
    """One line per export file for the CLI and the Data page."""
    out = []
    for f in files:
        skipped = "; ".join(f"{n:,} {why}" for why, n in f["skipped"].items()) or "none"
        line = (f"{f['file']}: {f['kind']} ({f['format']}, {f['encoding']}, {f['headers']}), "
                f"{f['rows_read']:,} rows read, {f['rows_used']:,} used, skipped: {skipped}, "
                f"{f['opt_outs']:,} opt-outs")
        out.append(line + "".join(f"; {n}" for n in f["notes"]))
    return out
