"""Salesforce REST API: the records a pull reads, the opt-out flags a push writes.

* Pull: ``GET /services/data/vNN.N/query?q=SELECT ... FROM <object>`` for Account, Contact, Lead and
  Opportunity, following ``nextRecordsUrl`` until ``done``. The fields are the ones the export loader
  reads (:func:`unify_dash.io.export_columns.known_headers`, Salesforce API names) plus the opt-out field
  the CRM mapping names. ``query`` (not ``queryAll``) leaves deleted records out; ``IsDeleted`` is read
  too, so the loader's own rule skips any that still come. Each object becomes the rows a Data Export
  file of that object would hold (API names as headers, ``true``/``false``), loaded by the same code.
* Push: ``PATCH /services/data/vNN.N/composite/sobjects`` with up to 200 records of one object type,
  ``allOrNone: false``; the answer is one SaveResult per record, in order (``success``, ``errors`` with
  ``statusCode`` and ``message``), and each write-back takes its own record's result.
"""

from __future__ import annotations

from urllib.parse import quote

from unify_dash.connectors.config import CrmConfig
from unify_dash.connectors.http import Client, ConnectorError, HttpError
from unify_dash.io.export_columns import SF_OPT_OUT, known_headers
from unify_dash.io.recognise import KIND_BY_KEY, SF

OBJECTS = ("Account", "Contact", "Lead", "Opportunity")
BATCH = 200  # sObject Collections: up to 200 records per request


def fields(obj: str, mapping) -> list[str]:
    """The fields of ``obj`` a pull reads: the loader's columns plus the mapped opt-out field."""
    out = known_headers(KIND_BY_KEY[(SF, obj)])
    if obj in ("Contact", "Lead") and mapping is not None and mapping.field != SF_OPT_OUT:
        out.append(mapping.field)
    return out


def soql(obj: str, names: list[str]) -> str:
    return f"SELECT {', '.join(names)} FROM {obj}"


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def query(client: Client, version: str, statement: str, on_page=None) -> list[dict]:
    """Every record of a SOQL query, page after page (``nextRecordsUrl``)."""
    body = client.request("GET", f"/services/data/v{version}/query?q={quote(statement, safe='')}")
    records: list[dict] = []
    while True:
        if not isinstance(body, dict) or "records" not in body:
            raise ConnectorError("Salesforce answered the query with something that is not a query result "
                                 "(no 'records'); check SALESFORCE_INSTANCE_URL")
        records.extend(body["records"])
        if on_page is not None:
            on_page(len(records), body.get("totalSize"))
        if body.get("done", True) or not body.get("nextRecordsUrl"):
            return records
        body = client.request("GET", body["nextRecordsUrl"])


def pull_frames(cfg: CrmConfig, settings, client: Client, progress=None) -> dict[str, tuple[list[str], list[list[str]]]]:
    """object -> (header, rows): what a Data Export file of that object would hold."""
    mapping = settings.mapping(SF) if settings is not None else None
    out = {}
    for i, obj in enumerate(OBJECTS):
        names = fields(obj, mapping)
        if progress:
            progress(0.05 + 0.25 * i / len(OBJECTS), f"Salesforce: reading {obj} records")
        records = query(client, cfg.api_version, soql(obj, names))
        out[obj] = (names, [[_cell(r.get(n)) for n in names] for r in records])
    return out


def push(cfg: CrmConfig, client: Client, writebacks: list[dict], progress=None,
         record=None) -> dict[str, tuple[bool, str | None]]:
    """Write each write-back's value into its record's field. Returns writeback_id -> (ok, CRM error).
    Several write-backs of one record and field send the newest value once and share its result.
    ``record(results)`` is called after each batch. :class:`~unify_dash.connectors.http.AuthError` stops the
    push (nothing recorded for that batch)."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for w in sorted(writebacks, key=lambda w: (w["at"], w["writeback_id"])):
        groups.setdefault((w["crm_object"] or "Contact", w["crm_id"], w["field"]), []).append(w)
    by_object: dict[str, list[tuple[tuple, list[dict]]]] = {}
    for key, group in groups.items():
        by_object.setdefault(key[0], []).append((key, group))
    results: dict[str, tuple[bool, str | None]] = {}
    batches = [(obj, items[i:i + BATCH]) for obj, items in by_object.items() for i in range(0, len(items), BATCH)]
    for n, (obj, batch) in enumerate(batches):
        if progress:
            progress(n / max(len(batches), 1), f"Salesforce: writing {len(batch)} {obj} record(s)")
        batch_results: dict[str, tuple[bool, str | None]] = {}
        records = [{"attributes": {"type": obj}, "id": key[1], key[2]: group[-1]["value"] == "true"}
                   for key, group in batch]
        try:
            answer = client.request("PATCH", f"/services/data/v{cfg.api_version}/composite/sobjects",
                                    json={"allOrNone": False, "records": records})
        except HttpError as err:  # the whole request refused (400: malformed, unknown field ...)
            answer = [{"success": False, "errors": [{"statusCode": str(err.status), "message": str(err)}]}] * len(batch)
        if not isinstance(answer, list) or len(answer) != len(batch):
            answer = [{"success": False, "errors": [{"statusCode": "UNEXPECTED_ANSWER",
                                                     "message": "Salesforce did not answer one result per record"}]}] \
                * len(batch)
        for (_key, group), res in zip(batch, answer, strict=True):
            ok = bool(res.get("success"))
            error = None if ok else "; ".join(f"{e.get('statusCode', '')}: {e.get('message', '')}".strip(": ")
                                              for e in res.get("errors") or []) or "not saved (no error given)"
            for w in group:
                batch_results[w["writeback_id"]] = (ok, error)
        results.update(batch_results)
        if record is not None:
            record(batch_results)
    return results
