"""HubSpot API: the records a pull reads, the opt-outs a push writes.

* Pull: ``GET /crm/v3/objects/{companies,contacts,deals}?limit=100&properties=...&associations=companies``,
  following ``paging.next.after`` (archived records are not listed). The properties are the internal names
  of the columns the export loader reads (:data:`unify_dash.io.recognise.HS_ALIASES`), plus the property
  the CRM mapping names; the associated company ids become the export's ``Associated Company IDs``
  column. Each object becomes the rows of an export downloaded with internal names, loaded by the same code.
* Push: "Unsubscribed from all email" (``hs_email_optout``) is not a writable property; an opt-out is
  written through the subscription preferences API:
  ``POST /communication-preferences/v4/statuses/{email}/unsubscribe-all?channel=EMAIL``. A reversal
  (re-subscribing) needs a subscription type and the contact's consent recorded in HubSpot, so it is
  refused with the place to do it, never sent.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from unify_dash.connectors.config import CrmConfig
from unify_dash.connectors.http import Client, ConnectorError, HttpError
from unify_dash.io.export_columns import HS_OPT_OUT, known_headers
from unify_dash.io.recognise import HS, HS_ALIASES, KIND_BY_KEY

OBJECTS = ("companies", "contacts", "deals")
PAGE = 100  # the list endpoint's largest page
ASSOCIATED = "Associated Company IDs"
RESUBSCRIBE = ("HubSpot cannot be told to re-subscribe a contact from here: re-subscribing needs a subscription "
               "type and the contact's consent recorded in HubSpot; change it on the contact's record in HubSpot "
               "(Communication subscriptions)")


def properties(obj: str, mapping) -> list[str]:
    """The internal property names a pull asks for (``hs_object_id`` first)."""
    out = []
    for label in known_headers(KIND_BY_KEY[(HS, obj)]):
        aliases = HS_ALIASES[obj].get(label)
        if label == ASSOCIATED or not aliases:
            continue
        if aliases[0] not in out:
            out.append(aliases[0])
    if obj == "contacts" and mapping is not None and mapping.field.lower() not in (HS_OPT_OUT.lower(), "hs_email_optout"):
        out.append(mapping.field)
    return out


def list_objects(client: Client, obj: str, props: list[str], *, associations: bool) -> list[dict]:
    """Every record of ``obj``, page after page (``paging.next.after``)."""
    params = {"limit": PAGE, "properties": ",".join(props), "archived": "false"}
    if associations:
        params["associations"] = "companies"
    records: list[dict] = []
    after = None
    while True:
        query = dict(params, **({"after": after} if after else {}))
        body = client.request("GET", f"/crm/v3/objects/{obj}?{urlencode(query)}")
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            raise ConnectorError(f"HubSpot answered the {obj} list with something that is not a list of records "
                                 "(no 'results'); check HUBSPOT_API_BASE")
        records.extend(body["results"])
        after = ((body.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            return records


def _companies(record: dict) -> str:
    assoc = ((record.get("associations") or {}).get("companies") or {}).get("results") or []
    ids = []
    for a in assoc:
        cid = str(a.get("id", "")).strip()
        if cid and cid not in ids:
            ids.append(cid)
    return ";".join(ids)


def pull_frames(cfg: CrmConfig, settings, client: Client, progress=None) -> dict[str, tuple[list[str], list[list[str]]]]:
    """object -> (header, rows): what an export of that object with internal names would hold."""
    mapping = settings.mapping(HS) if settings is not None else None
    out = {}
    for i, obj in enumerate(OBJECTS):
        props = properties(obj, mapping)
        if progress:
            progress(0.05 + 0.25 * i / len(OBJECTS), f"HubSpot: reading {obj}")
        linked = obj in ("contacts", "deals")
        records = list_objects(client, obj, props, associations=linked)
        header = props + ([ASSOCIATED] if linked else [])
        rows = []
        for r in records:
            values = dict(r.get("properties") or {})
            values["hs_object_id"] = str(r.get("id") or values.get("hs_object_id") or "")
            row = ["" if values.get(p) is None else str(values[p]) for p in props]
            rows.append(row + ([_companies(r)] if linked else []))
        out[obj] = (header, rows)
    return out


def push(cfg: CrmConfig, client: Client, writebacks: list[dict], progress=None,
         record=None) -> dict[str, tuple[bool, str | None]]:
    """Unsubscribe each opted-out contact from all email. Returns writeback_id -> (ok, CRM error);
    ``record(results)`` is called after each contact."""
    groups: dict[str, list[dict]] = {}
    for w in sorted(writebacks, key=lambda w: (w["at"], w["writeback_id"])):
        groups.setdefault(w["email"], []).append(w)
    results: dict[str, tuple[bool, str | None]] = {}
    for n, (email, group) in enumerate(groups.items()):
        if progress:
            progress(n / max(len(groups), 1), f"HubSpot: contact {n + 1} of {len(groups)}")
        if group[-1]["value"] != "true":
            ok, error = False, RESUBSCRIBE
        else:
            try:
                client.request("POST", f"/communication-preferences/v4/statuses/{quote(email, safe='@')}"
                                       "/unsubscribe-all?channel=EMAIL")
                ok, error = True, None
            except HttpError as err:
                ok, error = False, str(err)
        mine = {w["writeback_id"]: (ok, error) for w in group}
        results.update(mine)
        if record is not None:
            record(mine)
    return results
