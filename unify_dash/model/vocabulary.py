"""The rule vocabulary, declared once.

Fields, operators and combinators of exclusion criteria and filters. This one
declaration drives:

* the SQL compiler (:func:`compile_sql`): values are parameters, identifiers
  come only from the :data:`FIELDS` table below;
* the English explanation (:func:`describe`, :func:`describe_match`);
* validation of loaded rules (:func:`validate`);
* the rule editor's pickers (:func:`export_vocabulary`);
* the README's table (``tests/test_docs.py`` fails when a field or operator is
  missing there).

A condition is JSON-like data::

    {"field": "open_opportunities", "op": "gt", "value": 0}
    {"all": [cond, ...]}   {"any": [cond, ...]}   {"not": cond}

Criteria are evaluated per contact over ``contacts c LEFT JOIN domain_stats d
ON d.domain = coalesce(c.company_key, c.domain)``. ``company`` fields are aggregates
over the contact's company records, in every connected CRM: every record sharing
its domain and every record it is associated with (:mod:`unify_dash.store.companies`);
``record`` fields match when *any* of those records matches.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
from dataclasses import dataclass
from typing import Any

from unify_dash.model import evidence as ev

# --- fields ----------------------------------------------------------------------------------------

STRING, EMAIL, NUMBER, BOOL, DATE = "string", "email", "number", "bool", "date"


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    type: str
    entity: str  # "contact" | "company" | "record"
    sql: str  # expression over c (contacts), d (domain_stats) or r (company_records)
    description: str
    # stored trimmed and lower case (emails and domains, see docs/engine.md): compared as they are,
    # which saves a lower(trim()) of a million distinct strings per condition
    normalized: bool = False
    # how the Exclusion tab explains a match on this field (unify_dash.model.evidence)
    evidence: ev.Evidence = ev.CONTACT_VALUE


FIELDS: dict[str, Field] = {
    f.name: f
    for f in [
        Field("email", "Email", EMAIL, "contact", "c.email", "The contact's email address (trimmed, case-insensitive).",
              normalized=True),
        Field("email_domain", "Email domain", STRING, "contact", "c.email_domain", "The part of the email after @.",
              normalized=True),
        Field("is_free_mail", "Personal email domain", BOOL, "contact", "c.is_free_mail",
              "The email is at a free-mail provider (gmail.com, outlook.com, ...)."),
        Field("first_name", "First name", STRING, "contact", "c.first_name", "The contact's first name."),
        Field("last_name", "Last name", STRING, "contact", "c.last_name", "The contact's last name."),
        Field("title", "Title", STRING, "contact", "c.title", "The contact's job title."),
        Field("country", "Country", STRING, "contact", "c.country", "The contact's country."),
        Field("sf_email_opt_out", "Salesforce Email Opt Out", BOOL, "contact", "c.sf_email_opt_out",
              "Salesforce standard field HasOptedOutOfEmail on the Contact or Lead."),
        Field("sf_do_not_email", "Salesforce Do Not Email", BOOL, "contact", "c.sf_do_not_email",
              "The custom Salesforce 'Do Not Email' field named by the CRM mapping."),
        Field("hs_opt_out", "HubSpot unsubscribed from all email", BOOL, "contact", "c.hs_opt_out",
              "HubSpot's 'Unsubscribed from all email' property."),
        Field("email_bounced", "Email bounced", BOOL, "contact", "c.email_bounced",
              "The CRM marks the address as bouncing: Salesforce IsEmailBounced, HubSpot hard bounce reason, "
              "quarantined or invalid address."),
        Field("country_code", "Country code", STRING, "contact", "c.country_code",
              "The contact's country as an ISO 3166 alpha-2 code (US, DE, ...), from any way of writing it."),
        Field("last_contacted_at", "Last contacted", DATE, "contact", "c.last_contacted_at",
              "When the contact was last emailed or called."),
        Field("job_changed_at", "Job change detected", DATE, "contact", "c.job_changed_at",
              "When a job change was detected for the contact."),
        Field("company_domain", "Company domain", STRING, "contact", "c.domain",
              "The company domain (account website, or a non-free-mail email domain).", normalized=True),
        Field("open_opportunities", "Open opportunities (all CRMs)", NUMBER, "company",
              "coalesce(d.open_opportunities, 0)",
              "Open Salesforce opportunities plus open HubSpot deals on every company record of the domain.",
              evidence=ev.Opportunities("open")),
        Field("open_opportunities_salesforce", "Open Salesforce opportunities", NUMBER, "company",
              "coalesce(d.open_opportunities_salesforce, 0)",
              "Open Salesforce opportunities on every Salesforce account of the domain.",
              evidence=ev.Opportunities("open", "salesforce")),
        Field("open_deals_hubspot", "Open HubSpot deals", NUMBER, "company", "coalesce(d.open_deals_hubspot, 0)",
              "Open HubSpot deals on every HubSpot company of the domain.", evidence=ev.Opportunities("open", "hubspot")),
        Field("open_pipeline_amount", "Open pipeline amount", NUMBER, "company",
              "coalesce(d.open_pipeline_amount, 0)", "Sum of the amounts of open opportunities and deals.",
              evidence=ev.Opportunities("open")),
        Field("won_opportunities", "Won opportunities", NUMBER, "company", "coalesce(d.won_opportunities, 0)",
              "Closed-won opportunities and deals on every record of the domain.", evidence=ev.Opportunities("won")),
        Field("last_opportunity_created_at", "Latest opportunity created", DATE, "company",
              "d.last_opportunity_created_at", "When the newest opportunity or deal of the domain was created.",
              evidence=ev.Opportunities("latest")),
        Field("is_customer", "Is customer", BOOL, "company", "coalesce(d.is_customer, false)",
              "Any company record of the domain is marked as a customer.", evidence=ev.Customers()),
        Field("company_records", "Company records", NUMBER, "company", "coalesce(d.company_records, 0)",
              "How many CRM company records share the domain.", evidence=ev.RecordList()),
        Field("company_name", "Company name", STRING, "record", "r.name",
              "The name of any company record of the domain.", evidence=ev.RecordValue("name")),
        Field("industry", "Industry", STRING, "record", "r.industry", "The industry of any company record of the domain.",
              evidence=ev.RecordValue("industry")),
        Field("employees", "Employees", NUMBER, "record", "r.employees",
              "The employee count of any company record of the domain.",
              evidence=ev.RecordValue("employees")),
    ]
}

# SQL that builds the company aggregates the ``company`` fields read: one row per domain (over the records
# of the domain) and one per company key (over its members: the domain's records and the records its
# contacts are associated with outside the domain, see unify_dash.store.companies). ``domain`` is the key.
_DOMAIN_STATS_SELECT = """
WITH members AS (
    SELECT domain AS k, record_id FROM company_records WHERE domain IS NOT NULL
    UNION ALL
    SELECT company_key, record_id FROM company_members
), rec AS (
    SELECT m.k AS domain, bool_or(r.is_customer) AS is_customer, count(*) AS company_records
    FROM members m JOIN company_records r ON r.record_id = m.record_id GROUP BY m.k
), opp AS (
    SELECT m.k AS domain,
           count(*) FILTER (WHERE NOT o.is_closed) AS open_opportunities,
           count(*) FILTER (WHERE NOT o.is_closed AND o.crm = 'salesforce') AS open_opportunities_salesforce,
           count(*) FILTER (WHERE NOT o.is_closed AND o.crm = 'hubspot') AS open_deals_hubspot,
           coalesce(sum(o.amount) FILTER (WHERE NOT o.is_closed), 0) AS open_pipeline_amount,
           count(*) FILTER (WHERE o.is_won) AS won_opportunities,
           max(o.created_at) AS last_opportunity_created_at
    FROM members m JOIN opportunities o ON o.record_id = m.record_id
    GROUP BY m.k
)
SELECT rec.domain, rec.is_customer, rec.company_records,
       coalesce(opp.open_opportunities, 0) AS open_opportunities,
       coalesce(opp.open_opportunities_salesforce, 0) AS open_opportunities_salesforce,
       coalesce(opp.open_deals_hubspot, 0) AS open_deals_hubspot,
       coalesce(opp.open_pipeline_amount, 0) AS open_pipeline_amount,
       coalesce(opp.won_opportunities, 0) AS won_opportunities,
       opp.last_opportunity_created_at
