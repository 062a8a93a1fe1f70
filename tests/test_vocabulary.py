"""The rule vocabulary: SQL (with parameters), who matches, validation, English."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.engine_factory import NOW, Workspace
from unify_dash.model import vocabulary as v

AS_OF = dt.datetime(2026, 11, 26, 9, 0)
T = "lower(trim(c.title))"
OPP = "coalesce(d.open_opportunities, 0)"


def rec(test: str, every: bool = False) -> str:
    """A record leaf: over the records of the contact's domain, or of its company key (associations)."""
    t = f"NOT {test}" if every else test
    any_rec = (f"CASE WHEN c.company_key IS NULL THEN EXISTS (SELECT 1 FROM company_records r "
               f"WHERE r.domain = c.domain AND {t}) ELSE EXISTS (SELECT 1 FROM company_members m "
               f"JOIN company_records r ON r.record_id = m.record_id WHERE m.company_key = c.company_key "
               f"AND {t}) END")
    return f"(NOT coalesce({any_rec}, false))" if every else f"coalesce({any_rec}, false)"


# (condition, expected SQL, expected parameters): every operator, on every type it applies to
SQL_CASES = [
    ({"field": "title", "op": "equals", "value": " VP Sales "}, f"coalesce({T} = ?, false)", ["vp sales"]),
    ({"field": "title", "op": "not_equals", "value": "CEO"}, f"(NOT coalesce({T} = ?, false))", ["ceo"]),
    ({"field": "title", "op": "in", "value": ["CEO", "CFO"]}, f"coalesce(list_contains(?, {T}), false)",
     [["ceo", "cfo"]]),
    ({"field": "title", "op": "not_in", "value": ["CEO"]}, f"(NOT coalesce(list_contains(?, {T}), false))", [["ceo"]]),
    ({"field": "title", "op": "contains", "value": "VP"}, f"coalesce(contains({T}, ?), false)", ["vp"]),
    ({"field": "title", "op": "not_contains", "value": "VP"}, f"(NOT coalesce(contains({T}, ?), false))", ["vp"]),
    ({"field": "title", "op": "starts_with", "value": "VP"}, f"coalesce(starts_with({T}, ?), false)", ["vp"]),
    ({"field": "title", "op": "ends_with", "value": "er"}, f"coalesce(ends_with({T}, ?), false)", ["er"]),
    ({"field": "title", "op": "is_empty"}, f"coalesce(coalesce({T}, '') = '', false)", []),
    ({"field": "title", "op": "is_not_empty"}, f"(NOT coalesce(coalesce({T}, '') = '', false))", []),
    ({"field": "email", "op": "not_equals", "value": " Dana@Acme.COM "},
     "(NOT coalesce(c.email = ?, false))", ["dana@acme.com"]),  # emails are stored trimmed, lower case
    ({"field": "company_domain", "op": "in", "value": ["Acme.com "]}, "coalesce(list_contains(?, c.domain), false)",
     [["acme.com"]]),
    ({"field": "open_opportunities", "op": "equals", "value": 2}, f"coalesce({OPP} = ?, false)", [2.0]),
    ({"field": "open_opportunities", "op": "not_equals", "value": 2}, f"(NOT coalesce({OPP} = ?, false))", [2.0]),
    ({"field": "open_opportunities", "op": "in", "value": [0, 5]}, f"coalesce(list_contains(?, {OPP}), false)",
     [[0.0, 5.0]]),
    ({"field": "open_opportunities", "op": "not_in", "value": [0]},
     f"(NOT coalesce(list_contains(?, {OPP}), false))", [[0.0]]),
    ({"field": "open_opportunities", "op": "gt", "value": 0}, f"coalesce({OPP} > ?, false)", [0.0]),
    ({"field": "open_opportunities", "op": "gte", "value": 1}, f"coalesce({OPP} >= ?, false)", [1.0]),
    ({"field": "open_opportunities", "op": "lt", "value": 1}, f"coalesce({OPP} < ?, false)", [1.0]),
    ({"field": "open_opportunities", "op": "lte", "value": 0.5}, f"coalesce({OPP} <= ?, false)", [0.5]),
    ({"field": "open_opportunities", "op": "is_empty"}, f"coalesce({OPP} IS NULL, false)", []),
    ({"field": "open_opportunities", "op": "is_not_empty"}, f"(NOT coalesce({OPP} IS NULL, false))", []),
    ({"field": "last_contacted_at", "op": "within_last_days", "value": 30},
     "coalesce(c.last_contacted_at >= ?, false)", [AS_OF - dt.timedelta(days=30)]),
    ({"field": "last_contacted_at", "op": "more_than_days_ago", "value": 1.5},
     "coalesce(c.last_contacted_at < ?, false)", [AS_OF - dt.timedelta(days=1.5)]),
    ({"field": "last_contacted_at", "op": "is_empty"}, "coalesce(c.last_contacted_at IS NULL, false)", []),
    ({"field": "last_contacted_at", "op": "is_not_empty"}, "(NOT coalesce(c.last_contacted_at IS NULL, false))", []),
    ({"field": "is_free_mail", "op": "is_true"}, "coalesce(c.is_free_mail, false)", []),
    ({"field": "is_free_mail", "op": "is_false"}, "(NOT coalesce(c.is_free_mail, false))", []),
    ({"field": "is_customer", "op": "is_true"}, "coalesce(coalesce(d.is_customer, false), false)", []),
    ({"field": "industry", "op": "equals", "value": "Banking"},
     rec("coalesce(lower(trim(r.industry)) = ?, false)"), ["banking", "banking"]),
    ({"field": "industry", "op": "not_equals", "value": "Banking"},
     "(NOT " + rec("coalesce(lower(trim(r.industry)) = ?, false)") + ")", ["banking", "banking"]),
    ({"field": "employees", "op": "gt", "value": 100}, rec("coalesce(r.employees > ?, false)"), [100.0, 100.0]),
    ({"field": "employees", "op": "is_empty"}, rec("coalesce(r.employees IS NULL, false)", every=True), []),
    ({"all": [{"field": "title", "op": "contains", "value": "vp"}, {"not": {"field": "country", "op": "equals",
                                                                           "value": "US"}}]},
     f"(coalesce(contains({T}, ?), false) AND (NOT coalesce(lower(trim(c.country)) = ?, false)))", ["vp", "us"]),
    ({"any": [{"field": "is_customer", "op": "is_true"}, {"field": "open_opportunities", "op": "gt", "value": 0}]},
     f"(coalesce(coalesce(d.is_customer, false), false) OR coalesce({OPP} > ?, false))", [0.0]),
]


