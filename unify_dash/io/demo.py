"""The seeded demo workspace generator (``unify-dash demo``).

``generate(out_dir, contacts=N, seed=S)`` writes a workspace folder in the format of
docs/workspace-format.md: ``workspace.yaml``, ``settings.yaml`` and the
record files (CSV or Parquet) ``contacts``, ``company_records``, ``opportunities``,
``enrollments``, ``events``.

How it works
------------
* A fixed cast of **story contacts** (:func:`build_story`, ``STORY_EMAILS``) shows every scenario
  of the support article with fixed emails (``dana@northwind-demo.com`` ...); they are the first
  rows of every file and are present at every size. docs/demo.md lists them.
* Everything else is generated **in DuckDB**, set-based: a ``dom`` table of company domains
  (``range()`` with ``hash``-based pseudo-random draws from the seed, names from word arrays), then
  each output file is *one* streaming query over ``dom`` (``unnest`` of the domain's contacts /
  records / opportunities) written with the relation API (``write_csv`` / ``write_parquet``: no
  path is ever pasted into SQL). There are no joins in those queries, so DuckDB keeps the row order
  and the same seed gives byte-identical files; memory is bounded (``memory_limit`` +
  ``temp_directory``), which is what lets ``--contacts 10000000`` run in minutes.
* Every contact's fate (its enrollment state and completion reason) is drawn first, and the
  contact's attributes and events follow from it, so enrollments, events and exclusions agree: an
  active participant never matches an exclusion that removes from active sequences, an opted-out
  contact has no queued or active enrollment, a skipped enrollment has a contact that matched the
  skipping exclusion, every link opt-out follows a send, and so on.

Constants (names, titles, words) are code; user values (seed, size, the output folder) travel as
parameters or DuckDB variables, never as SQL text.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
import time
import unicodedata
from pathlib import Path

import duckdb
import yaml

from unify_dash.errors import ValidationError
from unify_dash.model import states, vocabulary
from unify_dash.model.settings import parse_settings
from unify_dash.store import schema

NOW = dt.datetime(2026, 11, 26, 9, 0)
MIN_CONTACTS = 100
MIN_EXCLUSIONS, DEFAULT_EXCLUSIONS, MAX_EXCLUSIONS = 8, 14, 24
RECORD_FILES = schema.RECORD_FILES
DOM_ROW_GROUP = 2048  # domains per streamed batch (~11,000 contacts, ~20,000 events)

# The team that "owns" the demo workspace: the users who act in the event log.
ORG_NAME = "Brightline"
REVOPS_ADMIN = "jordan.reyes@brightline.io"
SUPPORT_USER = "sam.okafor@brightline.io"
SDR_MANAGER = "alex.chen@brightline.io"
ADMINS = [REVOPS_ADMIN, "priya.nair@brightline.io"]
UNENROLLERS = [SDR_MANAGER, "maria.lopez@brightline.io", "tyler.brooks@brightline.io", REVOPS_ADMIN]

# --- word lists -----------------------------------------------------------------------------------

FIRST_NAMES = """
James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan
Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony Sandra
Mark Ashley Steven Emily Andrew Michelle Joshua Amanda Kevin Melissa Brian Stephanie Lukas Hannah
Felix Lea Jonas Anna Leon Marie Paul Sophie Julien Camille Hugo Chloé Lucas Emma Mateo Lucía Diego
Valentina Arjun Priya Rohan Ananya Wei Mei Hiroshi Yuki Min-jun Ji-woo Olumide Chioma Kwame Amara
Lars Ingrid Sven Astrid Mateus Beatriz Ahmed Fatima Omar Layla Noah Olivia Liam Ava Ethan Mia Oliver
Isla Jack Grace Finn Nora Ravi Sanjay Deepa Kenji Sakura Pablo Carmen Javier Elena Marco Giulia Luca
Francesca Tomasz Katarzyna Piotr Agnieszka Aoife Cian Siobhan Declan Zoë Renée José Björn Nikolai
Tatiana Kofi Adaeze Tariq Yasmin Mohammed Leila Rafael Isabela Henrik Freya Jan Eva
""".split()

LAST_NAMES = """
Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez
Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark
Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams
Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Müller Schmidt Schneider Fischer Weber
Meyer Wagner Becker Schulz Hoffmann Dubois Lefèvre Moreau Laurent Bernard Rossi Russo Ferrari
Esposito Bianchi Fernández Patel Sharma Singh Gupta Kumar Iyer Chen Wang Li Zhang Liu Tanaka Suzuki
Sato Watanabe Kim Park Choi Okafor Adeyemi Mensah Andersson Johansson Larsson Nilsson Jansen de-Vries
van-Dijk Bakker Visser Kowalski Nowak Wiśniewski O'Brien Murphy Kelly Byrne Silva Santos Oliveira
Costa Haddad Khalil Cohen Levi Novak Horvat Popescu Ivanova Eriksen Lindqvist Moretti Romano Castro
Ortiz Morales Reyes Cruz Gomez Diaz Vargas Mendoza Alvarez Ruiz Jimenez Hughes Price Bennett Wood
Barnes Ross Henderson Coleman Jenkins Perry Powell Long Patterson Foster
""".split()
LAST_NAMES = [n.replace("-", " ") for n in LAST_NAMES]

# (title, weight): the mix of a B2B contact database
TITLES = [
    ("CEO", 3), ("Founder & CEO", 1), ("Co-Founder", 1), ("CTO", 2), ("CFO", 2), ("COO", 1),
    ("Chief Revenue Officer", 1), ("Chief Marketing Officer", 1), ("VP Sales", 4), ("VP Marketing", 3),
    ("VP Engineering", 2), ("VP Customer Success", 1), ("VP Revenue Operations", 1),
    ("Head of Marketing", 3), ("Head of Sales", 3), ("Head of Growth", 2), ("Head of Demand Generation", 1),
    ("Head of Partnerships", 1), ("Director of Sales", 3), ("Sales Director", 2), ("Marketing Director", 2),
    ("Director of Revenue Operations", 1), ("Director of Engineering", 2), ("Sales Manager", 4),
    ("Marketing Manager", 5), ("Account Executive", 6), ("Senior Account Executive", 3), ("SDR", 3),
    ("Sales Development Representative", 3), ("BDR", 2), ("Business Development Manager", 3),
    ("RevOps Manager", 2), ("Sales Operations Manager", 2), ("Customer Success Manager", 4),
    ("Product Manager", 4), ("Software Engineer", 5), ("Data Analyst", 2), ("Office Manager", 1),
    ("Operations Manager", 2), ("Procurement Manager", 1), ("General Counsel", 1), ("Legal Counsel", 1),
    ("Sales Intern", 1), ("Marketing Intern", 1), ("Recruiter", 1), ("HR Manager", 1),
]
COUNTRIES = [
    ("United States", 40), ("United Kingdom", 10), ("Canada", 6), ("Germany", 8), ("France", 5),
    ("Netherlands", 4), ("Spain", 3), ("Sweden", 2), ("Ireland", 2), ("Australia", 5), ("India", 5),
    ("Brazil", 3), ("Singapore", 2), ("Japan", 2), ("Mexico", 1), ("Italy", 2),
]
# company name = W1 + w2 (e.g. "Cedarbridge"), domain = lower(name) [+ n] + tld
W1 = """
Acme Apex Arrow Aspen Atlas Aurora Beacon Birch Blue Bold Bright Brook Canyon Cedar Cinder Clear Cobalt
Copper Coral Crest Crystal Delta Drift Eagle Echo Ember Ever Falcon Fern Fjord Flint Fox Frost Garnet
Glen Golden Granite Green Grove Harbor Hawk Helix High Hollow Horizon Indigo Iron Ivy Jade Juniper
Keystone Kite Lake Lantern Larch Lumen Lunar Maple Marble Meadow Mesa Metro Mint Nimbus Noble North
Nova Oak Ocean Onyx Orbit Pacific Peak Pine Pioneer Pixel Polar Prairie Prism Quartz Quest Radiant
Rapid Raven Red Ridge River Rock Sage Sierra Silver Sky Solar Spark Spruce Star Steel Stone Summit
Swift Terra Tidal Timber True Vale Vector Velvet Vista West Willow Zephyr Amber Arctic Bay
""".split()
W2 = """
works soft labs logic point stack line bridge field gate path base hub loop scale shift sight sync ware
craft mind flow grid lane mark nest port post scope side stream tech view vault yard dock metrics
systems data health pay ops bio energy capital logistics media analytics networks robotics foods
retail security studio partners
""".split()
TLDS = [(".com", 70), (".io", 8), (".co", 4), (".ai", 4), (".net", 3), (".de", 5), (".co.uk", 4), (".fr", 2)]
INDUSTRIES = ["Software", "Financial Services", "Healthcare", "Manufacturing", "Retail", "Logistics", "Media",
              "Education", "Energy", "Professional Services", "Telecommunications", "Real Estate", "Biotech",
              "Hospitality", "Insurance"]
NAME_SUFFIXES = ["", "", "", "", " Inc.", " Technologies", " Group", " Labs", " Solutions", " Systems"]
FREE_MAIL = [("gmail.com", 10), ("outlook.com", 3), ("yahoo.com", 2), ("hotmail.com", 2), ("icloud.com", 1),
             ("gmx.de", 1), ("web.de", 1), ("proton.me", 1)]

# Salesforce and HubSpot stage names: is_closed decides open/closed, never the text
SF_OPEN_STAGES = ["Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers",
                  "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review"]
HS_OPEN_STAGES = ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin",
                  "contractsent"]
OPP_KINDS = ["New Business", "Expansion", "Renewal", "Pilot", "Platform", "Annual Contract", "Upsell"]

# Reply texts by class (the classifier's labels: opt_out, out_of_office, positive, not_now, other)
REPLIES = {
    "opt_out": ["Please remove me from your list.", "Do not contact me again.", "unsubscribe",
                "Bitte keine E-Mails mehr.", "Remove me", "Please take me off your mailing list, thanks.",
                "Stop emailing me.", "Not interested. Please stop contacting me.", "UNSUBSCRIBE",
                "Merci de me retirer de votre liste."],
    "out_of_office": ["I am out of the office until Monday with limited access to email.",
                      "Thanks for your email. I'm on parental leave until January and will not be reading email.",
                      "Ich bin bis zum 2. Dezember nicht im Büro und habe keinen Zugriff auf meine E-Mails.",
                      "Out of office: travelling this week, back on the 4th. For urgent matters call the front desk."],
    "positive": ["Sounds good, can we talk Tuesday?", "Interesting. Send me a few times for next week.",
                 "Yes, happy to take a look. Can you loop in my colleague who runs RevOps?",
                 "Timing is good actually, we're reviewing tools this month. Thursday 2pm works."],
    "not_now": ["Not a priority this quarter, reach out in Q3.", "We're locked into a contract until next year.",
                "Timing isn't right, circle back in six months."],
    "other": ["Who gave you my email address?", "I've moved to a different role, try my colleague instead.",
              "Is this an automated email?", "We just signed with another vendor."],
}
ADMIN_OPT_OUT_NOTES = ["Asked by phone never to be emailed again", "Requested via LinkedIn message",
                       "Legal request forwarded by the customer's counsel", "Asked at a conference booth"]

COMPETITOR_DOMAINS = ["sales-rocket.io", "pipeline-pilot.com", "leadhive-ai.com", "cadence-hq.com",
                      "outbound-labs.io", "rivalsoft-demo.com"]
# special bulk domains (competitors and public sector): (domain, company name, kind, industry)
SPECIAL_DOMAINS = [
    ("sales-rocket.io", "SalesRocket", "competitor", "Software"),
    ("pipeline-pilot.com", "Pipeline Pilot", "competitor", "Software"),
    ("leadhive-ai.com", "LeadHive AI", "competitor", "Software"),
    ("cadence-hq.com", "CadenceHQ", "competitor", "Software"),
    ("outbound-labs.io", "Outbound Labs", "competitor", "Software"),
    ("springfield-county.gov", "Springfield County", "gov", "Government"),
    ("state-of-franklin.gov", "State of Franklin", "gov", "Government"),
    ("riverton-city.gov", "City of Riverton", "gov", "Government"),
    ("lakeshore-schools.gov", "Lakeshore School District", "gov", "Government"),
    ("harbor-ports.gov", "Harbor Ports Authority", "gov", "Government"),
]


def email_key(name: str) -> str:
    """The ASCII lower-case form of a name used in email addresses ("Zoë" -> "zoe", "O'Brien" -> "obrien")."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z]", "", text)


def _weighted(pairs: list[tuple[str, int]]) -> list[str]:
    return [value for value, weight in pairs for _ in range(weight)]


# --- settings --------------------------------------------------------------------------------------


