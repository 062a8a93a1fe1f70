"""How a field explains a match: the evidence sentence of the Exclusion tab ("open deal 123 in HubSpot on
company record acme.com #1"). Each field of :mod:`unify_dash.model.vocabulary` names its evidence kind
here, the way it names its SQL; :func:`unify_dash.engine.explain` only supplies the contact's company
records and opportunities (dicts as its point query returns them).

A record is ``{record_id, crm, crm_id, name, website, domain, is_customer, industry, employees, num}``; an
opportunity ``{opportunity_id, record_id, crm, crm_id, name, stage, is_closed, is_won, amount, created_at}``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from unify_dash.model import crms, states


def fmt_value(value: Any) -> str:
    """A field value as the Exclusion tab writes it."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "empty"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, str):
        return repr(value)
    return str(value)


# how a contact is associated with a record (contact_records.link), as the Exclusion tab says it
LINKS = {"account": "by AccountId", "associated_company": "by Associated Company IDs",
         "lead_company": "by the Lead's Company"}


def record_label(rec: dict) -> str:
    """``company record acme.com #2`` for a record sharing the contact's domain; for one the contact is
    associated with: ``associated with Account 001... (no website) by AccountId``."""
    if rec.get("link"):
        obj = "Account" if rec["crm"] == "salesforce" else "company"
        site = rec["domain"] or "no website"
        return f"associated with {obj} {rec['crm_id']} ({site}) {LINKS.get(rec['link'], rec['link'])}"
    return f"company record {rec['domain']} #{rec['num']}"


def record_in_crm(rec: dict) -> str:
    return f"{record_label(rec)} in {states.label(states.CRMS, rec['crm'])}"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def opportunity_text(o: dict, rec: dict | None) -> str:
    crm = states.label(states.CRMS, o["crm"])
    kind = crms.CRMS[o["crm"]].opportunity if o["crm"] in crms.CRMS else "opportunity"
    state = "won" if o["is_won"] else ("open" if not o["is_closed"] else "closed")
    where = (f", {record_label(rec)}" if rec.get("link") else f" on {record_label(rec)}") if rec else ""
    extra = [x for x in (o.get("name"), o.get("stage")) if x]
    if not _missing(o.get("amount")):
        extra.append(f"amount {o['amount']:g}")
    return f"{state} {kind} {o['crm_id']} in {crm}{where}" + (f" ({', '.join(extra)})" if extra else "")


@dataclass(frozen=True)
class Facts:
    """What explain knows of one leaf for one contact: the field's value, the leaf's result, the company
    records of the contact's domain, their opportunities and, for record fields, which records hit."""

    label: str
    value: Any
    result: bool
    records: list[dict]
    opportunities: list[dict]
    record_hits: list[bool] | None
    negative: bool  # the operator counts a missing value as a match ("is not ...")


class Evidence:
    """The default: the contact's own value ("Title: 'VP Sales'")."""

    def lines(self, f: Facts) -> list[str]:
        return [f"{f.label}: {fmt_value(f.value)}"]


@dataclass(frozen=True)
class Opportunities(Evidence):
    """The opportunities/deals behind a count: ``pick`` is ``open`` (optionally of one ``crm``), ``won`` or
    ``latest`` (the newest by creation)."""

    pick: str = "open"
    crm: str | None = None

    def chosen(self, opps: list[dict]) -> list[dict]:
        if self.pick == "won":
            return [o for o in opps if o["is_won"]]
        if self.pick == "latest":
            dated = [o for o in opps if not _missing(o["created_at"])]
            return sorted(dated, key=lambda o: o["created_at"])[-1:]
        return [o for o in opps if not o["is_closed"] and (self.crm is None or o["crm"] == self.crm)]

    def lines(self, f: Facts) -> list[str]:
        chosen = self.chosen(f.opportunities)
        if not chosen:
            return [f"{f.label}: {fmt_value(f.value)} (no such opportunity on any company record of the domain "
                    "or associated with the contact)"]
        by_id = {r["record_id"]: r for r in f.records}
        return [opportunity_text(o, by_id.get(o["record_id"])) for o in chosen]


@dataclass(frozen=True)
class Customers(Evidence):
    """The company records marked as a customer."""

    def lines(self, f: Facts) -> list[str]:
        cust = [r for r in f.records if r["is_customer"]]
        if not cust:
            return ["no company record of the domain is marked as a customer"]
        return [f"customer: {record_in_crm(r)}" for r in cust]


@dataclass(frozen=True)
class RecordList(Evidence):
    """Every company record of the domain."""

    def lines(self, f: Facts) -> list[str]:
        return [f"{len(f.records)} company record(s): " + ", ".join(record_in_crm(r) for r in f.records)]


@dataclass(frozen=True)
class RecordValue(Evidence):
    """A field of each company record (``column`` of the record dict): the records that made the leaf
    match, or every record when it did not match or the operator is negative."""

    column: str

    def lines(self, f: Facts) -> list[str]:
        if not f.records:
            return ["the domain has no company record"]
        hits = f.record_hits or [False] * len(f.records)
        return [f"{record_in_crm(r)}: {f.label.lower()} {fmt_value(r[self.column])}"
                for r, hit in zip(f.records, hits, strict=True) if hit or not f.result or f.negative]


CONTACT_VALUE = Evidence()