@pytest.mark.parametrize("cond,sql,params", SQL_CASES, ids=[str(c) for c, _, _ in SQL_CASES])
def test_compile_sql(cond, sql, params):
    v.validate(cond)
    assert v.compile_sql(cond, AS_OF) == (sql, params)


def test_every_operator_is_in_the_sql_table():
    used = {(v.FIELDS[c["field"]].type, c["op"]) for c, _, _ in SQL_CASES if "field" in c}
    text = {(t, o.name) for o in v.OPERATORS.values() for t in o.types if t == v.STRING}
    number = {(t, o.name) for o in v.OPERATORS.values() for t in o.types if t == v.NUMBER}
    for t, op in text | number:
        assert (t, op) in used
    assert {o for _, o in used} == set(v.OPERATORS)


@pytest.fixture
def people(con):
    ws = Workspace(con)
    ws.contact("a@acme.com", title=" VP Sales ", country="US", sf_email_opt_out=True,
               last_contacted_at=NOW - dt.timedelta(days=2))
    ws.contact("b@acme.com", title="Engineer", country="fr", last_contacted_at=NOW - dt.timedelta(days=100))
    ws.contact("c@gmail.com")
    ws.contact("d@beta.io", title="O'Brien; DROP TABLE contacts;--", country="",
               job_changed_at=NOW - dt.timedelta(days=5))
    ws.contact("e@beta.io", title="", country="DE")
    ws.contact("f@delta.net", title="100%_sure", country="US")
    ws.record("sf:1", "salesforce", "acme.com", name="Acme Inc", industry="Banking", employees=500, is_customer=True)
    ws.record("hs:2", "hubspot", "www.acme.com", name="ACME (HubSpot)")
    ws.record("sf:3", "salesforce", "beta.io", name="Beta", industry="Software", employees=20)
    ws.opportunity("sf:o1", "sf:1", amount=1000, created_at=NOW - dt.timedelta(days=10))
    ws.opportunity("hs:o2", "hs:2", created_at=NOW - dt.timedelta(days=10))
    ws.opportunity("sf:o3", "sf:1", is_closed=True, is_won=True, amount=5000, created_at=NOW - dt.timedelta(days=10))
    ws.opportunity("sf:o4", "sf:3", is_closed=True, created_at=NOW - dt.timedelta(days=400))
    # what a CRM export load sets (io/exports.py, io/normalise.py)
    con.execute("UPDATE contacts SET email_bounced = (email = 'b@acme.com'), country_code = CASE lower(country) "
                "WHEN 'us' THEN 'US' WHEN 'fr' THEN 'FR' WHEN 'de' THEN 'DE' END")
    con.execute(v.DOMAIN_STATS_SQL)
    return con