FROM rec LEFT JOIN opp USING (domain)
ORDER BY domain
"""


def domain_stats_sql(table: str = "domain_stats") -> str:
    """``CREATE OR REPLACE TABLE <table>`` with the per-domain aggregates. ``table`` is an identifier
    from code (the engine keeps one per evaluation), already quoted."""
    return f"CREATE OR REPLACE TABLE {table} AS\n{_DOMAIN_STATS_SELECT}"


DOMAIN_STATS_SQL = domain_stats_sql("domain_stats")


def base_from(stats_table: str = "domain_stats") -> str:
    """The relation criteria are evaluated over: contacts ``c`` and their company's aggregates ``d`` (the
    domain's, or the company key's when the contact is associated with records outside its domain)."""
    return f"contacts c LEFT JOIN {stats_table} d ON d.domain = coalesce(c.company_key, c.domain)"


BASE_FROM = base_from()

# --- operators -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operator:
    name: str
    label: str  # English, as in "Title contains 'VP'"
    types: tuple[str, ...]
    value: str  # "none" | "scalar" | "list" | "days"
    negative: bool  # true when NULL / no value counts as a match ("is not ...")
    template: str  # SQL with {x} for the field expression and ? for the value
    text_template: str | None = None  # the template for text fields, where it differs ('' is empty too)
    # over a domain's company records: "any" record satisfies the positive test, or "all" records do
    # (emptiness: no record of the domain has a value)
    over_records: str = "any"


_TEXT = (STRING, EMAIL)
OPERATORS: dict[str, Operator] = {
    o.name: o
    for o in [
        Operator("equals", "is", (*_TEXT, NUMBER), "scalar", False, "{x} = ?"),
        Operator("not_equals", "is not", (*_TEXT, NUMBER), "scalar", True, "{x} = ?"),
        Operator("in", "is one of", (*_TEXT, NUMBER), "list", False, "list_contains(?, {x})"),
        Operator("not_in", "is none of", (*_TEXT, NUMBER), "list", True, "list_contains(?, {x})"),
        Operator("contains", "contains", _TEXT, "scalar", False, "contains({x}, ?)"),
        Operator("not_contains", "does not contain", _TEXT, "scalar", True, "contains({x}, ?)"),
        Operator("starts_with", "starts with", _TEXT, "scalar", False, "starts_with({x}, ?)"),
        Operator("ends_with", "ends with", _TEXT, "scalar", False, "ends_with({x}, ?)"),
        Operator("gt", "is greater than", (NUMBER,), "scalar", False, "{x} > ?"),
        Operator("gte", "is at least", (NUMBER,), "scalar", False, "{x} >= ?"),
        Operator("lt", "is less than", (NUMBER,), "scalar", False, "{x} < ?"),
        Operator("lte", "is at most", (NUMBER,), "scalar", False, "{x} <= ?"),
        Operator("is_empty", "is empty", (*_TEXT, NUMBER, DATE), "none", False, "{x} IS NULL",
                 text_template="coalesce({x}, '') = ''", over_records="all"),
        Operator("is_not_empty", "is not empty", (*_TEXT, NUMBER, DATE), "none", True, "{x} IS NULL",
                 text_template="coalesce({x}, '') = ''", over_records="all"),
        Operator("within_last_days", "is within the last N days", (DATE,), "days", False, "{x} >= ?"),
        Operator("more_than_days_ago", "is more than N days ago", (DATE,), "days", False, "{x} < ?"),
        Operator("is_true", "is true", (BOOL,), "none", False, "{x}"),
        Operator("is_false", "is false", (BOOL,), "none", True, "{x}"),
    ]
}

COMBINATORS = ("all", "any", "not")


# --- validation ------------------------------------------------------------------------------------


class RuleError(ValueError):
    """A condition that does not fit the vocabulary. ``path`` says where in the rule."""

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


# Bounds of rule values (docs/settings.md): beyond them a value is a typo or an attack, and dates
# computed from it overflow.
MAX_RULE_DEPTH = 20  # nested all/any/not blocks
MAX_DAYS = 36_500  # within_last_days / more_than_days_ago: 100 years
MAX_NUMBER = 1e15  # magnitude of a number compared with a number field (exact in a double)
MAX_LIST_VALUES = 10_000  # values of one in / not_in
MAX_TEXT_VALUE = 1_000  # characters of one text value
MAX_RULE_PROBLEMS = 20  # problems one rule reports


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite(v: Any) -> bool:
    return _is_number(v) and (isinstance(v, int) or math.isfinite(v))


def _show(value: Any) -> str:
    """A value for a message, never a failure (a 5,000-digit integer cannot be printed)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1:,} digits"
    text = repr(value)
    return text if len(text) <= 80 else text[:75] + "...'"