def _c(field: str, op: str, value=None) -> dict:
    cond = {"field": field, "op": op}
    if value is not None:
        cond["value"] = value
    return cond


LEE = "lee.chen@contoso-demo.com"
DNC_STORY = "paul.meyer@granitepeak-demo.com"
EXEC_TITLES = ["ceo", "cfo", "cto", "coo", "founder", "co-founder", "founder & ceo"]
EU_COUNTRIES = ["Germany", "France", "Netherlands", "Spain", "Sweden", "Ireland", "Italy"]


def exclusion_catalogue(dnc: list[str], partners: list[str]) -> list[dict]:
    """Every exclusion the demo knows, in order: the first 8 are always present (the story contacts
    need them), 9-14 make the default set, 15-24 are realistic variants for benchmarks."""
    return [
        {"id": "open_opportunity", "name": "Open opportunity", "scope": "company",
         "exclude_from_sequences": True, "remove_from_active_sequences": True,
         "criteria": _c("open_opportunities", "gt", 0),
         "description": "Any open Salesforce opportunity or HubSpot deal on any company record of the domain."},
        {"id": "current_customers", "name": "Current customers", "scope": "company",
         "exclude_from_sequences": True, "remove_from_active_sequences": True,
         "criteria": _c("is_customer", "is_true"),
         "filters": [vocabulary.email_is_not(LEE)],
         "description": "Customers are handled by their account manager. Lee (our champion at Contoso) "
                        "is let through for the expansion pilot."},
        {"id": "competitors", "name": "Competitors", "scope": "company",
         "exclude_from_sequences": True, "remove_from_active_sequences": True,
         "criteria": _c("company_domain", "in", list(COMPETITOR_DOMAINS))},
        {"id": "recently_contacted", "name": "Contacted in the last 30 days", "scope": "person",
         "exclude_from_sequences": True, "remove_from_active_sequences": False,
         "criteria": _c("last_contacted_at", "within_last_days", 30)},
        {"id": "personal_email", "name": "Personal email domains", "scope": "person",
         "exclude_from_sequences": True, "remove_from_active_sequences": False,
         "criteria": _c("is_free_mail", "is_true")},
        {"id": "do_not_contact", "name": "Do-not-contact list", "scope": "person",
         "exclude_from_sequences": True, "remove_from_active_sequences": True,
         "criteria": _c("email", "in", list(dnc))},
        {"id": "job_change", "name": "Job change in the last 90 days", "scope": "person",
         "exclude_from_sequences": True, "remove_from_active_sequences": False,
         "criteria": _c("job_changed_at", "within_last_days", 90)},
        {"id": "exec_conversation", "name": "Executive conversation in progress", "scope": "company",
         "exclude_from_sequences": True, "remove_from_active_sequences": False,
         "criteria": {"all": [{"any": [_c("title", "contains", "chief"), _c("title", "in", EXEC_TITLES)]},
                              _c("last_contacted_at", "within_last_days", 14)]},
         "description": "Company-wide: an executive of the account was contacted in the last 14 days."},
        {"id": "open_hubspot_deal", "name": "Open HubSpot deal (legacy)", "scope": "company",
         "exclude_from_sequences": False, "remove_from_active_sequences": False,
         "criteria": _c("open_deals_hubspot", "gt", 0),
         "description": "From the HubSpot-only days; superseded by 'Open opportunity' and switched off."},
        {"id": "students_interns", "name": "Students and interns", "scope": "person",
         "exclude_from_sequences": True, "remove_from_active_sequences": False,
         "criteria": {"any": [_c("title", "contains", "intern"), _c("title", "contains", "student")]}},
        {"id": "government", "name": "Government and public sector", "scope": "person",
         "exclude_from_sequences": True, "remove_from_active_sequences": False,
         "criteria": _c("email_domain", "ends_with", ".gov")},
        {"id": "pipeline_over_100k", "name": "Existing pipeline over $100k", "scope": "company",
         "exclude_from_sequences": False, "remove_from_active_sequences": False,
         "criteria": _c("open_pipeline_amount", "gt", 100000),
         "description": "Reporting only for now (organisation toggle off)."},
        {"id": "legal_compliance", "name": "Legal and compliance", "scope": "person",
         "exclude_from_sequences": True, "remove_from_active_sequences": False,
         "criteria": {"any": [_c("title", "contains", "counsel"), _c("title", "contains", "legal"),
                              _c("title", "contains", "compliance")]}},
        {"id": "recent_opportunity", "name": "Opportunity created in the last 60 days", "scope": "company",
         "exclude_from_sequences": True, "remove_from_active_sequences": False,
         "criteria": _c("last_opportunity_created_at", "within_last_days", 60)},
        # 15-24: variants real teams also use (the benchmark asks for ~20 exclusions)
        {"id": "enterprise_accounts", "name": "Enterprise accounts (10k+ employees)", "scope": "company",
         "exclude_from_sequences": True, "remove_from_active_sequences": False,
         "criteria": _c("employees", "gte", 10000)},
        {"id": "education_sector", "name": "Education sector", "scope": "company",
         "exclude_from_sequences": True, "remove_from_active_sequences": False,
         "criteria": _c("industry", "equals", "Education")},
        {"id": "eu_without_consent", "name": "EU contacts (GDPR review)", "scope": "person",
         "exclude_from_sequences": False, "remove_from_active_sequences": False,
         "criteria": _c("country", "in", EU_COUNTRIES)},
        {"id": "c_suite", "name": "C-suite (chief titles)", "scope": "person",
         "exclude_from_sequences": True, "remove_from_active_sequences": False,
         "criteria": _c("title", "contains", "chief")},
        {"id": "no_title", "name": "No job title", "scope": "person",
         "exclude_from_sequences": True, "remove_from_active_sequences": False,
         "criteria": _c("title", "is_empty")},
        {"id": "partner_domains", "name": "Partners", "scope": "company",
         "exclude_from_sequences": True, "remove_from_active_sequences": False,
         "criteria": _c("company_domain", "in", list(partners))},
        {"id": "sf_do_not_email", "name": "Salesforce Do Not Email", "scope": "person",
         "exclude_from_sequences": True, "remove_from_active_sequences": False,
         "criteria": _c("sf_do_not_email", "is_true")},
        {"id": "many_open_opportunities", "name": "Three or more open opportunities", "scope": "company",
         "exclude_from_sequences": True, "remove_from_active_sequences": False,
         "criteria": _c("open_opportunities", "gte", 3)},
        {"id": "won_before", "name": "Won a deal before", "scope": "company",
         "exclude_from_sequences": False, "remove_from_active_sequences": False,
         "criteria": _c("won_opportunities", "gt", 0)},
        {"id": "financial_institutions", "name": "Financial institutions", "scope": "company",
         "exclude_from_sequences": True, "remove_from_active_sequences": False,
         "criteria": {"any": [_c("company_name", "contains", "capital"), _c("industry", "equals", "Insurance")]}},
    ]


# ruleset id -> exclusions switched OFF in it (every other exclusion of the workspace is on)
RULESETS = [
    ("default", "Default outbound", {"pipeline_over_100k"}),
    ("expansion", "Customer expansion", {"current_customers", "open_opportunity", "exec_conversation",
                                         "open_hubspot_deal", "recent_opportunity", "pipeline_over_100k",
                                         "won_before", "many_open_opportunities"}),
    ("events", "Events and webinars", {"recently_contacted", "personal_email", "pipeline_over_100k"}),
]

# (id, name, ruleset, [(delay_days, subject), ...])
SEQUENCES = [
    ("seq_vp_outbound", "Outbound: VP and Heads of Sales", "default",
     [(0, "Quick question about {{company}}'s pipeline"), (3, "Re: Quick question"),
      (4, "How {{peer_company}} cut SDR ramp time by 40%"), (7, "Should I close your file?")]),
    ("seq_reengage", "Closed-lost re-engagement", "default",
     [(0, "It's been a while, {{first_name}}"), (4, "What changed since we last spoke"),
      (5, "New: intent signals for {{company}}"), (6, "One last idea"), (7, "Closing the loop")]),
    ("seq_emea_marketing", "EMEA marketing leaders", "default",
     [(0, "{{company}} and the EMEA pipeline gap"), (3, "A 3-minute teardown of your funnel"),
      (5, "Worth a conversation?")]),
    ("seq_expansion", "Customer expansion", "expansion",
     [(0, "Ideas for your next quarter with us"), (5, "Your team's usage review"),
      (7, "Invitation: customer advisory board"), (7, "Last call: advisory board seats")]),
    ("seq_webinar", "Webinar follow-up", "events",
     [(0, "Slides from today's webinar"), (2, "The recording and 3 takeaways"), (4, "Worth a 15-minute chat?")]),
]

LEADER_TITLES = ["vp", "head", "director", "chief", "founder"]
NA_UK = ["United States", "Canada", "United Kingdom"]
EMEA = ["United Kingdom", "Germany", "France", "Netherlands", "Spain", "Sweden", "Ireland", "Italy"]

# (id, name, audience, audience toggles {exclusion: on}, [(node id, sequence, node name, weight)])
PLAYS = [
    ("play_enterprise", "Enterprise outbound (NA and UK)",
     {"all": [{"any": [_c("title", "contains", t) for t in LEADER_TITLES]}, _c("country", "in", NA_UK)]},
     # the article's main scenario: Open opportunity OFF at the audience, ON in the Default ruleset
     {"open_opportunity": False, "current_customers": True, "competitors": True, "personal_email": True,
      "do_not_contact": True, "students_interns": True, "government": True},
     [("ent-1", "seq_vp_outbound", "VP outbound", 0.7), ("ent-2", "seq_reengage", "Re-engage closed-lost", 0.3)]),
    ("play_emea_marketing", "EMEA marketing leaders",
     {"all": [{"any": [_c("title", "contains", "marketing"), _c("title", "contains", "growth"),
                       _c("title", "contains", "demand")]}, _c("country", "in", EMEA)]},
     {"current_customers": True, "competitors": True, "personal_email": True, "do_not_contact": True,
      "recently_contacted": True, "government": True},
     [("emea-1", "seq_emea_marketing", "EMEA marketing", 1.0)]),
    ("play_expansion", "Customer expansion", _c("is_customer", "is_true"),
     {"current_customers": False, "open_opportunity": False, "competitors": True, "do_not_contact": True},
     [("exp-1", "seq_expansion", "Expansion", 1.0)]),
    ("play_webinar", "Webinar follow-up (all attendees)", None,
     {"competitors": True, "do_not_contact": True, "personal_email": False},
     [("web-1", "seq_webinar", "Webinar follow-up", 1.0)]),
]
# the contact fields the generator can evaluate audiences over (see _contacts_sql)
_AUDIENCE_FIELDS = {"title", "country", "email", "email_domain", "is_free_mail", "is_customer", "first_name",
                    "last_name"}


def settings_document(*, exclusions: int = DEFAULT_EXCLUSIONS, dnc: list[str] | None = None,
                      partners: list[str] | None = None) -> dict:
    """The demo's settings document (valid for :func:`unify_dash.model.settings.parse_settings`)."""
    if not MIN_EXCLUSIONS <= exclusions <= MAX_EXCLUSIONS:
        raise ValidationError(f"exclusions must be between {MIN_EXCLUSIONS} and {MAX_EXCLUSIONS}, got {exclusions}")
    excl = exclusion_catalogue(dnc or [DNC_STORY], partners or ["partner-example.com"])[:exclusions]
    for e in excl:
        e.setdefault("filters", [])
    ids = [e["id"] for e in excl]
    present = set(ids)
    return {
        # one active sequence per contact at a time: a contact of several Plays (the webinar Play takes
        # everyone) gets one first email, not one per sequence in the same minute (docs/demo.md)
        "org": {"propagation_minutes": 15, "one_active_sequence": True},
        "exclusions": excl,
        "rulesets": [{"id": rid, "name": name, "exclusions": {x: x not in off for x in ids}}
                     for rid, name, off in RULESETS],
        "sequences": [{"id": sid, "name": name, "ruleset": rs,
                       "steps": [{"delay_days": d, "subject": s} for d, s in steps]}
                      for sid, name, rs, steps in SEQUENCES],
        "plays": [{"id": pid, "name": name, "audience": audience,
                   "audience_exclusions": {k: v for k, v in toggles.items() if k in present},
                   "nodes": [{"id": nid, "sequence": seq, "name": nname} for nid, seq, nname, _w in nodes]}
                  for pid, name, audience, toggles, nodes in PLAYS],
        "crm_mapping": {"salesforce": {"field": "HasOptedOutOfEmail", "mode": "read_write"},
                        "hubspot": {"field": "hs_email_optout", "mode": "read_only"}},
    }


