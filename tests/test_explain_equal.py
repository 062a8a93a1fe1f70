"""explain's output on a seeded random workspace is exactly what it was before its reads were restructured.

The workspace (:func:`build`) mixes what the Exclusion tab distinguishes: opted-out contacts (by event and by
CRM flag), company-wide exclusions matched through another contact of the domain, record-field leaves, a
filter letting one contact through, contacts with and without enrollments, without a company domain, and a
pending settings version. ``tests/golden/explain_random.json`` holds the SHA-256 of every contact's
explain (canonical JSON, without the timing ``evaluate_s``) as the code before that change (main 7fd720c)
wrote it; regenerate it only for a deliberate change of explain's output:
``UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_explain_equal.py``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
from pathlib import Path

from engine_factory import NOW, Workspace, doc, exclusion

from unify_dash import engine
from unify_dash.engine import evaluator
from unify_dash.store import db

GOLDEN = Path(__file__).parent / "golden" / "explain_random.json"
TITLES = ["CEO", "CTO", "VP Sales", "Engineer", "Analyst", None, "Head of Growth", "Founder"]
INDUSTRIES = ["Software", "Retail", "Finance", None]


def settings_doc() -> dict:
    return doc(exclusions=[
        exclusion("open_opp", {"field": "open_opportunities", "op": "gt", "value": 0}, scope="company"),
        exclusion("customers", {"field": "is_customer", "op": "is_true"}, scope="company",
                  filters=[{"field": "email", "op": "not_equals", "value": "ada0@acme1.com"}]),
        exclusion("execs", {"any": [{"field": "title", "op": "in", "value": ["CEO", "Founder"]},
                                    {"field": "title", "op": "starts_with", "value": "VP"}]}),
        exclusion("recent", {"field": "last_contacted_at", "op": "within_last_days", "value": 30}),
        exclusion("big_software", {"all": [{"field": "industry", "op": "equals", "value": "Software"},
                                           {"field": "employees", "op": "gte", "value": 500}]}, scope="company"),
        exclusion("ceo_company", {"field": "title", "op": "equals", "value": "CEO"}, scope="company", org=False),
        exclusion("freemail", {"field": "is_free_mail", "op": "is_true"}, org=False),
    ])


def build(con) -> list[str]:
    """The random workspace; returns every contact's email."""
    rng = random.Random(13)
    ws = Workspace(con)
    for d in range(1, 13):
        for k in range(rng.choice([0, 0, 1, 2, 3])):
            rid = ws.record(f"sf:{d}-{k}", rng.choice(["salesforce", "hubspot"]), f"acme{d}.com",
                            is_customer=rng.random() < 0.25, industry=rng.choice(INDUSTRIES),
                            employees=rng.choice([None, 20, 800, 5000]))
            for o in range(rng.choice([0, 1, 2])):
                ws.opportunity(f"op:{d}-{k}-{o}", rid, is_closed=rng.random() < 0.5, is_won=rng.random() < 0.3,
                               amount=rng.choice([None, 1200.0, 56000.5]))
    ws.record("hs:d1-customer", "hubspot", "acme1.com", is_customer=True, industry="Software", employees=900)
    emails = []
    for n in range(140):
        free = rng.random() < 0.12
        email = f"p{n}@{'gmail.com' if free else f'acme{rng.randint(1, 12)}.com'}"
        if n == 0:
            email = "ada0@acme1.com"
        cid = ws.contact(email, title=rng.choice(TITLES), first_name=f"P{n}",
                         sf_email_opt_out=rng.random() < 0.05,
                         last_contacted_at=rng.choice([None, NOW - dt.timedelta(days=rng.randint(1, 90))]))
        emails.append(email)
        if rng.random() < 0.08:
            ws.opt_out(email, source=rng.choice(["link", "reply"]))
        for _ in range(rng.choice([0, 0, 1, 2])):
            ws.enrollment(cid, state=rng.choice(["queued", "active", "completed"]),
                          current_step=rng.randint(0, 1))
    ws.save(settings_doc())
    later = settings_doc()
    later["exclusions"][2]["criteria"] = {"field": "title", "op": "equals", "value": "CTO"}
    ws.save(later, at=NOW - dt.timedelta(minutes=5), effective_at=NOW + dt.timedelta(hours=2))
    return emails


def digest(out: dict) -> str:
    out = {k: v for k, v in out.items() if k != "evaluate_s"}
    return hashlib.sha256(json.dumps(out, sort_keys=True, default=str).encode()).hexdigest()


def explain_all(con) -> tuple[dict, dict]:
    evaluator.clear_cache()
    emails = build(con)
    outs = {e: engine.explain(con, e) for e in emails}
    return {e: digest(o) for e, o in outs.items()}, outs


def test_explain_output_is_what_it_was(con):
    got, outs = explain_all(con)
    # the sample covers what the tab distinguishes
    assert sum(o["opted_out"] for o in outs.values()) >= 5
    assert any(x["matched_by"] == "company" for o in outs.values() for x in o["exclusions"])
    assert any(x["state"] == "let_through" for o in outs.values() for x in o["exclusions"])
    assert any(o["company_records"] for o in outs.values()) and any(not o["enrollments"] for o in outs.values())
    assert any(o["enrollments"] for o in outs.values()) and any(o["contact"]["domain"] is None for o in outs.values())
    assert any(p["changes_answer"] for o in outs.values() for p in o["pending"])
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(got, indent=0, sort_keys=True) + "\n")
    want = json.loads(GOLDEN.read_text())
    differ = [e for e in want if got.get(e) != want[e]]
    assert set(got) == set(want)
    assert not differ, f"explain changed for {len(differ)} contacts, e.g. {differ[0]}: " + json.dumps(
        outs[differ[0]], sort_keys=True, default=str)[:2000]


def test_a_company_kept_for_the_next_contact_is_read_again_after_a_write(con):
    """The evaluation keeps a company's row and records (with their opportunities) for the next contact of
    the company: that contact's tab is what a fresh evaluation shows, and a write shows the new records."""
    evaluator.clear_cache()
    ws = Workspace(con)
    ws.record("sf:k1", "salesforce", "keep.com", industry="Software", employees=900)
    ws.opportunity("op:k1", "sf:k1", is_closed=True)
    for name in ("a", "b"):
        ws.contact(f"{name}@keep.com", title="Engineer")
    ws.save(settings_doc())
    engine.explain(con, "a@keep.com")
    kept = engine.explain(con, "b@keep.com")  # the company's part kept from a@keep.com's explain
    evaluator.clear_cache()
    assert digest(kept) == digest(engine.explain(con, "b@keep.com"))
    assert [r["record_id"] for r in kept["company_records"]] == ["sf:k1"]
    customers = next(x for x in kept["exclusions"] if x["id"] == "customers")
    assert customers["state"] == "no_match"
    ws.record("sf:k2", "salesforce", "keep.com", is_customer=True)
    ws.opportunity("op:k2", "sf:k2")
    db.bump_generation(con)
    after = engine.explain(con, "b@keep.com")
    assert sorted(r["record_id"] for r in after["company_records"]) == ["sf:k1", "sf:k2"]
    assert next(x for x in after["exclusions"] if x["id"] == "customers")["state"] == "applies"
    opp = next(x for x in after["exclusions"] if x["id"] == "open_opp")
    assert opp["state"] == "applies" and "op:k2" not in json.dumps(kept)