def _suggest(word: Any, known) -> str:
    """ "; did you mean 'x'?" when ``word`` is close to one of ``known``, else ""."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def validate(cond: Any, path: str = "criteria") -> None:
    """Raise :class:`RuleError` (the first of :func:`problems`) when ``cond`` is not a valid condition."""
    found = problems(cond, path)
    if found:
        raise found[0]


def problems(cond: Any, path: str = "criteria") -> list[RuleError]:
    """Every problem of a condition (at most :data:`MAX_RULE_PROBLEMS`), in document order. Iterative and
    bounded: a condition nested deeper than :data:`MAX_RULE_DEPTH` is one problem, never a RecursionError."""
    out: list[RuleError] = []
    todo: list[tuple[Any, str, int]] = [(cond, path, 0)]
    while todo and len(out) < MAX_RULE_PROBLEMS:
        cond, path, depth = todo.pop()
        if not isinstance(cond, dict):
            out.append(RuleError(path, f"expected a condition (a mapping), got {type(cond).__name__}"))
            continue
        combos = [k for k in COMBINATORS if k in cond]
        if not combos:
            out.extend(_leaf_problems(cond, path))
            continue
        key = combos[0]
        body = cond[key]
        if len(cond) != 1:
            out.append(RuleError(path, f"a '{key}' block must have no other keys, found {sorted(map(str, cond))}"))
        elif depth >= MAX_RULE_DEPTH:
            out.append(RuleError(path, f"all/any/not blocks nested more than {MAX_RULE_DEPTH} levels deep; "
                                       "expected a flatter rule"))
        elif key == "not":
            todo.append((body, f"{path}.not", depth + 1))
        elif not isinstance(body, list) or not body:
            out.append(RuleError(path, f"'{key}' expects a non-empty list of conditions"))
        else:
            todo.extend((sub, f"{path}.{key}[{i}]", depth + 1) for i, sub in reversed(list(enumerate(body))))
    return out


def _leaf_problems(cond: dict, path: str) -> list[RuleError]:
    unknown = sorted(str(k) for k in set(cond) - {"field", "op", "value"})
    if unknown:
        hint = _suggest(unknown[0], ("field", "op", "value", *COMBINATORS))
        return [RuleError(path, f"unknown key(s) {unknown}{hint or ';'} expected field, op, value or all/any/not")]
    name = cond.get("field")
    if not isinstance(name, str) or name not in FIELDS:
        return [RuleError(f"{path}.field", f"unknown field {_show(name)}{_suggest(name, FIELDS)}; "
                                           f"known fields: {', '.join(FIELDS)}")]
    op_name = cond.get("op")
    if not isinstance(op_name, str) or op_name not in OPERATORS:
        return [RuleError(f"{path}.op", f"unknown operator {_show(op_name)}{_suggest(op_name, OPERATORS)}; "
                                        f"known operators: {', '.join(OPERATORS)}")]
    field, op = FIELDS[name], OPERATORS[op_name]
    if field.type not in op.types:
        allowed = [o.name for o in OPERATORS.values() if field.type in o.types]
        return [RuleError(f"{path}.op", f"operator {op_name!r} does not apply to {field.type} field {name!r}; "
                                        f"use one of {', '.join(allowed)}")]
    value = cond.get("value")
    vpath = f"{path}.value"
    if op.value == "none":
        return [RuleError(vpath, f"operator {op_name!r} takes no value")] if value is not None else []
    if op.value == "days":
        if not _finite(value) or not 0 <= value <= MAX_DAYS:
            return [RuleError(vpath, f"operator {op_name!r} expects a number of days >= 0 and <= {MAX_DAYS:,} "
                                     f"(100 years), got {_show(value)}")]
        return []
    if op.value == "list":
        if not isinstance(value, list) or not value:
            return [RuleError(vpath, f"operator {op_name!r} expects a non-empty list, got {_show(value)}")]
        if len(value) > MAX_LIST_VALUES:
            return [RuleError(vpath, f"{len(value):,} values; at most {MAX_LIST_VALUES:,} are allowed")]
        for i, item in enumerate(value):
            bad = _scalar_problem(field, item, vpath)
            if bad:
                return [RuleError(vpath, f"item {i + 1}: {bad.message}")]
        return []
    bad = _scalar_problem(field, value, vpath)
    return [bad] if bad else []


def _scalar_problem(field: Field, value: Any, path: str) -> RuleError | None:
    if field.type == NUMBER:
        if not _is_number(value):
            return RuleError(path, f"field {field.name!r} is a number, got {_show(value)}")
        if not _finite(value) or abs(value) > MAX_NUMBER:
            return RuleError(path, f"field {field.name!r} is a number, got {_show(value)}; expected a finite "
                                   f"number from -{MAX_NUMBER:,.0f} to {MAX_NUMBER:,.0f}")
    elif not isinstance(value, str) or not value.strip():
        return RuleError(path, f"field {field.name!r} expects non-empty text, got {_show(value)}")
    elif len(value) > MAX_TEXT_VALUE:
        return RuleError(path, f"a text value of {len(value):,} characters; at most {MAX_TEXT_VALUE:,} are allowed")
    return None


# --- SQL -------------------------------------------------------------------------------------------


def _norm_value(field: Field, value: Any) -> Any:
    if field.type in _TEXT:
        return str(value).strip().lower()
    return float(value) if field.type == NUMBER else value


def _field_expr(field: Field) -> str:
    if field.type in _TEXT and not field.normalized:
        return f"lower(trim({field.sql}))"
    return field.sql


def _positive_sql(cond: dict, as_of: dt.datetime) -> tuple[Field, Operator, str, list]:
    """The field, the operator, the SQL of the operator's positive test (may be NULL) and its parameters."""
    field, op = FIELDS[cond["field"]], OPERATORS[cond["op"]]
    x = _field_expr(field)
    params: list = []
    if op.value in ("scalar",):
        params.append(_norm_value(field, cond["value"]))
    elif op.value == "list":
        values = [_norm_value(field, v) for v in cond["value"]]
        params.append(values)
    elif op.value == "days":
        params.append(as_of - dt.timedelta(days=float(cond["value"])))
    template = op.text_template if op.text_template and field.type in _TEXT else op.template
    positive = template.format(x=x)
    return field, op, positive, params


