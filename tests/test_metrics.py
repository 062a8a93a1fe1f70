"""Sequence metrics: counts by state, reason, source and class, and the lists behind them."""

import datetime as dt

import pandas as pd
import pytest
from lifecycle_factory import T0, add_contact, add_enrollment, add_event, make_workspace

from unify_dash.reports import metrics
from unify_dash.reports.metrics import Scope
from unify_dash.store import db

DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def con():
    """One database for the whole module: every test here only reads."""
    connection = db.connect(None)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def ws(con):
    """Two sequences of Play p1 (seq1 at node n1, seq2 at node n2) and a few contacts in every state."""
    make_workspace(con)
    c = {name: add_contact(con, f"{name}@acme{i}.com", first_name=name.title())
         for i, name in enumerate(["ann", "bob", "cat", "dan", "eve", "fay", "gus", "hal"])}
    c["sf"] = add_contact(con, "sf@crm.com", sf_email_opt_out=True)  # opted out by the CRM flag (read & write)
    c["hs"] = add_contact(con, "hs@crm.com", hs_opt_out=True)  # HubSpot mapping too (read-only)
    e = {}
    e["ann"] = add_enrollment(con, c["ann"], state="active", current_step=1)
    e["bob"] = add_enrollment(con, c["bob"], state="queued")
    e["cat"] = add_enrollment(con, c["cat"], state="completed", completion_reason="finished", current_step=3)
    e["dan"] = add_enrollment(con, c["dan"], state="completed", completion_reason="opted_out", current_step=1)
    e["eve"] = add_enrollment(con, c["eve"], state="completed", completion_reason="excluded")
    e["fay"] = add_enrollment(con, c["fay"], state="unenrolled", completion_reason="unenrolled")
    e["gus"] = add_enrollment(con, c["gus"], state="not_enrolled")
    e["hal"] = add_enrollment(con, c["hal"], "seq2", state="completed", completion_reason="replied", node_id="n2")
    e["sf"] = add_enrollment(con, c["sf"], state="completed", completion_reason="opted_out")
    # events: sends on two days, replies with classes, opt-outs from two sources, a reversed opt-out
    add_event(con, "send", T0 - 3 * DAY, email="ann@acme0.com", sequence_id="seq1", enrollment_id=e["ann"], step=1)
    add_event(con, "send", T0 - 3 * DAY, email="dan@acme3.com", sequence_id="seq1", enrollment_id=e["dan"], step=1)
    add_event(con, "send", T0 - 2 * DAY, email="cat@acme2.com", sequence_id="seq1", enrollment_id=e["cat"], step=1)
    add_event(con, "send", T0 - 2 * DAY, email="hal@acme7.com", sequence_id="seq2", enrollment_id=e["hal"], step=1)
    add_event(con, "reply", T0 - 2 * DAY, email="hal@acme7.com", sequence_id="seq2", enrollment_id=e["hal"],
              text="Sounds good, call me", label="positive")
    add_event(con, "reply", T0 - 2 * DAY, email="ann@acme0.com", sequence_id="seq1", enrollment_id=e["ann"],
              text="I am out of the office", label="out_of_office")
    add_event(con, "reply", T0 - DAY, email="ann@acme0.com", sequence_id="seq1", enrollment_id=e["ann"],
              text="'; DROP TABLE contacts; -- please remove me", label="opt_out")
    add_event(con, "opt_out", T0 - 2 * DAY, email="dan@acme3.com", sequence_id="seq1", enrollment_id=e["dan"],
              source="link")
    add_event(con, "opt_out", T0 - DAY, email="fay@acme5.com", source="admin", actor="sam")
    add_event(con, "opt_out", T0 - 3 * DAY, email="eve@acme4.com", source="admin", actor="sam")
    add_event(con, "opt_out_reversal", T0 - 2 * DAY, email="eve@acme4.com", actor="sam",
              detail='{"given_by": "eve"}')
    # execution log: the exclusion that skipped eve
    con.execute("INSERT INTO execution_log VALUES ('l1', ?, ?, 'p1', 'n1', 'seq1', 1, 'skipped', "
                "'customer (organisation + ruleset default)', 1)", [T0 - DAY, c["eve"]])
    con.execute("INSERT INTO execution_log VALUES ('l2', ?, ?, 'p1', 'n1', 'seq1', 1, 'sent', NULL, 1)",
                [T0 - 3 * DAY, c["ann"]])
    # the scheduler writes a JSON list of blockers, each with its words
    con.execute("INSERT INTO execution_log VALUES ('l3', ?, ?, 'p1', 'n1', 'seq1', NULL, 'not_enrolled', ?, 1)",
                [T0 - 4 * DAY, c["gus"], '[{"exclusion_id": "ceo", "level": "sequence", "text": "CEOs (org on)"}, '
                 '{"exclusion_id": "customer", "level": "sequence", "text": "Customer (org on)"}]'])
    return c, e