def _seq_index(seq_id: str) -> int:
    return [s[0] for s in SEQUENCES].index(seq_id)


def _ruleset_off(seq_id: str) -> set[str]:
    rs = SEQUENCES[_seq_index(seq_id)][2]
    return next(off for rid, _n, off in RULESETS if rid == rs)


# --- story contacts --------------------------------------------------------------------------------
#
# Each story is a small hand-written set of rows. Times are relative to ``now`` (days ago).


class _Story:
    """Builds the story rows (contacts, records, opportunities, enrollments, events) for one ``now``."""

    def __init__(self, now: dt.datetime):
        self.now = now
        self.contacts: list[dict] = []
        self.records: list[tuple] = []
        self.opps: list[tuple] = []
        self.enrollments: list[tuple] = []
        self.events: list[tuple] = []
        self._n_rec = 0
        self._n_opp = 0
        self._sends: dict[str, list[dt.datetime]] = {}

    def ago(self, days: float, hour: int | None = None) -> dt.datetime:
        t = self.now - dt.timedelta(days=days)
        if hour is not None:
            t = t.replace(hour=hour, minute=0, second=0)
        return t.replace(microsecond=0)

    # -- companies --------------------------------------------------------------------------------
    def record(self, crm: str, name: str, website: str | None, *, customer=False, industry="Software",
               employees=None) -> str:
        self._n_rec += 1
        crm_id = f"0015e000DEMO{self._n_rec:03d}" if crm == "salesforce" else str(8000000000 + self._n_rec)
        rid = ("sf:" if crm == "salesforce" else "hs:") + crm_id
        self.records.append((rid, crm, crm_id, name, website, customer, industry, employees))
        return rid

    def opp(self, record_id: str, name: str, stage: str, *, closed: bool, won=False, close_days: float,
            amount: float, created_days: float) -> str:
        self._n_opp += 1
        crm = "salesforce" if record_id.startswith("sf:") else "hubspot"
        crm_id = f"0065e000DEMO{self._n_opp:03d}" if crm == "salesforce" else str(11000000000 + self._n_opp)
        oid = ("sf:" if crm == "salesforce" else "hs:") + crm_id
        close = (self.now - dt.timedelta(days=close_days)).date()
        self.opps.append((oid, crm, crm_id, record_id, name, stage, closed, won, close, float(amount),
                          self.ago(created_days, 10)))
        return oid

    # -- people -----------------------------------------------------------------------------------
    def contact(self, key: str, email: str, first: str, last: str, title: str, country: str = "United States",
                *, website=None, sf=True, lead=False, hs=False, sf_opt=False, sf_dne=False, hs_opt=False,
                last_contacted=None, job_changed=None, created_days=None) -> dict:
        n = len(self.contacts) + 1
        created_days = created_days if created_days is not None else 420 + 17 * n
        row = {"key": key, "contact_id": f"c{n:08d}", "email": email, "first_name": first, "last_name": last,
               "title": title, "country": country, "company_website": website,
               "sf_contact_id": f"0035e000DEMO{n:03d}" if sf and not lead else None,
               "sf_lead_id": f"00Q5e000DEMO{n:03d}" if lead else None,
               "hs_contact_id": str(7000000 + n) if hs else None,
               "sf_email_opt_out": sf_opt, "sf_do_not_email": sf_dne, "hs_opt_out": hs_opt,
               "last_contacted_at": last_contacted, "job_changed_at": job_changed,
               "created_at": self.ago(created_days, 8)}
        self.contacts.append(row)
        return row

    def _event(self, c: dict, n: int, at: dt.datetime, typ: str, *, seq=None, enr=None, step=None, source=None,
               actor=None, text=None, label=None, detail=None) -> str:
        eid = f"{enr or c['contact_id']}:{n:02d}"
        self.events.append((eid, at, typ, c["contact_id"], c["email"], seq, enr, step, source, actor, text, label,
                            None if detail is None else _json(detail)))
        return eid

    def enrollment(self, c: dict, play: str, node: str, seq: str, *, state: str, reason=None, start=None,
                   steps: int = 0, tail=(), blocking=None, enrolled=None) -> str:
        """One enrollment with its events. ``start``: days ago of step 1 (or of the attempt / skip).
        ``tail``: extra events as (offset hours after the last send or start, type, kwargs)."""
        enr = f"e-{c['key']}-{sum(1 for e in self.enrollments if e[1] == c['contact_id']) + 1}"
        n = 0

        def ev(at, typ, **kw):
            nonlocal n
            n += 1
            return self._event(c, n, at, typ, seq=seq, enr=enr, **kw)

        si = _seq_index(seq)
        seq_steps = SEQUENCES[si][3]
        t1 = self.ago(start, 9) if start is not None else None
        times = []
        last = t1
        if state == "not_enrolled":
            ev(t1, "exclusion_skip", source="play", actor="system", detail=blocking)
            self.enrollments.append((enr, c["contact_id"], play, node, seq, state, None, 0, None, None, t1))
            return enr
        if enrolled is not None:
            enrolled_at = self.ago(enrolled, 15)
        else:
            enrolled_at = (t1 - dt.timedelta(hours=3)) if t1 else self.ago(1, 15)
        ev(enrolled_at, "enroll", source="play", actor="system")
        cum = 0.0
        for k in range(1, steps + 1):
            cum += seq_steps[k - 1][0] if k > 1 else 0
            at = t1 + dt.timedelta(days=cum)
            times.append(at)
            ev(at, "send", step=k, source="sequence", actor="system", detail={"subject": seq_steps[k - 1][1]})
            last = at
        self._sends.setdefault(c["key"], []).extend(times)
        end = last or enrolled_at
        for hours, typ, kw in tail:
            end = (last or t1 or enrolled_at) + dt.timedelta(hours=hours)
            ev(end, typ, **kw)
        if state == "completed":
            ev(end, "complete", step=steps, source=reason, actor="system", detail={"reason": reason})
        nxt = None
        if state == "queued":  # step 1 is due tomorrow morning
            nxt = self.ago(-1, 9)
        elif state == "active":
            nxt = t1 + dt.timedelta(days=sum(d for d, _s in seq_steps[1:steps + 1]))
        updated = end if state not in states.ACTIVE_STATES else (last or enrolled_at)
        self.enrollments.append((enr, c["contact_id"], play, node, seq, state, reason, steps, nxt, enrolled_at,
                                 updated))
        return enr

    def finish(self) -> None:
        for c in self.contacts:
            sends = self._sends.get(c["key"])
            if c["last_contacted_at"] is None and sends:
                c["last_contacted_at"] = max(sends)


def _json(value) -> str:
    import json

    return json.dumps(value, sort_keys=True)


def _blocking(exclusion_id: str, name: str, **extra) -> list[dict]:
    return [{"exclusion_id": exclusion_id, "name": name, "levels": ["organisation", "ruleset"], **extra}]


def _story_blocked_and_company_wide(s: _Story) -> None:
    """Stories 1-3: blocked by a deal on another record, company-wide, let through by a filter."""
    # 1. Dana: blocked only by an open HubSpot deal on the SECOND company record of her domain.
    nw1 = s.record("salesforce", "Northwind", "https://www.Northwind-Demo.com/", employees=850)
    nw2 = s.record("hubspot", "Northwind Demo Inc.", "northwind-demo.com", employees=900)
    s.opp(nw1, "Northwind - New Business 2025", "Closed Won", closed=True, won=True, close_days=515,
          amount=42000, created_days=600)
    s.opp(nw1, "Northwind - Expansion 2026", "Closed Lost", closed=True, close_days=104, amount=18000,
          created_days=170)
    deal = s.opp(nw2, "Northwind Demo - Platform", "appointmentscheduled", closed=False, close_days=-45,
                 amount=36000, created_days=100)
    s.opp(nw2, "Northwind Demo - Pilot", "closedlost", closed=True, close_days=300, amount=9000, created_days=340)
    dana = s.contact("dana", "dana@northwind-demo.com", "Dana", "Whitfield", "VP Sales", hs=True,
                     last_contacted=s.ago(120, 14))
    s.enrollment(dana, "play_enterprise", "ent-1", "seq_vp_outbound", state="not_enrolled", start=2,
                 blocking=_blocking("open_opportunity", "Open opportunity", opportunity=deal,
                                    record=nw2, crm="hubspot"))

    # 2. Kai: excluded company-wide because his CEO (Erin) is in an active conversation.
    bw = s.record("salesforce", "Brightwave", "https://brightwave-demo.com", employees=240)
    s.opp(bw, "Brightwave - New Business", "Closed Lost", closed=True, close_days=400, amount=24000,
          created_days=480)
    erin = s.contact("erin", "erin.walsh@brightwave-demo.com", "Erin", "Walsh", "CEO")
    s.enrollment(erin, "play_enterprise", "ent-1", "seq_vp_outbound", state="active", start=6, steps=2)
    kai = s.contact("kai", "kai.nakamura@brightwave-demo.com", "Kai", "Nakamura", "Marketing Manager",
                    last_contacted=s.ago(200, 11))
    s.enrollment(kai, "play_webinar", "web-1", "seq_webinar", state="not_enrolled", start=1,
                 blocking=_blocking("exec_conversation", "Executive conversation in progress",
                                    company_wide=True, matched="erin.walsh@brightwave-demo.com"))

    # 3. Lee: a customer's contact let through by "Email is not" on Current customers; Maya, his colleague,
    #    is excluded at the audience; Ben is active in the Customer expansion sequence (ruleset without it);
    #    Amelia uses a personal address but her account is Contoso (company_website).
    ct1 = s.record("salesforce", "Contoso", "https://www.Contoso-Demo.com/", customer=True, employees=3200)
    ct2 = s.record("salesforce", "Contoso Ltd (EMEA)", "http://contoso-demo.com/about", employees=3200)
    ct3 = s.record("hubspot", "Contoso", "contoso-demo.com", employees=3000)
    s.opp(ct1, "Contoso - Platform 2024", "Closed Won", closed=True, won=True, close_days=700, amount=96000,
          created_days=780)
    s.opp(ct1, "Contoso - Renewal 2025", "Closed Won", closed=True, won=True, close_days=330, amount=98000,
          created_days=380)
    s.opp(ct2, "Contoso EMEA - Pilot", "Closed Lost", closed=True, close_days=250, amount=15000, created_days=300)
    s.opp(ct3, "Contoso - Services", "closedwon", closed=True, won=True, close_days=200, amount=12000,
          created_days=260)
    lee = s.contact("lee", LEE, "Lee", "Chen", "Head of Sales Operations", hs=True, last_contacted=s.ago(95, 10))
    s.enrollment(lee, "play_enterprise", "ent-1", "seq_vp_outbound", state="queued")
    s.contact("maya", "maya.patel@contoso-demo.com", "Maya", "Patel", "VP Marketing", hs=True,
              last_contacted=s.ago(150, 10))
    ben = s.contact("ben", "ben.carter@contoso-demo.com", "Ben", "Carter", "Customer Success Manager")
    s.enrollment(ben, "play_expansion", "exp-1", "seq_expansion", state="active", start=8, steps=2)
    s.contact("amelia", "amelia.hart@outlook.com", "Amelia", "Hart", "Procurement Manager",
              website="https://www.Contoso-Demo.com/", last_contacted=s.ago(240, 10))


def _story_send_time_and_levels(s: _Story) -> None:
    """Stories 4-6: skipped at send time, kept mid-sequence, on at one level only."""
    # 4. Omar: queued while matching an exclusion (an AE called him 3 days ago): will be skipped.
    lf = s.record("hubspot", "Lumenfield", "lumenfield-demo.com", employees=410)
    s.opp(lf, "Lumenfield - New Business", "closedlost", closed=True, close_days=220, amount=20000,
          created_days=260)
    omar = s.contact("omar", "omar.haddad@lumenfield-demo.com", "Omar", "Haddad", "Director of Sales", sf=False,
                     hs=True, last_contacted=s.ago(3, 16))
    s.enrollment(omar, "play_enterprise", "ent-1", "seq_vp_outbound", state="queued")

    # 5. Priya: active, job change detected 4 days ago; Job change does not remove from active sequences.
    s.record("salesforce", "Quantaloop", "https://quantaloop-demo.com", employees=120)
    priya = s.contact("priya", "priya.raman@quantaloop-demo.com", "Priya", "Raman", "VP Engineering",
                      job_changed=s.ago(4, 12))
    s.enrollment(priya, "play_enterprise", "ent-1", "seq_vp_outbound", state="active", start=5, steps=2)

    # 6. Sofia: Open opportunity is OFF at the Play's audience but ON in the sequence's ruleset.
    hl = s.record("salesforce", "Harborline Logistics", "https://www.Harborline-Demo.com/", industry="Logistics",
                  employees=1800)
    s.opp(hl, "Harborline - Fleet Analytics", "Negotiation/Review", closed=False, close_days=-20, amount=64000,
          created_days=90)
    sofia = s.contact("sofia", "sofia.mendes@harborline-demo.com", "Sofia", "Mendes", "VP Marketing", "Canada",
                      last_contacted=s.ago(160, 10))
    s.enrollment(sofia, "play_enterprise", "ent-1", "seq_vp_outbound", state="not_enrolled", start=3,
                 blocking=_blocking("open_opportunity", "Open opportunity"))