def record_match_sql(cond: dict, as_of: dt.datetime) -> tuple[str, list]:
    """For a ``record`` field: SQL over one company record ``r`` that is true when that record satisfies
    the operator's positive test (for "is not X": the record *is* X). Used to name the records that made
    a condition match; the condition itself is :func:`leaf_sql`."""
    field, _op, positive, params = _positive_sql(cond, as_of)
    if field.entity != "record":
        raise ValueError(f"{field.name!r} is not a company-record field")
    return f"coalesce({positive}, false)", params


def leaf_sql(cond: dict, as_of: dt.datetime) -> tuple[str, list]:
    """SQL (a boolean that is never NULL) and parameters for one leaf condition."""
    field, op, positive, params = _positive_sql(cond, as_of)
    if field.entity == "record":
        test = f"coalesce({positive}, false)" if op.over_records != "all" else f"NOT coalesce({positive}, false)"
        # the records of the contact's company: its domain's, or its company key's members
        any_rec = (f"CASE WHEN c.company_key IS NULL THEN EXISTS (SELECT 1 FROM company_records r "
                   f"WHERE r.domain = c.domain AND {test}) ELSE EXISTS (SELECT 1 FROM company_members m "
                   f"JOIN company_records r ON r.record_id = m.record_id WHERE m.company_key = c.company_key "
                   f"AND {test}) END")
        inner = f"coalesce({any_rec}, false)" if op.over_records != "all" else f"(NOT coalesce({any_rec}, false))"
        return (f"(NOT {inner})" if op.negative else inner), params + params  # the test is in both branches
    if op.negative:
        return f"(NOT coalesce({positive}, false))", params
    return f"coalesce({positive}, false)", params


