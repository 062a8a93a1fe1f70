"""Build small workspaces directly in DuckDB for engine tests (no loader, no demo).

    ws = Workspace(con)
    bob = ws.contact("bob@acme.com", title="CEO")
    ws.record("sf:1", "salesforce", "acme.com")
    ws.opportunity("sf:o1", "sf:1")
    ws.save(doc(exclusions=[exclusion("open_opp", OPEN_OPP)]))
    ev = engine.evaluation(con)
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools

from unify_dash.model import domains
from unify_dash.model import settings as settings_mod
from unify_dash.store import db

NOW = dt.datetime(2026, 11, 26, 9, 0)

OPEN_OPP = {"field": "open_opportunities", "op": "gt", "value": 0}
IS_CUSTOMER = {"field": "is_customer", "op": "is_true"}


def title_is(value: str) -> dict:
    return {"field": "title", "op": "equals", "value": value}


def exclusion(id: str, criteria: dict, *, name: str | None = None, scope: str = "person", org: bool = True,
              remove: bool = False, filters: list | None = None) -> dict:
    return {"id": id, "name": name or id.replace("_", " ").capitalize(), "criteria": criteria, "scope": scope,
            "exclude_from_sequences": org, "remove_from_active_sequences": remove, "filters": filters or []}


def doc(exclusions: list[dict], *, rulesets: list[dict] | None = None, sequences: list[dict] | None = None,
        plays: list[dict] | None = None, crm_mapping: dict | None = None, propagation: int = 15) -> dict:
    """A settings document. Defaults: ruleset ``default`` (every exclusion on), sequence ``seq``
    (2 steps) in it, play ``play`` (everyone, no audience exclusion) with node ``node`` -> ``seq``."""
    ids = [e["id"] for e in exclusions]
    return {
        "org": {"propagation_minutes": propagation},
        "exclusions": copy.deepcopy(exclusions),
        "rulesets": rulesets if rulesets is not None else [
            {"id": "default", "name": "Default", "exclusions": {x: True for x in ids}}],
        "sequences": sequences if sequences is not None else [
            {"id": "seq", "name": "Outbound", "ruleset": "default",
             "steps": [{"delay_days": 0, "subject": "Hi"}, {"delay_days": 3, "subject": "Follow-up"}]}],
        "plays": plays if plays is not None else [
            {"id": "play", "name": "Main play", "audience": None, "audience_exclusions": {},
             "nodes": [{"id": "node", "sequence": "seq", "name": "Outbound"}]}],
        "crm_mapping": crm_mapping or {},
    }


class Workspace:
    """Inserts records straight into the schema; ids are generated when not given."""

    def __init__(self, con, now: dt.datetime = NOW):
        self.con = con
        self.now = now
        db.set_clock(con, now)
        self._ids = itertools.count(1)

    def _next(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    def contact(self, email: str, *, contact_id: str | None = None, website: str | None = None,
                first_name: str | None = None, last_name: str | None = None, title: str | None = None,
                country: str | None = None, sf_email_opt_out: bool = False, sf_do_not_email: bool = False,
                hs_opt_out: bool = False, last_contacted_at: dt.datetime | None = None,
                job_changed_at: dt.datetime | None = None) -> str:
        contact_id = contact_id or self._next("c")
        norm = domains.normalize_email(email)
        edom = domains.email_domain(norm)
        self.con.execute(
            "INSERT INTO contacts (contact_id, email, first_name, last_name, title, country, email_domain, "
            "is_free_mail, domain, sf_email_opt_out, sf_do_not_email, hs_opt_out, last_contacted_at, "
            "job_changed_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [contact_id, norm, first_name, last_name, title, country, edom, domains.is_free_mail(edom),
             domains.company_domain(norm, website), sf_email_opt_out, sf_do_not_email, hs_opt_out,
             last_contacted_at, job_changed_at, self.now - dt.timedelta(days=100)])
        return contact_id

    def record(self, record_id: str, crm: str, website: str, *, crm_id: str | None = None, name: str | None = None,
               is_customer: bool = False, industry: str | None = None, employees: int | None = None) -> str:
        self.con.execute(
            "INSERT INTO company_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [record_id, crm, crm_id or record_id.split(":")[-1], name or website, website,
             domains.normalize_domain(website), is_customer, industry, employees])
        return record_id

    def opportunity(self, opportunity_id: str, record_id: str, *, crm: str | None = None, crm_id: str | None = None,
                    is_closed: bool = False, is_won: bool = False, amount: float | None = None,
                    created_at: dt.datetime | None = None, name: str | None = None, stage: str | None = None) -> str:
        if crm is None:
            crm = self.con.execute("SELECT crm FROM company_records WHERE record_id = ?", [record_id]).fetchone()[0]
        self.con.execute(
            "INSERT INTO opportunities (opportunity_id, crm, crm_id, record_id, name, stage, is_closed, is_won, "
            "amount, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [opportunity_id, crm, crm_id or opportunity_id.split(":")[-1], record_id, name, stage, is_closed,
             is_won, amount, created_at or self.now - dt.timedelta(days=10)])
        return opportunity_id

    def enrollment(self, contact_id: str, sequence_id: str = "seq", *, state: str = "queued",
                   current_step: int = 0, enrollment_id: str | None = None, play_id: str | None = "play",
                   node_id: str | None = "node", completion_reason: str | None = None) -> str:
        enrollment_id = enrollment_id or self._next("e")
        self.con.execute(
            "INSERT INTO enrollments (enrollment_id, contact_id, play_id, node_id, sequence_id, state, "
            "completion_reason, current_step, next_step_at, enrolled_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [enrollment_id, contact_id, play_id, node_id, sequence_id, state, completion_reason, current_step,
             self.now + dt.timedelta(hours=1), self.now - dt.timedelta(days=1), self.now - dt.timedelta(days=1)])
        return enrollment_id

    def event(self, type: str, *, email: str | None = None, contact_id: str | None = None,
              at: dt.datetime | None = None, source: str | None = None, detail: str | None = None) -> str:
        event_id = self._next("ev")
        self.con.execute(
            "INSERT INTO events (event_id, occurred_at, type, contact_id, email, source, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [event_id, at or self.now - dt.timedelta(days=1), type, contact_id,
             domains.normalize_email(email) if email else None, source, detail])
        return event_id

    def opt_out(self, email: str, source: str = "link", at: dt.datetime | None = None) -> str:
        return self.event("opt_out", email=email, source=source, at=at)

    def save(self, document: dict | settings_mod.Settings, *, at: dt.datetime | None = None,
             effective_at: dt.datetime | None = None, note: str = "") -> int:
        """Save a settings version. Default: saved a day ago, so it is in effect now."""
        s = document if isinstance(document, settings_mod.Settings) else settings_mod.parse_settings(document)
        at = at or self.now - dt.timedelta(days=1)
        version = settings_mod.save_version(self.con, s, actor="test", note=note, at=at, effective_at=effective_at)
        db.bump_generation(self.con)
        return version