STATE = [("enrolled", 8), ("active", 1), ("queued", 1), ("completed", 5), ("unenrolled", 1), ("not_enrolled", 1)]


@pytest.mark.parametrize("key,expected", STATE)
def test_enrollments_by_state(con, ws, key, expected):
    counts = metrics.breakdown(con, "state").set_index("key")["count"]
    assert counts[key] == expected
    assert metrics.count(con, "state", key) == expected


@pytest.mark.parametrize("scope,key,expected", [
    (Scope(play_id="p1"), "completed", 5),
    (Scope(play_id="p1", node_id="n1"), "completed", 4),
    (Scope(sequence_id="seq2"), "completed", 1),
    (Scope(sequence_id="seq2"), "enrolled", 1),
    (Scope(play_id="nope"), "enrolled", 0),
])
def test_scope_narrows_the_counts(con, ws, scope, key, expected):
    assert metrics.count(con, "state", key, scope) == expected


@pytest.mark.parametrize("family,expected", [
    ("completed", {"finished": 1, "opted_out": 2, "excluded": 1, "replied": 1}),
    # the CRM flags count under the mapping; eve's admin opt-out was reversed
    ("opt_outs", {"link": 1, "admin": 1, "crm": 2}),
    ("replies", {"positive": 1, "out_of_office": 1, "opt_out": 1}),
])
def test_breakdowns(con, ws, family, expected):
    got = dict(zip(metrics.breakdown(con, family)["key"], metrics.breakdown(con, family)["count"], strict=True))
    assert got == expected


def test_opt_outs_in_a_sequence_are_its_participants(con, ws):
    got = metrics.breakdown(con, "opt_outs", Scope(sequence_id="seq1"))
    # dan (link), fay (admin), sf (crm flag) are seq1 participants; hs has no enrollment
    assert dict(zip(got["key"], got["count"], strict=True)) == {"link": 1, "admin": 1, "crm": 1}


def test_labels_are_english(con, ws):
    df = metrics.breakdown(con, "completed")
    assert "Excluded (skipped at send time)" in set(df["label"])
    assert metrics.label("state", "enrolled") == "Enrolled"
    assert metrics.label("activity", "2026-11-01|send") == "Emails sent on 2026-11-01"


SCOPES = [Scope(), Scope(play_id="p1"), Scope(sequence_id="seq1"), Scope(play_id="p1", node_id="n2")]


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("family", ["state", "completed", "opt_outs", "replies"])
def test_every_list_has_the_length_of_its_count(con, ws, family, scope):
    for key, n in zip(metrics.breakdown(con, family, scope)["key"], metrics.breakdown(con, family, scope)["count"],
                      strict=True):
        page = metrics.contacts(con, family, key, scope, limit=None)
        assert page["total"] == n == len(page["rows"]), (family, key)


@pytest.mark.parametrize("freq", ["day", "week"])
@pytest.mark.parametrize("scope", SCOPES)
def test_timeline_bars_list_their_events(con, ws, scope, freq):
    tl = metrics.timeline(con, scope, freq=freq)
    family = metrics.timeline_family(freq)
    for key, n in zip(tl["key"], tl["count"], strict=True):
        assert len(metrics.contacts(con, family, key, scope, limit=None)["rows"]) == n


def test_weekly_timeline_sums_the_days(con, ws):
    days, weeks = metrics.timeline(con), metrics.timeline(con, freq="week")
    assert days["count"].sum() == weeks["count"].sum() == 10  # 4 sends, 3 replies, 3 opt-out events
    assert all(pd.Timestamp(d).weekday() == 0 for d in weeks["day"])
    assert metrics.label("activity_week", "2026-10-26|reply") == "Replies in the week of 2026-10-26"
    with pytest.raises(ValueError):
        metrics.timeline(con, freq="month")