ALL = "abcdef"
# (condition, the letters of the contacts that match)
MATCH_CASES = [
    ({"field": "email_bounced", "op": "is_true"}, "b"),
    ({"field": "country_code", "op": "equals", "value": "us"}, "af"),
    ({"field": "title", "op": "equals", "value": "vp sales"}, "a"),
    ({"field": "title", "op": "equals", "value": "  VP SALES "}, "a"),
    ({"field": "title", "op": "not_equals", "value": "engineer"}, "acdef"),  # NULL and '' count as "is not"
    ({"field": "title", "op": "in", "value": ["Engineer", "vp sales"]}, "ab"),
    ({"field": "title", "op": "not_in", "value": ["engineer"]}, "acdef"),
    ({"field": "title", "op": "contains", "value": "sales"}, "a"),
    ({"field": "title", "op": "not_contains", "value": "sales"}, "bcdef"),
    ({"field": "title", "op": "starts_with", "value": "vp"}, "a"),
    ({"field": "title", "op": "ends_with", "value": "EER"}, "b"),
    ({"field": "title", "op": "is_empty"}, "ce"),
    ({"field": "title", "op": "is_not_empty"}, "abdf"),
    # values with quotes, semicolons, SQL and LIKE wildcards match literally
    ({"field": "title", "op": "equals", "value": "O'Brien; DROP TABLE contacts;--"}, "d"),
    ({"field": "title", "op": "contains", "value": "; drop table"}, "d"),
    ({"field": "title", "op": "contains", "value": "%_"}, "f"),
    ({"field": "title", "op": "starts_with", "value": "100%"}, "f"),
    ({"field": "title", "op": "equals", "value": "%"}, ""),
    ({"field": "title", "op": "contains", "value": "' OR '1'='1"}, ""),
    ({"field": "email", "op": "equals", "value": " A@ACME.COM "}, "a"),
    ({"field": "email", "op": "not_equals", "value": "a@acme.com"}, "bcdef"),
    ({"field": "email", "op": "ends_with", "value": "@beta.io"}, "de"),
    ({"field": "email_domain", "op": "equals", "value": "gmail.com"}, "c"),
    ({"field": "company_domain", "op": "equals", "value": "acme.com"}, "ab"),
    ({"field": "company_domain", "op": "is_empty"}, "c"),
    ({"field": "country", "op": "in", "value": ["us", "FR"]}, "abf"),
    ({"field": "country", "op": "is_empty"}, "cd"),
    ({"field": "is_free_mail", "op": "is_true"}, "c"),
    ({"field": "is_free_mail", "op": "is_false"}, "abdef"),
    ({"field": "sf_email_opt_out", "op": "is_true"}, "a"),
    ({"field": "hs_opt_out", "op": "is_false"}, ALL),
    ({"field": "open_opportunities", "op": "gt", "value": 0}, "ab"),  # one open in each CRM, two records
    ({"field": "open_opportunities", "op": "gte", "value": 2}, "ab"),
    ({"field": "open_opportunities", "op": "lt", "value": 1}, "cdef"),
    ({"field": "open_opportunities", "op": "lte", "value": 0}, "cdef"),
    ({"field": "open_opportunities", "op": "equals", "value": 2}, "ab"),
    ({"field": "open_opportunities", "op": "not_equals", "value": 2}, "cdef"),
    ({"field": "open_opportunities", "op": "in", "value": [0, 5]}, "cdef"),
    ({"field": "open_opportunities", "op": "not_in", "value": [0]}, "ab"),
    ({"field": "open_opportunities", "op": "is_empty"}, ""),
    ({"field": "open_opportunities", "op": "is_not_empty"}, ALL),
    ({"field": "open_opportunities_salesforce", "op": "equals", "value": 1}, "ab"),
    ({"field": "open_deals_hubspot", "op": "gte", "value": 1}, "ab"),
    ({"field": "open_pipeline_amount", "op": "gt", "value": 500}, "ab"),
    ({"field": "open_pipeline_amount", "op": "gt", "value": 1000}, ""),  # the won 5000 is not open
    ({"field": "won_opportunities", "op": "equals", "value": 1}, "ab"),
    ({"field": "company_records", "op": "gte", "value": 2}, "ab"),
    ({"field": "company_records", "op": "equals", "value": 1}, "de"),
    ({"field": "is_customer", "op": "is_true"}, "ab"),
    ({"field": "is_customer", "op": "is_false"}, "cdef"),
    ({"field": "last_opportunity_created_at", "op": "within_last_days", "value": 30}, "ab"),
    ({"field": "last_opportunity_created_at", "op": "more_than_days_ago", "value": 365}, "de"),
    ({"field": "last_opportunity_created_at", "op": "is_empty"}, "cf"),
    ({"field": "last_contacted_at", "op": "within_last_days", "value": 7}, "a"),
    ({"field": "last_contacted_at", "op": "more_than_days_ago", "value": 30}, "b"),
    ({"field": "last_contacted_at", "op": "is_empty"}, "cdef"),
    ({"field": "last_contacted_at", "op": "is_not_empty"}, "ab"),
    ({"field": "job_changed_at", "op": "within_last_days", "value": 10}, "d"),
    ({"field": "industry", "op": "equals", "value": "banking"}, "ab"),
    ({"field": "industry", "op": "not_equals", "value": "Banking"}, "cdef"),  # no record of the domain is
    ({"field": "industry", "op": "in", "value": ["software"]}, "de"),
    ({"field": "industry", "op": "not_in", "value": ["software", "banking"]}, "cf"),
    ({"field": "industry", "op": "contains", "value": "SOFT"}, "de"),
    ({"field": "industry", "op": "not_contains", "value": "soft"}, "abcf"),
    ({"field": "industry", "op": "starts_with", "value": "bank"}, "ab"),
    ({"field": "industry", "op": "ends_with", "value": "ware"}, "de"),
    ({"field": "industry", "op": "is_empty"}, "cf"),  # every record of the domain (none at all) is empty
    ({"field": "industry", "op": "is_not_empty"}, "abde"),
    ({"field": "employees", "op": "gt", "value": 100}, "ab"),
    ({"field": "employees", "op": "lt", "value": 100}, "de"),
    ({"field": "employees", "op": "is_empty"}, "cf"),
    ({"field": "company_name", "op": "starts_with", "value": "acme"}, "ab"),
    ({"field": "company_name", "op": "ends_with", "value": "(hubspot)"}, "ab"),
    ({"all": [{"field": "open_opportunities", "op": "gt", "value": 0},
              {"not": {"field": "title", "op": "contains", "value": "vp"}}]}, "b"),
    ({"any": [{"field": "is_free_mail", "op": "is_true"}, {"field": "country", "op": "equals", "value": "de"}]}, "ce"),
]


