"""Small workspaces for the lifecycle, opt-out, CRM-sync and scheduler tests, built row by row.

Nothing here goes through the loader: rows are inserted directly (parameterised), the settings
document is parsed and saved as a version, and the workspace clock is pinned.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools

from unify_dash.model import domains
from unify_dash.model.roles import Actor
from unify_dash.model.settings import parse_settings, save_version
from unify_dash.model.vocabulary import DOMAIN_STATS_SQL
from unify_dash.store import db

T0 = dt.datetime(2026, 11, 2, 9, 0, 0)
H = dt.timedelta(hours=1)

# the actors of the tests, one per role that matters
SUPPORT = Actor("sam", "support")
MANAGER = Actor("mia", "manager")
REVOPS = Actor("rex", "revops")

# A small settings document: an opportunity rule (company-wide, removes active participants), a
# customer rule (company-wide, keeps active participants), a title rule (person), a ruleset that has
# all three on, a 3-step sequence and a Play feeding it. Salesforce is read & write on the standard
# Email Opt Out field; HubSpot read-only.
BASE_SETTINGS: dict = {
    "org": {"propagation_minutes": 15},
    "exclusions": [
        {"id": "open_opp", "name": "Open opportunity", "scope": "company",
         "criteria": {"field": "open_opportunities", "op": "gt", "value": 0},
         "exclude_from_sequences": True, "remove_from_active_sequences": True},
        {"id": "customer", "name": "Customer", "scope": "company",
         "criteria": {"field": "is_customer", "op": "is_true"},
         "exclude_from_sequences": True, "remove_from_active_sequences": False},
        {"id": "ceo", "name": "CEOs", "scope": "person",
         "criteria": {"field": "title", "op": "contains", "value": "ceo"},
         "exclude_from_sequences": True, "remove_from_active_sequences": False},
    ],
    "rulesets": [
        {"id": "default", "name": "Default", "exclusions": {"open_opp": True, "customer": True, "ceo": True}},
    ],
    "sequences": [
        {"id": "seq1", "name": "Outbound", "ruleset": "default",
         "steps": [{"delay_days": 0, "subject": "Hello"}, {"delay_days": 3, "subject": "Follow-up"},
                   {"delay_days": 4, "subject": "Last try"}]},
        {"id": "seq2", "name": "Nurture", "ruleset": "default",
         "steps": [{"delay_days": 1, "subject": "News"}, {"delay_days": 7, "subject": "More news"}]},
    ],
    "plays": [
        {"id": "p1", "name": "Outbound play", "audience": None, "audience_exclusions": {},
         "nodes": [{"id": "n1", "sequence": "seq1"}]},
    ],
    "crm_mapping": {
        "salesforce": {"field": "HasOptedOutOfEmail", "mode": "read_write"},
        "hubspot": {"field": "hs_email_optout", "mode": "read_only"},
    },
}


def settings_doc(**changes) -> dict:
    """A deep copy of :data:`BASE_SETTINGS` with top-level sections replaced."""
    doc = copy.deepcopy(BASE_SETTINGS)
    doc.update(copy.deepcopy(changes))
    return doc


def save_settings(con, doc: dict, *, at: dt.datetime = T0 - dt.timedelta(days=1),
                  effective_at: dt.datetime | None = None, actor: str = "test") -> int:
    with db.transaction(con):
        version = save_version(con, parse_settings(doc), actor=actor, note="test", at=at, effective_at=effective_at)
        db.bump_generation(con)
    return version


_ids = itertools.count(1)

CONTACT_COLUMNS = ("contact_id", "email", "first_name", "last_name", "title", "country", "email_domain",
                   "is_free_mail", "domain", "sf_contact_id", "sf_lead_id", "hs_contact_id", "sf_email_opt_out",
                   "sf_do_not_email", "hs_opt_out", "last_contacted_at", "job_changed_at", "created_at")


def add_contact(con, email: str, **fields) -> str:
    email = domains.normalize_email(email)
    row = {"contact_id": fields.pop("contact_id", None) or f"c{next(_ids)}", "email": email,
           "email_domain": domains.email_domain(email), "is_free_mail": domains.is_free_mail(domains.email_domain(email)),
           "domain": domains.company_domain(email, fields.pop("company_website", None)),
           "sf_email_opt_out": False, "sf_do_not_email": False, "hs_opt_out": False}
    row.update(fields)
    con.execute(f"INSERT INTO contacts ({', '.join(CONTACT_COLUMNS)}) VALUES ({', '.join('?' * len(CONTACT_COLUMNS))})",
                [row.get(c) for c in CONTACT_COLUMNS])
    return row["contact_id"]


def add_record(con, record_id: str, domain: str, *, crm: str = "salesforce", is_customer: bool = False,
               name: str | None = None) -> None:
    con.execute("INSERT INTO company_records (record_id, crm, crm_id, name, website, domain, is_customer) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", [record_id, crm, record_id, name or domain, domain, domain, is_customer])


def add_opportunity(con, opportunity_id: str, record_id: str, *, crm: str = "salesforce",
                    is_closed: bool = False) -> None:
    con.execute("INSERT INTO opportunities (opportunity_id, crm, crm_id, record_id, is_closed) VALUES (?, ?, ?, ?, ?)",
                [opportunity_id, crm, opportunity_id, record_id, is_closed])


def add_enrollment(con, contact_id: str, sequence_id: str = "seq1", *, state: str = "queued",
                   enrollment_id: str | None = None, play_id: str | None = "p1", node_id: str | None = "n1",
                   completion_reason: str | None = None, current_step: int = 0,
                   next_step_at: dt.datetime | None = None, enrolled_at: dt.datetime | None = None,
                   updated_at: dt.datetime | None = None) -> str:
    enrollment_id = enrollment_id or f"en{next(_ids)}"
    con.execute("INSERT INTO enrollments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [enrollment_id, contact_id, play_id, node_id, sequence_id, state, completion_reason, current_step,
                 next_step_at, enrolled_at or T0 - dt.timedelta(days=1), updated_at or enrolled_at or T0])
    return enrollment_id


EVENT_COLUMNS = ("event_id", "occurred_at", "type", "contact_id", "email", "sequence_id", "enrollment_id", "step",
                 "source", "actor", "text", "label", "detail")


def add_event(con, type: str, occurred_at: dt.datetime, **fields) -> str:
    row = {"event_id": fields.pop("event_id", None) or f"ev{next(_ids)}", "occurred_at": occurred_at, "type": type}
    row.update(fields)
    if row.get("email"):
        row["email"] = domains.normalize_email(row["email"])
    con.execute(f"INSERT INTO events VALUES ({', '.join('?' * len(EVENT_COLUMNS))})",
                [row.get(c) for c in EVENT_COLUMNS])
    return row["event_id"]


def refresh(con) -> None:
    """Rebuild the per-domain aggregates (as a load does) and bump the data generation."""
    con.execute(DOMAIN_STATS_SQL)
    db.bump_generation(con)


def make_workspace(con, *, doc: dict | None = None, now: dt.datetime = T0, settings_at: dt.datetime | None = None):
    """Settings saved (in effect before ``now``) and the clock pinned at ``now``. Returns the version."""
    version = save_settings(con, doc or settings_doc(), at=settings_at or now - dt.timedelta(days=1))
    db.set_clock(con, now)
    con.execute(DOMAIN_STATS_SQL)
    return version


def enrollment(con, enrollment_id: str) -> dict:
    cur = con.execute("SELECT * FROM enrollments WHERE enrollment_id = ?", [enrollment_id])
    cols = [d[0] for d in cur.description]
    row = cur.fetchone()
    return dict(zip(cols, row, strict=True)) if row else None


def events(con, type: str | None = None, email: str | None = None) -> list[dict]:
    sql = "SELECT * FROM events WHERE (? IS NULL OR type = ?) AND (? IS NULL OR email = ?) ORDER BY occurred_at, event_id"
    cur = con.execute(sql, [type, type, email, email])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def rows(con, sql: str, params=None) -> list[dict]:
    cur = con.execute(sql, params or [])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