def _story_opt_outs(s: _Story) -> None:
    """Stories 7-10: opted out by link, by a handled and an unhandled reply, by an admin."""
    # 7. Tom: clicked the opt-out link after step 1 and never replied: completed after the first step.
    s.record("salesforce", "Ridgeway", "ridgeway-demo.com", employees=75)
    tom = s.contact("tom", "tom.becker@ridgeway-demo.com", "Tom", "Becker", "Head of Growth")
    s.enrollment(tom, "play_enterprise", "ent-1", "seq_vp_outbound", state="completed", reason="opted_out",
                 start=40, steps=1,
                 tail=[(20, "opt_out", {"source": "link", "actor": "recipient",
                                        "detail": {"evidence": {"step": 1, "via": "opt-out link in step 1"}}})])

    # 8. Lena: opt-out reply in German, handled by support (opt-out source "reply").
    kw = s.record("hubspot", "Kraftwerk Digital GmbH", "kraftwerk-demo.de", employees=260)
    s.opp(kw, "Kraftwerk - Pilot", "closedlost", closed=True, close_days=500, amount=8000, created_days=560)
    lena = s.contact("lena", "lena.schmidt@kraftwerk-demo.de", "Lena", "Schmidt", "Marketing Director", "Germany",
                     sf=False, hs=True)
    enr = f"e-{lena['key']}-1"
    s.enrollment(lena, "play_emea_marketing", "emea-1", "seq_emea_marketing", state="completed", reason="replied",
                 start=50, steps=1,
                 tail=[(5, "reply", {"source": "recipient", "actor": "system", "text": "Bitte keine E-Mails mehr.",
                                     "label": "opt_out"})])
    reply_id = f"{enr}:03"
    opt_id = s._event(lena, 10, s.ago(49, 11), "opt_out", source="reply", actor=SUPPORT_USER,
                      detail={"evidence": {"reply_event_id": reply_id, "label": "opt_out",
                                           "text": "Bitte keine E-Mails mehr."}})
    s._event(lena, 11, s.ago(49, 11), "reply_handled", seq="seq_emea_marketing", source="opt_out",
             actor=SUPPORT_USER, detail={"reply_event_id": reply_id, "opt_out_event_id": opt_id})

    # 9. Jake: an UNHANDLED opt-out reply (in the handling queue).
    s.record("salesforce", "Pinecrest Software", "https://www.Pinecrest-Demo.com", employees=95)
    jake = s.contact("jake", "jake.morrison@pinecrest-demo.com", "Jake", "Morrison", "Head of Sales")
    s.enrollment(jake, "play_enterprise", "ent-1", "seq_vp_outbound", state="completed", reason="replied",
                 start=6, steps=2,
                 tail=[(26, "reply", {"source": "recipient", "actor": "system",
                                      "text": "Please remove me from your list.", "label": "opt_out"})])

    # 10. Rachel: opted out by an admin (the Opt-Out button) after step 2.
    s.record("salesforce", "Silverbirch", "silverbirch-demo.com", employees=600)
    rachel = s.contact("rachel", "rachel.green@silverbirch-demo.com", "Rachel", "Green", "Procurement Manager")
    s.enrollment(rachel, "play_webinar", "web-1", "seq_webinar", state="completed", reason="opted_out",
                 start=45, steps=2,
                 tail=[(30, "opt_out", {"source": "admin", "actor": REVOPS_ADMIN,
                                        "detail": {"evidence": "Asked by phone never to be emailed again"}})])


def _story_crm_flags_and_reversal(s: _Story) -> None:
    """Stories 11-15: CRM opt-out flags, a reversal with permission, personal email."""
    # 11-13. CRM flags: Salesforce Email Opt Out (mapped, read & write), HubSpot unsubscribed (mapped,
    #        read-only), Salesforce Do Not Email (NOT the mapped field: not an opt-out here).
    s.record("salesforce", "Summit Peak Capital", "https://www.Summitpeak-Demo.com/", industry="Financial Services",
             employees=2100)
    s.contact("victor", "victor.alvarez@summitpeak-demo.com", "Victor", "Alvarez", "Sales Manager", sf_opt=True,
              last_contacted=s.ago(210, 10))
    s.record("hubspot", "Bluefjord", "bluefjord-demo.com", employees=55)
    s.contact("hannah", "hannah.kim@bluefjord-demo.com", "Hannah", "Kim", "Marketing Manager", sf=False, hs=True,
              hs_opt=True, last_contacted=s.ago(190, 10))
    s.record("salesforce", "Mesa Verde Foods", "mesaverde-demo.com", industry="Retail", employees=1300)
    carlos = s.contact("carlos", "carlos.ruiz@mesaverde-demo.com", "Carlos", "Ruiz", "Account Executive",
                       sf_dne=True)
    s.enrollment(carlos, "play_webinar", "web-1", "seq_webinar", state="active", start=3, steps=2)

    # 14. Grace: opted out by link by mistake, reversed with documented permission, re-enrolled.
    s.record("salesforce", "Oakmont", "https://oakmont-demo.com/", employees=480)
    grace = s.contact("grace", "grace.liu@oakmont-demo.com", "Grace", "Liu", "VP Revenue Operations")
    e1 = s.enrollment(grace, "play_webinar", "web-1", "seq_webinar", state="completed", reason="opted_out",
                      start=60, steps=1,
                      tail=[(2, "opt_out", {"source": "link", "actor": "recipient",
                                            "detail": {"evidence": {"step": 1, "via": "opt-out link in step 1"}}})])
    s._event(grace, 20, s.ago(20, 10), "opt_out_reversal", source="link", actor=SUPPORT_USER,
             detail={"permission_by": "Grace Liu (by email)",
                     "permission_at": s.ago(21, 16).isoformat(sep=" "),
                     "evidence": "Email from grace.liu@oakmont-demo.com: 'I clicked unsubscribe by mistake, "
                                 "please keep me on your list.' (ticket SUP-4821)",
                     "reverses": f"{e1}:03", "reversed_source": "link", "crm_flags_cleared": []})
    s.enrollment(grace, "play_enterprise", "ent-1", "seq_vp_outbound", state="active", start=2, steps=1)

    # 15. Personal email: two gmail contacts that are NOT one company.
    s.contact("sam", "sam.rivera@gmail.com", "Sam", "Rivera", "Independent Consultant", lead=True,
              last_contacted=s.ago(300, 10))
    s.contact("jo", "jo.baker@gmail.com", "Jo", "Baker", "Freelance Designer", "United Kingdom", sf=False, hs=True)


def _story_replies_and_endings(s: _Story) -> None:
    """Stories 16-24: replies, mid-sequence removal, early completion, unenroll, finished."""
    # 16. Nina: out-of-office reply; the sequence continues.
    s.record("hubspot", "Vantage Point Media", "vantagepoint-demo.com", industry="Media", employees=310)
    nina = s.contact("nina", "nina.petrova@vantagepoint-demo.com", "Nina", "Petrova", "Operations Manager",
                     sf=False, hs=True)
    s.enrollment(nina, "play_webinar", "web-1", "seq_webinar", state="active", start=4, steps=2,
                 tail=[(-40, "reply", {"source": "recipient", "actor": "system", "label": "out_of_office",
                                       "text": REPLIES["out_of_office"][0]})])

    # 17-18. Replies that end the sequence: interested, not now.
    s.record("salesforce", "Tidewater Analytics", "tidewater-demo.com", employees=150)
    marcus = s.contact("marcus", "marcus.reed@tidewater-demo.com", "Marcus", "Reed", "VP Sales")
    s.enrollment(marcus, "play_enterprise", "ent-1", "seq_vp_outbound", state="completed", reason="replied",
                 start=12, steps=2, tail=[(4, "reply", {"source": "recipient", "actor": "system", "label": "positive",
                                                        "text": "Sounds good, can we talk Tuesday?"})])
    s.record("salesforce", "Lumacore", "https://lumacore-demo.com", industry="Manufacturing", employees=700)
    elena = s.contact("elena", "elena.rossi@lumacore-demo.com", "Elena", "Rossi", "Head of Marketing",
                      "United Kingdom")
    s.enrollment(elena, "play_emea_marketing", "emea-1", "seq_emea_marketing", state="completed", reason="replied",
                 start=70, steps=3, tail=[(6, "reply", {"source": "recipient", "actor": "system", "label": "not_now",
                                                        "text": "Not a priority this quarter, reach out in Q3."})])

    # 19. Ethan: removed mid-sequence (an opportunity was opened on his account; Open opportunity removes).
    cv = s.record("salesforce", "Crestview Health", "crestview-demo.com", industry="Healthcare", employees=2600)
    s.opp(cv, "Crestview - Q1 Pilot", "Prospecting", closed=False, close_days=-60, amount=30000, created_days=15)
    ethan = s.contact("ethan", "ethan.brooks@crestview-demo.com", "Ethan", "Brooks", "Director of Sales")
    s.enrollment(ethan, "play_enterprise", "ent-1", "seq_vp_outbound", state="completed",
                 reason="excluded_mid_sequence", start=20, steps=2,
                 tail=[(4 * 24, "exclusion_skip",
                        {"step": 3, "source": "sequence", "actor": "system",
                         "detail": _blocking("open_opportunity", "Open opportunity", remove_from_active=True)})])

    # 20. Olivia: completed before the first message (a job change was detected while she was queued).
    s.record("hubspot", "Fernhill", "fernhill-demo.com", employees=45)
    olivia = s.contact("olivia", "olivia.grant@fernhill-demo.com", "Olivia", "Grant", "Head of Demand Generation",
                       sf=False, hs=True, job_changed=s.ago(9, 12), last_contacted=s.ago(140, 10))
    s.enrollment(olivia, "play_enterprise", "ent-1", "seq_vp_outbound", state="completed", reason="excluded",
                 start=8, steps=0, enrolled=10,
                 tail=[(0, "exclusion_skip", {"step": 1, "source": "sequence", "actor": "system",
                                              "detail": _blocking("job_change", "Job change in the last 90 days")})])

    # 21. Liam: unenrolled by his SDR manager (not an opt-out: he can be enrolled again).
    s.record("salesforce", "Brookhaven", "brookhaven-demo.com", employees=330)
    liam = s.contact("liam", "liam.foster@brookhaven-demo.com", "Liam", "Foster", "Sales Director")
    s.enrollment(liam, "play_enterprise", "ent-1", "seq_vp_outbound", state="unenrolled", reason="unenrolled",
                 start=35, steps=1,
                 tail=[(28, "unenroll", {"step": 1, "source": "contact", "actor": SDR_MANAGER, "detail": {}})])

    # 22-23. A competitor's employee and a do-not-contact address.
    s.record("salesforce", "Rivalsoft", "rivalsoft-demo.com", employees=900)
    s.contact("mia", "mia.wong@rivalsoft-demo.com", "Mia", "Wong", "Account Executive", last_contacted=s.ago(330, 9))
    s.record("salesforce", "Granite Peak", "granitepeak-demo.com", employees=220)
    s.contact("paul", DNC_STORY, "Paul", "Meyer", "Head of Partnerships", last_contacted=s.ago(350, 9))

    # 24. Zoe: finished every step.
    s.record("hubspot", "Amberline", "amberline-demo.com", employees=88)
    zoe = s.contact("zoe", "zoe.adams@amberline-demo.com", "Zoe", "Adams", "Head of Sales", sf=False, hs=True)
    s.enrollment(zoe, "play_enterprise", "ent-1", "seq_vp_outbound", state="completed", reason="finished",
                 start=50, steps=4)



def build_story(now: dt.datetime) -> _Story:
    """The story contacts listed in docs/demo.md."""
    s = _Story(now)
    for chapter in (_story_blocked_and_company_wide, _story_send_time_and_levels, _story_opt_outs, _story_crm_flags_and_reversal, _story_replies_and_endings):
        chapter(s)
    s.finish()
    return s


