"""``crm pull``: read a CRM's records through its API and load them exactly as its export files would load.

A pull writes what it read as the export files of that CRM (Salesforce API names, HubSpot internal names)
into a temporary workspace folder beside the settings in effect, and loads that folder with
:func:`unify_dash.io.load.load_workspace`: the same recognition, mapping, validation and all-or-nothing
load as ``unify-dash load``, with two differences that keep what the pull does not hold:

* ``keep_settings``: the settings are read (the mapping decides the opt-out columns) and never saved;
  a pending change stays pending.
* ``keep``: every record that did not come from the pulled CRM (the other CRM's records, workspace
  files' contacts, company records and opportunities, their associations) is staged again from the
  database, so it stays. A contact known to the pulled CRM and to another source keeps its contact id and
  values; only the pulled CRM's ids and flags are replaced by what the CRM says now.

The platform's history is the load's: events are never deleted, enrollment progress is kept, and an opt-out
is never lost (a flag the CRM has cleared since does not end a recorded opt-out: only the documented
reversal does, :mod:`unify_dash.store.ledger`).
"""

from __future__ import annotations

import csv
import json
import tempfile
import time
from functools import partial
from pathlib import Path

from unify_dash.connectors import hubspot, salesforce
from unify_dash.connectors.config import HS, SF, config
from unify_dash.connectors.http import ConnectorError
from unify_dash.errors import NotFound
from unify_dash.io import exports
from unify_dash.io.load import load_workspace
from unify_dash.io.workspace import PRIO_WORKSPACE, STG_CONTACTS_INSERT
from unify_dash.model import roles
from unify_dash.model.settings import settings_at
from unify_dash.store import db

# the records of a CRM, by id prefix (io/exports.py), and its contacts columns
PREFIXES = {SF: ("sf:", "sflead:"), HS: ("hs:",)}
ID_COLUMNS = {SF: ("sf_contact_id", "sf_lead_id"), HS: ("hs_contact_id",)}
FLAG_COLUMNS = {SF: ("sf_email_opt_out", "sf_do_not_email"), HS: ("hs_opt_out",)}
FILE_NAMES = {SF: {o: f"{o}.csv" for o in salesforce.OBJECTS}, HS: {o: f"{o}.csv" for o in hubspot.OBJECTS}}


def _not_prefixed(column: str, crm: str) -> tuple[str, list[str]]:
    prefixes = PREFIXES[crm]
    return "NOT (" + " OR ".join(f"starts_with({column}, ?)" for _ in prefixes) + ")", list(prefixes)


