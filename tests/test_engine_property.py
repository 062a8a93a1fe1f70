"""Property test: random contacts, records, opportunities, opt-outs, rules and toggles.

The engine's fast what-if counts, its drill-down lists and its send decisions must equal a brute-force
evaluation contact by contact. The brute force below is a test oracle written from the documented
semantics (docs/engine.md and docs/decisions.md), in plain Python; it is not used by
the product.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine_factory import NOW, Workspace
from unify_dash import engine
from unify_dash.model import levels, vocabulary
from unify_dash.model import settings as settings_mod
from unify_dash.store import db

TEXT_POOL = ["ceo", " CEO ", "vp", "eng", "acme", "acme.com", "beta.io", "gmail.com", "us", "fr", "banking",
             "software", "o'brien; drop table contacts;--", "a%_b", "x@acme.com", "Y@Beta.io "]
NUMBER_POOL = [0, 1, 2, 3, 1000, 2500.5]
DAYS_POOL = [0, 1, 30, 400]
TITLES = ["CEO", " ceo ", "VP Sales", "Engineer", "", None, "O'Brien; DROP TABLE contacts;--", "a%_b"]
COUNTRIES = ["US", "FR", " us", None]
DOMAINS = ["acme.com", "beta.io", "gmail.com", "gamma.org"]
INDUSTRIES = ["Banking", "Software", None, "o'brien; drop table contacts;--"]
DATES = [None, NOW - dt.timedelta(days=2), NOW - dt.timedelta(days=45), NOW - dt.timedelta(days=500)]


# --- strategies ------------------------------------------------------------------------------------------

def value_for(draw, field: vocabulary.Field, op: vocabulary.Operator):
    if op.value == "none":
        return None
    if op.value == "days":
        return draw(st.sampled_from(DAYS_POOL))
    if field.type == vocabulary.NUMBER:
        scalar = st.sampled_from(NUMBER_POOL)
    else:
        scalar = st.sampled_from(TEXT_POOL)
    if op.value == "list":
        return draw(st.lists(scalar, min_size=1, max_size=3))
    return draw(scalar)


@st.composite
def leaf(draw):
    field = vocabulary.FIELDS[draw(st.sampled_from(sorted(vocabulary.FIELDS)))]
    op = draw(st.sampled_from(vocabulary.operators_for(field.name)))
    cond = {"field": field.name, "op": op.name}
    value = value_for(draw, field, op)
    if value is not None:
        cond["value"] = value
    return cond


@st.composite
def condition(draw, depth=2):
    if depth == 0:
        return draw(leaf())
    kind = draw(st.sampled_from(["leaf", "leaf", "all", "any", "not"]))
    if kind == "leaf":
        return draw(leaf())
    if kind == "not":
        return {"not": draw(condition(depth - 1))}
    return {kind: draw(st.lists(condition(depth - 1), min_size=1, max_size=3))}


@st.composite
def world(draw):
    contacts = []
    for i in range(draw(st.integers(1, 14))):
        dom = draw(st.sampled_from(DOMAINS))
        contacts.append({
            "email": f"u{i}@{dom}", "title": draw(st.sampled_from(TITLES)),
            "country": draw(st.sampled_from(COUNTRIES)), "sf_email_opt_out": draw(st.booleans()),
            "last_contacted_at": draw(st.sampled_from(DATES)), "job_changed_at": draw(st.sampled_from(DATES)),
        })
    records = []
    for j in range(draw(st.integers(0, 5))):
        records.append({"record_id": f"r{j}", "crm": draw(st.sampled_from(["salesforce", "hubspot"])),
                        "crm_id": f"{j}", "website": draw(st.sampled_from(DOMAINS[:2] + ["delta.net"])),
                        "is_customer": draw(st.booleans()), "industry": draw(st.sampled_from(INDUSTRIES)),
                        "employees": draw(st.sampled_from([None, 10, 2000])),
                        "name": draw(st.sampled_from(["Acme Inc", "a%_b", None]))})
    opps = []
    if records:
        for k in range(draw(st.integers(0, 5))):
            rec = draw(st.sampled_from(records))
            closed = draw(st.booleans())
            opps.append({"opportunity_id": f"o{k}", "record_id": rec["record_id"], "crm": rec["crm"],
                         "is_closed": closed, "is_won": closed and draw(st.booleans()),
                         "amount": draw(st.sampled_from([None, 500.0, 3000.0])),
                         "created_at": draw(st.sampled_from(DATES[1:]))})
    opt_outs = draw(st.lists(st.integers(0, len(contacts) - 1), max_size=2, unique=True))
    n = draw(st.integers(1, 5))
    exclusions = []
    for i in range(n):
        filters = []
        if draw(st.booleans()):
            target = draw(st.sampled_from(contacts))["email"]
            filters.append({"field": "email", "op": "not_equals",
                            "value": draw(st.sampled_from([target, f"  {target.upper()} "]))})
        if draw(st.integers(0, 4)) == 0:
            filters.append(draw(leaf()))
        exclusions.append({"id": f"x{i}", "name": f"Rule {i}", "criteria": draw(condition()),
                           "scope": draw(st.sampled_from(["person", "company"])),
                           "exclude_from_sequences": draw(st.booleans()),
                           "remove_from_active_sequences": draw(st.booleans()), "filters": filters})
    ids = [e["id"] for e in exclusions]
    toggles_of = st.dictionaries(st.sampled_from(ids), st.booleans(), max_size=n)
    rulesets = [{"id": "ra", "name": "A", "exclusions": draw(toggles_of)},
                {"id": "rb", "name": "B", "exclusions": draw(toggles_of)}]
    sequences = [{"id": "sa", "name": "Seq A", "ruleset": "ra", "steps": [{"delay_days": 0}]},
                 {"id": "sb", "name": "Seq B", "ruleset": "rb", "steps": [{"delay_days": 0}]}]
    plays = []
    for p in range(draw(st.integers(1, 2))):
        nodes = draw(st.lists(st.sampled_from(["sa", "sb"]), min_size=0, max_size=2))
        plays.append({"id": f"p{p}", "name": f"Play {p}",
                      "audience": draw(st.one_of(st.none(), condition(depth=1))),
                      "audience_exclusions": draw(toggles_of),
                      "nodes": [{"id": f"p{p}n{k}", "sequence": s} for k, s in enumerate(nodes)]})
    document = {"exclusions": exclusions, "rulesets": rulesets, "sequences": sequences, "plays": plays,
                "crm_mapping": draw(st.sampled_from([{}, {"salesforce": {"field": "HasOptedOutOfEmail"}}]))}
    toggle_keys = ([(x, "organisation", None) for x in ids] + [(x, "ruleset", r) for x in ids for r in ("ra", "rb")]
                   + [(x, "audience", p["id"]) for x in ids for p in plays])
    toggles = draw(st.dictionaries(st.sampled_from(toggle_keys), st.booleans(), max_size=4))
    enrollments = [{"contact": draw(st.integers(0, len(contacts) - 1)), "sequence": draw(st.sampled_from(["sa", "sb"])),
                    "state": draw(st.sampled_from(["queued", "active", "completed"]))}
                   for _ in range(draw(st.integers(0, 4)))]
    return {"contacts": contacts, "records": records, "opps": opps, "opt_outs": opt_outs, "document": document,
            "toggles": toggles, "enrollments": enrollments}


# --- the oracle ----------------------------------------------------------------------------------------------

def norm_text(x):
    return None if x is None else str(x).strip().lower()


def positive(field, op, x, value, as_of):
    """The operator's positive test on one value; None when it is unknown (a NULL)."""
    text = field.type in (vocabulary.STRING, vocabulary.EMAIL)
    if text:
        x = norm_text(x)
        if op.value == "scalar":
            value = norm_text(value)
        elif op.value == "list":
            value = [norm_text(v) for v in value]
    name = op.name
    if name in ("is_empty", "is_not_empty"):
        return (x is None or x == "") if text else x is None
    if x is None:
        return None
    if name in ("equals", "not_equals"):
        return x == value
    if name in ("in", "not_in"):
        return x in value
    if name in ("contains", "not_contains"):
        return value in x
    if name == "starts_with":
        return x.startswith(value)
    if name == "ends_with":
        return x.endswith(value)
    if name in ("gt", "gte", "lt", "lte"):
        return {"gt": x > value, "gte": x >= value, "lt": x < value, "lte": x <= value}[name]
    if name == "within_last_days":
        return x >= as_of - dt.timedelta(days=value)
    if name == "more_than_days_ago":
        return x < as_of - dt.timedelta(days=value)
    if name in ("is_true", "is_false"):
        return bool(x)
    raise AssertionError(name)