@pytest.mark.parametrize("cond,letters", MATCH_CASES, ids=[str(c) for c, _ in MATCH_CASES])
def test_who_matches(people, cond, letters):
    v.validate(cond)
    sql, params = v.compile_sql(cond, NOW)
    got = people.execute(f"SELECT c.email FROM {v.BASE_FROM} WHERE {sql} ORDER BY c.email", params).fetchall()
    assert "".join(e[0] for (e,) in got) == letters
    assert people.execute("SELECT count(*) FROM contacts").fetchone()[0] == 6  # nothing was executed from a value


def test_every_field_and_operator_is_exercised():
    fields = {c["field"] for c, _ in MATCH_CASES for _p, c in v.leaves(c)}
    ops = {c["op"] for c, _ in MATCH_CASES for _p, c in v.leaves(c)}
    assert set(v.FIELDS) - fields <= {"first_name", "last_name", "sf_do_not_email"}
    assert ops == set(v.OPERATORS)


@pytest.mark.parametrize("cond,letters", [
    ({"field": "industry", "op": "equals", "value": "banking"}, ["sf:1"]),
    ({"field": "industry", "op": "not_equals", "value": "banking"}, ["sf:1"]),  # the records that *are*
    ({"field": "employees", "op": "is_empty"}, ["hs:2"]),
])
def test_record_match_sql_names_the_records(people, cond, letters):
    sql, params = v.record_match_sql(cond, NOW)
    got = people.execute(f"SELECT record_id FROM company_records r WHERE r.domain = 'acme.com' AND {sql} "
                         "ORDER BY record_id", params).fetchall()
    assert [r for (r,) in got] == letters
    with pytest.raises(ValueError):
        v.record_match_sql({"field": "title", "op": "is_empty"}, NOW)