def keep_others(ld, *, crm: str) -> None:
    """Stage the database's records that did not come from ``crm`` (see the module docstring)."""
    label = "database (kept)"
    cond, params = _not_prefixed("record_id", crm)
    ld.sql(f"""INSERT INTO _ud_stg_records (record_id, crm, crm_id, name, website, domain, is_customer, industry,
                   employees, _file, _row, _col)
               SELECT record_id, crm, crm_id, name, website, domain, is_customer, industry, employees, ?,
                      row_number() OVER (ORDER BY record_id), 'record_id'
               FROM company_records WHERE {cond}""", [label, *params])
    cond, params = _not_prefixed("opportunity_id", crm)
    ld.sql(f"""INSERT INTO _ud_stg_opps (opportunity_id, crm, crm_id, record_id, name, stage, is_closed, is_won,
                   close_date, amount, created_at, _file, _row, _col, _ref_col)
               SELECT opportunity_id, crm, crm_id, record_id, name, stage, is_closed, is_won, close_date, amount,
                      created_at, ?, row_number() OVER (ORDER BY opportunity_id), 'opportunity_id', 'record_id'
               FROM opportunities WHERE {cond}""", [label, *params])
    own_ids = ID_COLUMNS[crm]
    other_ids = [c for other, cols in ID_COLUMNS.items() if other != crm for c in cols]
    cond, params = _not_prefixed("contact_id", crm)
    keep = f"({cond} OR " + " OR ".join(f"{c} IS NOT NULL" for c in other_ids) + ")"
    blank = {c: "NULL" for c in own_ids} | {c: "false" for c in FLAG_COLUMNS[crm]}
    values = ", ".join(blank.get(c, c) for c in (
        "contact_id", "email", "first_name", "last_name", "title", "country", "email_domain", "domain",
        "sf_contact_id", "sf_lead_id", "hs_contact_id", "sf_email_opt_out", "sf_do_not_email", "hs_opt_out",
        "last_contacted_at", "job_changed_at", "created_at"))
    ld.sql(f"""{STG_CONTACTS_INSERT}
               SELECT {values}, {PRIO_WORKSPACE}, ?, row_number() OVER (ORDER BY contact_id), 'contact_id',
                      email_bounced, country_code
               FROM contacts WHERE {keep}""", [label, *params])
    cond, params = _not_prefixed("l.record_id", crm)
    ld.sql(f"""INSERT INTO _ud_stg_links
               SELECT c.email, l.record_id, l.link, ?, row_number() OVER (ORDER BY l.contact_id, l.record_id)
               FROM contact_records l JOIN contacts c USING (contact_id) WHERE {cond}""", [label, *params])


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def pull(con, actor: roles.Actor, crm: str, *, secrets=None, progress=None, client_options=None) -> dict:
    """Read ``crm``'s records through its API and load them (see the module docstring). Returns the load's
    result with ``pull``: the CRM, records read per object, requests, retries and seconds."""
    roles.require(actor, "crm.sync")
    roles.require(actor, "data.load")
    cfg = config(crm, secrets)
    started = time.perf_counter()
    try:
        _version, settings = settings_at(con, db.now(con))
    except NotFound:
        raise ConnectorError("the workspace has no settings yet: load a workspace (unify-dash load DIR) before "
                             "pulling from a CRM") from None
    progress = progress or (lambda _f, _m: None)
    client = cfg.client(**(client_options or {}))
    frames = (salesforce if crm == SF else hubspot).pull_frames(cfg, settings, client, progress)
    with tempfile.TemporaryDirectory(prefix=f"unify-pull-{crm}-") as tmp:
        folder = Path(tmp) / f"{crm}-pull"
        folder.mkdir()
        (folder / "settings.json").write_text(settings.to_json(), encoding="utf-8")
        meta = {"name": db.get_meta(con, "workspace_name")}
        if db.get_meta(con, "clock"):
            meta["now"] = db.now(con).isoformat(sep="T")
        (folder / "workspace.json").write_text(json.dumps({k: v for k, v in meta.items() if v}), encoding="utf-8")
        for obj, (header, rows) in frames.items():
            _write_csv(folder / crm / FILE_NAMES[crm][obj], header, rows)

        def step(fraction, message):  # the load's own progress, after the reading (the first 30 %)
            progress(0.3 + 0.7 * fraction, message)

        result = load_workspace(con, folder, actor=actor, progress=step, keep=partial(keep_others, crm=crm),
                                keep_settings=True)
    summary = {"crm": crm, "records": {obj: len(rows) for obj, (_h, rows) in frames.items()},
               "requests": client.requests_made, "retries": client.retries,
               "seconds": round(time.perf_counter() - started, 2)}
    with db.transaction(con):
        roles.audit(con, actor, "crm.pull", crm, {**summary, "crm_opt_outs_new": result["crm_opt_outs_new"],
                                                  "contacts": result["contacts"]})
    result["pull"] = summary
    return result


def pull_lines(result: dict) -> list[str]:
    p = result["pull"]
    records = ", ".join(f"{obj} {n:,}" for obj, n in p["records"].items())
    lines = [f"pulled {p['crm']}: {records} records in {p['requests']} requests ({p['retries']} retried) "
             f"in {p['seconds']}s",
             f"  contacts {result['contacts']:,}, company records {result['company_records']:,}, "
             f"opportunities {result['opportunities']:,}; CRM opt-outs {result['crm_opt_outs_new']:,} new; "
             f"settings version {result['settings_version']} kept"]
    lines += [f"  file: {line}" for line in exports.summary_lines(result.get("files", []))]
    lines += [f"  warning: {w}" for w in result.get("warnings", [])]
    return lines