def compile_sql(cond: dict, as_of: dt.datetime) -> tuple[str, list]:
    """Compile a condition to a boolean SQL expression over :data:`BASE_FROM` and its parameters.

    >>> sql, params = compile_sql({"field": "title", "op": "contains", "value": "VP"}, dt.datetime(2026, 1, 1))
    >>> sql, params
    ('coalesce(contains(lower(trim(c.title)), ?), false)', ['vp'])
    """
    if "all" in cond or "any" in cond:
        key = "all" if "all" in cond else "any"
        joiner = " AND " if key == "all" else " OR "
        parts, params = [], []
        for sub in cond[key]:
            s, p = compile_sql(sub, as_of)
            parts.append(s)
            params.extend(p)
        return "(" + joiner.join(parts) + ")", params
    if "not" in cond:
        s, p = compile_sql(cond["not"], as_of)
        return f"(NOT {s})", p
    return leaf_sql(cond, as_of)


def leaves(cond: dict, path: str = "") -> list[tuple[str, dict]]:
    """Every leaf of a condition with a stable path, e.g. ``all[1].any[0]``."""
    for key in ("all", "any"):
        if key in cond:
            out = []
            for i, sub in enumerate(cond[key]):
                out.extend(leaves(sub, f"{path}{key}[{i}]."))
            return out
    if "not" in cond:
        return leaves(cond["not"], f"{path}not.")
    return [(path.rstrip(".") or "leaf", cond)]


