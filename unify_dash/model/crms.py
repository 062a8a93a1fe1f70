"""The connected CRMs, declared once: their labels, what they call an opportunity, the CRM objects a
contact can come from, and the suppression flags a CRM mapping can name."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flag:
    """A CRM suppression field: the ``contacts`` column that mirrors it and its name in the CRM's UI."""

    column: str
    label: str


@dataclass(frozen=True)
class Crm:
    key: str
    label: str
    opportunity: str  # what the CRM calls an opportunity ("deal" in HubSpot)
    contact_objects: tuple[tuple[str, str], ...]  # (CRM object, contacts column holding its id)
    flags: dict[str, Flag]  # mapped field -> flag; "*" = any other field the mapping names
    field_kind: str  # "field" | "property"

    def flag(self, field: str) -> Flag:
        return self.flags.get(field) or self.flags["*"]

    def field_label(self, field: str) -> str:
        """The mapped field as a user knows it, e.g. ``Salesforce field 'Email Opt Out' (HasOptedOutOfEmail)``."""
        if self.field_kind == "property":
            return f"{self.label} property '{field}'"
        return f"{self.label} field '{self.flag(field).label}' ({field})"


CRMS: dict[str, Crm] = {c.key: c for c in (
    Crm("salesforce", "Salesforce", "opportunity", (("Contact", "sf_contact_id"), ("Lead", "sf_lead_id")),
        {"HasOptedOutOfEmail": Flag("sf_email_opt_out", "Email Opt Out"), "*": Flag("sf_do_not_email", "Do Not Email")},
        "field"),
    Crm("hubspot", "HubSpot", "deal", (("contact", "hs_contact_id"),),
        {"*": Flag("hs_opt_out", "Unsubscribed from all email")}, "property"),
)}
