"""The send scheduler: every state transition, the execution log, the sender seam, propagation,
evaluation reuse, manual enrollment and the CLI."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pytest
from lifecycle_factory import (
    SUPPORT,
    T0,
    H,
    add_contact,
    add_enrollment,
    add_event,
    add_opportunity,
    add_record,
    enrollment,
    events,
    make_workspace,
    rows,
    save_settings,
    settings_doc,
)

from unify_dash import scheduler
from unify_dash.actions import enrollments as lifecycle
from unify_dash.actions import optouts
from unify_dash.errors import NotFound, PermissionDenied, ValidationError
from unify_dash.model.roles import Actor
from unify_dash.reports import diagnosis
from unify_dash.scheduler import run as run_mod
from unify_dash.scheduler.outbox import RecordingSender
from unify_dash.store import db, schema

D = dt.timedelta(days=1)


@pytest.fixture
def ws(con):
    make_workspace(con)
    add_record(con, "sf:1", "acme.com")
    add_opportunity(con, "o1", "sf:1")
    add_record(con, "hs:9", "cust.com", crm="hubspot", is_customer=True)
    return con


def log(con, contact_id=None):
    return rows(con, 'SELECT * FROM execution_log WHERE (? IS NULL OR contact_id = ?) ORDER BY "at", outcome',
                [contact_id, contact_id])


def by_contact(con, contact_id, sequence_id="seq1"):
    return rows(con, "SELECT * FROM enrollments WHERE contact_id = ? AND sequence_id = ?", [contact_id, sequence_id])


# --- entry -----------------------------------------------------------------------------------------------


def test_full_sequence_queued_active_finished(con, ws):
    c = add_contact(con, "ann@beta.com")
    s = scheduler.run_until(con, T0 + 10 * D)
    [e] = by_contact(con, c)
    assert (e["state"], e["completion_reason"], e["current_step"], e["next_step_at"]) == ("completed", "finished", 3,
                                                                                          None)
    sends = events(con, "send", "ann@beta.com")
    # enrolled at the first tick (T0 + 1 h), step 1 without delay, then +3 days, then +4 days
    assert [(x["step"], x["occurred_at"]) for x in sends] == [(1, T0 + H), (2, T0 + H + 3 * D),
                                                              (3, T0 + H + 7 * D)]
    assert [x["text"] for x in sends] == ["Hello", "Follow-up", "Last try"]
    assert json.loads(sends[0]["detail"])["delivery_id"] == f"rec:{e['enrollment_id']}:1"
    assert [r["outcome"] for r in log(con, c)] == ["enrolled", "sent", "sent", "sent"]
    assert {r["settings_version"] for r in log(con, c)} == {1}
    assert sorted(x["type"] for x in events(con, email="ann@beta.com")) == ["complete", "enroll", "send", "send",
                                                                            "send"]
    assert (s["sends"], s["new_enrollments"], s["completions"]) == (3, 1, {"finished": 1})
    assert db.now(con) == T0 + 10 * D


def test_intermediate_states(con, ws):
    c = add_contact(con, "ann@beta.com")
    # stop before the first tick's step is due: the first step has no delay, so it goes at the first tick
    doc = settings_doc()
    doc["sequences"][0]["steps"][0]["delay_days"] = 1
    save_settings(con, doc, at=T0 - 2 * D + H, effective_at=T0 - 2 * D + H)
    scheduler.run_until(con, T0 + 2 * H)
    [e] = by_contact(con, c)
    assert (e["state"], e["current_step"], e["next_step_at"]) == ("queued", 0, T0 + H + D)
    scheduler.run_until(con, T0 + 2 * D)
    [e] = by_contact(con, c)
    assert (e["state"], e["current_step"], e["next_step_at"]) == ("active", 1, T0 + H + D + 3 * D)


@pytest.mark.parametrize("email,title,blocking", [
    ("bob@acme.com", None, ["open_opp"]),        # company-wide: an open opportunity on the domain
    ("cid@cust.com", None, ["customer"]),        # company-wide: a HubSpot customer record
    ("ceo@beta.com", "CEO", ["ceo"]),            # person
])
def test_not_enrolled_with_blocking_exclusions(con, ws, email, title, blocking):
    c = add_contact(con, email, title=title)
    s = scheduler.run_until(con, T0 + D)
    [e] = by_contact(con, c)
    assert (e["state"], e["completion_reason"], e["next_step_at"]) == ("not_enrolled", None, None)
    [row] = log(con, c)
    assert row["outcome"] == "not_enrolled" and row["play_id"] == "p1" and row["node_id"] == "n1"
    got = json.loads(row["blocking"])
    assert [b["exclusion_id"] for b in got] == blocking and got[0]["level"] == "sequence"
    assert row["settings_version"] == 1
    assert s["not_enrolled"] == {blocking[0]: 1} and s["not_enrolled_contacts"] == 1
    assert events(con, "send", email) == []
    # the next run records nothing new for it (an attempt still blocked writes nothing)
    scheduler.run_until(con, T0 + 3 * D)
    assert len(log(con, c)) == 1


def test_loaded_not_enrolled_gets_one_log_row_naming_its_block(con, ws):
    # a loaded history: three not_enrolled enrollments at the node, still blocked by open_opp; one has a
    # log row naming that block, one a row naming another block, one none. The first tick writes a row
    # for the last two only (the blocking lists compared exactly: _log_still_blocked), later ticks none.
    same, other, none = (add_contact(con, f"{n}@acme.com") for n in ("same", "other", "none"))
    for c in (same, other, none):
        add_enrollment(con, c, "seq1", state="not_enrolled", enrolled_at=None, updated_at=T0 - D)
    scheduler.run_until(con, T0 + H)
    [row] = log(con, same)
    blocking = row["blocking"]
    assert [b["exclusion_id"] for b in json.loads(blocking)] == ["open_opp"]
    con.execute("DELETE FROM execution_log")
    for c, text in ((same, blocking), (other, json.dumps([{"exclusion_id": "ceo", "reason": "x"}]))):
        con.execute("INSERT INTO execution_log VALUES (?, ?, ?, 'p1', 'n1', 'seq1', NULL, 'not_enrolled', ?, 1)",
                    [f"log:{c}", T0 - D, c, text])
    run_mod.forget_runs()  # a fresh run: its first tick takes Play entry over everyone
    scheduler.run_until(con, T0 + 2 * H)
    assert len(log(con, same)) == 1
    assert [r["blocking"] for r in log(con, other)][1:] == [blocking]
    assert [r["blocking"] for r in log(con, none)] == [blocking]
    run_mod.forget_runs()  # a fresh run: its first tick takes Play entry over everyone
    scheduler.run_until(con, T0 + 3 * H)
    assert [len(log(con, c)) for c in (same, other, none)] == [1, 2, 1]


def test_excluded_at_audience_and_opted_out_logged_once(con, ws):
    doc = settings_doc()
    doc["plays"][0]["audience_exclusions"] = {"ceo": True}
    save_settings(con, doc, at=T0 - D, effective_at=T0 - D)
    boss = add_contact(con, "ceo@beta.com", title="CEO")
    out = add_contact(con, "out@beta.com")
    add_event(con, "opt_out", T0 - D, email="out@beta.com", contact_id=out, source="link")
    s = scheduler.run_until(con, T0 + 2 * D)
    assert by_contact(con, boss) == [] and by_contact(con, out) == []
    [b] = log(con, boss)
    assert (b["outcome"], b["node_id"], json.loads(b["blocking"])[0]["level"]) == ("excluded_at_audience", None,
                                                                                  "audience")
    [o] = log(con, out)
    assert o["outcome"] == "opted_out"
    assert s["excluded_at_audience"] == {"ceo": 1} and s["opted_out_at_entry"] == 1
    scheduler.run_until(con, T0 + 5 * D)
    assert len(log(con, boss)) == 1 and len(log(con, out)) == 1


def test_audience_criteria_keep_others_out(con, ws):
    doc = settings_doc()
    doc["plays"][0]["audience"] = {"field": "country", "op": "equals", "value": "DE"}
    save_settings(con, doc, at=T0 - D, effective_at=T0 - D)
    de = add_contact(con, "de@beta.com", country="de")
    fr = add_contact(con, "fr@beta.com", country="FR")
    scheduler.run_until(con, T0 + D)
    assert len(by_contact(con, de)) == 1 and by_contact(con, fr) == [] and log(con, fr) == []


def test_not_enrolled_is_retried_after_a_change_takes_effect(con, ws):
    c = add_contact(con, "bob@acme.com")
    scheduler.run_until(con, T0 + 2 * H)
    assert by_contact(con, c)[0]["state"] == "not_enrolled"
    # RevOps turns the rule off in the ruleset at T0 + 2 h; it takes effect 15 minutes later
    doc = settings_doc()
    doc["rulesets"][0]["exclusions"]["open_opp"] = False
    save_settings(con, doc, at=T0 + 2 * H)
    s = scheduler.run_until(con, T0 + 4 * H)
    [e] = by_contact(con, c)
    assert e["state"] == "active"  # enrolled at T0 + 3 h and step 1 sent then
    assert e["enrolled_at"] == T0 + 3 * H
    assert [(r["outcome"], r["settings_version"]) for r in log(con, c)] == [
        ("not_enrolled", 1), ("enrolled", 2), ("sent", 2)]
    assert s["reenrolled"] == 1 and s["new_enrollments"] == 0


def test_contact_already_in_the_sequence_is_not_enrolled_twice(con, ws):
    c = add_contact(con, "ann@beta.com")
    add_enrollment(con, c, "seq1", state="active", current_step=1, next_step_at=T0 + 5 * D, play_id=None, node_id=None)
    scheduler.run_until(con, T0 + D)
    assert len(by_contact(con, c)) == 1


# --- send time -------------------------------------------------------------------------------------------


def test_queued_contact_matching_an_exclusion_is_skipped_at_send_time(con, ws):
    # queued while matching (the support article: expected, it is checked at send time)
    c = add_contact(con, "bob@acme.com")
    eid = add_enrollment(con, c, "seq1", state="queued", next_step_at=T0 + 5 * H)
    s = scheduler.run_until(con, T0 + D)
    e = enrollment(con, eid)
    assert (e["state"], e["completion_reason"], e["current_step"]) == ("completed", "excluded", 0)
    assert events(con, "send", "bob@acme.com") == []
    [skip] = [r for r in log(con, c) if r["outcome"] == "skipped"]
    assert (skip["at"], skip["step"], skip["settings_version"]) == (T0 + 5 * H, 1, 1)
    assert json.loads(skip["blocking"])[0]["exclusion_id"] == "open_opp"
    [ev] = events(con, "exclusion_skip", "bob@acme.com")
    assert ev["enrollment_id"] == eid and "open_opp" in ev["detail"]
    assert s["skips"] == {"excluded": 1} and s["completions"] == {"excluded": 1}
    d = diagnosis.diagnose_completion(con, eid)
    assert (d["pattern"], d["cause"]) == ("completed_before_first_message", "exclusion_skip")
    assert "Open opportunity" in d["summary"] and "settings version 1" in d["summary"]


@pytest.mark.parametrize("email,state,expected", [
    # remove_from_active_sequences on: removed mid-sequence
    ("bob@acme.com", "active", ("completed", "excluded_mid_sequence", 1, "removed")),
    # off: the active participant keeps receiving steps (new entries are blocked)
    ("cid@cust.com", "active", ("active", None, 2, "sent")),
    # a queued one is skipped either way
    ("cid@cust.com", "queued", ("completed", "excluded", 0, "skipped")),
])
def test_mid_sequence(con, ws, email, state, expected):
    c = add_contact(con, email)
    eid = add_enrollment(con, c, "seq1", state=state, current_step=1 if state == "active" else 0,
                         next_step_at=T0 + 2 * H)
    scheduler.run_until(con, T0 + 3 * H)
    e = enrollment(con, eid)
    assert (e["state"], e["completion_reason"], e["current_step"]) == expected[:3]
    [row] = [r for r in log(con, c) if r["outcome"] != "enrolled"]
    assert row["outcome"] == expected[3]
    assert json.loads(row["blocking"])  # the blocking exclusion is named even when the step goes out


@pytest.mark.parametrize("state,outcome", [("queued", "skipped"), ("active", "removed")])
def test_opted_out_contact_is_never_emailed_again(con, ws, state, outcome):
    c = add_contact(con, "ann@beta.com")
    eid = add_enrollment(con, c, "seq1", state=state, current_step=int(state == "active"), next_step_at=T0 + 2 * H)
    # a link click recorded by the platform (loaded), not yet applied to the enrollment
    add_event(con, "opt_out", T0 + H, email="ann@beta.com", contact_id=c, source="link")
    s = scheduler.run_until(con, T0 + 3 * H)
    e = enrollment(con, eid)
    assert (e["state"], e["completion_reason"]) == ("completed", "opted_out")
    assert [r["outcome"] for r in log(con, c) if r["outcome"] in ("skipped", "removed")] == [outcome]
    assert events(con, "send", "ann@beta.com") == []
    assert (s["skips"] if state == "queued" else s["removals"]) == {"opted_out": 1}
    assert diagnosis.diagnose_completion(con, eid)["cause"] == "opt_out_link"


def test_send_uses_the_settings_in_effect_at_send_time(con, ws):
    # a change saved at T0 takes effect at T0 + 15 min: a step due at T0 + 10 min uses the old
    # settings, one due at T0 + 20 min the new ones
    a = add_contact(con, "a@cust.com")
    b = add_contact(con, "b@cust.com")
    ea = add_enrollment(con, a, "seq1", state="queued", next_step_at=T0 + dt.timedelta(minutes=10))
    eb = add_enrollment(con, b, "seq1", state="queued", next_step_at=T0 + dt.timedelta(minutes=20))
    doc = settings_doc()
    doc["exclusions"][1]["exclude_from_sequences"] = False  # "customer" off at the organisation level
    save_settings(con, doc, at=T0)
    db.set_clock(con, T0)
    scheduler.run_until(con, T0 + H, tick=dt.timedelta(minutes=5))
    assert enrollment(con, ea)["completion_reason"] == "excluded"
    assert enrollment(con, eb)["state"] == "active"
    assert [(r["outcome"], r["settings_version"]) for r in log(con, a)] == [("skipped", 1)]
    assert ("sent", 2) in [(r["outcome"], r["settings_version"]) for r in log(con, b)]


def test_reply_ends_the_sequence_but_out_of_office_does_not(con, ws):
    a = add_contact(con, "a@beta.com")
    b = add_contact(con, "b@beta.com")
    ea = add_enrollment(con, a, "seq1", state="active", current_step=1, next_step_at=T0 + D)
    eb = add_enrollment(con, b, "seq1", state="active", current_step=1, next_step_at=T0 + D)
    add_event(con, "reply", T0 + 2 * H, email="a@beta.com", text="Interested", label="positive", sequence_id="seq1")
    add_event(con, "reply", T0 + 2 * H, email="b@beta.com", text="OOO", label="out_of_office")
    s = scheduler.run_until(con, T0 + 2 * D)
    assert (enrollment(con, ea)["state"], enrollment(con, ea)["completion_reason"]) == ("completed", "replied")
    assert enrollment(con, eb)["current_step"] == 2
    assert s["completions"] == {"replied": 1}
    assert diagnosis.diagnose_completion(con, ea)["cause"] == "replied"


def test_sequence_that_got_shorter_finishes(con, ws):
    c = add_contact(con, "ann@beta.com")
    eid = add_enrollment(con, c, "seq2", state="active", current_step=2, next_step_at=T0 + H, play_id=None,
                         node_id=None)
    scheduler.run_until(con, T0 + 2 * H)
    assert (enrollment(con, eid)["state"], enrollment(con, eid)["completion_reason"]) == ("completed", "finished")


# --- the sender seam ---------------------------------------------------------------------------------------


class ListSender:
    """A sender with only ``send`` (the Protocol): the scheduler hands it Message objects."""

    def __init__(self, fail_at: int | None = None):
        self.messages = []
        self.fail_at = fail_at

    def send(self, message):
        if self.fail_at is not None and len(self.messages) + 1 == self.fail_at:
            raise ConnectionError("smtp down")
        self.messages.append(message)
        return f"smtp-{len(self.messages)}"


def test_custom_sender_receives_messages(con, ws):
    add_contact(con, "ann@beta.com")
    sender = ListSender()
    assert isinstance(sender, scheduler.Sender)
    scheduler.run_until(con, T0 + 4 * D, sender=sender)
    assert [(m.email, m.step, m.subject) for m in sender.messages] == [("ann@beta.com", 1, "Hello"),
                                                                       ("ann@beta.com", 2, "Follow-up")]
    assert [json.loads(e["detail"])["delivery_id"] for e in events(con, "send")] == ["smtp-1", "smtp-2"]


@pytest.mark.parametrize("sender", [None, "list"])  # recorded in the tick, or delivered after its commit
def test_a_send_whose_event_id_the_history_already_holds_is_not_written_twice(con, ws, sender):
    # a loaded history may hold the id the scheduler gives a send (send:<enrollment>:<step>): the tick
    # keeps the event it finds (no second one, no failed tick) and goes on
    c = add_contact(con, "ann@beta.com")
    eid = add_enrollment(con, c, "seq1", state="queued", next_step_at=T0 + H)
    add_event(con, "send", T0 - D, event_id=f"send:{eid}:1", contact_id=c, email="ann@beta.com",
              enrollment_id=eid, step=1, text="loaded")
    s = scheduler.run_until(con, T0 + 2 * H, sender=ListSender() if sender else None)
    assert s["sends"] == 1 and enrollment(con, eid)["current_step"] == 1
    assert [(e["event_id"], e["text"]) for e in events(con, "send")] == [(f"send:{eid}:1", "loaded")]
    assert rows(con, "SELECT idempotency_key, status FROM outbox") == [
        {"idempotency_key": f"{eid}:1", "status": "delivered"}]


@pytest.mark.parametrize("sender", [None, "list"])
@pytest.mark.parametrize("held", ["event", "outbox"])
def test_a_tick_that_meets_a_key_already_there_is_redone_checked_once(con, ws, monkeypatch, sender, held):
    # a tick inserts its events and outbox rows without looking their keys up; the one key a loaded
    # history (or an earlier run) holds fails the insert, the transaction is rolled back and done again
    # with the keys looked up: the summary counts the tick once, nothing is written twice
    c = add_contact(con, "ann@beta.com")
    other = add_contact(con, "bob@beta.com")
    eid = add_enrollment(con, c, "seq1", state="queued", next_step_at=T0 + H)
    add_enrollment(con, other, "seq1", state="queued", next_step_at=T0 + H)
    if held == "event":
        add_event(con, "send", T0 - D, event_id=f"send:{eid}:1", contact_id=c, email="ann@beta.com",
                  enrollment_id=eid, step=1, text="loaded")
    else:  # delivered by an earlier run whose enrollment row says otherwise (restored from a backup)
        con.execute("INSERT INTO outbox (idempotency_key, enrollment_id, step, contact_id, email, sequence_id, "
                    "subject, queued_at, status, attempts) VALUES (?, ?, 1, ?, 'ann@beta.com', 'seq1', 'Hello', ?, "
                    "'delivered', 1)", [f"{eid}:1", eid, c, T0 - D])
    lookups = []
    real = db.existing_keys
    monkeypatch.setattr(db, "existing_keys", lambda *a: lookups.append(a[1]) or real(*a))
    s = scheduler.run_until(con, T0 + 2 * H, sender=ListSender() if sender else None)
    if sender is None:  # the tick's transaction, redone with its keys looked up
        assert lookups == ["outbox", "events"]
    else:  # the outbox rows are the tick's; the send events are written by the delivery after it (checked)
        assert ("outbox" in lookups) == (held == "outbox") and "events" in lookups
    assert s["queued"] == 2 and s["completions"] == {}
    assert s["sends"] == (1 if held == "outbox" else 2)
    got = rows(con, "SELECT event_id, count(*) AS n FROM events WHERE type = 'send' GROUP BY ALL ORDER BY ALL")
    assert all(r["n"] == 1 for r in got)
    assert rows(con, "SELECT idempotency_key, count(*) AS n FROM outbox GROUP BY ALL ORDER BY ALL") == sorted(
        [{"idempotency_key": f"{e}:1", "n": 1} for e in rows_of(con, "seq1")], key=lambda r: r["idempotency_key"])
    assert len(log(con)) == len({(r["contact_id"], r["outcome"]) for r in log(con)})  # no log row twice
    # the next tick is the fast one again: no key looked up
    lookups.clear()
    scheduler.run_until(con, T0 + 3 * H + 3 * D, sender=ListSender() if sender else None)
    assert len(events(con, "send")) == s["sends"] + 2
    assert lookups == ([] if sender is None else ["events"])


def test_without_the_events_key_index_a_tick_looks_its_keys_up(con, ws, monkeypatch):
    # a load that stopped before building the events' key index (IndexesPending) leaves nothing to refuse a
    # key already there: the tick must look its keys up, or a loaded send event would be written twice
    c = add_contact(con, "ann@beta.com")
    eid = add_enrollment(con, c, "seq1", state="queued", next_step_at=T0 + H)
    add_event(con, "send", T0 - D, event_id=f"send:{eid}:1", contact_id=c, email="ann@beta.com",
              enrollment_id=eid, step=1, text="loaded")
    [(name, _)] = schema.key_indexes("events")
    con.execute(f"DROP INDEX {name}")
    assert not db.keys_enforced(con, "events") and db.keys_enforced(con, "outbox")
    scheduler.run_until(con, T0 + 2 * H)
    assert rows(con, "SELECT event_id, count(*) AS n FROM events WHERE type = 'send' GROUP BY ALL") == [
        {"event_id": f"send:{eid}:1", "n": 1}]


def test_a_sender_that_only_extends_the_recording_one_is_never_redone(con, ws):
    # a subclass of RecordingSender may really deliver inside the tick's transaction: its tick takes the
    # checked inserts, so a key already there is never a redo that would deliver the batch twice
    class Delivering(RecordingSender):
        pass

    c = add_contact(con, "ann@beta.com")
    eid = add_enrollment(con, c, "seq1", state="queued", next_step_at=T0 + H)
    add_enrollment(con, add_contact(con, "bob@beta.com"), "seq1", state="queued", next_step_at=T0 + H)
    con.execute("INSERT INTO outbox (idempotency_key, enrollment_id, step, contact_id, email, sequence_id, "
                "subject, queued_at, status, attempts) VALUES (?, ?, 1, ?, 'ann@beta.com', 'seq1', 'Hello', ?, "
                "'delivered', 1)", [f"{eid}:1", eid, c, T0 - D])
    sender = Delivering()
    scheduler.run_until(con, T0 + 2 * H, sender=sender)
    assert sender.sent == 2  # one pass over the tick's two messages: no redo (an unchecked tick: 4)


def test_a_tick_looks_no_key_up_when_every_key_is_new(con, ws, monkeypatch):
    add_contact(con, "ann@beta.com")
    monkeypatch.setattr(db, "existing_keys", lambda *a: pytest.fail(f"{a[1]} keys looked up"))
    s = scheduler.run_until(con, T0 + 5 * D)
    assert s["sends"] == 2 and len(events(con, "send")) == 2


def rows_of(con, sequence_id):
    return [r["enrollment_id"] for r in rows(con, "SELECT enrollment_id FROM enrollments WHERE sequence_id = ?",
                                             [sequence_id])]


def test_a_failing_sender_leaves_the_step_pending_in_the_outbox(con, ws):
    c = add_contact(con, "ann@beta.com")
    scheduler.run_until(con, T0 + H)
    [e] = by_contact(con, c)
    assert e["current_step"] == 1
    sends = len(events(con, "send"))
    with pytest.raises(ConnectionError):
        scheduler.run_until(con, T0 + 5 * D, sender=ListSender(fail_at=1))
    # the tick (step 2, at T0 + 1 h + 3 d) committed what it was about to send, then delivery failed:
    # the step is pending in the outbox under its key, no send event is recorded for it
    assert db.now(con) == T0 + H + 3 * D
    assert by_contact(con, c)[0]["current_step"] == 2
    assert rows(con, "SELECT idempotency_key, status, attempts FROM outbox WHERE step = 2") == [
        {"idempotency_key": f"{e['enrollment_id']}:2", "status": "pending", "attempts": 1}]
    assert len(events(con, "send")) == sends
    # the rerun re-offers it first, with the same key, and nothing is queued twice
    sender = ListSender()
    s = scheduler.run_until(con, T0 + 5 * D, sender=sender)
    assert s["reoffered"] == 1 and [m.idempotency_key for m in sender.messages][:1] == [f"{e['enrollment_id']}:2"]
    assert rows(con, "SELECT count(*) AS n FROM outbox WHERE status <> 'delivered'") == [{"n": 0}]
    got = rows(con, "SELECT enrollment_id, step, count(*) AS n FROM events WHERE type = 'send' GROUP BY ALL")
    assert all(r["n"] == 1 for r in got) and len(got) == 2


# --- evaluation reuse --------------------------------------------------------------------------------------


def test_evaluation_is_reused_while_nothing_changes(con, ws):
    for i in range(5):
        add_contact(con, f"c{i}@beta.com")
    s = scheduler.run_until(con, T0 + 12 * D)
    assert s["ticks"] > 5 and s["evaluations"] == 1
    # an opt-out recorded in between forces a new evaluation
    optouts.opt_out(con, SUPPORT, "c0@beta.com", source="admin")
    assert scheduler.run_until(con, T0 + 13 * D)["evaluations"] == 1


def test_relative_date_crossing_forces_a_new_evaluation(con, ws):
    doc = settings_doc()
    doc["exclusions"].append({"id": "recent", "name": "Contacted in the last 10 days",
                              "criteria": {"field": "last_contacted_at", "op": "within_last_days", "value": 10}})
    doc["rulesets"][0]["exclusions"]["recent"] = True
    save_settings(con, doc, at=T0 - D, effective_at=T0 - D)
    # contacted 9.5 days before T0: blocked at T0 + 1 h, free from T0 + 12 h on
    c = add_contact(con, "ann@beta.com", last_contacted_at=T0 - dt.timedelta(days=9, hours=12))
    s = scheduler.run_until(con, T0 + 3 * D)
    assert s["evaluations"] >= 2
    [e] = by_contact(con, c)
    assert e["state"] == "active" and e["enrolled_at"] == T0 + D + H  # the heartbeat tick after it expired
    assert [r["outcome"] for r in log(con, c)][:2] == ["not_enrolled", "enrolled"]


# --- run_until inputs ------------------------------------------------------------------------------------


def test_run_until_inputs(con, ws):
    with pytest.raises(ValidationError, match="before the workspace clock"):
        scheduler.run_until(con, T0 - H)
    with pytest.raises(PermissionDenied):
        scheduler.run_until(con, T0 + H, actor=SUPPORT)
    s = scheduler.run_until(con, T0)
    assert s["ticks"] == 0


# --- manual enrollment (lifecycle.enroll) ------------------------------------------------------------------


PERMISSION = {"permission_by": "Ann (the contact)", "permission_at": T0, "evidence": "her email of Nov 2"}


def test_reenroll_after_reversal(con, ws):
    c = add_contact(con, "ann@beta.com")
    optouts.opt_out(con, SUPPORT, "ann@beta.com", source="admin", at=T0)
    with pytest.raises(ValidationError, match="ann@beta.com is opted out and was not enrolled"):
        lifecycle.enroll(con, SUPPORT, "ann@beta.com", "seq1", at=T0 + H)
    [refused] = by_contact(con, c)
    assert refused["state"] == "not_enrolled"
    assert log(con, c)[0]["outcome"] == "opted_out"
    optouts.reverse_opt_out(con, SUPPORT, "ann@beta.com", **PERMISSION, at=T0 + 2 * H)
    out = lifecycle.enroll(con, SUPPORT, "ann@beta.com", "seq1", at=T0 + 3 * H)
    assert (out["state"], out["next_step_at"], out["play_id"]) == ("queued", T0 + 3 * H, None)
    assert enrollment(con, out["enrollment_id"])["state"] == "queued"
    assert [r["outcome"] for r in log(con, c)] == ["opted_out", "enrolled"]
    with pytest.raises(ValidationError, match="already enrolled"):
        lifecycle.enroll(con, SUPPORT, "ann@beta.com", "seq1", at=T0 + 4 * H)


def test_enroll_refuses_a_blocked_contact_with_the_reasons(con, ws):
    c = add_contact(con, "bob@acme.com")
    with pytest.raises(ValidationError, match=r"is blocked .*Open opportunity"):
        lifecycle.enroll(con, SUPPORT, "bob@acme.com", "seq1", at=T0)
    [row] = log(con, c)
    assert row["outcome"] == "not_enrolled" and json.loads(row["blocking"])[0]["exclusion_id"] == "open_opp"
    with pytest.raises(PermissionDenied):
        lifecycle.enroll(con, Actor("m", "manager"), "bob@acme.com", "seq1", at=T0)


def test_enroll_through_a_play_checks_the_audience(con, ws):
    doc = settings_doc()
    doc["plays"][0]["audience_exclusions"] = {"ceo": True}
    save_settings(con, doc, at=T0 - D, effective_at=T0 - D)
    add_contact(con, "ceo@beta.com", title="CEO")
    add_contact(con, "ann@beta.com")
    with pytest.raises(ValidationError, match="excluded at the audience"):
        lifecycle.enroll(con, SUPPORT, "ceo@beta.com", "seq1", play_id="p1", at=T0)
    out = lifecycle.enroll(con, SUPPORT, "ann@beta.com", "seq1", play_id="p1", at=T0)
    assert (out["play_id"], out["node_id"]) == ("p1", "n1")
    with pytest.raises(NotFound, match="no node feeding sequence 'seq2'"):
        lifecycle.enroll(con, SUPPORT, "ann@beta.com", "seq2", play_id="p1", at=T0)


# --- CLI -------------------------------------------------------------------------------------------------------


def test_a_run_checkpoints_once_its_log_passes_the_bound_and_restores_the_threshold(tmp_path, monkeypatch):
    """While it runs the scheduler raises DuckDB's checkpoint threshold (no checkpoint at every tick's
    commit) and checkpoints after a tick once the write-ahead log is over WAL_CHECKPOINT_MB; the
    committed ticks in the log survive a reopen."""
    from unify_dash.scheduler import run as run_mod

    path = tmp_path / "w.duckdb"
    wal = tmp_path / "w.duckdb.wal"
    con = db.connect(path)
    make_workspace(con)
    for k in range(5):
        add_contact(con, f"p{k}@beta.com")
    db.checkpoint(con)
    threshold = con.execute("SELECT current_setting('checkpoint_threshold')").fetchone()[0]
    s = scheduler.run_until(con, T0 + 2 * D)
    assert s["ticks"] > 1 and s["sends"] > 0 and s["checkpoints"] == 0
    assert wal.exists() and wal.stat().st_size > 0  # the ticks are committed in the log, not checkpointed
    assert con.execute("SELECT current_setting('checkpoint_threshold')").fetchone()[0] == threshold
    sent = con.execute("SELECT count(*) FROM events WHERE type = 'send'").fetchone()[0]
    con.close()
    con = db.connect(path)  # the log is replayed
    try:
        assert db.now(con) == T0 + 2 * D
        assert con.execute("SELECT count(*) FROM events WHERE type = 'send'").fetchone()[0] == sent
        monkeypatch.setattr(run_mod, "WAL_CHECKPOINT_MB", 0)  # every tick's log is over the bound
        s = scheduler.run_until(con, T0 + 4 * D)
        assert s["ticks"] > 1 and s["checkpoints"] == s["ticks"]
        assert not wal.exists() or wal.stat().st_size == 0
        assert con.execute("SELECT current_setting('checkpoint_threshold')").fetchone()[0] == threshold
    finally:
        con.close()


def test_cli_sends(tmp_path, capsys):
    path = tmp_path / "w.duckdb"
    con = db.connect(path)
    make_workspace(con)
    add_contact(con, "ann@beta.com")
    add_contact(con, "ceo@beta.com", title="CEO")
    con.close()
    assert scheduler.cli_sends(SimpleNamespace(until="2026-11-12T09:00", db=str(path), json=True)) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["sends"], out["not_enrolled"], out["completions"]) == (3, {"ceo": 1}, {"finished": 1})
    assert scheduler.cli_sends(SimpleNamespace(until="2026-11-13T09:00", db=str(path), json=False, tick="1d")) == 0
    text = capsys.readouterr().out
    assert "emails sent:" in text and "not enrolled:" in text
    with pytest.raises(ValidationError, match="ISO timestamp"):
        scheduler.cli_sends(SimpleNamespace(until="next tuesday", db=str(path), json=False))


@pytest.mark.parametrize("text,expected", [
    ("15m", dt.timedelta(minutes=15)), ("1h", H), ("1d", D), ("2", 2 * H), (" 1.5H ", dt.timedelta(minutes=90)),
])
def test_parse_duration(text, expected):
    assert scheduler.parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "0h", "-1d", "soon", "1w"])
def test_parse_duration_errors(text):
    with pytest.raises(ValidationError, match="--tick"):
        scheduler.parse_duration(text)


def test_daily_tick_batches_the_steps_of_a_day(con, ws):
    c = add_contact(con, "ann@beta.com")
    s = scheduler.run_until(con, T0 + 10 * D, tick=D)
    sends = events(con, "send", "ann@beta.com")
    # enrolled and step 1 at the first daily tick, step 2 due 3 days later goes out at that tick
    assert [x["occurred_at"] for x in sends] == [T0 + D, T0 + 4 * D, T0 + 8 * D]
    assert s["ticks"] <= 10 and by_contact(con, c)[0]["completion_reason"] == "finished"