STORY_EMAILS = (
    "dana@northwind-demo.com", "erin.walsh@brightwave-demo.com", "kai.nakamura@brightwave-demo.com", LEE,
    "maya.patel@contoso-demo.com", "ben.carter@contoso-demo.com", "amelia.hart@outlook.com",
    "omar.haddad@lumenfield-demo.com", "priya.raman@quantaloop-demo.com", "sofia.mendes@harborline-demo.com",
    "tom.becker@ridgeway-demo.com", "lena.schmidt@kraftwerk-demo.de", "jake.morrison@pinecrest-demo.com",
    "rachel.green@silverbirch-demo.com", "victor.alvarez@summitpeak-demo.com", "hannah.kim@bluefjord-demo.com",
    "carlos.ruiz@mesaverde-demo.com", "grace.liu@oakmont-demo.com", "sam.rivera@gmail.com", "jo.baker@gmail.com",
    "nina.petrova@vantagepoint-demo.com", "marcus.reed@tidewater-demo.com", "elena.rossi@lumacore-demo.com",
    "ethan.brooks@crestview-demo.com", "olivia.grant@fernhill-demo.com", "liam.foster@brookhaven-demo.com",
    "mia.wong@rivalsoft-demo.com", DNC_STORY, "zoe.adams@amberline-demo.com",
)

# --- DuckDB schema of the output files -------------------------------------------------------------

COLUMNS = {t: [(c.name, c.type) for c in schema.file_columns(t)] for t in schema.RECORD_FILES}


def _story_tables(con: duckdb.DuckDBPyConnection, story: _Story) -> None:
    rows = {
        "contacts": [tuple(c[name] for name, _t in COLUMNS["contacts"]) for c in story.contacts],
        "company_records": story.records,
        "opportunities": story.opps,
        "enrollments": story.enrollments,
        "events": story.events,
    }
    for table, cols in COLUMNS.items():
        name = f"story_{table}"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} ({', '.join(f'{c} {t}' for c, t in cols)})")
        if rows[table]:
            marks = ", ".join("?" for _ in cols)
            con.executemany(f"INSERT INTO {name} VALUES ({marks})", [list(r) for r in rows[table]])


# --- the bulk generator (SQL) ----------------------------------------------------------------------
#
# dm_u(i, k): a uniform draw in [0, 1) for row i and "purpose" k, from the seed.
# All times are whole seconds since the epoch (BIGINT) until the output, relative to dm_now.

_MACROS = [
    # hash(a, b, c) combines its arguments weakly (draws for k and k+1 correlate): mix i into a salt per k
    "CREATE OR REPLACE TEMP MACRO dm_u(i, k) AS "
    "(hash(xor(hash(getvariable('dm_seed'), k), i::UBIGINT)) >> 11)::DOUBLE / 9007199254740992.0",
    "CREATE OR REPLACE TEMP MACRO dm_pick(arr, x) AS arr[1 + least(floor(x * len(arr))::BIGINT, len(arr) - 1)]",
    "CREATE OR REPLACE TEMP MACRO dm_ts(s) AS make_timestamp(s::BIGINT * 1000000)",
    "CREATE OR REPLACE TEMP MACRO dm_days(x) AS (x * 86400)::BIGINT",
]

# the domain table: one row per company domain; n_eff contacts each, starting at contact number start
_DOM_SQL = """
CREATE OR REPLACE TEMP TABLE dom AS
WITH base AS (
    SELECT dn,
           dn < getvariable('dm_n_special') AS special,
           dn - getvariable('dm_n_special') AS b
    FROM range(getvariable('dm_n_domains')) t(dn)
), named AS (
    SELECT dn, special,
           CASE WHEN special THEN getvariable('dm_special_domain')[dn + 1] END AS special_domain,
           CASE WHEN special THEN getvariable('dm_special_kind')[dn + 1] ELSE 'bulk' END AS kind,
           (((b % getvariable('dm_ab')) * getvariable('dm_perm')) % getvariable('dm_ab')) AS q,
           b // getvariable('dm_ab') AS blk
    FROM base
), words AS (
    SELECT *,
           getvariable('dm_w1')[(q % len(getvariable('dm_w1'))) + 1] AS w1,
           getvariable('dm_w2')[(q // len(getvariable('dm_w1'))) + 1] AS w2,
           dm_pick(getvariable('dm_tlds'), dm_u(dn, 103)) AS tld0,
           dm_u(dn, 104) AS p_crm
    FROM named
), dom0 AS (
    SELECT dn, kind,
           CASE WHEN special THEN special_domain
                ELSE lower(w1) || w2 || CASE WHEN blk > 0 THEN (blk + 1)::VARCHAR ELSE '' END || tld0 END AS domain,
           CASE WHEN special THEN '' ELSE w1 || w2 || CASE WHEN blk > 0 THEN (blk + 1)::VARCHAR ELSE '' END END
               AS site_name,
           CASE WHEN special THEN special_domain ELSE tld0 END AS tld,
           CASE WHEN special THEN getvariable('dm_special_name')[dn + 1]
                ELSE w1 || w2 || CASE tld0 WHEN '.de' THEN ' GmbH' WHEN '.co.uk' THEN ' Ltd' WHEN '.fr' THEN ' SAS'
                                 ELSE dm_pick(getvariable('dm_name_suffixes'), dm_u(dn, 113)) END END AS cname,
           CASE WHEN special THEN ['salesforce']
                WHEN p_crm < 0.45 THEN ['salesforce'] WHEN p_crm < 0.70 THEN ['hubspot']
                WHEN p_crm < 0.87 THEN ['salesforce', 'hubspot']
                WHEN p_crm < 0.93 THEN ['salesforce', 'salesforce']
                WHEN p_crm < 0.97 THEN ['salesforce', 'salesforce', 'hubspot']
                ELSE ['salesforce', 'hubspot', 'hubspot'] END AS crms,
           CASE WHEN kind = 'competitor' THEN greatest(1, round(getvariable('dm_n_bulk') * 0.0008))::BIGINT
                WHEN kind = 'gov' THEN greatest(1, round(getvariable('dm_n_bulk') * 0.0006))::BIGINT
                WHEN dm_u(dn, 101) < 0.02 THEN least(30 + floor(dm_u(dn, 102) * 170)::BIGINT,
                                                     greatest(3, getvariable('dm_n_bulk') // 20))
                ELSE 1 + floor(-ln(1 - dm_u(dn, 102)) * 2.7)::BIGINT END AS n_contacts,
           NOT special AND dm_u(dn, 105) < 0.20 AS has_open,
           NOT special AND dm_u(dn, 107) < 0.08 AS cust,
           CASE WHEN kind = 'gov' THEN 'Government' WHEN special THEN getvariable('dm_special_industry')[dn + 1]
                ELSE dm_pick(getvariable('dm_industries'), dm_u(dn, 109)) END AS industry,
           (5 * pow(4000, dm_u(dn, 110)))::INTEGER AS employees,
           floor(dm_u(dn, 111) * 4)::INTEGER AS pat,
           floor(dm_u(dn, 112) * len(getvariable('dm_first')))::BIGINT AS hf,
           floor(dm_u(dn, 114) * len(getvariable('dm_last')))::BIGINT AS hl
    FROM words
), dom1 AS (
    SELECT *,
           CASE WHEN has_open THEN floor(dm_u(dn, 106) * len(crms))::INTEGER ELSE -1 END AS open_pos,
           CASE WHEN cust THEN floor(dm_u(dn, 108) * len(crms))::INTEGER ELSE -1 END AS cust_pos,
           (sum(n_contacts) OVER (ORDER BY dn ROWS UNBOUNDED PRECEDING) - n_contacts)::BIGINT AS start
    FROM dom0
)
SELECT *, least(n_contacts, getvariable('dm_n_bulk') - start)::BIGINT AS n_eff,
       list_contains(crms, 'salesforce') AS has_sf, list_contains(crms, 'hubspot') AS has_hs
FROM dom1 WHERE start < getvariable('dm_n_bulk')
ORDER BY dn
"""

# company records: one per CRM of the domain (crms), written the way CRMs hold them
_RECORDS_SQL = """
SELECT CASE crm WHEN 'salesforce' THEN 'sf:' ELSE 'hs:' END || crm_id AS record_id, crm, crm_id,
       CASE WHEN pos = 0 OR kind <> 'bulk' THEN cname
            ELSE dm_pick([cname || ' Inc.', cname || ' (EMEA)', upper(cname), cname || ' - Parent',
                          cname || ' Holdings', cname], dm_u(dn * 4 + pos, 121)) END AS name,
       CASE WHEN kind <> 'bulk' THEN domain
            WHEN crm = 'hubspot' THEN CASE WHEN dm_u(dn * 4 + pos, 122) < 0.85 THEN domain ELSE 'www.' || domain END
            ELSE dm_pick(['https://www.' || site_name || tld || '/', 'http://' || domain || '/about',
                          'www.' || domain, 'https://' || domain, domain, 'https://' || domain || '/'],
                         dm_u(dn * 4 + pos, 122)) END AS website,
       pos = cust_pos AS is_customer,
       CASE WHEN pos > 0 AND dm_u(dn * 4 + pos, 123) < 0.2 THEN NULL ELSE industry END AS industry,
       CASE WHEN pos > 0 AND dm_u(dn * 4 + pos, 124) < 0.3 THEN NULL
            WHEN pos > 0 THEN (employees * (0.9 + 0.2 * dm_u(dn * 4 + pos, 125)))::INTEGER
            ELSE employees END AS employees
FROM (
    SELECT *, crms[pos + 1] AS crm,
           CASE crms[pos + 1] WHEN 'salesforce' THEN '0015e' || printf('%010X', dn * 3 + pos)
                ELSE (9000000000 + dn * 3 + pos)::VARCHAR END AS crm_id
    FROM (SELECT *, unnest(range(len(crms))) AS pos FROM dom)
)
"""

# opportunities / deals: 0-4 per record; a domain with has_open has an open one on record open_pos
_OPPS_SQL = """
SELECT CASE crm WHEN 'salesforce' THEN 'sf:' ELSE 'hs:' END || ocrm_id AS opportunity_id, crm, ocrm_id AS crm_id,
       record_id, name, stage, NOT is_open AS is_closed, is_won, dm_ts(close_s)::DATE AS close_date, amount,
       dm_ts(created_s) AS created_at
FROM (
    SELECT *,
           CASE crm WHEN 'salesforce' THEN '0065e' || printf('%010X', rno * 8 + k)
                ELSE (20000000000 + rno * 8 + k)::VARCHAR END AS ocrm_id,
           cname || ' - ' || dm_pick(getvariable('dm_opp_kinds'), dm_u(ok, 131)) || ' '
               || strftime(dm_ts(close_s), '%Y') AS name,
           CASE WHEN is_open AND crm = 'salesforce' THEN dm_pick(getvariable('dm_sf_open'), dm_u(ok, 132))
                WHEN is_open THEN dm_pick(getvariable('dm_hs_open'), dm_u(ok, 132))
                WHEN crm = 'salesforce' THEN CASE WHEN is_won THEN 'Closed Won' ELSE 'Closed Lost' END
                ELSE CASE WHEN is_won THEN 'closedwon' ELSE 'closedlost' END END AS stage,
           greatest(500, round(1000 * pow(250, dm_u(ok, 133)) / 500) * 500)::DOUBLE AS amount,
           CASE WHEN is_open THEN getvariable('dm_now') - dm_days(2 + dm_u(ok, 134) * 360)
                ELSE close_s - dm_days(10 + dm_u(ok, 134) * 200) END AS created_s
    FROM (
        SELECT *,
               NOT is_open AND ((cust AND pos = cust_pos AND k = 0) OR dm_u(ok, 136) < 0.35) AS is_won,
               CASE WHEN is_open THEN getvariable('dm_now') + dm_days(3 + dm_u(ok, 135) * 177)
                    ELSE getvariable('dm_now') - dm_days(1 + dm_u(ok, 135) * 729) END AS close_s
        FROM (
            SELECT *, has_open AND ((pos = open_pos AND k = 0) OR dm_u(ok, 137) < 0.12) AS is_open
            FROM (
                SELECT *, rno * 8 + k AS ok
                FROM (
                    SELECT *, unnest(range(n_opps)) AS k
                    FROM (
                        SELECT dn, pos, cname, has_open, open_pos, cust, cust_pos, dn * 3 + pos AS rno,
                               crms[pos + 1] AS crm,
                               CASE crms[pos + 1] WHEN 'salesforce' THEN 'sf:0015e' || printf('%010X', dn * 3 + pos)
                                    ELSE 'hs:' || (9000000000 + dn * 3 + pos)::VARCHAR END AS record_id,
                               CASE WHEN kind <> 'bulk' THEN 0
                                    WHEN pos = open_pos THEN greatest(1, n_opps0) ELSE n_opps0 END AS n_opps
                        FROM (
                            SELECT *, CASE WHEN p_opp < 0.30 THEN 0 WHEN p_opp < 0.60 THEN 1 WHEN p_opp < 0.85 THEN 2
                                           WHEN p_opp < 0.95 THEN 3 ELSE 4 END AS n_opps0
                            FROM (SELECT *, dm_u(dn * 4 + pos, 130) AS p_opp
                                  FROM (SELECT *, unnest(range(len(crms))) AS pos FROM dom))
                        )
                    )
                )
            )
        )
    )
)
"""


