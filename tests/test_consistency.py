"""The dashboard's promise, checked: what the engine says *before* a run (as of time T) is what the
scheduler does when it runs to T.

Random small workspaces (contacts over a few company domains, CRM records in Salesforce and
HubSpot, open and closed opportunities, CRM flags, opt-outs that happen during the run), random
settings (exclusions at random levels, filters, a Play audience) and a random second settings
version whose propagation delay may end before, between or after the scheduler's ticks. Then:

* Play entry at the first tick: the dashboard's drill-down lists (``not_enrolled``,
  ``excluded_at_audience``, ``opted_out``, ``enrolled``) as of that tick equal the scheduler's
  execution-log outcomes at that tick;
* send time: for queued/active enrollments due at each of three ticks, ``engine.send_decisions``
  as of the due tick (a fresh evaluation, not the scheduler's reused one) equals what the scheduler
  did (``skip`` -> skipped, ``remove`` -> removed, ``send``/``continue`` -> sent), with the same
  settings version.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lifecycle_factory import (
    add_contact,
    add_enrollment,
    add_event,
    add_opportunity,
    add_record,
    rows,
    save_settings,
)

from unify_dash import engine, scheduler
from unify_dash.model.vocabulary import email_is_not
from unify_dash.store import db

T = dt.datetime(2026, 11, 2, 12, 0)
TICK = dt.timedelta(hours=1)
START = T - 3 * TICK
TICKS = [T - 2 * TICK, T - TICK, T]
DOMAINS = ["acme.com", "beta.io", "gamma.org", "gmail.com"]
TITLES = [None, "CEO", "VP Sales", "Engineer"]

CATALOGUE = [
    ("open_opp", "company", {"field": "open_opportunities", "op": "gt", "value": 0}),
    ("customer", "company", {"field": "is_customer", "op": "is_true"}),
    ("ceo", "person", {"field": "title", "op": "contains", "value": "ceo"}),
    ("recent", "person", {"field": "last_contacted_at", "op": "within_last_days", "value": 7}),
    ("free", "person", {"field": "is_free_mail", "op": "is_true"}),
    ("hs_deal", "company", {"field": "open_deals_hubspot", "op": "gt", "value": 0}),
]
IDS = [c[0] for c in CATALOGUE]

contact_st = st.fixed_dictionaries({
    "domain": st.sampled_from(DOMAINS),
    "title": st.sampled_from(TITLES),
    "country": st.sampled_from([None, "DE", "FR"]),
    "contacted_hours_ago": st.sampled_from([None, 24, 7 * 24 - 1, 7 * 24 - 2, 30 * 24]),
    "sf_flag": st.booleans(),
    "opt_out_at": st.sampled_from([None, None, None, START - TICK, T - 2 * TICK, T - 90 * dt.timedelta(minutes=1),
                                   T - dt.timedelta(minutes=30)]),
    # a pre-existing enrollment in seq2: (state, due tick index) or None
    "enrollment": st.sampled_from([None, ("queued", 0), ("queued", 1), ("queued", 2), ("active", 0), ("active", 1),
                                   ("active", 2)]),
})
record_st = st.fixed_dictionaries({
    "domain": st.sampled_from(DOMAINS[:3]),
    "crm": st.sampled_from(["salesforce", "hubspot"]),
    "is_customer": st.booleans(),
    "opportunities": st.lists(st.booleans(), max_size=2),  # is_closed of each
})
levels_st = st.fixed_dictionaries({
    "org": st.lists(st.booleans(), min_size=len(IDS), max_size=len(IDS)),
    "remove": st.lists(st.booleans(), min_size=len(IDS), max_size=len(IDS)),
    "r1": st.lists(st.booleans(), min_size=len(IDS), max_size=len(IDS)),
    "r2": st.lists(st.booleans(), min_size=len(IDS), max_size=len(IDS)),
    "audience": st.lists(st.booleans(), min_size=len(IDS), max_size=len(IDS)),
    "audience_rule": st.booleans(),
    "let_through": st.one_of(st.none(), st.integers(0, 11)),  # an "Email is not" filter on "ceo"
    "crm_mapping": st.booleans(),
})
world_st = st.fixed_dictionaries({
    "contacts": st.lists(contact_st, min_size=3, max_size=12),
    "records": st.lists(record_st, max_size=5),
    "v1": levels_st,
    "v2": st.one_of(st.none(), levels_st),
    "propagation_minutes": st.sampled_from([15, 75, 135, 200]),
})


def _doc(levels: dict, emails: list[str], propagation: int) -> dict:
    exclusions = []
    for i, (eid, scope, criteria) in enumerate(CATALOGUE):
        e = {"id": eid, "name": eid, "scope": scope, "criteria": criteria,
             "exclude_from_sequences": levels["org"][i], "remove_from_active_sequences": levels["remove"][i]}
        if eid == "ceo" and levels["let_through"] is not None and levels["let_through"] < len(emails):
            e["filters"] = [email_is_not(emails[levels["let_through"]].upper())]
        exclusions.append(e)
    return {
        "org": {"propagation_minutes": propagation},
        "exclusions": exclusions,
        "rulesets": [{"id": "r1", "exclusions": dict(zip(IDS, levels["r1"], strict=True))},
                     {"id": "r2", "exclusions": dict(zip(IDS, levels["r2"], strict=True))}],
        "sequences": [{"id": "seq1", "ruleset": "r1", "steps": [{"delay_days": 0}, {"delay_days": 3}]},
                      {"id": "seq2", "ruleset": "r2", "steps": [{"delay_days": 0}, {"delay_days": 7}]}],
        "plays": [{"id": "p1", "audience": {"field": "country", "op": "not_equals", "value": "FR"}
                   if levels["audience_rule"] else None,
                   "audience_exclusions": dict(zip(IDS, levels["audience"], strict=True)),
                   "nodes": [{"id": "n1", "sequence": "seq1"}]}],
        "crm_mapping": {"salesforce": {"field": "HasOptedOutOfEmail", "mode": "read_only"}}
        if levels["crm_mapping"] else {},
    }


def _build(con, world) -> tuple[dict, list]:
    emails = [f"u{i}@{c['domain']}" for i, c in enumerate(world["contacts"])]
    save_settings(con, _doc(world["v1"], emails, world["propagation_minutes"]), at=START - dt.timedelta(days=2),
                  effective_at=START - dt.timedelta(days=2))
    if world["v2"] is not None:  # saved just before the run, in effect after the propagation delay
        saved = START - dt.timedelta(minutes=1)
        save_settings(con, _doc(world["v2"], emails, world["propagation_minutes"]), at=saved,
                      effective_at=saved + dt.timedelta(minutes=world["propagation_minutes"]))
    for j, r in enumerate(world["records"]):
        rid = f"{r['crm'][:2]}:{j}"
        add_record(con, rid, r["domain"], crm=r["crm"], is_customer=r["is_customer"])
        for k, closed in enumerate(r["opportunities"]):
            add_opportunity(con, f"o{j}-{k}", rid, crm=r["crm"], is_closed=closed)
    ids = {}
    due = []
    for i, c in enumerate(world["contacts"]):
        email = emails[i]
        cid = add_contact(con, email, contact_id=f"c{i}", title=c["title"], country=c["country"],
                          sf_email_opt_out=c["sf_flag"],
                          last_contacted_at=None if c["contacted_hours_ago"] is None
                          else START - dt.timedelta(hours=c["contacted_hours_ago"]))
        ids[email] = cid
        if c["opt_out_at"] is not None:
            add_event(con, "opt_out", c["opt_out_at"], email=email, contact_id=cid, source="link")
        if c["enrollment"] is not None:
            state, k = c["enrollment"]
            eid = add_enrollment(con, cid, "seq2", state=state, current_step=int(state == "active"),
                                 enrollment_id=f"e{i}", play_id=None, node_id=None, next_step_at=TICKS[k],
                                 enrolled_at=START - dt.timedelta(days=3))
            due.append((eid, TICKS[k]))
    db.bump_generation(con)
    db.set_clock(con, START)
    return ids, due


def _drill(con, ev, bucket) -> set[str]:
    out = engine.drilldown(con, ev, "p1", bucket, node_id="n1" if bucket in ("not_enrolled", "enrolled") else None,
                           limit=1000)
    assert out["total"] == len(out["rows"])
    return {r["contact_id"] for r in out["rows"]}


def _plain(**changes) -> dict:
    """A contact with nothing special, with ``changes``."""
    return {"domain": "beta.io", "title": None, "country": None, "contacted_hours_ago": None, "sf_flag": False,
            "opt_out_at": None, "enrollment": None, **changes}


ALL_ON = {"org": [True] * 6, "remove": [True] * 6, "r1": [True] * 6, "r2": [True] * 6, "audience": [False] * 6,
          "audience_rule": False, "let_through": None, "crm_mapping": True}


@example(world={  # the settings version changes between two ticks (75 minutes of propagation)
    "contacts": [_plain(title="CEO", enrollment=("queued", 2)), _plain(enrollment=("active", 1))],
    "records": [], "v1": ALL_ON, "v2": {**ALL_ON, "r2": [False] * 6}, "propagation_minutes": 75})
@example(world={  # a link click between two ticks
    "contacts": [_plain(opt_out_at=T - dt.timedelta(minutes=90), enrollment=("active", 2)),
                 _plain(enrollment=("queued", 1))],
    "records": [], "v1": ALL_ON, "v2": None, "propagation_minutes": 15})
@example(world={  # "contacted within the last 7 days" expires between two ticks
    "contacts": [_plain(contacted_hours_ago=167, enrollment=("queued", 1)),
                 _plain(contacted_hours_ago=166, enrollment=("queued", 2))],
    "records": [], "v1": ALL_ON, "v2": None, "propagation_minutes": 15})
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(world=world_st)
def test_dashboard_predictions_equal_scheduler_outcomes(world):
    con = db.connect(None)
    try:
        _ids, due = _build(con, world)
        # --- what the dashboard says, before anything runs (the clock is at START) -------------------
        first = engine.evaluate(con, as_of=TICKS[0])
        predicted_entry = {b: _drill(con, first, b)
                           for b in ("not_enrolled", "excluded_at_audience", "opted_out", "enrolled")}
        predicted_send = {}
        versions = {}
        for t in TICKS:
            ev = engine.evaluate(con, as_of=t)
            ids = [e for e, when in due if when == t]
            if ids:
                d = engine.send_decisions(con, ev, ids)
                for row in d.itertuples():
                    predicted_send[row.enrollment_id] = {"skip": "skipped", "remove": "removed"}.get(row.decision,
                                                                                                    "sent")
                    versions[row.enrollment_id] = ev.version

        # --- what the scheduler does -----------------------------------------------------------------
        summary = scheduler.run_until(con, T, tick=TICK)
        assert summary["ticks"] >= 1
        at_first = rows(con, 'SELECT contact_id, outcome FROM execution_log WHERE "at" = ? AND play_id = ?',
                        [TICKS[0], "p1"])
        did_entry = {b: {r["contact_id"] for r in at_first if r["outcome"] == b} for b in predicted_entry}
        assert did_entry == predicted_entry
        did = rows(con, "SELECT l.\"at\", l.outcome, l.settings_version, e.enrollment_id FROM execution_log l "
                        "JOIN enrollments e ON e.contact_id = l.contact_id AND e.sequence_id = l.sequence_id "
                        "WHERE e.sequence_id = 'seq2' AND l.outcome IN ('sent', 'skipped', 'removed')")
        did_send = {r["enrollment_id"]: r["outcome"] for r in did}
        assert did_send == predicted_send
        assert {r["enrollment_id"]: r["settings_version"] for r in did} == versions
        assert {r["enrollment_id"]: r["at"] for r in did} == dict(due)
    finally:
        con.close()


def test_the_property_covers_every_outcome():
    """The generator reaches every bucket: a fixed world with one contact per outcome."""
    world = {
        "contacts": [
            {"domain": "beta.io", "title": None, "country": None, "contacted_hours_ago": None, "sf_flag": False,
             "opt_out_at": None, "enrollment": ("queued", 0)},                     # enrolled; sent
            {"domain": "acme.com", "title": None, "country": None, "contacted_hours_ago": None, "sf_flag": False,
             "opt_out_at": None, "enrollment": ("active", 1)},                     # not enrolled; removed
            {"domain": "gamma.org", "title": "CEO", "country": None, "contacted_hours_ago": None, "sf_flag": False,
             "opt_out_at": None, "enrollment": ("queued", 2)},                     # audience; skipped
            {"domain": "beta.io", "title": None, "country": None, "contacted_hours_ago": None, "sf_flag": True,
             "opt_out_at": None, "enrollment": None},                              # opted out (CRM flag)
        ],
        "records": [{"domain": "acme.com", "crm": "hubspot", "is_customer": False, "opportunities": [False]}],
        "v1": {"org": [True] * 6, "remove": [True] + [False] * 5, "r1": [True] * 6, "r2": [True] * 6,
               "audience": [False, False, True, False, False, False], "audience_rule": False, "let_through": None,
               "crm_mapping": True},
        "v2": None, "propagation_minutes": 15,
    }
    con = db.connect(None)
    try:
        _build(con, world)
        scheduler.run_until(con, T, tick=TICK)
        outcomes = {(r["contact_id"], r["outcome"]) for r in rows(con, "SELECT contact_id, outcome FROM execution_log")}
        assert {("c0", "enrolled"), ("c0", "sent"), ("c1", "not_enrolled"), ("c1", "removed"),
                ("c2", "excluded_at_audience"), ("c2", "skipped"), ("c3", "opted_out")} <= outcomes
    finally:
        con.close()
    test_dashboard_predictions_equal_scheduler_outcomes.hypothesis.inner_test(world=world)
