"""The Data page's "Advance clock only" button and its preview of pending settings versions (AppTest):
the same domain function as `unify-dash clock advance`; nothing is sent; the override takes effect."""

from __future__ import annotations

import datetime as dt

from test_app import assert_ok, open_app, texts, writer  # noqa: F401 - fixtures

from unify_dash import engine
from unify_dash.model import roles, settings
from unify_dash.scheduler import clock
from unify_dash.store import db

REVOPS = roles.Actor("tester", "revops")


def _blocked_by_one(con) -> tuple[str, str, str]:
    """(play id, email, exclusion id) of a contact Not Enrolled because of a single node exclusion."""
    ev = engine.evaluation(con)
    for play in ev.settings.plays:
        if not play.nodes:
            continue
        for row in engine.drilldown(con, ev, play.id, "not_enrolled", limit=200)["rows"]:
            ids = {b["exclusion_id"] for b in row["blocking"]}
            if len(ids) == 1 and None not in ids and not row["opted_out"]:
                return play.id, row["email"], ids.pop()
    raise AssertionError("the demo has a contact blocked by one exclusion")


def test_data_page_advances_the_clock_and_the_override_takes_effect(writer):  # noqa: F811 - the fixture
    play_id, email, exclusion_id = _blocked_by_one(writer)
    settings.add_email_override(writer, REVOPS, exclusion_id, email, note="permission from the AE")
    [pending] = clock.preview(writer)
    assert pending["released"] >= 1
    start = db.now(writer)
    sends = writer.execute("SELECT count(*) FROM events WHERE type = 'send'").fetchone()[0]
    at = open_app("data")
    assert f"settings v{pending['version']} will release {pending['released']:,} contact" in texts(at)
    to = pending["effective_at"] + dt.timedelta(minutes=5)
    at.date_input(key="data.until.day").set_value(to.date()).run()
    at.time_input(key="data.until.time").set_value(to.time()).run()
    at.button(key="data.clock.advance").click().run()
    assert_ok(at)
    assert db.now(writer) == to.replace(second=0, microsecond=0)
    assert writer.execute("SELECT count(*) FROM events WHERE type = 'send'").fetchone()[0] == sends
    [audit] = db.rows(writer, "SELECT actor, role FROM audit_log WHERE action = 'clock.advance'")
    assert audit["role"] == "revops"
    assert settings.settings_at(writer)[0] == pending["version"]
    x = engine.explain(writer, email)
    assert any(v == "enrolled" for v in next(p for p in x["plays"] if p["id"] == play_id)["nodes"].values())
    assert clock.preview(writer) == [] and start < db.now(writer)


def test_data_page_advance_refuses_a_time_before_the_clock(writer):  # noqa: F811
    start = db.now(writer)
    at = open_app("data")
    earlier = start - dt.timedelta(hours=2)
    if earlier.date() == start.date():  # the date picker cannot go before the clock's day
        at.time_input(key="data.until.time").set_value(earlier.time()).run()
        at.button(key="data.clock.advance").click().run()
        assert_ok(at)
        assert "never goes back" in texts(at)
    assert db.now(writer) == start