def leaf_true(cond, contact, recs, stats, as_of) -> bool:
    field, op = vocabulary.FIELDS[cond["field"]], vocabulary.OPERATORS[cond["op"]]
    value = cond.get("value")
    if field.entity == "record":
        col = {"company_name": "name", "industry": "industry", "employees": "employees"}[field.name]
        if op.name in ("is_empty", "is_not_empty"):
            all_empty = all(positive(field, op, r[col], value, as_of) for r in recs)
            return all_empty if op.name == "is_empty" else not all_empty
        hit = any(positive(field, op, r[col], value, as_of) is True for r in recs)
        return not hit if op.negative else hit
    x = stats[field.name] if field.entity == "company" else contact[field.name]
    p = positive(field, op, x, value, as_of)
    return (p is not True) if op.negative else (p is True)


def holds(cond, *args) -> bool:
    if "all" in cond:
        return all(holds(c, *args) for c in cond["all"])
    if "any" in cond:
        return any(holds(c, *args) for c in cond["any"])
    if "not" in cond:
        return not holds(cond["not"], *args)
    return leaf_true(cond, *args)


def oracle(w: dict, s: settings_mod.Settings, toggled: settings_mod.Settings, as_of: dt.datetime) -> dict:
    from unify_dash.model import domains

    people = []
    for c in w["contacts"]:
        email = c["email"]
        edom = domains.email_domain(email)
        people.append({**c, "email_domain": edom, "is_free_mail": domains.is_free_mail(edom),
                       "company_domain": domains.company_domain(email), "first_name": None, "last_name": None,
                       "sf_do_not_email": False, "hs_opt_out": False,
                       "email_bounced": False, "country_code": None})  # what the factory's contacts hold
    by_domain = {}
    for r in w["records"]:
        by_domain.setdefault(domains.normalize_domain(r["website"]), []).append(r)

    def stats_of(dom):
        recs = by_domain.get(dom, []) if dom else []
        ids = {r["record_id"] for r in recs}
        os_ = [o for o in w["opps"] if o["record_id"] in ids]
        open_ = [o for o in os_ if not o["is_closed"]]
        return {"open_opportunities": len(open_),
                "open_opportunities_salesforce": sum(o["crm"] == "salesforce" for o in open_),
                "open_deals_hubspot": sum(o["crm"] == "hubspot" for o in open_),
                "open_pipeline_amount": sum(o["amount"] or 0 for o in open_),
                "won_opportunities": sum(o["is_won"] for o in os_),
                "last_opportunity_created_at": max((o["created_at"] for o in os_), default=None),
                "is_customer": any(r["is_customer"] for r in recs), "company_records": len(recs)}, recs

    ctx = {}
    for p in people:
        stats, recs = stats_of(p["company_domain"])
        ctx[p["email"]] = (p, recs, stats, as_of)
    crit = {(p["email"], e.id): holds(e.criteria, *ctx[p["email"]]) for p in people for e in s.exclusions}
    applies = {}
    for p in people:
        for e in s.exclusions:
            if e.company_wide and p["company_domain"]:
                m = any(crit[(q["email"], e.id)] for q in people if q["company_domain"] == p["company_domain"])
            else:
                m = crit[(p["email"], e.id)]
            applies[(p["email"], e.id)] = m and all(holds(f, *ctx[p["email"]]) for f in e.filters)
    flag = bool(s.mapping("salesforce"))
    opted = {p["email"]: (i in w["opt_outs"]) or (flag and p["sf_email_opt_out"]) for i, p in enumerate(people)}

    def funnel(st_: settings_mod.Settings, play, email, off=None):
        """outcome per node for one contact; ``off``: an exclusion turned off everywhere."""
        on = [e for e in st_.exclusions if applies[(email, e.id)] and e.id != off]
        if opted[email]:
            return "opted_out", {}
        if any(play.audience_on(e.id) for e in on):
            return "excluded_at_audience", {}
        nodes = {}
        for n in play.nodes:
            rs = st_.ruleset(st_.sequence(n.sequence).ruleset)
            nodes[n.id] = any(e.exclude_from_sequences and rs.is_on(e.id) for e in on)
        return "reached", nodes

    out = {"plays": {}, "send": {}}
    for play in toggled.plays:
        entered = [p["email"] for p in people
                   if play.audience is None or holds(play.audience, *ctx[p["email"]])]
        lists = {b: [] for b in ("entered", "opted_out", "excluded_at_audience", "reached")}
        nodes = {n.id: {"not_enrolled": [], "enrolled": []} for n in play.nodes}
        per_excl = {e.id: {"matched": [], "blocking": [], "blocks_alone": []} for e in s.exclusions}
        for email in entered:
            lists["entered"].append(email)
            state, blocked = funnel(toggled, play, email)
            if state != "reached":
                lists[state].append(email)
            else:
                lists["reached"].append(email)
                for nid, b in blocked.items():
                    nodes[nid]["not_enrolled" if b else "enrolled"].append(email)
            if opted[email]:
                continue
            for e in toggled.exclusions:
                if not applies[(email, e.id)]:
                    continue
                per_excl[e.id]["matched"].append(email)
                at_aud = play.audience_on(e.id)
                at_node = state == "reached" and any(
                    e.exclude_from_sequences and toggled.ruleset(toggled.sequence(n.sequence).ruleset).is_on(e.id)
                    for n in play.nodes)
                if at_aud or at_node:
                    per_excl[e.id]["blocking"].append(email)
                off_state, off_blocked = funnel(toggled, play, email, off=e.id)
                if play.nodes:
                    released = off_state == "reached" and any(
                        not off_blocked[n.id] and (state != "reached" or blocked[n.id]) for n in play.nodes)
                else:
                    released = state == "excluded_at_audience" and off_state == "reached"
                if released:
                    per_excl[e.id]["blocks_alone"].append(email)
        out["plays"][play.id] = {"lists": lists, "nodes": nodes, "exclusions": per_excl}
    for k, enr in enumerate(w["enrollments"]):
        email = people[enr["contact"]]["email"]
        rs = s.ruleset(s.sequence(enr["sequence"]).ruleset)
        hits = [e for e in s.exclusions if applies[(email, e.id)] and e.exclude_from_sequences and rs.is_on(e.id)]
        if enr["state"] not in ("queued", "active"):
            decision = "none"
        elif enr["state"] == "queued":
            decision = "skip" if opted[email] or hits else "send"
        elif opted[email] or any(e.remove_from_active_sequences for e in hits):
            decision = "remove"
        else:
            decision = "continue" if hits else "send"
        out["send"][f"e{k}"] = decision
    return out