def test_timeline_counts_per_day(con, ws):
    tl = metrics.timeline(con, Scope(sequence_id="seq1"))
    sends = dict(zip(tl.loc[tl["type"] == "send", "day"], tl.loc[tl["type"] == "send", "count"], strict=True))
    assert sends == {(T0 - 3 * DAY).strftime("%Y-%m-%d"): 2, (T0 - 2 * DAY).strftime("%Y-%m-%d"): 1}


def test_pages_are_stable_and_cover_the_list(con, ws):
    whole = metrics.contacts(con, "state", "enrolled", limit=None)["rows"]
    pages = [metrics.contacts(con, "state", "enrolled", offset=o, limit=3)["rows"] for o in range(0, 9, 3)]
    assert [e for p in pages for e in p["email"]] == list(whole["email"])
    assert list(whole["email"]) == sorted(whole["email"])


def test_lists_carry_reasons(con, ws):
    rows = metrics.contacts(con, "completed", "excluded")["rows"]
    assert list(rows["email"]) == ["eve@acme4.com"]
    assert rows.iloc[0]["blocking_criteria"] == "customer (organisation + ruleset default)"
    opt = metrics.contacts(con, "opt_outs", "link")["rows"]
    assert list(opt["email"]) == ["dan@acme3.com"] and opt.iloc[0]["evidence_event"]


def test_reply_text_is_data_not_sql(con, ws):
    rows = metrics.contacts(con, "replies", "opt_out")["rows"]
    assert rows.iloc[0]["text"].startswith("'; DROP TABLE contacts")
    assert con.execute("SELECT count(*) FROM contacts").fetchone()[0] == 10


def test_csv_export_has_one_line_per_row(con, ws):
    text = metrics.to_csv(con, "state", "enrolled").decode()
    assert len(text.strip().splitlines()) == 1 + metrics.count(con, "state", "enrolled")
    assert text.splitlines()[0].startswith("email,name,company")


@pytest.mark.parametrize("filters,expected", [
    ({}, 3),
    ({"outcome": "skipped"}, 1),
    ({"email": " EVE@acme4.com "}, 1),
    ({"blocked_only": True}, 2),
    ({"play_id": "p2"}, 0),
    ({"email": "x'; DROP TABLE execution_log; --"}, 0),
])
def test_execution_log_filters(con, ws, filters, expected):
    assert metrics.execution_log(con, **filters)["total"] == expected
    assert con.execute("SELECT count(*) FROM execution_log").fetchone()[0] == 3


def test_execution_log_blockers_read_as_words(con, ws):
    rows = metrics.execution_log(con, outcome="not_enrolled")["rows"]
    assert rows.iloc[0]["blocking_criteria"] == "CEOs (org on); Customer (org on)"
    assert metrics.contacts(con, "state", "not_enrolled")["rows"].iloc[0]["blocking_criteria"] == \
        "CEOs (org on); Customer (org on)"


def test_unknown_family_is_an_error(con, ws):
    with pytest.raises(ValueError, match="unknown metric family"):
        metrics.breakdown(con, "nope")


def test_workspace_counts_and_audit(con, ws):
    counts = metrics.workspace_counts(con)
    assert counts["contacts"] == 10 and counts["execution_log"] == 3
    assert metrics.recent_audit(con).empty
    assert metrics.writebacks(con)["total"] == 0
    assert db.now(con) == T0


def test_orphans_and_repeated_contacts_keep_counts_and_lists_equal():
    """An enrollment whose contact is missing still counts (and is listed); a contact enrolled twice
    is listed twice, in a stable order."""
    con = db.connect(None)
    try:
        make_workspace(con)
        ann = add_contact(con, "ann@acme.com")
        for seq in ("seq1", "seq2"):
            add_enrollment(con, ann, seq, state="active")
        add_enrollment(con, "gone", "seq1", state="active")
        assert metrics.count(con, "state", "active") == 3
        rows = metrics.contacts(con, "state", "active", limit=None)["rows"]
        assert len(rows) == 3 and rows["email"].isna().sum() == 1
        pages = [metrics.contacts(con, "state", "active", offset=o, limit=1)["rows"]["enrollment_id"].iloc[0]
                 for o in range(3)]
        assert pages == list(rows["enrollment_id"]) and len(set(pages)) == 3
    finally:
        con.close()
