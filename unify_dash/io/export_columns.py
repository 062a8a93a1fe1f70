"""The columns the loader reads from each Salesforce / HubSpot export kind, by their canonical header
(Salesforce API names; HubSpot's English labels: :mod:`unify_dash.io.recognise` translates the others)."""

from __future__ import annotations

from unify_dash.io.recognise import HS, SF, Kind
from unify_dash.io.workspace import Col, Loading
from unify_dash.model.settings import CrmMapping

SF_OPT_OUT = "HasOptedOutOfEmail"
HS_OPT_OUT = "Unsubscribed from all email"
NO_COLUMN = "\x00"  # a header no file has: the column is staged as NULL


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
        _c("is_deleted", "bool", None, "IsDeleted"),
        _c("email_bounced", "bool", None, "IsEmailBounced"),
    ]
    if mapping is not None and not standard:
        cols.append(_c("do_not_email", "bool", "column", mapping.field))
    else:
        cols.append(_c("do_not_email", "bool", None, NO_COLUMN))
    if obj == "Contact":
        cols += [_c("account_id", "id", None, "AccountId"), _c("country", "text", None, "MailingCountry", "OtherCountry")]
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
    _c("country", "text", None, "BillingCountry", "ShippingCountry"),
    _c("is_deleted", "bool", None, "IsDeleted"),
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
    _c("is_deleted", "bool", None, "IsDeleted"),
]
HS_COMPANIES = [
    _c("id", "id", "value", "Record ID"),
    _c("name", "text", None, "Company name"),
    _c("domain_name", "text", None, "Company Domain Name"),
    _c("website", "text", None, "Website URL"),
    _c("lifecycle", "text", None, "Lifecycle Stage"),
    _c("industry", "text", None, "Industry"),
    _c("employees", "int", None, "Number of Employees"),
    _c("country", "text", None, "Country/Region"),
]


def hubspot_deal_columns(headers: set[str]) -> list[Col]:
    """Columns of a HubSpot deals export; ``Is Deal Closed?`` is required unless the stage can tell."""
    return [
        _c("id", "id", "value", "Record ID"),
        _c("name", "text", None, "Deal Name"),
        _c("stage", "text", None if "is deal closed?" in headers else "value", "Deal Stage"),
        _c("pipeline", "text", None, "Pipeline"),
        _c("is_closed", "bool", "value" if "is deal closed?" in headers else None, "Is Deal Closed?"),
        _c("is_won", "bool", None, "Is Closed Won"),
        _c("close_date", "date", None, "Close Date"),
        _c("amount", "num", None, "Amount"),
        _c("created_at", "ts", None, "Create Date"),
        _c("company_id", "idlist", None, "Associated Company IDs"),
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
        _c("company_id", "idlist", None, "Associated Company IDs"),
        _c("company_ids", "text", None, "Associated Company IDs"),
        _c("created_at", "ts", None, "Create Date"),
        _c("last_contacted_at", "ts", None, "Last Contacted"),
        _c("bounce_reason", "text", None, "Email hard bounce reason"),
        _c("quarantined", "bool", None, "Email Address Quarantined"),
        _c("bad_address", "bool", None, "Invalid email address"),
    ]


def columns_for(kind: Kind, ld: Loading, headers: list[str]) -> list[Col]:
    s = ld.settings
    if kind.key in ((SF, "Contact"), (SF, "Lead")):
        return salesforce_person_columns(kind.obj, s.mapping(SF) if s else None)
    if kind.key == (SF, "Account"):
        return SF_ACCOUNT
    if kind.key == (SF, "Opportunity"):
        return SF_OPPORTUNITY
    if kind.key == (HS, "contacts"):
        return hubspot_contact_columns(s.mapping(HS) if s else None, headers)
    if kind.key == (HS, "companies"):
        return HS_COMPANIES
    return hubspot_deal_columns({h.lower() for h in headers})


def known_headers(kind: Kind) -> list[str]:
    """The canonical headers a kind reads (targets a mapping.yaml may name)."""
    cols = _static_columns(kind)
    out = []
    for col in cols:
        for h in col.headers[:1]:
            if h != NO_COLUMN and h not in out:
                out.append(h)
    return out


def _static_columns(kind: Kind) -> list[Col]:
    if kind.key in ((SF, "Contact"), (SF, "Lead")):
        return salesforce_person_columns(kind.obj, None)
    return {(SF, "Account"): SF_ACCOUNT, (SF, "Opportunity"): SF_OPPORTUNITY, (HS, "companies"): HS_COMPANIES,
            (HS, "contacts"): hubspot_contact_columns(None, []),
            (HS, "deals"): hubspot_deal_columns({"is deal closed?"})}[kind.key]