# --- the property ----------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(world())
def test_fast_counts_and_lists_equal_brute_force(w):
    con = db.connect(None)
    try:
        ws = Workspace(con)
        ids = []
        for c in w["contacts"]:
            ids.append(ws.contact(c["email"], title=c["title"], country=c["country"],
                                  sf_email_opt_out=c["sf_email_opt_out"], last_contacted_at=c["last_contacted_at"],
                                  job_changed_at=c["job_changed_at"]))
        for r in w["records"]:
            ws.record(r["record_id"], r["crm"], r["website"], crm_id=r["crm_id"], name=r["name"],
                      is_customer=r["is_customer"], industry=r["industry"], employees=r["employees"])
            if r["name"] is None:
                con.execute("UPDATE company_records SET name = NULL WHERE record_id = ?", [r["record_id"]])
        for o in w["opps"]:
            ws.opportunity(o["opportunity_id"], o["record_id"], is_closed=o["is_closed"], is_won=o["is_won"],
                           amount=o["amount"], created_at=o["created_at"])
        for i in w["opt_outs"]:
            ws.opt_out(w["contacts"][i]["email"])
        for k, enr in enumerate(w["enrollments"]):
            ws.enrollment(ids[enr["contact"]], enr["sequence"], state=enr["state"],
                          current_step=1 if enr["state"] == "active" else 0, enrollment_id=f"e{k}")
        ws.save(w["document"])
        saved = settings_mod.parse_settings(w["document"])
        toggled = levels.with_toggles(saved, w["toggles"])
        expected = oracle(w, saved, toggled, NOW)

        ev = engine.evaluation(con)
        for play in toggled.plays:
            want = expected["plays"][play.id]
            imp = engine.impact(ev, play.id, w["toggles"])

            def listed(bucket, **kw):
                out = engine.drilldown(con, ev, play.id, bucket, toggles=w["toggles"], limit=100, **kw)  # noqa: B023
                assert out["total"] == len(out["rows"])
                return [r["email"] for r in out["rows"]]

            for bucket, emails in want["lists"].items():
                assert imp[bucket] == len(emails), bucket
                assert listed(bucket) == sorted(emails), bucket
            for node in imp["nodes"]:
                for bucket in ("not_enrolled", "enrolled"):
                    emails = want["nodes"][node["id"]][bucket]
                    assert node[bucket] == len(emails), (node["id"], bucket)
                    assert listed(bucket, node_id=node["id"]) == sorted(emails)
            for x in imp["exclusions"]:
                for bucket in engine.EXCLUSION_KEYS:
                    emails = want["exclusions"][x["id"]][bucket]
                    assert x[bucket] == len(emails), (x["id"], bucket)
                    assert listed(bucket, exclusion_id=x["id"]) == sorted(emails), (x["id"], bucket)
        if w["enrollments"]:
            df = engine.send_decisions(con, ev)
            assert dict(zip(df["enrollment_id"], df["decision"], strict=True)) == expected["send"]
    finally:
        con.close()
