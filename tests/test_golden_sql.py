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


def _normalise(sql: str) -> str:
    return "\n".join(line.rstrip() for line in re.sub(r"\n\s*\n", "\n", sql.strip()).split("\n")) + "\n"


def _render(sql: str, params: list) -> str:
    return _normalise(sql) + "-- params: " + json.dumps(params, default=str) + "\n"


CASES = {
    "evaluation_pass": lambda: evaluator._relation_sql(_settings(), AS_OF, "d_stats")[:2],
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