# The contacts pipeline, in three parts: who the person is (name, email, title, country), which CRMs
# know it and what its enrollment became (fate), then the times of everything that happened.
_CONTACTS_PEOPLE = """
WITH base AS (
    SELECT *, getvariable('dm_n_story') + start + j + 1 AS i
    FROM (SELECT *, unnest(range(n_eff)) AS j FROM dom WHERE {dom_filter})
), person AS (
    SELECT *,
           (hf + j) % len(getvariable('dm_first')) AS fi,
           (hl + 7 * j) % len(getvariable('dm_last')) AS li,
           j // getvariable('dm_k') AS nblk,
           kind = 'bulk' AND dm_u(i, 1) < 0.12 AS free,
           dm_u(i, 2) < 0.4 AS free_linked
    FROM base
), named AS (
    SELECT *,
           getvariable('dm_first')[fi + 1] AS first_name,
           getvariable('dm_last')[li + 1] AS last_name,
           getvariable('dm_first_key')[fi + 1] AS fk,
           getvariable('dm_last_key')[li + 1] AS lk
    FROM person
), mailed AS (
    SELECT *,
           CASE WHEN free THEN
                    CASE floor(dm_u(i, 4) * 3)::INTEGER WHEN 0 THEN fk || '.' || lk WHEN 1 THEN fk || lk
                         ELSE fk[1] || lk END || i::VARCHAR
                    || '@' || dm_pick(getvariable('dm_free_mail'), dm_u(i, 5))
                ELSE CASE pat WHEN 0 THEN fk || '.' || lk WHEN 1 THEN fk[1] || lk WHEN 2 THEN fk ELSE fk || lk[1] END
                     || CASE WHEN nblk > 0 THEN nblk::VARCHAR ELSE '' END || '@' || domain END AS email,
           CASE WHEN NOT free OR free_linked THEN domain END AS cdomain,
           dm_pick(getvariable('dm_titles'), dm_u(i, 3)) AS title,
           CASE WHEN tld = '.de' AND dm_u(i, 6) < 0.9 THEN 'Germany'
                WHEN tld = '.co.uk' AND dm_u(i, 6) < 0.9 THEN 'United Kingdom'
                WHEN tld = '.fr' AND dm_u(i, 6) < 0.9 THEN 'France'
                WHEN kind = 'gov' THEN 'United States'
                ELSE dm_pick(getvariable('dm_countries'), dm_u(i, 7)) END AS country
    FROM named
), c AS (
    SELECT *,
           split_part(email, '@', 2) AS email_domain,
           free AS is_free_mail,
           {{'is_customer': CASE WHEN cdomain IS NOT NULL THEN cust END}} AS d
    FROM mailed
"""

_CONTACTS_CRM_AND_FATE = """), crm AS (
    SELECT *,
           CASE WHEN has_sf AND NOT free THEN dm_u(i, 20) < 0.85 ELSE FALSE END AS in_sf_contact,
           CASE WHEN has_hs THEN dm_u(i, 21) < 0.8 ELSE dm_u(i, 21) < 0.15 END AS in_hs
    FROM aud
), crm2 AS (
    SELECT *,
           NOT in_sf_contact AND (dm_u(i, 22) < 0.35 OR NOT in_hs) AS in_sf_lead
    FROM crm
), flags AS (
    SELECT *,
           (in_sf_contact OR in_sf_lead) AND dm_u(i, 23) < 0.012 AS sf_email_opt_out,
           (in_sf_contact OR in_sf_lead) AND dm_u(i, 24) < 0.006 AS sf_do_not_email,
           in_hs AND dm_u(i, 25) < 0.012 AS hs_opt_out
    FROM crm2
), play AS (
    SELECT *,
           sf_email_opt_out OR hs_opt_out AS crm_opt,
           kind = 'bulk' AND dm_u(i, 10) < 0.62 AS has_enr
    FROM flags
), routed AS (
    SELECT *,
           CASE WHEN NOT has_enr THEN NULL
                WHEN cdomain IS NOT NULL AND cust THEN 2
                WHEN free THEN 3
                WHEN aud_0 AND dm_u(i, 11) < 0.75 THEN 0
                WHEN aud_1 AND dm_u(i, 11) < 0.85 THEN 1
                ELSE 3 END AS p
    FROM play
), seqd AS (
    SELECT *,
           CASE WHEN p IS NULL THEN NULL WHEN p = 0 AND dm_u(i, 12) >= 0.7 THEN 1 ELSE 0 END AS node
    FROM routed
), seqd2 AS (
    SELECT *, getvariable('dm_node_seq')[p + 1][node + 1] AS sq
    FROM seqd
), fate0 AS (
    SELECT *,
           len(getvariable('dm_seq_cum')[sq + 1]) AS n,
           getvariable('dm_seq_cum')[sq + 1] AS cum,
           has_enr AND cdomain IS NOT NULL AND has_open AND getvariable('dm_seq_open_on')[sq + 1] AS opp_branch,
           dm_u(i, 13) AS v,
           dm_u(i, 14) AS w
    FROM seqd2
), fate AS (
    SELECT *,
           CASE WHEN NOT has_enr THEN NULL
                WHEN crm_opt THEN 'finished_old'
                WHEN opp_branch THEN CASE WHEN v < 0.50 THEN 'not_enrolled' WHEN v < 0.62 THEN 'excluded'
                                          WHEN v < 0.82 THEN 'excluded_mid' ELSE 'finished' END
                ELSE CASE WHEN v < 0.10 THEN 'queued' WHEN v < 0.38 THEN 'active' WHEN v < 0.58 THEN 'finished'
                          WHEN v < 0.66 THEN 'replied' WHEN v < 0.71 THEN 'opted_out' WHEN v < 0.75 THEN 'excluded'
                          WHEN v < 0.81 THEN 'unenrolled' ELSE 'not_enrolled' END END AS fate
    FROM fate0
"""

_CONTACTS_TIMES = """), steps AS (
    SELECT *,
           CASE fate WHEN 'active' THEN 1 + floor(dm_u(i, 15) * (n - 1))::INTEGER
                     WHEN 'finished' THEN n WHEN 'finished_old' THEN n
                     WHEN 'replied' THEN 1 + floor(dm_u(i, 15) * n)::INTEGER
                     WHEN 'opted_out' THEN CASE WHEN w < 0.65 AND dm_u(i, 16) < 0.45 THEN 1
                                                ELSE 1 + floor(dm_u(i, 15) * n)::INTEGER END
                     WHEN 'excluded_mid' THEN 1 + floor(dm_u(i, 15) * (n - 1))::INTEGER
                     WHEN 'unenrolled' THEN floor(dm_u(i, 15) * n)::INTEGER
                     ELSE 0 END AS k,
           CASE WHEN fate IN ('excluded', 'not_enrolled', 'excluded_mid') THEN
                CASE WHEN opp_branch THEN 'open_opportunity' ELSE 'job_change' END END AS blocking
    FROM fate
), timed AS (
    SELECT *,
           CASE fate
               WHEN 'queued' THEN getvariable('dm_now') + 3600 + floor(dm_u(i, 17) * 47 * 3600)::BIGINT
               WHEN 'active' THEN getvariable('dm_now') - 300
                                  - dm_days(dm_u(i, 17) * 0.95 * (cum[k + 1] - cum[k])) - dm_days(cum[k])
               WHEN 'excluded' THEN getvariable('dm_now') - dm_days(1 + dm_u(i, 17) * 200)
               WHEN 'not_enrolled' THEN getvariable('dm_now') - 600 - dm_days(dm_u(i, 17) * 60)
               WHEN 'finished_old' THEN getvariable('dm_now') - dm_days(cum[n]) - dm_days(120 + dm_u(i, 17) * 200)
               ELSE getvariable('dm_now') - dm_days(cum[n]) - dm_days(2 + dm_u(i, 17) * 300) END AS t1
    FROM steps
), timed2 AS (
    SELECT *,
           CASE WHEN fate IS NULL OR fate = 'not_enrolled' THEN NULL
                WHEN fate = 'queued' THEN getvariable('dm_now') - 600 - floor(dm_u(i, 18) * 36 * 3600)::BIGINT
                ELSE t1 - 3600 - floor(dm_u(i, 18) * 20 * 3600)::BIGINT END AS enrolled_s,
           CASE WHEN k > 0 THEN t1 + dm_days(cum[k]) END AS sk,
           dm_days(cum[k + 1]) AS next_off,
           3600 + floor(dm_u(i, 19) * 19 * 3600)::BIGINT AS h1,
           600 + floor(dm_u(i, 26) * 19 * 3600)::BIGINT AS h2,
           CASE WHEN fate = 'replied' THEN
                CASE WHEN w < 0.42 THEN 'positive' WHEN w < 0.68 THEN 'not_now' WHEN w < 0.90 THEN 'opt_out'
                     ELSE 'other' END END AS reply_label,
           CASE WHEN fate = 'opted_out' THEN CASE WHEN w < 0.65 THEN 'link' ELSE 'admin' END END AS opt_source,
           CASE WHEN fate IN ('active', 'finished', 'finished_old') AND w < 0.10 THEN
                t1 + least(3600 + floor(dm_u(i, 19) * 19 * 3600)::BIGINT, (getvariable('dm_now') - t1) * 9 // 10)
                END AS ooo_s,
           'e' || lpad(i::VARCHAR, 8, '0') AS enrollment_id,
           'c' || lpad(i::VARCHAR, 8, '0') AS contact_id
    FROM timed
), ended AS (
    -- end_s: when the enrollment last changed (its completion, for the ended ones)
    SELECT *,
           CASE fate
               WHEN 'queued' THEN enrolled_s
               WHEN 'active' THEN greatest(sk, coalesce(ooo_s, sk))
               WHEN 'finished' THEN sk + 60
               WHEN 'finished_old' THEN sk + 60
               WHEN 'replied' THEN sk + h1
               WHEN 'opted_out' THEN CASE opt_source WHEN 'link' THEN sk + 300 + floor(dm_u(i, 30) * 40 * 3600)::BIGINT
                                     ELSE sk + h1 END
               WHEN 'excluded' THEN t1
               WHEN 'excluded_mid' THEN t1 + next_off
               WHEN 'unenrolled' THEN CASE WHEN k > 0 THEN sk + h1
                                      ELSE enrolled_s + floor((t1 - enrolled_s) * dm_u(i, 30))::BIGINT END
               WHEN 'not_enrolled' THEN t1 END AS end_s,
           -- 60% of opt-out replies are handled (opt-out + reply_handled); the others wait in the queue
           coalesce(reply_label = 'opt_out' AND dm_u(i, 28) < 0.6, false) AS handled,
           NOT has_enr AND kind = 'bulk' AND NOT crm_opt AND dm_u(i, 32) < 0.008 AS admin_only
    FROM timed2
), counted AS (
    SELECT *,
           CASE WHEN fate IS NULL OR fate = 'not_enrolled' THEN 0 ELSE 1 END AS n_enroll,
           CASE WHEN ooo_s IS NULL THEN 0 ELSE 1 END AS n_ooo,
           CASE fate WHEN 'finished' THEN 1 WHEN 'finished_old' THEN 1
                     WHEN 'replied' THEN CASE WHEN handled THEN 4 ELSE 2 END
                     WHEN 'opted_out' THEN 2 WHEN 'excluded' THEN 2 WHEN 'excluded_mid' THEN 2
                     WHEN 'unenrolled' THEN 1 WHEN 'not_enrolled' THEN 1 ELSE 0 END AS n_tail
    FROM ended
)
SELECT *,
       n_enroll + k + n_ooo + n_tail + admin_only::INTEGER AS n_ev,
       CASE WHEN k > 0 THEN sk
            WHEN fate = 'queued' AND w < 0.15 THEN getvariable('dm_now') - dm_days(1 + dm_u(i, 33) * 24)
            WHEN dm_u(i, 34) < 0.55 THEN getvariable('dm_now') - dm_days(1 + dm_u(i, 33) * 364)
            END AS last_contacted_s,
       CASE WHEN blocking = 'job_change' THEN t1 - dm_days(1 + dm_u(i, 35) * 28)
            WHEN fate = 'queued' AND w >= 0.15 AND w < 0.25 THEN getvariable('dm_now') - dm_days(1 + dm_u(i, 35) * 59)
            WHEN fate = 'active' AND w >= 0.10 AND w < 0.16 THEN getvariable('dm_now') - dm_days(1 + dm_u(i, 35) * 9)
            WHEN dm_u(i, 9) < 0.04 THEN getvariable('dm_now') - dm_days(1 + dm_u(i, 35) * 88)
            WHEN dm_u(i, 9) < 0.09 THEN getvariable('dm_now') - dm_days(90 + dm_u(i, 35) * 610)
            END AS job_changed_s,
       CASE fate WHEN 'queued' THEN t1 WHEN 'active' THEN t1 + next_off END AS next_step_s,
       least(coalesce(enrolled_s, t1, getvariable('dm_now')), getvariable('dm_now'))
           - dm_days(5 + dm_u(i, 39) * 700) AS created_s
FROM counted
"""


