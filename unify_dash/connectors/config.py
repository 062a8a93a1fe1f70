"""Where each CRM's API is and which token to send: from the environment, or Streamlit secrets in the app.

| CRM | variables |
| --- | --- |
| Salesforce | ``SALESFORCE_INSTANCE_URL`` (``https://yourdomain.my.salesforce.com``), ``SALESFORCE_ACCESS_TOKEN`` (an OAuth access token, sent as a Bearer token), optional ``SALESFORCE_API_VERSION`` (default 62.0) |
| HubSpot | ``HUBSPOT_ACCESS_TOKEN`` (a private-app token), optional ``HUBSPOT_API_BASE`` (default https://api.hubapi.com) |

The environment wins over secrets. Only ``https://`` bases are accepted: a token never travels in clear.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

from unify_dash.connectors.http import Client, ConnectorError

SF, HS = "salesforce", "hubspot"
CRMS = (SF, HS)
DEFAULT_SF_VERSION = "62.0"
DEFAULT_HS_BASE = "https://api.hubapi.com"
VARIABLES = {SF: ("SALESFORCE_INSTANCE_URL", "SALESFORCE_ACCESS_TOKEN", "SALESFORCE_API_VERSION"),
             HS: ("HUBSPOT_API_BASE", "HUBSPOT_ACCESS_TOKEN")}


@dataclass(frozen=True)
class CrmConfig:
    crm: str
    label: str
    base: str
    token: str = field(repr=False)
    token_var: str = ""
    api_version: str = DEFAULT_SF_VERSION

    def client(self, **kw) -> Client:
        return Client(self.label, self.base, self.token, self.token_var, **kw)


def _get(name: str, secrets: Mapping | None) -> str:
    value = os.environ.get(name)
    if not value and secrets is not None:
        try:
            value = secrets.get(name)
        except Exception:  # noqa: BLE001 - st.secrets without a secrets file raises on access
            value = None
    return (str(value) if value is not None else "").strip()


def _https(var: str, value: str) -> str:
    url = urlparse(value)
    if url.scheme != "https" or not url.netloc:
        raise ConnectorError(f"{var} is {value!r}; expected an https:// address such as "
                             + ("https://yourdomain.my.salesforce.com" if var.startswith("SALES")
                                else DEFAULT_HS_BASE))
    return value.rstrip("/")


def config(crm: str, secrets: Mapping | None = None) -> CrmConfig:
    """The configuration of ``crm``; :class:`ConnectorError` naming the variable that is missing."""
    if crm == SF:
        base = _get("SALESFORCE_INSTANCE_URL", secrets)
        if not base:
            raise ConnectorError("Salesforce is not configured: set SALESFORCE_INSTANCE_URL "
                                 "(https://yourdomain.my.salesforce.com) and SALESFORCE_ACCESS_TOKEN")
        token = _get("SALESFORCE_ACCESS_TOKEN", secrets)
        if not token:
            raise ConnectorError("no Salesforce access token: set SALESFORCE_ACCESS_TOKEN (an OAuth access token)")
        version = (_get("SALESFORCE_API_VERSION", secrets) or DEFAULT_SF_VERSION).lstrip("vV")
        return CrmConfig(SF, "Salesforce", _https("SALESFORCE_INSTANCE_URL", base), token,
                         "SALESFORCE_ACCESS_TOKEN", version)
    if crm == HS:
        token = _get("HUBSPOT_ACCESS_TOKEN", secrets)
        if not token:
            raise ConnectorError("HubSpot is not configured: set HUBSPOT_ACCESS_TOKEN (a private-app token)")
        base = _get("HUBSPOT_API_BASE", secrets) or DEFAULT_HS_BASE
        return CrmConfig(HS, "HubSpot", _https("HUBSPOT_API_BASE", base), token, "HUBSPOT_ACCESS_TOKEN")
    raise ConnectorError(f"unknown CRM {crm!r}; expected one of {', '.join(CRMS)}")


def configured(secrets: Mapping | None = None) -> dict[str, str | None]:
    """CRM -> None when it is configured, else the sentence saying what is missing (for the CRM page)."""
    out = {}
    for crm in CRMS:
        try:
            config(crm, secrets)
            out[crm] = None
        except ConnectorError as err:
            out[crm] = str(err)
    return out
