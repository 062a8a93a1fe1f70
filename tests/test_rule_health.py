"""The read-only reports of the Play funnel, Rule health and Trends pages (unify_dash/reports/funnelview,
lint, overrides, settings_diff, trends, forecast) and their CLI verbs, on small workspaces built in
DuckDB (engine_factory) where every expected number is known by construction, and on the demo."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest
from engine_factory import NOW, Workspace, doc, exclusion, title_is

from unify_dash import engine
from unify_dash.cli import main
from unify_dash.errors import ValidationError
from unify_dash.model import roles, settings
from unify_dash.model.levels import with_toggles
from unify_dash.reports import forecast, funnelview, lint, overrides, settings_diff, trends
from unify_dash.scheduler.run import run_until
from unify_dash.store import db

ADMIN = roles.Actor("tester", "admin")
CEO, VP = title_is("CEO"), title_is("VP")
ANY_TITLE = {"any": [CEO, VP]}


@pytest.fixture
def con(tmp_path):
    c = db.connect(tmp_path / "w.duckdb")
    yield c
    c.close()


def small(con, exclusions: list[dict], **kw) -> Workspace:
    """Four contacts: two CEOs, a VP, an engineer (one opted out: the engineer)."""
    ws = Workspace(con)
    ws.contact("ann@acme.com", title="CEO")
    ws.contact("bob@acme.com", title="CEO")
    ws.contact("cat@beta.com", title="VP")
    ws.contact("dan@gamma.com", title="Engineer")
    ws.opt_out("dan@gamma.com")
    ws.save(doc(exclusions, **kw))
    return ws


# --- funnel -----------------------------------------------------------------------------------------------


def test_every_funnel_segment_counts_exactly_the_contacts_its_list_opens(con):
    small(con, [exclusion("ceo", CEO), exclusion("exec", ANY_TITLE)])
    ev = engine.evaluation(con)
    segs = funnelview.segments(engine.impact(ev, "play"))
    by = {s.key: s for s in segs}
    assert by["entered||"].value == 4 and by["opted_out||"].value == 1
    assert by["not_enrolled|node|"].value == 3 and by["enrolled|node|"].value == 0
    assert by["not_enrolled|node|ceo"].value == 2 and by["not_enrolled|node|exec"].value == 3
    for s in segs:
        assert engine.drilldown(con, ev, "play", limit=1000, **s.drill())["total"] == s.value
        assert len(engine.drilldown(con, ev, "play", limit=1000, **s.drill())["rows"]) == s.value


def test_the_funnel_draws_the_what_if_against_the_saved_numbers(con):
    small(con, [exclusion("ceo", CEO), exclusion("vp", VP)])
    ev = engine.evaluation(con)
    saved = engine.impact(ev, "play")
    now = engine.impact(ev, "play", {("ceo", "organisation", None): False})
    by = {s.key: s for s in funnelview.segments(now, saved)}
    assert (by["enrolled|node|"].saved, by["enrolled|node|"].value, by["enrolled|node|"].change) == (0, 2, 2)
    assert by["not_enrolled|node|ceo"].value == 0 and by["not_enrolled|node|ceo"].saved == 2
    out = funnelview.funnel(con, "play", {("ceo", "organisation", None): False})
    assert [s["key"] for s in out["segments"]] == [s.key for s in funnelview.segments(now, saved)]


def test_a_new_engine_bucket_shows_up_in_the_funnel_without_a_change(con, monkeypatch):
    small(con, [exclusion("ceo", CEO)])
    imp = engine.impact(engine.evaluation(con), "play")
    monkeypatch.setattr(engine, "COUNT_KEYS", (*engine.COUNT_KEYS, "one_active_sequence"))
    imp = {**imp, "one_active_sequence": 7}
    seg = [s for s in funnelview.segments(imp) if s.bucket == "one_active_sequence"]
    assert len(seg) == 1 and seg[0].value == 7 and seg[0].kind == "loss"


# --- lint ---------------------------------------------------------------------------------------------------


def test_a_shadowed_rule_is_found_and_named(con):
    # every CEO is also an exec: "ceo" blocks two contacts, never alone
    small(con, [exclusion("ceo", CEO, name="CEO"), exclusion("exec", ANY_TITLE, name="Executives")])
    out = lint.lint(con)
    shadowed = [f for f in out["findings"] if f["kind"] == "shadowed"]
    assert [f["exclusion_id"] for f in shadowed] == ["ceo"]
    assert shadowed[0]["contacts"] == 2 and "Executives" in shadowed[0]["detail"]
    # and the engine agrees: turning it off releases nobody
    assert engine.impact(engine.evaluation(con), "play", {("ceo", "organisation", None): False})["enrolled"] == 0


def test_lint_clean_settings_give_nothing(con):
    small(con, [exclusion("ceo", CEO), exclusion("vp", VP)])
    out = lint.lint(con)
    assert out["findings"] == [] and set(out["counts"].values()) == {0}


def test_lint_finds_rules_matching_nobody_and_rules_that_never_act(con):
    small(con, [exclusion("ceo", CEO), exclusion("nobody", title_is("Astronaut")),
                exclusion("org_off", VP, org=False)])
    kinds = {(f["kind"], f["exclusion_id"]) for f in lint.lint(con)["findings"]}
    assert ("matches_nobody", "nobody") in kinds
    assert ("never_acts", "org_off") in kinds
    assert not any(x == "ceo" for _, x in kinds)


def test_a_rule_on_only_at_an_audience_acts(con):
    plays = [{"id": "play", "name": "P", "audience": None, "audience_exclusions": {"org_off": True},
              "nodes": [{"id": "node", "sequence": "seq"}]}]
    small(con, [exclusion("ceo", CEO), exclusion("org_off", VP, org=False)], plays=plays)
    assert not [f for f in lint.lint(con)["findings"] if f["kind"] == "never_acts"]


def test_lint_flags_overrides_of_no_contact_and_old_overrides(con):
    ws = small(con, [exclusion("ceo", CEO)])
    settings.add_email_override(con, ADMIN, "ceo", "ann@acme.com", note="customer asked",
                                at=NOW - dt.timedelta(days=120))
    settings.add_email_override(con, ADMIN, "ceo", "ghost@nowhere.example", note="typo", at=NOW - dt.timedelta(days=2))
    db.set_clock(con, ws.now)
    found = {(f["kind"], f["address"]) for f in lint.lint(con, override_days=90)["findings"]}
    assert ("override_not_a_contact", "ghost@nowhere.example") in found
    assert ("override_old", "ann@acme.com") in found and ("override_old", "ghost@nowhere.example") not in found
    assert ("override_not_a_contact", "ann@acme.com") not in found


def test_overlap_counts_contacts_matched_by_both(con):
    small(con, [exclusion("ceo", CEO), exclusion("exec", ANY_TITLE), exclusion("vp", VP)])
    out = lint.overlap(con, "play")
    m = dict(zip(out["matrix"]["ids"], out["matrix"]["values"], strict=True))
    idx = out["matrix"]["ids"]
    assert m["ceo"][idx.index("exec")] == 2 and m["ceo"][idx.index("vp")] == 0 and m["exec"][idx.index("exec")] == 3
    alone = {x["id"]: x["blocks_alone"] for x in out["exclusions"]}
    assert alone == {"ceo": 0, "exec": 0, "vp": 0}


# --- overrides and their expiry ---------------------------------------------------------------------------------


def test_the_registry_says_who_when_why_and_the_sends_let_through(con):
    ws = small(con, [exclusion("ceo", CEO)])
    settings.add_email_override(con, ADMIN, "ceo", "ann@acme.com", note="asked for the newsletter",
                                at=NOW - dt.timedelta(days=3))
    for k in range(2):
        con.execute("INSERT INTO events (event_id, occurred_at, type, contact_id, email, sequence_id) VALUES "
                    "(?, ?, 'send', 'c1', 'ann@acme.com', 'seq')", [f"s{k}", NOW - dt.timedelta(days=1, hours=k)])
    con.execute("INSERT INTO events (event_id, occurred_at, type, contact_id, email, sequence_id) VALUES "
                "('old', ?, 'send', 'c1', 'ann@acme.com', 'seq')", [NOW - dt.timedelta(days=10)])
    db.set_clock(con, ws.now)
    (o,) = overrides.registry(con)["overrides"]
    assert (o["address"], o["added_by"], o["note"], o["contact_id"]) == ("ann@acme.com", "tester",
                                                                        "asked for the newsletter", "c1")
    assert o["sends_let_through"] == 2 and o["in_effect"] and not o["expired"]


def test_an_expired_override_stops_applying_in_the_engine(con):
    ws = small(con, [exclusion("ceo", CEO)])
    settings.add_email_override(con, ADMIN, "ceo", "ann@acme.com", note="for a month", at=NOW - dt.timedelta(days=1),
                                expires_at=NOW + dt.timedelta(days=30))
    db.set_clock(con, ws.now)
    enrolled = engine.drilldown(con, engine.evaluation(con), "play", "enrolled", limit=10)["rows"]
    assert sorted(r["email"] for r in enrolled) == ["ann@acme.com", "cat@beta.com"]  # ann let through
    later = NOW + dt.timedelta(days=31)
    enrolled = engine.drilldown(con, engine.evaluation(con, as_of=later), "play", "enrolled", limit=10)["rows"]
    assert [r["email"] for r in enrolled] == ["cat@beta.com"]
    db.set_clock(con, later)
    (o,) = overrides.registry(con)["overrides"]
    assert o["expired"] and not o["in_effect"]


def test_an_expiry_in_the_past_is_refused(con):
    small(con, [exclusion("ceo", CEO)])
    with pytest.raises(ValidationError, match="not in the future"):
        settings.add_email_override(con, ADMIN, "ceo", "ann@acme.com", note="x", expires_at=NOW - dt.timedelta(days=1))


def test_an_expiry_that_is_no_timestamp_is_a_settings_error():
    d = doc([exclusion("ceo", CEO)])
    d["exclusions"][0]["override_expiry"] = {"ann@acme.com": "next tuesday"}
    with pytest.raises(settings.SettingsError, match=r"override_expiry.*ISO timestamp"):
        settings.parse_settings(d)


# --- settings diff ------------------------------------------------------------------------------------------


def test_settings_diff_lists_the_changes_and_the_contacts_released(con):
    ws = small(con, [exclusion("ceo", CEO), exclusion("vp", VP)])
    base = settings.latest_version(con)[1]
    settings.save_version(con, with_toggles(base, {("ceo", "organisation", None): False}), actor="t", note="ceo off",
                          at=NOW - dt.timedelta(hours=2))
    db.set_clock(con, ws.now)
    out = settings_diff.settings_diff(con, 1, 2)
    assert [(c["kind"], c["object_id"], c["field"]) for c in out["changes"]] == [
        ("toggles", "ceo", "exclude_from_sequences")]
    assert out["flipped"]["released"] == 2 and out["flipped"]["newly_blocked"] == 0
    assert sorted(r["email"] for r in out["rows"]) == ["ann@acme.com", "bob@acme.com"]
    back = settings_diff.settings_diff(con, "v2", "v1", direction="newly_blocked")
    assert back["flipped"]["newly_blocked"] == 2 and len(back["rows"]) == 2
    # by date: the version in effect then
    assert settings_diff.settings_diff(con, (NOW - dt.timedelta(hours=3)).isoformat(), "2")["from"]["version"] == 1


def test_settings_diff_separates_overrides_from_rules(con):
    small(con, [exclusion("ceo", CEO)])
    settings.add_email_override(con, ADMIN, "ceo", "ann@acme.com", note="x", at=NOW - dt.timedelta(hours=1))
    out = settings_diff.settings_diff(con, 1, 2)
    assert [(c["kind"], c["change"]) for c in out["changes"]] == [("overrides", "added")]
    assert [(r["email"], r["direction"]) for r in out["rows"]] == [("ann@acme.com", "released")]



def test_settings_diff_filter_changes_name_each_side():
    """A filters change: each added and removed filter once, with its side (before/after) and its words."""
    override = {"field": "email", "op": "not_equals", "value": "ann@acme.com"}
    old_rule = {"field": "title", "op": "contains", "value": "CEO"}
    new_rule = {"field": "title", "op": "contains", "value": "VP"}
    out = settings_diff._filter_changes("ceo", [old_rule], [new_rule, override])
    assert [(c["kind"], c["change"], c["before"], c["after"], c["text"]) for c in out] == [
        ("overrides", "added", None, override, "override added: Email is not 'ann@acme.com'"),
        ("rules", "added", None, new_rule, "filter added: Title contains 'VP'"),
        ("rules", "removed", old_rule, None, "filter removed: Title contains 'CEO'")]
    assert all(c["object_id"] == "ceo" and c["field"] == "filters" for c in out)


# --- forecast -----------------------------------------------------------------------------------------------


def test_forecast_says_what_the_next_run_skips_and_why_without_sending(con):
    ws = small(con, [exclusion("ceo", CEO, name="CEO rule")])
    ann, cat = "c1", "c3"
    ws.enrollment(ann)
    ws.enrollment(cat)
    ws.enrollment("c4")  # dan: opted out
    before = con.execute("SELECT count(*) FROM events").fetchone()[0]
    out = forecast.forecast(con)
    assert out["due"] == 3 and out["decisions"] == {"skip": 2, "send": 1}
    assert {r["reason"]: r["enrollments"] for r in out["by_reason"]} == {"CEO rule": 1, "Opted out": 1}
    assert {r["contact_id"] for r in out["rows"]} == {ann, "c4"}
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == before  # read-only


# --- trends ---------------------------------------------------------------------------------------------------


def test_trends_follow_the_log_and_alert_on_the_settings_change_that_moved_a_reason(con):
    ws = small(con, [exclusion("ceo", CEO, name="CEO rule"), exclusion("vp", VP)])
    for k in range(20):
        ws.contact(f"ceo{k}@delta.com", title="CEO")
    db.bump_generation(con)
    run_until(con, NOW + dt.timedelta(days=1), tick=dt.timedelta(hours=6))
    base = settings.latest_version(con)[1]
    settings.save_version(con, with_toggles(base, {("ceo", "organisation", None): False}), actor="t",
                          note="CEOs welcome", at=NOW + dt.timedelta(days=1), effective_at=NOW + dt.timedelta(days=1))
    db.bump_generation(con)
    run_until(con, NOW + dt.timedelta(days=2), tick=dt.timedelta(hours=6))
    out = trends.trends(con)
    series = {s["exclusion_id"]: s["contacts"] for s in out["series"]}
    assert series["ceo"][0] == 22 and series["ceo"][-1] == 0
    (alert,) = [a for a in out["alerts"] if a["exclusion_id"] == "ceo"]
    assert alert["before"] == 22 and alert["after"] == 0
    assert any("settings v2 took effect (CEOs welcome" in e["text"] for e in alert["events"])
    quiet = trends.trends(con, min_contacts=100)
    assert quiet["alerts"] == []


def test_trends_without_history_are_empty(con):
    small(con, [exclusion("ceo", CEO)])
    assert trends.trends(con)["points"] == []


# --- CLI: the same functions, --json ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_db(template_db, tmp_path_factory):
    """A copy of the shared demo database (conftest.template_db) for the report verbs."""
    path = tmp_path_factory.mktemp("rh") / "demo.duckdb"
    shutil.copyfile(template_db, path)
    return path


@pytest.mark.parametrize("argv, key", [
    (["funnel", "--play", "play_enterprise"], "segments"),
    (["overlap", "--play", "play_enterprise"], "matrix"),
    (["lint"], "findings"),
    (["settings-diff", "1", "1"], "changes"),
    (["overrides"], "overrides"),
    (["trends"], "series"),
    (["forecast"], "decisions"),
])
def test_each_report_verb_prints_the_same_json_as_its_function(demo_db, capsys, argv, key):
    assert main([*argv, "--db", str(demo_db), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    c = db.connect(demo_db)
    try:
        fn = {"funnel": lambda: funnelview.funnel(c, "play_enterprise"),
              "overlap": lambda: lint.overlap(c, "play_enterprise"), "lint": lambda: lint.lint(c),
              "settings-diff": lambda: settings_diff.settings_diff(c, 1, 1, limit=50),
              "overrides": lambda: overrides.registry(c), "trends": lambda: trends.trends(c),
              "forecast": lambda: forecast.forecast(c, limit=50)}[argv[0]]
        expected = json.loads(json.dumps(fn(), default=str))
    finally:
        c.close()
    assert out[key] == expected[key]
    assert main([*argv, "--db", str(demo_db)]) == 0  # the text form too


def test_report_verbs_say_what_is_wrong(demo_db, capsys):
    assert main(["settings-diff", "1", "v9", "--db", str(demo_db)]) == 1
    assert "no settings version 9" in capsys.readouterr().err
    assert main(["funnel", "--play", "nope", "--db", str(demo_db)]) == 1
    assert "unknown play" in capsys.readouterr().err


def test_the_scheduler_skips_a_contact_once_its_override_has_expired(con):
    """The evaluation reused from tick to tick is renewed when an override's expiry falls in between."""
    ws = small(con, [exclusion("ceo", CEO)])
    settings.add_email_override(con, ADMIN, "ceo", "ann@acme.com", note="two hours", at=NOW - dt.timedelta(days=1),
                                expires_at=NOW + dt.timedelta(hours=2))
    db.set_clock(con, ws.now)
    cat = ws.enrollment("c3", enrollment_id="e-cat")  # due in 1 h: evaluated while ann's override holds
    ann = ws.enrollment("c1", enrollment_id="e-ann")
    con.execute("UPDATE enrollments SET next_step_at = ? WHERE enrollment_id = ?", [NOW + dt.timedelta(hours=3), ann])
    db.bump_generation(con)
    assert forecast.forecast(con, until=NOW + dt.timedelta(hours=1))["decisions"] == {"send": 1}
    assert forecast.forecast(con, until=NOW + dt.timedelta(hours=3))["decisions"] == {"send": 1, "skip": 1}
    run_until(con, NOW + dt.timedelta(hours=4), tick=dt.timedelta(hours=1))
    states = dict(con.execute("SELECT enrollment_id, coalesce(completion_reason, state) FROM enrollments "
                              "WHERE enrollment_id IN (?, ?)", [cat, ann]).fetchall())
    assert states[ann] == "excluded" and states[cat] != "excluded"
    sends = con.execute("SELECT count(*) FROM events WHERE type = 'send' AND contact_id = 'c1'").fetchone()[0]
    assert sends == 0