def _contacts_sql(audiences: list[tuple[str, list]], dom_filter: str = "TRUE") -> tuple[str, list]:
    """The contacts pipeline ``C``: one row per bulk contact with its fate, its enrollment (at most
    one) and what its events need (``n_ev`` of them, laid out by ``_EVENTS_OUT``).

    ``audiences``: compiled audience criteria of the plays (SQL over ``c`` and ``d``, parameters),
    in PLAYS order. ``dom_filter`` is a fixed predicate over ``dom`` from code.
    """
    aud_cols = ",\n".join(f"coalesce({sql}, false) AS aud_{i}" for i, (sql, _p) in enumerate(audiences))
    params = [p for _s, ps in audiences for p in ps]
    sql = (_CONTACTS_PEOPLE.format(dom_filter=dom_filter)
           + f"), aud AS (\n    SELECT *, {aud_cols}\n    FROM c\n"
           + _CONTACTS_CRM_AND_FATE + _CONTACTS_TIMES)
    return sql, params


_CONTACTS_OUT = """
SELECT contact_id, email, first_name, last_name, title, country,
       CASE WHEN (free AND free_linked) OR (NOT free AND dm_u(i, 40) < 0.35) THEN
            CASE WHEN kind <> 'bulk' THEN domain
                 ELSE dm_pick(['https://www.' || site_name || tld || '/', domain, 'http://' || domain || '/about',
                               'www.' || domain], dm_u(i, 41)) END END AS company_website,
       CASE WHEN in_sf_contact THEN '0035e' || printf('%010X', i) END AS sf_contact_id,
       CASE WHEN in_sf_lead THEN '00Q5e' || printf('%010X', i) END AS sf_lead_id,
       CASE WHEN in_hs THEN (50000000 + i)::VARCHAR END AS hs_contact_id,
       sf_email_opt_out, sf_do_not_email, hs_opt_out,
       dm_ts(last_contacted_s) AS last_contacted_at, dm_ts(job_changed_s) AS job_changed_at,
       dm_ts(created_s) AS created_at
FROM C
"""

_ENROLLMENTS_OUT = """
SELECT enrollment_id, contact_id,
       getvariable('dm_play_ids')[p + 1] AS play_id,
       getvariable('dm_node_ids')[p + 1][node + 1] AS node_id,
       getvariable('dm_seq_ids')[sq + 1] AS sequence_id,
       CASE WHEN fate IN ('queued', 'active', 'unenrolled', 'not_enrolled') THEN fate ELSE 'completed' END AS state,
       CASE fate WHEN 'finished' THEN 'finished' WHEN 'finished_old' THEN 'finished' WHEN 'replied' THEN 'replied'
                 WHEN 'opted_out' THEN 'opted_out' WHEN 'excluded' THEN 'excluded'
                 WHEN 'excluded_mid' THEN 'excluded_mid_sequence' WHEN 'unenrolled' THEN 'unenrolled' END
           AS completion_reason,
       k::INTEGER AS current_step,
       dm_ts(next_step_s) AS next_step_at, dm_ts(enrolled_s) AS enrolled_at, dm_ts(end_s) AS updated_at
FROM C WHERE has_enr
"""

# One row per event: slot r of a contact's n_ev events is its enroll event, then one send per step
# sent, an out-of-office reply, then the events that ended the enrollment (tail slot x); a contact
# without an enrollment may have an admin opt-out.
_EVENTS_OUT = """
SELECT CASE ek WHEN 'admin_opt_out' THEN contact_id || ':admin-opt-out'
               ELSE enrollment_id || ':' || lpad((r + 1)::VARCHAR, 2, '0') END AS event_id,
       dm_ts(CASE ek WHEN 'enroll' THEN enrolled_s
                     WHEN 'send' THEN t1 + dm_days(getvariable('dm_seq_cum')[sq + 1][r - n_enroll + 1])
                     WHEN 'ooo' THEN ooo_s
                     WHEN 'opt_out_reply' THEN end_s + h2
                     WHEN 'handled' THEN end_s + h2
                     WHEN 'admin_opt_out' THEN getvariable('dm_now') - dm_days(1 + dm_u(i, 36) * 300)
                     ELSE end_s END) AS occurred_at,
       CASE ek WHEN 'ooo' THEN 'reply' WHEN 'opt_out_reply' THEN 'opt_out' WHEN 'opt_out_link' THEN 'opt_out'
               WHEN 'opt_out_admin' THEN 'opt_out' WHEN 'admin_opt_out' THEN 'opt_out' WHEN 'handled' THEN 'reply_handled'
               WHEN 'skip' THEN 'exclusion_skip' WHEN 'ne_skip' THEN 'exclusion_skip' ELSE ek END AS type,
       contact_id, email,
       CASE WHEN ek NOT IN ('admin_opt_out', 'opt_out_reply') THEN getvariable('dm_seq_ids')[sq + 1] END
           AS sequence_id,
       CASE WHEN ek NOT IN ('admin_opt_out', 'opt_out_reply', 'handled') THEN enrollment_id END AS enrollment_id,
       CASE ek WHEN 'send' THEN r - n_enroll + 1 WHEN 'ooo' THEN 1 WHEN 'reply' THEN k WHEN 'complete' THEN k
               WHEN 'unenroll' THEN k WHEN 'skip' THEN CASE fate WHEN 'excluded' THEN 1 ELSE k + 1 END
               END::INTEGER AS step,
       CASE ek WHEN 'enroll' THEN 'play' WHEN 'send' THEN 'sequence' WHEN 'ooo' THEN 'recipient'
               WHEN 'reply' THEN 'recipient' WHEN 'complete' THEN reason WHEN 'opt_out_reply' THEN 'reply'
               WHEN 'handled' THEN 'opt_out' WHEN 'opt_out_link' THEN 'link' WHEN 'opt_out_admin' THEN 'admin'
               WHEN 'admin_opt_out' THEN 'admin' WHEN 'skip' THEN 'sequence' WHEN 'ne_skip' THEN 'play'
               WHEN 'unenroll' THEN CASE WHEN dm_u(i, 31) < 0.7 THEN 'contact' ELSE 'bulk' END END AS source,
       CASE ek WHEN 'opt_out_reply' THEN dm_pick(getvariable('dm_handlers'), dm_u(i, 29))
               WHEN 'handled' THEN dm_pick(getvariable('dm_handlers'), dm_u(i, 29))
               WHEN 'opt_out_admin' THEN dm_pick(getvariable('dm_admins'), dm_u(i, 29))
               WHEN 'admin_opt_out' THEN dm_pick(getvariable('dm_admins'), dm_u(i, 37))
               WHEN 'unenroll' THEN dm_pick(getvariable('dm_unenrollers'), dm_u(i, 29))
               WHEN 'opt_out_link' THEN 'recipient'
               ELSE 'system' END AS actor,
       CASE ek WHEN 'ooo' THEN dm_pick(getvariable('dm_replies_ooo'), dm_u(i, 27))
               WHEN 'reply' THEN CASE reply_label
                   WHEN 'positive' THEN dm_pick(getvariable('dm_replies_pos'), dm_u(i, 27))
                   WHEN 'not_now' THEN dm_pick(getvariable('dm_replies_neg'), dm_u(i, 27))
                   WHEN 'opt_out' THEN dm_pick(getvariable('dm_replies_opt'), dm_u(i, 27))
                   ELSE dm_pick(getvariable('dm_replies_other'), dm_u(i, 27)) END END AS text,
       CASE ek WHEN 'ooo' THEN 'out_of_office' WHEN 'reply' THEN reply_label END AS label,
       CASE ek WHEN 'send' THEN getvariable('dm_send_detail')[sq + 1][r - n_enroll + 1]
               WHEN 'complete' THEN CASE WHEN fate = 'replied'
                   THEN '{"reason": "replied", "reply_event_id": "' || reply_id || '"}'
                   ELSE '{"reason": "' || reason || '"}' END
               WHEN 'opt_out_reply' THEN '{"evidence": {"label": "opt_out", "reply_event_id": "' || reply_id || '"}}'
               WHEN 'handled' THEN '{"opt_out_event_id": "' || enrollment_id || ':' || lpad((k + 4)::VARCHAR, 2, '0')
                                   || '", "reply_event_id": "' || reply_id || '"}'
               WHEN 'opt_out_link' THEN '{"evidence": {"step": ' || k::VARCHAR || ', "via": "opt-out link in step '
                                        || k::VARCHAR || '"}}'
               WHEN 'opt_out_admin' THEN dm_pick(getvariable('dm_admin_details'), dm_u(i, 30))
               WHEN 'admin_opt_out' THEN dm_pick(getvariable('dm_admin_details'), dm_u(i, 38))
               WHEN 'skip' THEN CASE blocking WHEN 'open_opportunity' THEN getvariable('dm_block_opp')
                                ELSE getvariable('dm_block_job') END
               WHEN 'ne_skip' THEN CASE blocking WHEN 'open_opportunity' THEN getvariable('dm_block_opp')
                                   ELSE getvariable('dm_block_job') END
               WHEN 'unenroll' THEN '{}' END AS detail
FROM (
    SELECT *,
           CASE fate WHEN 'finished' THEN 'finished' WHEN 'finished_old' THEN 'finished' WHEN 'replied' THEN 'replied'
                     WHEN 'opted_out' THEN 'opted_out' WHEN 'excluded' THEN 'excluded'
                     WHEN 'excluded_mid' THEN 'excluded_mid_sequence' END AS reason,
           enrollment_id || ':' || lpad((k + 2)::VARCHAR, 2, '0') AS reply_id,
           CASE WHEN admin_only THEN 'admin_opt_out'
                WHEN r < n_enroll THEN 'enroll'
                WHEN r < n_enroll + k THEN 'send'
                WHEN r < n_enroll + k + n_ooo THEN 'ooo'
                ELSE CASE fate
                    WHEN 'replied' THEN CASE r - n_enroll - k - n_ooo WHEN 0 THEN 'reply' WHEN 1 THEN 'complete'
                                        WHEN 2 THEN 'opt_out_reply' ELSE 'handled' END
                    WHEN 'opted_out' THEN CASE WHEN r - n_enroll - k - n_ooo = 1 THEN 'complete'
                                          WHEN opt_source = 'link' THEN 'opt_out_link' ELSE 'opt_out_admin' END
                    WHEN 'excluded' THEN CASE r - n_enroll - k - n_ooo WHEN 0 THEN 'skip' ELSE 'complete' END
                    WHEN 'excluded_mid' THEN CASE r - n_enroll - k - n_ooo WHEN 0 THEN 'skip' ELSE 'complete' END
                    WHEN 'unenrolled' THEN 'unenroll'
                    WHEN 'not_enrolled' THEN 'ne_skip'
                    ELSE 'complete' END END AS ek
    FROM (SELECT *, unnest(range(n_ev)) AS r FROM C WHERE n_ev > 0)
)
"""


def _audiences(now: dt.datetime) -> list[tuple[str, list]]:
    out = []
    for _pid, _name, audience, _t, _nodes in PLAYS:
        if audience is None:
            out.append(("TRUE", []))
            continue
        used = {leaf["field"] for _p, leaf in vocabulary.leaves(audience)}
        assert used <= _AUDIENCE_FIELDS, f"the generator cannot evaluate audience fields {used - _AUDIENCE_FIELDS}"
        out.append(vocabulary.compile_sql(audience, now))
    return out


# --- generate --------------------------------------------------------------------------------------

_BULK_SQL = {"contacts": _CONTACTS_OUT, "enrollments": _ENROLLMENTS_OUT, "events": _EVENTS_OUT}


def _epoch(t: dt.datetime) -> int:
    return int((t - dt.datetime(1970, 1, 1)).total_seconds())


