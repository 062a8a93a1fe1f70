"""Golden SQL: the main generated queries, kept as files (as sqlglot keeps its fixtures) so a change to
the SQL the engine runs shows up as a diff in review.

A test fails when the generated SQL or its parameters differ from tests/golden/<name>.sql. After an
intended change, rewrite the files with ``UNIFY_UPDATE_GOLDEN=1 python -m pytest tests/test_golden_sql.py``
and read the diff before committing it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import pytest
from lifecycle_factory import BASE_SETTINGS

from unify_dash.actions import optouts
from unify_dash.engine import evaluator
from unify_dash.model import vocabulary as vocab
from unify_dash.model.settings import parse_settings

GOLDEN = Path(__file__).parent / "golden"
AS_OF = dt.datetime(2026, 11, 2, 9, 0, 0)


def _settings():
    """The lifecycle tests' settings plus a filter, a person rule and a Play audience: every branch of the
    evaluation pass (company-wide propagation, filters, audiences)."""
    doc = json.loads(json.dumps(BASE_SETTINGS))
    doc["exclusions"][0]["filters"] = [{"field": "email", "op": "not_equals", "value": "vip@acme.com"}]
    doc["plays"][0]["audience"] = {"field": "title", "op": "contains", "value": "VP"}
    return parse_settings(doc)


def _branching():
    """The golden settings with Play branching (two node conditions) and one active sequence per contact:
    the node-condition bits and the busy-sequence bits of the pass."""
    doc = json.loads(json.dumps(BASE_SETTINGS))
    doc["org"]["one_active_sequence"] = True
    doc["plays"][0]["nodes"] = [
        {"id": "n1", "sequence": "seq1", "condition": {"field": "title", "op": "contains", "value": "VP"}},
        {"id": "n2", "sequence": "seq2", "condition": {"field": "open_opportunities", "op": "gt", "value": 2}},
        {"id": "n3", "sequence": "seq1"}]
    return parse_settings(doc)


def _spark_branching():
    from unify_dash.engine import spark

    sql, params = evaluator._relation_sql(_branching(), AS_OF, "d_stats")[:2]
    return spark.to_spark(sql, params), []


def _normalise(sql: str) -> str:
    return "\n".join(line.rstrip() for line in re.sub(r"\n\s*\n", "\n", sql.strip()).split("\n")) + "\n"


def _render(sql: str, params: list) -> str:
    return _normalise(sql) + "-- params: " + json.dumps(params, default=str) + "\n"


def _spark_pass():
    from unify_dash.engine import spark

    sql, params = evaluator._relation_sql(_settings(), AS_OF, "d_stats")[:2]
    return spark.to_spark(sql, params), []


CASES = {
    "evaluation_pass": lambda: evaluator._relation_sql(_settings(), AS_OF, "d_stats")[:2],
    "evaluation_pass.spark": _spark_pass,
    "evaluation_pass.branching": lambda: evaluator._relation_sql(_branching(), AS_OF, "d_stats")[:2],
    "evaluation_pass.branching.spark": _spark_branching,
    "opted_out_relation": lambda: (optouts.opted_out_relation(_settings()), [AS_OF]),
    "domain_stats": lambda: (vocab.domain_stats_sql("d_stats"), []),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_generated_sql_matches_its_golden_file(name):
    sql, params = CASES[name]()
    text = _render(sql, params)
    path = GOLDEN / f"{name}.sql"
    if os.environ.get("UNIFY_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with UNIFY_UPDATE_GOLDEN=1 to write it"
    assert text == path.read_text(encoding="utf-8"), (
        f"the generated SQL of {name} changed: read the diff, then UNIFY_UPDATE_GOLDEN=1 to accept it")


# constructs of DuckDB's SQL that Spark does not have (or spells differently)
DUCKDB_ONLY = [
    (r"::", "a :: cast"), (r"\bUBIGINT\b", "an unsigned type"), (r"\bHUGEINT\b", "HUGEINT"),
    (r"\bLIST_CONTAINS\b", "list_contains"), (r"\bARG_M(AX|IN)\b", "arg_max / arg_min"),
    (r"\bSTARTS_WITH\b|\bENDS_WITH\b", "starts_with / ends_with"), (r"\bUNNEST\b", "unnest"),
    (r"\bCREATE OR REPLACE TABLE\b", "CREATE OR REPLACE TABLE"), (r'"', "a double-quoted identifier"),
    (r"\?", "an unbound parameter"), (r"\bTIMESTAMPTZ\b|\bVARCHAR\b", "a DuckDB type name"),
    (r"\bSTRUCT_PACK\b|\bLIST_VALUE\b|\bEPOCH\b|\bSTRFTIME\b", "a DuckDB function"),
]


def _spark_sqls() -> dict[str, str]:
    """The Spark SQL of every query the Spark executor runs, for the golden settings and for settings with
    130 exclusions over every field and operator of the vocabulary."""
    pytest.importorskip("sqlglot")
    from wide_settings import wide_settings

    from unify_dash.engine import spark

    wide = parse_settings(wide_settings(json.loads(json.dumps(BASE_SETTINGS)), 130))
    out = {}
    for name, s in (("golden", _settings()), ("wide", wide), ("branching", _branching())):
        sql, params, W, Wa = evaluator._relation_sql(s, AS_OF, "d_stats")
        out[f"pass:{name}"] = spark.to_spark(sql, params)
        keys = evaluator.group_keys(W, Wa)
        out[f"groups:{name}"] = spark.to_spark(evaluator.groups_sql("raw", keys))
        out[f"members:{name}"] = spark.to_spark(evaluator.members_sql("raw", "grp", keys, ordered=False))
    out["domain_stats"] = spark.to_spark(vocab.domain_stats_sql("d_stats"), select_only=True)
    out["opted_out_relation"] = spark.to_spark(optouts.opted_out_relation(_settings()), [AS_OF])
    return out


def test_spark_sql_has_no_duckdb_only_construct():
    import sqlglot

    for name, sql in _spark_sqls().items():
        for pattern, what in DUCKDB_ONLY:
            hit = re.search(pattern, sql, flags=re.IGNORECASE)
            assert hit is None, f"the Spark SQL of {name} has {what}: ...{sql[max(0, hit.start() - 80):hit.end() + 40]}..."
        sqlglot.parse_one(sql, read="spark")  # and Spark's dialect reads it back


def test_parameters_bind_in_text_order_as_literal_nodes():
    """sqlglot walks a tree breadth-first; the parameters still bind in the order of the text, and a value
    stays a value (quotes and backslashes in it do not end the literal)."""
    pytest.importorskip("sqlglot")
    from unify_dash.engine import spark

    sql = "SELECT a FROM t WHERE x IN (SELECT y FROM u WHERE z = ?) AND w = ? AND list_contains(?, v)"
    out = spark.to_spark(sql, ["inner", "it's \\ '; DROP TABLE t; --", [1.5, 2]])
    assert out == ("SELECT a FROM t WHERE x IN (SELECT y FROM u WHERE z = 'inner') AND w = 'it\\'s \\\\ \\'; "
                   "DROP TABLE t; --' AND ARRAY_CONTAINS(ARRAY(CAST('1.5' AS DOUBLE), 2), v)")
    with pytest.raises(Exception, match="2 parameters, 1 were given"):
        spark.to_spark("SELECT ? + ?", [1])