def test_domain_stats_in_any_table(people):
    people.execute(v.domain_stats_sql('"my_stats"'))
    rows = people.execute("SELECT domain, open_opportunities, is_customer, company_records FROM my_stats "
                          "ORDER BY domain").fetchall()
    assert rows == [("acme.com", 2, True, 2), ("beta.io", 0, False, 1)]
    assert v.base_from('"my_stats"') == ('contacts c LEFT JOIN "my_stats" d '
                                         'ON d.domain = coalesce(c.company_key, c.domain)')


# (condition, error path, message fragment)
INVALID = [
    ("title", "criteria", "expected a condition"),
    ({"field": "nope", "op": "equals", "value": "x"}, "criteria.field", "unknown field 'nope'"),
    ({"field": ["title"], "op": "equals", "value": "x"}, "criteria.field", "unknown field"),
    ({"field": "title", "op": "nope", "value": "x"}, "criteria.op", "unknown operator 'nope'"),
    ({"field": "title", "op": {"x": 1}, "value": "x"}, "criteria.op", "unknown operator"),
    ({"field": "title", "op": "gt", "value": 1}, "criteria.op", "does not apply to string field 'title'"),
    ({"field": "is_customer", "op": "equals", "value": "x"}, "criteria.op", "does not apply to bool"),
    ({"field": "title", "op": "equals"}, "criteria.value", "expects non-empty text"),
    ({"field": "title", "op": "equals", "value": "  "}, "criteria.value", "expects non-empty text"),
    ({"field": "title", "op": "equals", "value": 3}, "criteria.value", "expects non-empty text"),
    ({"field": "open_opportunities", "op": "gt", "value": "1"}, "criteria.value", "is a number"),
    ({"field": "open_opportunities", "op": "gt", "value": True}, "criteria.value", "is a number"),
    ({"field": "title", "op": "in", "value": "ceo"}, "criteria.value", "expects a non-empty list"),
    ({"field": "title", "op": "in", "value": []}, "criteria.value", "expects a non-empty list"),
    ({"field": "open_opportunities", "op": "in", "value": [1, "2"]}, "criteria.value", "is a number"),
    ({"field": "last_contacted_at", "op": "within_last_days", "value": -1}, "criteria.value", "days >= 0"),
    ({"field": "last_contacted_at", "op": "within_last_days", "value": "30"}, "criteria.value", "days >= 0"),
    ({"field": "title", "op": "is_empty", "value": "x"}, "criteria.value", "takes no value"),
    ({"field": "title", "op": "is_empty", "extra": 1}, "criteria", "unknown key"),
    ({"all": []}, "criteria", "non-empty list"),
    ({"any": {"field": "title"}}, "criteria", "non-empty list"),
    ({"all": [{"field": "title", "op": "is_empty"}], "op": "x"}, "criteria", "no other keys"),
    ({"all": [{"field": "title", "op": "is_empty"}, {"not": {"field": "x", "op": "is_empty"}}]},
     "criteria.all[1].not.field", "unknown field 'x'"),
]