def evaluate_tree(cond: dict, leaf_values: dict[str, bool], path: str = "") -> bool:
    """Combine leaf truth values (from the SQL above, keyed by :func:`leaves` paths)."""
    for key, fn in (("all", all), ("any", any)):
        if key in cond:
            return fn(evaluate_tree(sub, leaf_values, f"{path}{key}[{i}].") for i, sub in enumerate(cond[key]))
    if "not" in cond:
        return not evaluate_tree(cond["not"], leaf_values, f"{path}not.")
    return bool(leaf_values[path.rstrip(".") or "leaf"])


# --- English ---------------------------------------------------------------------------------------


def _fmt_value(field: Field, op: Operator, value: Any) -> str:
    if op.value == "none":
        return ""
    if op.value == "days":
        n = int(value) if float(value).is_integer() else value
        return f"{n} days"
    if op.value == "list":
        return "[" + ", ".join(_fmt_scalar(field, v) for v in value) + "]"
    return _fmt_scalar(field, value)


def _fmt_scalar(field: Field, value: Any) -> str:
    if field.type == NUMBER:
        return f"{value:g}" if isinstance(value, float) else str(value)
    return repr(str(value))


def describe(cond: dict) -> str:
    """A condition in English.

    >>> describe({"all": [{"field": "open_opportunities", "op": "gt", "value": 0},
    ...                   {"not": {"field": "title", "op": "contains", "value": "CEO"}}]})
    "Open opportunities (all CRMs) is greater than 0 and not (Title contains 'CEO')"
    """
    for key, word in (("all", " and "), ("any", " or ")):
        if key in cond:
            parts = [describe(s) for s in cond[key]]
            if len(parts) == 1:
                return parts[0]
            return word.join(f"({p})" if (" and " in p or " or " in p) else p for p in parts)
    if "not" in cond:
        return f"not ({describe(cond['not'])})"
    field, op = FIELDS[cond["field"]], OPERATORS[cond["op"]]
    label = op.label.replace("N days", _fmt_value(field, op, cond.get("value"))) if op.value == "days" else op.label
    value = "" if op.value in ("none", "days") else " " + _fmt_value(field, op, cond.get("value"))
    prefix = "Any company record's " if field.entity == "record" else ""
    name = field.label.lower() if prefix else field.label
    return f"{prefix}{name} {label}{value}"


