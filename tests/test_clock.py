"""`unify-dash clock show|advance|preview`: the workspace clock moves forward without sending, never back;
pending settings versions take effect as it passes them; the preview says what each will release or block."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from workspace_factory import NOW, write_workspace

from unify_dash import cli, engine, scheduler
from unify_dash.errors import PermissionDenied, ValidationError
from unify_dash.io.load import load_workspace
from unify_dash.model import roles
from unify_dash.model import settings as settings_mod
from unify_dash.scheduler import clock
from unify_dash.store import db

REVOPS = roles.Actor("rita", "revops")


@pytest.fixture
def dbfile(tmp_path):
    path = tmp_path / "ws.duckdb"
    con = db.connect(path)
    load_workspace(con, write_workspace(tmp_path))
    con.close()
    return str(path)


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except ValueError:
        return code, out, err


def _activity(path: str) -> tuple:
    con = db.connect(path)
    try:
        return con.execute("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM execution_log), "
                           "(SELECT count(*) FROM enrollments), (SELECT count(*) FROM outbox)").fetchone()
    finally:
        con.close()


def test_advance_lets_a_pending_override_take_effect_without_sending(dbfile, capsys):
    code, out, _ = run(capsys, "clock", "show", "--db", dbfile, "--json")
    assert code == 0 and out["clock"] == "2026-11-26 09:00:00" and out["pinned"] and out["in_effect"] == 1
    assert run(capsys, "override", "add", "open_opp", "bob@acme.com", "--note", "AE confirmed", "--db", dbfile)[0] == 0
    code, rows, _ = run(capsys, "clock", "preview", "--db", dbfile, "--json")
    assert code == 0 and [r["version"] for r in rows] == [2]
    assert rows[0]["effective_at"] == "2026-11-26 09:15:00" and rows[0]["released"] == 1 and rows[0]["blocked"] == 0
    assert rows[0]["plays"] == [{"play_id": "play_main", "name": "Main play", "released": 1, "blocked": 0}]
    code, text, _ = run(capsys, "clock", "preview", "--db", dbfile)
    assert "at 2026-11-26 09:15 settings v2 will release 1 contact and newly block 0" in text
    before = _activity(dbfile)
    code, out, _ = run(capsys, "clock", "advance", "--to", "2026-11-26T09:20", "--db", dbfile, "--json",
                       "--actor", "rita")
    assert code == 0 and out["moved"] and out["to"] == "2026-11-26 09:20:00" and out["in_effect"] == 2
    assert [p["version"] for p in out["took_effect"]] == [2] and out["pending"] == []
    assert _activity(dbfile) == before  # nothing sent, skipped, enrolled or logged
    con = db.connect(dbfile)
    try:
        assert db.now(con) == dt.datetime(2026, 11, 26, 9, 20)
        assert settings_mod.settings_at(con)[0] == 2
        [audit] = db.rows(con, "SELECT actor, detail FROM audit_log WHERE action = 'clock.advance'")
        assert audit["actor"] == "rita" and json.loads(audit["detail"])["took_effect"] == [2]
    finally:
        con.close()
    code, text, _ = run(capsys, "explain", "bob@acme.com", "--db", dbfile)
    assert "n1: enrolled" in text  # released by the override now in effect
    assert run(capsys, "clock", "preview", "--db", dbfile)[1].strip() == "no settings version pending"


def test_the_clock_never_goes_back(dbfile, capsys):
    code, _, err = run(capsys, "clock", "advance", "--to", "2026-11-26T08:59", "--db", dbfile)
    assert code == 1 and "never goes back" in err and "2026-11-26 09:00:00" in err and "Traceback" not in err
    code, out, _ = run(capsys, "clock", "advance", "--to", "2026-11-26T09:00", "--db", dbfile, "--json")
    assert code == 0 and not out["moved"]  # the same time: nothing changes
    code, _, err = run(capsys, "clock", "advance", "--to", "tomorrow", "--db", dbfile)
    assert code == 1 and "--to" in err


def test_not_before_recorded_activity_and_role_checked(dbfile):
    con = db.connect(dbfile)
    try:
        con.execute("INSERT INTO events (event_id, occurred_at, type, email) VALUES ('late', ?, 'reply', 'x@y.com')",
                    [NOW + dt.timedelta(hours=2)])
        with pytest.raises(ValidationError, match="recorded activity"):
            clock.advance(con, REVOPS, NOW + dt.timedelta(hours=1))
        with pytest.raises(PermissionDenied):
            clock.advance(con, roles.Actor("sam", "support"), NOW + dt.timedelta(hours=3))
        assert db.now(con) == NOW  # a refused advance changed nothing
        out = clock.advance(con, REVOPS, NOW + dt.timedelta(hours=3))
        assert out["moved"] and db.now(con) == NOW + dt.timedelta(hours=3)
    finally:
        con.close()


def test_steps_due_on_the_way_are_left_for_the_next_run(dbfile):
    con = db.connect(dbfile)
    try:
        due_before = clock.show(con)["due_steps"]
        out = clock.advance(con, REVOPS, NOW + dt.timedelta(days=5))
        assert out["due_steps"] >= due_before and out["due_steps"] > 0
        sends = con.execute("SELECT count(*) FROM events WHERE type = 'send'").fetchone()[0]
        summary = scheduler.run_until(con, NOW + dt.timedelta(days=5, hours=1))
        assert summary["ticks"] >= 1
        assert con.execute("SELECT count(*) FROM events WHERE type = 'send'").fetchone()[0] >= sends
        assert clock.show(con)["due_steps"] < out["due_steps"]
    finally:
        con.close()


def test_preview_newly_blocked(dbfile):
    con = db.connect(dbfile)
    try:
        settings_mod.add_email_override(con, REVOPS, "open_opp", "bob@acme.com", note="AE confirmed")
        clock.advance(con, REVOPS, NOW + dt.timedelta(minutes=30))
        enrolled_now = engine.impact(engine.evaluation(con), "play_main")["enrolled"]
        assert enrolled_now > 0
        _v, s = settings_mod.settings_at(con)
        doc = s.to_dict()
        doc["exclusions"].append({"id": "everyone", "name": "Everyone", "criteria": {"field": "email",
                                                                                    "op": "is_not_empty"}})
        doc["rulesets"][0]["exclusions"]["everyone"] = True
        settings_mod.apply(con, REVOPS, settings_mod.parse_settings(doc), note="pause outbound")
        [p] = clock.preview(con)
        assert p["blocked"] == enrolled_now and p["released"] == 0
        assert "newly block 1" in clock.preview_line(p)
    finally:
        con.close()