def _variables(seed: int, now: dt.datetime, n_story: int, n_bulk: int, n_domains: int) -> dict:
    first_keys = [email_key(n) for n in FIRST_NAMES]
    last_keys = [email_key(n) for n in LAST_NAMES]
    seq_cum = []
    for _sid, _name, _rs, steps in SEQUENCES:
        cum, total = [], 0.0
        for j, (delay, _subject) in enumerate(steps):
            total += float(delay) if j else 0.0
            cum.append(total)
        seq_cum.append(cum)
    seq_ids = [s[0] for s in SEQUENCES]
    return {
        "dm_seed": int(seed), "dm_now": _epoch(now), "dm_n_story": n_story, "dm_n_bulk": n_bulk,
        "dm_n_special": len(SPECIAL_DOMAINS), "dm_n_domains": n_domains,
        "dm_ab": len(W1) * len(W2), "dm_perm": 7919, "dm_w1": W1, "dm_w2": W2,
        "dm_tlds": _weighted(TLDS), "dm_name_suffixes": NAME_SUFFIXES,
        "dm_special_domain": [d[0] for d in SPECIAL_DOMAINS], "dm_special_name": [d[1] for d in SPECIAL_DOMAINS],
        "dm_special_kind": [d[2] for d in SPECIAL_DOMAINS], "dm_special_industry": [d[3] for d in SPECIAL_DOMAINS],
        "dm_industries": INDUSTRIES, "dm_first": FIRST_NAMES, "dm_last": LAST_NAMES,
        "dm_first_key": first_keys, "dm_last_key": last_keys, "dm_k": min(len(FIRST_NAMES), len(LAST_NAMES)),
        "dm_free_mail": _weighted(FREE_MAIL), "dm_titles": _weighted(TITLES), "dm_countries": _weighted(COUNTRIES),
        "dm_play_ids": [p[0] for p in PLAYS], "dm_node_ids": [[n[0] for n in p[4]] for p in PLAYS],
        "dm_node_seq": [[seq_ids.index(n[1]) for n in p[4]] for p in PLAYS],
        "dm_seq_ids": seq_ids, "dm_seq_cum": seq_cum,
        "dm_send_detail": [[_json({"subject": subject}) for _d, subject in s[3]] for s in SEQUENCES],
        "dm_seq_open_on": ["open_opportunity" not in _ruleset_off(s[0]) for s in SEQUENCES],
        "dm_replies_ooo": REPLIES["out_of_office"], "dm_replies_pos": REPLIES["positive"],
        "dm_replies_neg": REPLIES["not_now"], "dm_replies_opt": REPLIES["opt_out"],
        "dm_replies_other": REPLIES["other"],
        "dm_handlers": [SUPPORT_USER, "nadia.haddad@brightline.io"], "dm_admins": ADMINS,
        "dm_admin_details": [_json({"evidence": note}) for note in ADMIN_OPT_OUT_NOTES],
        "dm_unenrollers": UNENROLLERS,
        "dm_block_opp": _json(_blocking("open_opportunity", "Open opportunity")),
        "dm_block_job": _json(_blocking("job_change", "Job change in the last 90 days")),
        "dm_opp_kinds": OPP_KINDS, "dm_sf_open": SF_OPEN_STAGES, "dm_hs_open": HS_OPEN_STAGES,
    }


def _count_rows(path: Path, fmt: str, con: duckdb.DuckDBPyConnection) -> int:
    """Rows in a written file: Parquet metadata, or the lines of a CSV (no field holds a newline)."""
    if fmt == "parquet":
        return int(con.execute("SELECT sum(num_rows) FROM parquet_file_metadata(?)", [str(path)]).fetchall()[0][0] or 0)
    lines = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 24):
            lines += chunk.count(b"\n")
    return max(lines - 1, 0)


def _write(rel: duckdb.DuckDBPyRelation, path: Path, fmt: str) -> None:
    if fmt == "csv":
        rel.write_csv(str(path), header=True, timestamp_format="%Y-%m-%dT%H:%M:%S", date_format="%Y-%m-%d")
    else:
        rel.write_parquet(str(path), compression="zstd")


def generate(out_dir, *, contacts: int = 3000, seed: int = 42, fmt: str = "csv",
             exclusions: int = DEFAULT_EXCLUSIONS, now: dt.datetime = NOW, memory_limit: str = "1GB",
             threads: int | None = None, log=None) -> dict:
    """Write the demo workspace into ``out_dir`` and return the counts written.

    Same arguments, same bytes. ``contacts`` counts every contact, the story contacts included
    (at least 100). ``exclusions`` (8-24) picks how many exclusions the settings hold; ``now`` is
    the pinned workspace clock every time is relative to. DuckDB works within ``memory_limit``
    (spilling to a temporary folder) on ``threads`` threads (default: all cores). ``log``
    (optional) is called with a line of progress per file.

    Returns ``{"contacts", "company_records", "opportunities", "enrollments", "events"}`` (rows
    written), ``"exclusions"``, ``"story_contacts"`` and ``"seconds"``.
    """
    if isinstance(contacts, bool) or not isinstance(contacts, int) or contacts < MIN_CONTACTS:
        raise ValidationError(f"--contacts must be a whole number >= {MIN_CONTACTS}, got {contacts!r}")
    if contacts > 99_999_999:
        raise ValidationError(f"--contacts must be below 100,000,000, got {contacts}")
    if fmt not in ("csv", "parquet"):
        raise ValidationError(f"--format must be csv or parquet, got {fmt!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValidationError(f"--seed must be a whole number, got {seed!r}")
    if not MIN_EXCLUSIONS <= exclusions <= MAX_EXCLUSIONS:
        raise ValidationError(f"exclusions must be between {MIN_EXCLUSIONS} and {MAX_EXCLUSIONS}, got {exclusions}")
    now = now.replace(microsecond=0, tzinfo=None)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValidationError(f"--out {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    say = log or (lambda _line: None)
    started = time.perf_counter()

    story = build_story(now)
    n_story = len(story.contacts)
    n_bulk = contacts - n_story
    tmp = tempfile.mkdtemp(prefix="unify-demo-")
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET memory_limit = ?", [memory_limit])
        con.execute("SET temp_directory = ?", [tmp])
        con.execute("SET preserve_insertion_order = true")
        if threads:
            con.execute("SET threads = ?", [int(threads)])
        for statement in _MACROS:
            con.execute(statement)
        _story_tables(con, story)

        # the domain table; sized from the mean contacts per domain, grown if a seed falls short
        n_domains = len(SPECIAL_DOMAINS) + int(n_bulk / 5.0 * 1.3) + 50
        while True:
            for name, value in _variables(seed, now, n_story, n_bulk, n_domains).items():
                con.execute(f"SET VARIABLE {name} = ?", [value])
            con.execute(_DOM_SQL)
            covered = con.execute("SELECT coalesce(max(start + n_eff), 0) FROM dom").fetchall()[0][0]
            if covered >= n_bulk:
                break
            n_domains *= 2
        # Every file is streamed from the domains in order. DuckDB keeps the order batch by batch, and a
        # batch is a row group of the source: from a 122,880-row table one batch would become millions
        # of events held in memory until written. A Parquet copy with small row groups keeps batches small.
        dom_file = str(Path(tmp) / "dom.parquet")
        con.table("dom").write_parquet(dom_file, row_group_size=DOM_ROW_GROUP)
        con.execute("DROP TABLE dom")
        con.read_parquet(dom_file).create_view("dom")

        audiences = _audiences(now)
        c_sql, c_params = _contacts_sql(audiences)
        # do-not-contact list: the story address and a few bulk contacts without an enrollment
        probe_sql, probe_params = _contacts_sql(audiences, "dn < getvariable('dm_n_special') + 400")
        dnc = [DNC_STORY] + [r[0] for r in con.execute(
            f"WITH C AS ({probe_sql}) SELECT email FROM C WHERE NOT has_enr AND kind = 'bulk' AND NOT free "
            f"ORDER BY i LIMIT 4", probe_params).fetchall()]
        partners = [r[0] for r in con.execute(
            "SELECT domain FROM dom WHERE kind = 'bulk' AND dn < getvariable('dm_n_special') + 2000 "
            "ORDER BY hash(getvariable('dm_seed'), dn, 'partner'), dn LIMIT 3").fetchall()] or ["partner-example.com"]
        doc = settings_document(exclusions=exclusions, dnc=dnc, partners=partners)
        parse_settings(doc)  # the demo must always load
        (out / "settings.yaml").write_text(
            "# Demo settings written by `unify-dash demo`: exclusions, rulesets, sequences, plays, CRM mapping.\n"
            + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110), encoding="utf-8")
        (out / "workspace.yaml").write_text(
            f"# unify-dash demo workspace (seed {int(seed)}, {contacts} contacts)\n"
            + yaml.safe_dump({"name": f"{ORG_NAME} demo workspace", "now": now.isoformat()}, sort_keys=False),
            encoding="utf-8")

        counts: dict[str, int] = {}
        ext = "." + fmt
        for table in RECORD_FILES:
            t0 = time.perf_counter()
            cols = ", ".join(c for c, _t in COLUMNS[table])
            if table in _BULK_SQL:
                query = f"WITH C AS ({c_sql}) SELECT {cols} FROM story_{table} UNION ALL {_BULK_SQL[table]}"
                params = c_params
            else:
                query = (f"SELECT {cols} FROM story_{table} UNION ALL "
                         f"({_RECORDS_SQL if table == 'company_records' else _OPPS_SQL})")
                params = []
            path = out / f"{table}{ext}"
            _write(con.sql(query, params=params), path, fmt)
            other = out / f"{table}{'.parquet' if fmt == 'csv' else '.csv'}"
            if other.exists():  # a folder holds one format per record file
                other.unlink()
            counts[table] = _count_rows(path, fmt, con)
            say(f"  {table + ext:<22} {counts[table]:>12,} rows  {time.perf_counter() - t0:6.1f} s")
        counts["exclusions"] = len(doc["exclusions"])
        counts["story_contacts"] = n_story
        counts["seconds"] = round(time.perf_counter() - started, 2)
        return counts
    finally:
        con.close()
        shutil.rmtree(tmp, ignore_errors=True)


# The demo database's execution log is the scheduler's own: the workspace is written as of REPLAY
# before the demo clock, loaded, and the scheduler runs up to the clock (docs/demo.md).
REPLAY = dt.timedelta(hours=1)


def build_database(out_dir, db_path, *, contacts: int = 3000, seed: int = 42, fmt: str = "csv",
                   now: dt.datetime = NOW, log=None) -> dict:
    """The demo database as ``make run`` builds it: the workspace of :func:`generate` written as of
    ``now - REPLAY`` into ``out_dir``, loaded into ``db_path``, then the send scheduler run up to
    ``now``. Its first tick is a Play-entry pass over every contact and a send-time check of every
    step due, so the execution log holds the scheduler's own rows for the story contacts (enrolled,
    not enrolled with the blocking criteria, excluded at the audience, opted out, sent, skipped).
    Returns the counts written, the load's summary and the scheduler's."""
    from unify_dash import scheduler  # io -> scheduler: only the demo database needs it
    from unify_dash.io.load import load_workspace
    from unify_dash.store import db

    counts = generate(out_dir, contacts=contacts, seed=seed, fmt=fmt, now=now - REPLAY, log=log)
    con = db.connect(db_path)
    try:
        loaded = load_workspace(con, out_dir)
        sends = scheduler.run_until(con, now.replace(microsecond=0, tzinfo=None))
        logged = con.execute("SELECT count(*) FROM execution_log").fetchone()[0]
    finally:
        con.close()
    return {**counts, "load": loaded, "scheduler": sends, "execution_log": int(logged)}


def cli_demo(args) -> int:
    """``unify-dash demo --out DIR [--contacts N] [--seed S] [--format csv|parquet] [--db FILE]``."""
    fmt = getattr(args, "format", "csv") or "csv"
    print(f"writing a demo workspace of {args.contacts:,} contacts (seed {args.seed}, {fmt}) into {args.out}")
    if getattr(args, "db", None):
        counts = build_database(args.out, args.db, contacts=args.contacts, seed=args.seed, fmt=fmt, log=print)
        print(f"loaded into {args.db} and ran the scheduler up to {NOW:%Y-%m-%d %H:%M}: "
              f"{counts['execution_log']:,} execution-log rows, {counts['scheduler']['new_enrollments']:,} new "
              f"enrollments, {counts['scheduler']['sends']:,} sends")
    else:
        counts = generate(args.out, contacts=args.contacts, seed=args.seed, fmt=fmt, log=print)
    print(f"done in {counts['seconds']:.1f} s: {counts['contacts']:,} contacts, "
          f"{counts['company_records']:,} company records, {counts['opportunities']:,} opportunities, "
          f"{counts['enrollments']:,} enrollments, {counts['events']:,} events, "
          f"{counts['exclusions']} exclusions ({counts['story_contacts']} story contacts, see docs/demo.md)")
    return 0
