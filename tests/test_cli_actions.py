"""The contact-action verbs: optout, reverse, unenroll, enroll, override add, history. Each goes through
the same domain function as the app's button, prints JSON with --json and refuses what the role may not do."""

from __future__ import annotations

import json

import pytest
from workspace_factory import write_workspace

from unify_dash import cli
from unify_dash.io.load import load_workspace
from unify_dash.store import db


@pytest.fixture
def dbfile(tmp_path):
    path = tmp_path / "ws.duckdb"
    con = db.connect(path)
    load_workspace(con, write_workspace(tmp_path))
    con.close()
    return str(path)


def run(capsys, *argv) -> tuple[int, dict | str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except ValueError:
        return code, out, err


def test_optout_then_history(dbfile, capsys):
    code, out, _ = run(capsys, "optout", "Bob@Acme.com", "--source", "admin", "--db", dbfile, "--as", "support",
                       "--actor", "sam", "--json")
    assert code == 0 and out["email"] == "bob@acme.com" and out["already_opted_out"] is False
    assert out["removed_enrollments"] == ["e1"]
    code, again, _ = run(capsys, "optout", "bob@acme.com", "--source", "admin", "--db", dbfile, "--json")
    assert again["already_opted_out"] is True and again["event_id"] == out["event_id"]
    code, hist, _ = run(capsys, "history", "bob@acme.com", "--db", dbfile, "--json")
    assert code == 0 and set(hist) >= {"events", "execution_log", "audit"}
    types = {e["type"] for e in hist["events"]}
    assert {"opt_out", "complete", "send"} <= types
    assert all({"event_id", "type", "occurred_at"} <= set(e) for e in hist["events"])
    [audit] = [a for a in hist["audit"] if a["action"] == "contact.opt_out"]
    assert audit["actor"] == "sam" and audit["role"] == "support"


def test_reverse_needs_the_role_and_a_real_permission(dbfile, capsys):
    base = ["reverse", "eve@initech.com", "--permission-by", "Eve Davis (the contact)",
            "--permission-at", "2026-11-25T10:00", "--evidence", "email of 2026-11-25, ticket SUP-9", "--db", dbfile]
    code, _, err = run(capsys, *base, "--as", "manager")
    assert code == 1 and "may not contact.reverse_opt_out" in err and "Traceback" not in err
    code, _, err = run(capsys, *[("x" if a.startswith("email of") else a) for a in base], "--as", "support")
    assert code == 1 and "is not a reference" in err
    code, out, _ = run(capsys, *base, "--as", "support", "--json")
    assert code == 0 and out["permission"]["reverses"] == "ev2"
    code, again, err = run(capsys, *base, "--as", "support")
    assert code == 1 and "not opted out" in err


def test_unenroll_enroll_and_override(dbfile, capsys):
    code, out, _ = run(capsys, "unenroll", "bob@acme.com", "--sequence", "seq_outbound", "--db", dbfile, "--json")
    assert code == 0 and out["unenrolled"] == ["e1"]
    code, _, err = run(capsys, "unenroll", "bob@acme.com", "--db", dbfile)
    assert code == 1 and "no queued or active enrollment" in err
    code, _, err = run(capsys, "enroll", "bob@acme.com", "--sequence", "seq_outbound", "--db", dbfile)
    assert code == 1 and "Open opportunity" in err  # acme.com has an open opportunity: blocked, with the reason
    code, out, _ = run(capsys, "enroll", "bob@acme.com", "--sequence", "seq_nurture", "--db", dbfile, "--json")
    assert code == 0 and out["state"] == "queued" and out["sequence_id"] == "seq_nurture"
    code, _, err = run(capsys, "enroll", "eve@initech.com", "--sequence", "seq_nurture", "--db", dbfile)
    assert code == 1 and "opted out" in err
    code, _, err = run(capsys, "override", "add", "open_opp", "bob@acme.com", "--note", "asked by sales",
                       "--db", dbfile, "--as", "manager")
    assert code == 1 and "may not override.add" in err
    code, out, _ = run(capsys, "override", "add", "open_opp", "bob@acme.com", "--note", "asked by sales",
                       "--db", dbfile, "--as", "support", "--json")
    assert code == 0 and out["version"] == 2 and out["effective_at"]
    code, _, err = run(capsys, "optout", "bob\u200b@acme.com", "--source", "admin", "--db", dbfile)
    assert code == 1 and "cannot be seen" in err


def test_unenroll_by_filter_in_batches(tmp_path, capsys):
    """``unenroll --sequence --filter``: the queued or active enrollments of the contacts a rule
    condition selects, in batches with progress on stderr; a bad filter names what to fix."""
    from unify_dash.io import demo

    path = tmp_path / "u.duckdb"
    demo.build_database(tmp_path / "ws", path, contacts=300, seed=3)
    con = db.connect(path)
    want = con.execute("SELECT count(*) FROM enrollments e JOIN contacts c USING (contact_id) WHERE "
                       "e.sequence_id = 'seq_webinar' AND e.state IN ('queued', 'active') AND "
                       "contains(c.title, 'VP')").fetchone()[0]
    con.close()
    assert want > 2
    cond = json.dumps({"field": "title", "op": "contains", "value": "VP"})
    code, out, err = run(capsys, "unenroll", "--sequence", "seq_webinar", "--filter", cond, "--batch-size", "2",
                         "--db", str(path), "--as", "manager")
    assert code == 0 and f"{want:,} enrollment(s) of {want:,} selected" in out
    assert err.count("unenrolled") == -(-want // 2)
    con = db.connect(path)
    left = con.execute("SELECT count(*) FROM enrollments e JOIN contacts c USING (contact_id) WHERE "
                       "e.sequence_id = 'seq_webinar' AND e.state IN ('queued', 'active') AND "
                       "contains(c.title, 'VP')").fetchone()[0]
    con.close()
    assert left == 0
    code, _, err = run(capsys, "unenroll", "--sequence", "seq_webinar", "--filter", '{"field": "titel"}',
                       "--db", str(path))
    assert code == 1 and "did you mean 'title'" in err and "Traceback" not in err
    code, _, err = run(capsys, "unenroll", "--db", str(path))
    assert code == 1 and "needs an EMAIL" in err