# --- pickers ---------------------------------------------------------------------------------------


def operators_for(field_name: str) -> list[Operator]:
    field = FIELDS[field_name]
    return [o for o in OPERATORS.values() if field.type in o.types]


def export_vocabulary() -> dict:
    """The vocabulary as data, for the rule editor's pickers and the docs."""
    return {
        "fields": [
            {"name": f.name, "label": f.label, "type": f.type, "entity": f.entity, "description": f.description,
             "operators": [o.name for o in operators_for(f.name)]}
            for f in FIELDS.values()
        ],
        "operators": [{"name": o.name, "label": o.label, "types": list(o.types), "value": o.value}
                      for o in OPERATORS.values()],
        "combinators": list(COMBINATORS),
    }


def email_is_not(address: str) -> dict:
    """The "Email is not <address>" filter that lets one contact through an exclusion."""
    return {"field": "email", "op": "not_equals", "value": address.strip().lower()}


def is_email_is_not(cond: dict) -> bool:
    """True for an "Email is not <address>" filter (an override letting one contact through)."""
    return (cond.get("field"), cond.get("op")) == ("email", "not_equals")




def markdown_tables() -> str:
    """The vocabulary as docs/rules.md's tables (``python -m unify_dash.model.vocabulary``)."""
    lines = ["| field | label | type | evaluated over | operators |", "|---|---|---|---|---|"]
    over = {"contact": "the contact", "company": "all records of the domain (every CRM)",
            "record": "any record of the domain"}
    for f in FIELDS.values():
        ops = ", ".join(f"`{o.name}`" for o in operators_for(f.name))
        lines.append(f"| `{f.name}` | {f.label} | {f.type} | {over[f.entity]} | {ops} |")
    lines += ["", "| operator | reads as | value | a missing value |", "|---|---|---|---|"]
    value_doc = {"none": "none", "scalar": "one value", "list": "a list", "days": "a number of days"}
    for o in OPERATORS.values():
        missing = "matches" if o.negative else "does not match"
        lines.append(f"| `{o.name}` | {o.label} | {value_doc[o.value]} | {missing} |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(markdown_tables())
