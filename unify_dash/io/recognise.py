"""Which CRM export a file is, by its content (the header row), wherever and however it was downloaded.

* Salesforce Data Export (weekly export ZIP, or its CSVs) and Data Loader files carry API field names
  (``Id``, ``AccountId``, ``HasOptedOutOfEmail``; Data Loader writes them in upper case): matched
  case-insensitively, BOM and CRLF allowed.
* HubSpot exports carry property labels in the language chosen at export (English, German, ...), or
  internal names when "internal names" is chosen (``hs_object_id``, ``email``, ``hs_email_optout``).
  Every accepted header is translated to the English label the loader's column lists use.
* A ``mapping.yaml`` in the workspace names files of any other layout, their kind and which header is
  which column (:func:`read_mapping`).

A kind is recognised by its signature: columns that must all be there, and at least one of the columns
that tell it from its neighbours (an Account has no Email; a Lead has Company and IsConverted).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SF, HS = "salesforce", "hubspot"


@dataclass(frozen=True)
class Kind:
    crm: str
    obj: str
    label: str
    required: tuple[str, ...]  # canonical headers that must all be present
    any_of: tuple[str, ...]  # at least one of these
    none_of: tuple[str, ...] = ()  # none of these (they make it another kind)
    names: tuple[str, ...] = ()  # file name stems that suggest this kind

    @property
    def key(self) -> tuple[str, str]:
        return (self.crm, self.obj)


KINDS: tuple[Kind, ...] = (
    Kind(SF, "Contact", "Salesforce Contact", ("Id", "Email"),
         ("AccountId", "MailingCountry", "ReportsToId", "MailingStreet", "HasOptedOutOfEmail"),
         ("IsConverted", "Company", "StageName"), ("contact", "contacts")),
    Kind(SF, "Lead", "Salesforce Lead", ("Id", "Company"), ("IsConverted", "Status", "LeadSource", "ConvertedContactId"),
         ("StageName",), ("lead", "leads")),
    Kind(SF, "Account", "Salesforce Account", ("Id", "Name"),
         ("Website", "BillingCountry", "Type", "AccountNumber", "Industry", "NumberOfEmployees", "ParentId"),
         ("Email", "StageName", "Company", "AccountId"), ("account", "accounts")),
    Kind(SF, "Opportunity", "Salesforce Opportunity", ("Id", "StageName"), ("AccountId", "CloseDate", "IsClosed"),
         (), ("opportunity", "opportunities")),
    Kind(HS, "contacts", "HubSpot contacts", ("Record ID", "Email"), (), (), ("contacts", "all-contacts")),
    Kind(HS, "companies", "HubSpot companies", ("Record ID",), ("Company name", "Company Domain Name", "Website URL"),
         ("Email", "Deal Stage"), ("companies", "all-companies")),
    Kind(HS, "deals", "HubSpot deals", ("Record ID",), ("Deal Name", "Deal Stage", "Pipeline", "Is Deal Closed?"),
         ("Email",), ("deals", "all-deals")),
)
KIND_BY_KEY = {k.key: k for k in KINDS}

# HubSpot: English label -> (internal name, German label, ...). Association columns appear under several
# names, depending on the export's settings.
_HS_COMMON = {
    "Record ID": ("hs_object_id", "Datensatz-ID", "ID de registro", "ID de l'enregistrement", "ID record"),
    "Create Date": ("createdate", "Erstellungsdatum", "Date de création", "Fecha de creación"),
    "Country/Region": ("country", "Land/Region", "Pays/région", "País/región"),
}
HS_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "contacts": {
        **_HS_COMMON,
        "Email": ("email", "E-Mail", "E-mail", "Correo", "Adresse e-mail"),
        "First Name": ("firstname", "Vorname", "Prénom", "Nombre"),
        "Last Name": ("lastname", "Nachname", "Nom", "Apellidos"),
        "Job Title": ("jobtitle", "Jobtitel", "Position", "Intitulé du poste", "Cargo"),
        "Unsubscribed from all email": ("hs_email_optout", "Von allen E-Mails abgemeldet",
                                        "Désabonné de tous les e-mails", "Cancelada la suscripción a todos los correos"),
        "Associated Company IDs": ("associatedcompanyid", "Associated Company ID", "Primary Associated Company ID",
                                   "Associated Company IDs (Primary)", "Company ID",
                                   "Zugeordnete Unternehmens-IDs", "ID des zugeordneten Unternehmens"),
        "Last Contacted": ("notes_last_contacted", "Zuletzt kontaktiert", "Dernier contact"),
        "Email hard bounce reason": ("hs_email_hard_bounce_reason_enum", "hs_email_hard_bounce_reason",
                                     "Grund für Hard Bounce der E-Mail"),
        "Email Address Quarantined": ("hs_email_quarantined", "E-Mail-Adresse unter Quarantäne"),
        "Invalid email address": ("hs_email_bad_address", "Ungültige E-Mail-Adresse"),
    },
    "companies": {
        **_HS_COMMON,
        "Company name": ("name", "Name", "Unternehmensname", "Name des Unternehmens", "Nom de l'entreprise"),
        "Company Domain Name": ("domain", "Domain-Name des Unternehmens", "Nom de domaine de l'entreprise"),
        "Website URL": ("website", "Website-URL", "URL du site web"),
        "Lifecycle Stage": ("lifecyclestage", "Lifecycle-Phase", "Phase du cycle de vie"),
        "Industry": ("industry", "Branche", "Secteur d'activité"),
        "Number of Employees": ("numberofemployees", "Anzahl der Mitarbeiter", "Nombre d'employés"),
    },
    "deals": {
        **_HS_COMMON,
        "Deal Name": ("dealname", "Dealname", "Nom de la transaction"),
        "Deal Stage": ("dealstage", "Deal-Phase", "Phase de la transaction"),
        "Pipeline": ("pipeline",),
        "Is Deal Closed?": ("hs_is_closed", "Ist Deal geschlossen?", "Is closed", "Is Closed"),
        "Is Closed Won": ("hs_is_closed_won", "Ist gewonnen"),
        "Close Date": ("closedate", "Abschlussdatum", "Date de fermeture"),
        "Amount": ("amount", "Betrag", "Montant"),
        "Associated Company IDs": ("Associated Company ID", "Associated Company IDs (Primary)",
                                   "Primary Associated Company ID", "Company ID", "Zugeordnete Unternehmens-IDs"),
    },
}

# HubSpot's default sales pipeline: the stages a default-view deals export shows (internal ids and English
# labels). Only these tell open from closed without the "Is Deal Closed?" column.
HS_DEFAULT_STAGES = {
    "appointmentscheduled": False, "qualifiedtobuy": False, "presentationscheduled": False,
    "decisionmakerboughtin": False, "contractsent": False, "closedwon": True, "closedlost": True,
    "appointment scheduled": False, "qualified to buy": False, "presentation scheduled": False,
    "decision maker bought-in": False, "contract sent": False, "closed won": True, "closed lost": True,
}
HS_WON_STAGES = ("closedwon", "closed won")


@dataclass
class Recognised:
    kind: Kind
    # lower-case header in the file -> canonical header (only where they differ)
    rename: dict[str, str] = field(default_factory=dict)
    headers: str = "API names"  # how the headers are written: API names, English labels, internal names, ...


def _norm(h: str) -> str:
    return h.strip().lstrip("\ufeff").strip('"').strip().lower()


def translate(kind: Kind, headers: list[str], extra: dict[str, str] | None = None) -> dict[str, str]:
    """lower-case header of the file -> canonical header, for every header this kind knows under another
    name (``extra``: a mapping.yaml's ``columns``, lower-case file header -> canonical)."""
    present = {_norm(h) for h in headers if h}
    out: dict[str, str] = {}
    if kind.crm == HS:
        for canonical, aliases in HS_ALIASES[kind.obj].items():
            if canonical.lower() in present:
                continue
            for alias in aliases:
                if alias.lower() in present and alias.lower() not in out:
                    out[alias.lower()] = canonical
                    break
    for header, canonical in (extra or {}).items():
        out[header.lower()] = canonical
    return out


def _language(kind: Kind, headers: list[str]) -> str:
    if kind.crm == SF:
        return "API names (upper case, Data Loader)" if all(h == h.upper() for h in headers if h) else "API names"
    present = {_norm(h) for h in headers if h}
    if "hs_object_id" in present:
        return "internal names"
    if "datensatz-id" in present:
        return "German labels"
    if "record id" in present:
        return "English labels"
    return "labels"


def satisfies(kind: Kind, headers: list[str], rename: dict[str, str]) -> bool:
    have = {_norm(h) for h in headers if h} | {c.lower() for c in rename.values()}
    return (all(c.lower() in have for c in kind.required)
            and (not kind.any_of or any(c.lower() in have for c in kind.any_of))
            and not any(c.lower() in have for c in kind.none_of))


def recognise(headers: list[str], *, crm: str | None = None) -> Recognised | None:
    """The export kind of a file with these headers (``crm``: only kinds of that CRM, when the file sits in
    a CRM's folder). The kind matching most of its known columns wins."""
    best: tuple[int, Recognised] | None = None
    for kind in KINDS:
        if crm is not None and kind.crm != crm:
            continue
        rename = translate(kind, headers)
        if not satisfies(kind, headers, rename):
            continue
        known = set(kind.required) | set(kind.any_of)
        if kind.crm == HS:
            known |= set(HS_ALIASES[kind.obj])
        have = {_norm(h) for h in headers if h} | {c.lower() for c in rename.values()}
        score = sum(1 for c in known if c.lower() in have)
        if best is None or score > best[0]:
            best = (score, Recognised(kind, rename, _language(kind, headers)))
    return best[1] if best else None


def kind_from_name(name: str, crm: str | None = None) -> Kind | None:
    """The kind a file name suggests (``Contact.csv``, ``hubspot-crm-exports-all-deals-2025-03-01.csv``,
    ``hubspot/companies.csv``); ``crm``: the CRM folder the file sits in."""
    stem = name.lower().rsplit(".", 1)[0]
    if stem.startswith("hubspot-crm-exports-"):
        for kind in KINDS:
            if kind.crm == HS and f"-{kind.obj}" in stem:
                return kind
        return None
    for kind in KINDS:
        if (crm or SF) == kind.crm and stem in kind.names:
            return kind
    return None


def kind_from_text(text: str) -> Kind | None:
    """``salesforce Contact``, ``hubspot/contacts``, ``HubSpot deals`` -> the kind (mapping.yaml)."""
    words = text.replace("/", " ").replace(".", " ").split()
    if len(words) != 2:
        return None
    crm, obj = words[0].lower(), words[1].lower()
    for kind in KINDS:
        if kind.crm == crm and kind.obj.lower() in (obj, obj.rstrip("s"), obj + "s"):
            return kind
    return None


def looks_like_people(headers: list[str]) -> list[str]:
    """Headers that suggest a file holds people or their email permissions (where ignoring the file could
    lose an opt-out)."""
    words = ("email", "e-mail", "mail", "opt", "unsubscrib", "abgemeldet", "bounce", "do not", "donotcall")
    return [h for h in headers if h and any(w in _norm(h) for w in words)]
