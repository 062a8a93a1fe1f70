# ruff: noqa: F811 - the fixtures of test_app.py are imported by name and used as arguments
"""AppTest of the Play view's funnel, the Rule health and the Trends & forecast pages on the demo
(400 contacts, the fixtures of test_app.py). Every expected number comes from unify_dash/reports/."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from test_app import (  # noqa: F401 - fixtures
    assert_ok,
    list_length,
    loopback_server,
    open_app,
    reader,
    set_toggle,
    shared_db,
    texts,
    writer,
)

from unify_dash import engine
from unify_dash.model import roles, settings
from unify_dash.model.levels import with_toggles
from unify_dash.reports import forecast, funnelview, lint, overrides, settings_diff
from unify_dash.scheduler.run import run_until
from unify_dash.store import db

ADMIN = roles.Actor("tester", "admin")


def rules(view: str, role: str = "revops"):
    at = open_app(role=role)
    at.session_state["rules.view"] = view  # what ?view= sets on a first visit
    at.switch_page("unify_dash/app/pages/rules.py").run()
    assert_ok(at)
    assert at.title[0].value == "Rule health"
    return at


def funnel_rows(at) -> tuple[list[str], list[int], object]:
    """The Play view's funnel table: its steps (indentation stripped), each row's count (in "goes on"
    or "stopped"), and the table."""
    table = at.dataframe(key="play.chart").value
    values = [int(b if pd.isna(a) else a) for a, b in zip(table["goes on"], table["stopped"], strict=True)]
    return [str(t).strip("\u2003") for t in table["step"]], values, table


def test_the_play_view_draws_the_funnel_of_the_engine(reader):
    at = open_app("play")
    ev = engine.evaluation(reader)
    play = at.selectbox(key="play.id").value
    steps, values, table = funnel_rows(at)
    segs = funnelview.segments(engine.impact(ev, play))
    assert steps == [s.label for s in segs] and values == [s.value for s in segs]
    stages = [s.kind == "stage" for s in segs]
    assert list(table["goes on"].notna()) == stages and list(table["stopped"].isna()) == stages
    assert "saved" not in table.columns


def test_the_funnel_shows_the_saved_numbers_under_a_what_if(reader):
    at = open_app("play")
    play = at.selectbox(key="play.id").value
    ev = engine.evaluation(reader)
    x = next(x for x in engine.impact(ev, play)["exclusions"] if x["state"]["organisation"]["saved"] and x["blocking"])
    set_toggle(at, reader, play, x["id"])
    assert_ok(at)
    _steps, values, table = funnel_rows(at)
    segs = funnelview.segments(engine.impact(ev, play, {(x["id"], "organisation", None): False}), engine.impact(ev, play))
    assert values == [s.value for s in segs] and list(table["saved"]) == [s.saved for s in segs]
    assert list(table["change"]) == [s.change for s in segs] and any(s.change for s in segs)


def test_lint_view_lists_the_findings_of_the_report(reader):
    at = rules("lint")
    out = lint.lint(reader)
    table = at.dataframe[0].value
    assert list(table["rule"]) == [f["name"] for f in out["findings"]]
    assert "Open HubSpot deal (legacy)" in list(table["rule"])  # on in rulesets, off at the organisation


def test_overlap_view_sorts_by_blocks_alone(reader):
    at = rules("overlap")
    play = at.selectbox(key="rules.overlap.play").value
    table = at.dataframe[0].value
    alone = list(table["blocks alone"])
    assert alone == sorted(alone, reverse=True)
    assert sorted(alone) == sorted(x["blocks_alone"] for x in lint.overlap(reader, play)["exclusions"])


def test_override_registry_view(reader):
    at = rules("overrides", role="support")
    table = at.dataframe[0].value
    assert list(table["address"]) == [o["address"] for o in overrides.registry(reader)["overrides"]]


def test_settings_diff_view_lists_the_contacts_that_flip(writer):
    base = settings.latest_version(writer)[1]
    x = next(e.id for e in base.exclusions if e.exclude_from_sequences)
    settings.apply(writer, ADMIN, with_toggles(base, {(x, "organisation", None): False}), note="off")
    expected = settings_diff.settings_diff(writer, 1, 2, limit=0)["flipped"]
    assert expected["released"] > 0
    at = rules("diff")
    assert any(f"{expected['released']:,} released" in s.value for s in at.subheader)
    assert list_length(at, "rules.diff.list.1.2.None") == expected["total"]


def test_trends_view_without_history_says_how_to_get_it(reader):
    at = open_app("trends", query={"view": "trends"})
    assert_ok(at)
    assert "No execution-log history yet" in texts(at)


def test_trends_view_after_a_run_draws_every_reason(writer):
    run_until(writer, db.now(writer) + dt.timedelta(hours=2))
    at = open_app("trends", query={"view": "trends"})
    assert at.get("plotly_chart"), texts(at)
    names = list(at.dataframe[0].value["reason"])
    assert names and all(isinstance(n, str) for n in names)


@pytest.mark.parametrize("role", ["revops", "manager"])
def test_forecast_view_counts_what_the_next_run_skips(reader, role):
    at = open_app("trends", role=role, query={"view": "forecast"})
    at.segmented_control(key="trends.view").set_value("forecast").run()
    assert_ok(at)
    out = forecast.forecast(reader, limit=0)
    skipped = [m for m in at.metric if m.label == "Will be skipped"][0]
    assert int(skipped.value.replace(",", "")) == out["decisions"].get("skip", 0)
    assert any(f": {out['stopped']:,} enrollment" in s.value for s in at.subheader)