@pytest.mark.parametrize("cond,path,message", INVALID, ids=[str(c) for c, _, _ in INVALID])
def test_validation_errors(cond, path, message):
    with pytest.raises(v.RuleError) as err:
        v.validate(cond)
    assert err.value.path == path
    assert message in err.value.message


DESCRIBE = [
    ({"field": "title", "op": "contains", "value": "VP"}, "Title contains 'VP'"),
    ({"field": "open_opportunities", "op": "gt", "value": 0}, "Open opportunities (all CRMs) is greater than 0"),
    ({"field": "open_pipeline_amount", "op": "gte", "value": 2500.5}, "Open pipeline amount is at least 2500.5"),
    ({"field": "last_contacted_at", "op": "within_last_days", "value": 30},
     "Last contacted is within the last 30 days"),
    ({"field": "job_changed_at", "op": "more_than_days_ago", "value": 1.5}, "Job change detected is more than 1.5 days ago"),
    ({"field": "country", "op": "in", "value": ["US", "FR"]}, "Country is one of ['US', 'FR']"),
    ({"field": "country", "op": "not_in", "value": ["US"]}, "Country is none of ['US']"),
    ({"field": "is_customer", "op": "is_true"}, "Is customer is true"),
    ({"field": "title", "op": "is_empty"}, "Title is empty"),
    ({"field": "industry", "op": "equals", "value": "Banking"}, "Any company record's industry is 'Banking'"),
    (v.email_is_not("  Dana@Acme.com "), "Email is not 'dana@acme.com'"),
    ({"all": [{"field": "open_opportunities", "op": "gt", "value": 0},
              {"not": {"field": "title", "op": "contains", "value": "CEO"}}]},
     "Open opportunities (all CRMs) is greater than 0 and not (Title contains 'CEO')"),
    ({"any": [{"field": "is_free_mail", "op": "is_true"},
              {"all": [{"field": "country", "op": "equals", "value": "US"},
                       {"field": "title", "op": "starts_with", "value": "VP"}]}]},
     "Personal email domain is true or (Country is 'US' and Title starts with 'VP')"),
    ({"all": [{"field": "title", "op": "equals", "value": "O'Brien"}]}, "Title is \"O'Brien\""),
]


@pytest.mark.parametrize("cond,text", DESCRIBE, ids=[t for _, t in DESCRIBE])
def test_describe(cond, text):
    assert v.describe(cond) == text


def test_leaves_and_evaluate_tree():
    cond = {"all": [{"field": "title", "op": "is_empty"},
                    {"any": [{"not": {"field": "country", "op": "is_empty"}}, {"field": "is_customer", "op": "is_true"}]}]}
    paths = [p for p, _ in v.leaves(cond)]
    assert paths == ["all[0]", "all[1].any[0].not", "all[1].any[1]"]
    assert v.evaluate_tree(cond, {"all[0]": True, "all[1].any[0].not": False, "all[1].any[1]": False}) is True
    assert v.evaluate_tree(cond, {"all[0]": True, "all[1].any[0].not": True, "all[1].any[1]": False}) is False
    assert v.leaves({"field": "title", "op": "is_empty"}) == [("leaf", {"field": "title", "op": "is_empty"})]


def test_export_vocabulary_lists_every_field_and_operator():
    data = v.export_vocabulary()
    assert [f["name"] for f in data["fields"]] == list(v.FIELDS)
    assert [o["name"] for o in data["operators"]] == list(v.OPERATORS)
    title = next(f for f in data["fields"] if f["name"] == "title")
    assert "contains" in title["operators"] and "gt" not in title["operators"]
    assert data["combinators"] == ["all", "any", "not"]
