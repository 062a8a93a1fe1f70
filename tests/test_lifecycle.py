"""Unenroll (one, bulk in resumable batches), replies and the opt-out reply queue, the diagnosis of
early completions, and enrollment through the engine."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from lifecycle_factory import (
    MANAGER,
    REVOPS,
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
    refresh,
    rows,
)

from unify_dash.actions import enrollments as lifecycle
from unify_dash.actions import optouts
from unify_dash.errors import NotFound, PermissionDenied, ValidationError
from unify_dash.model.roles import SYSTEM, Actor
from unify_dash.reports import diagnosis
from unify_dash.store import db


@pytest.fixture
def ws(con):
    make_workspace(con)
    return con


# --- unenroll one contact ----------------------------------------------------------------------------


@pytest.mark.parametrize("sequence_id,expected", [("seq1", {"seq1"}), (None, {"seq1", "seq2"})])
def test_unenroll_one_contact(con, ws, sequence_id, expected):
    c = add_contact(con, "ann@acme.com")
    ids = {"seq1": add_enrollment(con, c, "seq1", state="queued", next_step_at=T0 + H),
           "seq2": add_enrollment(con, c, "seq2", state="active", current_step=1, next_step_at=T0 + 24 * H)}
    done = add_enrollment(con, c, "seq1", state="completed", completion_reason="finished", current_step=3)
    gen = db.generation(con)
    out = lifecycle.unenroll(con, MANAGER, " ANN@acme.com", sequence_id, at=T0)
    assert out["unenrolled"] == sorted(ids[s] for s in expected)
    for seq, eid in ids.items():
        e = enrollment(con, eid)
        if seq in expected:
            assert (e["state"], e["completion_reason"], e["next_step_at"]) == ("unenrolled", "unenrolled", None)
        else:
            assert e["state"] == "active"
    assert enrollment(con, done)["state"] == "completed"
    assert sorted(e["enrollment_id"] for e in events(con, "unenroll")) == sorted(ids[s] for s in expected)
    assert db.generation(con) > gen
    # unenroll is not an opt-out: nothing blocks future enrollment
    assert events(con, "opt_out") == []
    [audit] = rows(con, "SELECT * FROM audit_log WHERE action = 'contact.unenroll'")
    assert audit["target"] == "ann@acme.com"


def test_unenroll_with_nothing_to_unenroll(con, ws):
    c = add_contact(con, "ann@acme.com")
    add_enrollment(con, c, "seq1", state="completed", completion_reason="finished")
    with pytest.raises(ValidationError, match="no queued or active enrollment in sequence 'seq1'"):
        lifecycle.unenroll(con, SUPPORT, "ann@acme.com", "seq1")
    with pytest.raises(NotFound):
        lifecycle.unenroll(con, SUPPORT, "nobody@acme.com")
    assert events(con, "unenroll") == []


# --- bulk unenroll -----------------------------------------------------------------------------------


def _bulk_ws(con, n_acme=23, n_other=4):
    for i in range(n_acme):
        c = add_contact(con, f"a{i:02d}@acme.com")
        add_enrollment(con, c, "seq1", state="queued" if i % 2 else "active", current_step=i % 2 == 0,
                       enrollment_id=f"acme-{i:02d}", next_step_at=T0 + H)
    for i in range(n_other):
        c = add_contact(con, f"o{i}@other.com")
        add_enrollment(con, c, "seq1", state="queued", enrollment_id=f"other-{i}", next_step_at=T0 + H)
    # an acme contact in another sequence and an already completed one: never selected
    c = add_contact(con, "z@acme.com")
    add_enrollment(con, c, "seq2", state="queued", enrollment_id="acme-seq2", next_step_at=T0 + H)
    add_enrollment(con, c, "seq1", state="completed", completion_reason="finished", enrollment_id="acme-done")


ACME = {"field": "company_domain", "op": "equals", "value": "ACME.com"}


@pytest.mark.parametrize("filter,expected", [
    (ACME, 23),
    (["a00@acme.com", " O1@other.com ", "z@acme.com", "ghost@x.com"], 2),
    (None, 27),
    ({"any": [{"field": "email", "op": "starts_with", "value": "o"},
              {"field": "email", "op": "in", "value": ["a01@acme.com"]}]}, 5),
])
def test_bulk_unenroll_in_batches_with_progress(con, ws, filter, expected):
    _bulk_ws(con)
    seen = []
    out = lifecycle.bulk_unenroll(con, MANAGER, sequence_id="seq1", filter=filter, batch_size=5,
                                  progress=lambda done, total: seen.append((done, total)), at=T0)
    assert (out["status"], out["total"], out["done"], out["unenrolled_now"]) == ("done", expected, expected, expected)
    batches = [(min(i + 5, expected), expected) for i in range(0, expected, 5)]
    assert seen == batches
    got = rows(con, "SELECT state, completion_reason, count(*) AS n FROM enrollments WHERE state = 'unenrolled' "
                    "GROUP BY ALL")
    assert got == [{"state": "unenrolled", "completion_reason": "unenrolled", "n": expected}]
    assert len(events(con, "unenroll")) == expected
    assert enrollment(con, "acme-seq2")["state"] == "queued"
    assert enrollment(con, "acme-done")["state"] == "completed"
    if isinstance(filter, list):
        assert out["not_selected"] == ["ghost@x.com", "z@acme.com"]


def test_failed_batch_leaves_no_half_state_and_resumes(con, ws, monkeypatch):
    _bulk_ws(con)
    real = lifecycle.end_enrollments
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        out = real(*args, **kwargs)
        if calls["n"] == 3:  # batch 3: its enrollments are already updated when this fails
            raise RuntimeError("injected failure")
        return out

    monkeypatch.setattr(lifecycle, "end_enrollments", flaky)
    seen = []
    with pytest.raises(RuntimeError, match="injected"):
        lifecycle.bulk_unenroll(con, MANAGER, sequence_id="seq1", filter=ACME, batch_size=5, job_id="job-1",
                                progress=lambda d, t: seen.append(d), at=T0)
    job = lifecycle.job_status(con, "job-1")
    assert (job["status"], job["done"], job["total"]) == ("failed", 10, 23)
    assert "batch 3" in job["error"] and "injected" in job["error"]
    assert seen == [5, 10]
    # exactly batches 1 and 2 happened: updates and events agree
    unenrolled = [r[0] for r in con.execute(
        "SELECT enrollment_id FROM enrollments WHERE state = 'unenrolled' ORDER BY 1").fetchall()]
    assert unenrolled == [f"acme-{i:02d}" for i in range(10)]
    assert sorted(e["enrollment_id"] for e in events(con, "unenroll")) == unenrolled

    # a contact of the selection is opted out meanwhile: resume skips it, nothing is unenrolled twice
    optouts.opt_out(con, SUPPORT, "a15@acme.com", source="admin", at=T0)
    # a new acme enrollment after the selection was recorded is not part of the job
    c = add_contact(con, "late@acme.com")
    add_enrollment(con, c, "seq1", state="queued", enrollment_id="acme-late")

    out = lifecycle.resume_job(con, MANAGER, "job-1", progress=lambda d, t: seen.append(d))
    assert (out["status"], out["done"]) == ("done", 23)
    assert seen == [5, 10, 15, 20, 23]
    assert out["unenrolled_now"] == 12
    assert len(events(con, "unenroll")) == 22
    assert enrollment(con, "acme-15")["completion_reason"] == "opted_out"
    assert enrollment(con, "acme-late")["state"] == "queued"
    # resuming a finished job does nothing
    assert lifecycle.resume_job(con, MANAGER, "job-1")["unenrolled_now"] == 0
    actions = [r[0] for r in con.execute("SELECT action FROM audit_log WHERE target = 'job-1' ORDER BY \"at\", action").fetchall()]
    assert "enrollment.bulk_unenroll" in actions and "enrollment.bulk_unenroll.resume" in actions


@pytest.mark.parametrize("kwargs,error,match", [
    ({"filter": {"field": "nope", "op": "equals", "value": 1}}, ValidationError, "unknown field"),
    ({"filter": []}, ValidationError, "empty"),
    ({"filter": "acme.com"}, ValidationError, "filter must be"),
    ({"batch_size": 0}, ValidationError, "batch_size"),
])
def test_bulk_unenroll_input_errors(con, ws, kwargs, error, match):
    _bulk_ws(con, 3, 1)
    with pytest.raises(error, match=match):
        lifecycle.bulk_unenroll(con, MANAGER, sequence_id="seq1", **kwargs)
    assert rows(con, "SELECT * FROM jobs") == []


@pytest.mark.parametrize("actor,action", [(SUPPORT, "bulk"), (Actor("x", "manager"), "resume")])
def test_bulk_unenroll_roles(con, ws, actor, action):
    _bulk_ws(con, 3, 1)
    if action == "bulk":
        with pytest.raises(PermissionDenied):
            lifecycle.bulk_unenroll(con, actor, sequence_id="seq1")
    else:
        with pytest.raises(NotFound):
            lifecycle.resume_job(con, actor, "no-such-job")
        with pytest.raises(PermissionDenied):
            lifecycle.resume_job(con, SUPPORT, "no-such-job")


# --- replies -----------------------------------------------------------------------------------------


def _reply_ws(con):
    ids = {n: add_contact(con, f"{n}@acme.com") for n in ("ann", "ben", "cat", "dan", "eve")}
    for n, c in ids.items():
        add_enrollment(con, c, "seq1", state="active", current_step=1, enrollment_id=f"en-{n}",
                       next_step_at=T0 + 48 * H)
    r = {
        "ann": add_event(con, "reply", T0 - 5 * H, email="ann@acme.com", text="Please remove me", label="opt_out"),
        "ben": add_event(con, "reply", T0 - 4 * H, email="ben@acme.com", text="Sounds good", label="positive"),
        # cat also clicked the opt-out link afterwards: already handled by that opt-out
        "cat": add_event(con, "reply", T0 - 3 * H, email="cat@acme.com", text="stop", label="opt_out"),
        "dan": add_event(con, "reply", T0 - 2 * H, email="dan@acme.com", text="unsubscribe", label="opt_out"),
        "dan2": add_event(con, "reply_handled", T0 - H, email="dan@acme.com", detail="{}"),
        "eve": add_event(con, "reply", T0 - H, contact_id=ids["eve"], text="Do not contact me", label="OPT_OUT"),
    }
    add_event(con, "opt_out", T0 - 2 * H, email="cat@acme.com", source="link")
    return ids, r


def test_opt_out_reply_queue(con, ws):
    _ids, r = _reply_ws(con)
    q = lifecycle.opt_out_reply_queue(con, as_of=T0)
    assert list(q["event_id"]) == [r["ann"], r["eve"]]
    assert list(q["email"]) == ["ann@acme.com", "eve@acme.com"]
    assert set(q["label_source"]) == {"event"}
    # a reply after the clock is not in the queue yet
    assert list(lifecycle.opt_out_reply_queue(con, as_of=T0 - 4 * H)["event_id"]) == [r["ann"]]


def test_handle_opt_out_replies_in_bulk(con, ws):
    ids, r = _reply_ws(con)
    out = lifecycle.handle_opt_out_replies(con, SUPPORT, [r["ann"], r["eve"]], at=T0, note="weekly triage")
    assert [o["status"] for o in out] == ["opted_out", "opted_out"]
    for name in ("ann", "eve"):
        e = enrollment(con, f"en-{name}")
        assert (e["state"], e["completion_reason"]) == ("completed", "opted_out")
        [oo] = events(con, "opt_out", f"{name}@acme.com")
        assert oo["source"] == "reply" and r[name] in oo["detail"]
        [handled] = events(con, "reply_handled", f"{name}@acme.com")
        detail = json.loads(handled["detail"])
        assert detail["reply_event_id"] == r[name] and detail["opt_out_event_id"] == oo["event_id"]
        assert detail["note"] == "weekly triage"
    assert lifecycle.opt_out_reply_queue(con, as_of=T0 + H).empty
    assert len(rows(con, "SELECT * FROM audit_log WHERE action = 'replies.handle'")) == 2
    # handled twice: reported, nothing new written
    n_events = con.execute("SELECT count(*) FROM events").fetchone()[0]
    again = lifecycle.handle_opt_out_replies(con, SUPPORT, [r["ann"]], at=T0 + H)
    assert again[0]["status"] == "already_handled"
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == n_events


def test_handle_reply_of_contact_already_opted_out(con, ws):
    _ids, r = _reply_ws(con)
    out = lifecycle.handle_opt_out_replies(con, SUPPORT, [r["cat"]], at=T0)
    assert out[0]["status"] == "already_opted_out"
    assert len(events(con, "opt_out", "cat@acme.com")) == 1  # the link click, no second opt-out
    assert len(events(con, "reply_handled", "cat@acme.com")) == 1


def test_handle_replies_checks_every_id_first(con, ws):
    _ids, r = _reply_ws(con)
    with pytest.raises(NotFound, match="not reply events: nope"):
        lifecycle.handle_opt_out_replies(con, SUPPORT, [r["ann"], "nope"], at=T0)
    assert events(con, "reply_handled", "ann@acme.com") == [] and events(con, "opt_out", "ann@acme.com") == []
    with pytest.raises(PermissionDenied):
        lifecycle.handle_opt_out_replies(con, MANAGER, [r["ann"]], at=T0)


# --- replies classified by the teammate's classifier ----------------------------------------------------


@pytest.fixture
def classifier():
    return pytest.importorskip("unify_dash.classify.replies")


@pytest.mark.parametrize("text,label,completes", [
    ("Please remove me from your mailing list.", "opt_out", True),
    ("Thanks, this sounds interesting - can we talk Tuesday?", "positive", True),
])
def test_record_reply_labels_and_completes(con, ws, classifier, text, label, completes):
    c = add_contact(con, "ann@acme.com")
    add_enrollment(con, c, "seq1", state="active", current_step=1, enrollment_id="en-ann", next_step_at=T0 + 48 * H)
    out = lifecycle.record_reply(con, "ann@acme.com", text, at=T0, sequence_id="seq1")
    assert out["label"] == label
    e = enrollment(con, "en-ann")
    assert (e["state"], e["completion_reason"]) == (("completed", "replied") if completes else ("active", None))
    # an opt-out reply is not an opt-out until handled: it waits in the queue
    queued = list(lifecycle.opt_out_reply_queue(con, as_of=T0)["event_id"])
    assert queued == ([out["event_id"]] if label == "opt_out" else [])


def test_out_of_office_reply_does_not_end_the_sequence(con, ws, classifier):
    c = add_contact(con, "ann@acme.com")
    add_enrollment(con, c, "seq1", state="active", current_step=1, enrollment_id="en-ann", next_step_at=T0 + 48 * H)
    out = lifecycle.record_reply(con, "ann@acme.com", "I am out of the office until Monday with limited access "
                                 "to email.", at=T0, headers={"Auto-Submitted": "auto-replied"},
                                 subject="Automatic reply: Hello")
    assert out["label"] == "out_of_office"
    assert enrollment(con, "en-ann")["state"] == "active"


def test_unlabelled_replies_are_classified_for_the_queue(con, ws, classifier):
    add_contact(con, "ann@acme.com")
    add_contact(con, "ben@acme.com")
    a = add_event(con, "reply", T0 - H, email="ann@acme.com", text="Unsubscribe me please")
    add_event(con, "reply", T0 - H, email="ben@acme.com", text="Great, let's set up a call next week")
    q = lifecycle.opt_out_reply_queue(con, as_of=T0)
    assert list(q["event_id"]) == [a] and list(q["label_source"]) == ["classifier"]


# --- diagnosis of early completions ------------------------------------------------------------------


def _completed(con, email, *, steps, reason, state="completed", at=T0 + 10 * H, enrolled=T0):
    c = add_contact(con, email)
    eid = add_enrollment(con, c, "seq1", state=state, completion_reason=reason, current_step=steps,
                         enrolled_at=enrolled, updated_at=at, enrollment_id=f"en-{email}")
    for step in range(1, steps + 1):
        add_event(con, "send", T0 + (step - 1) * 72 * H, contact_id=c, email=email, sequence_id="seq1",
                  enrollment_id=eid, step=step)
    return c, eid


def test_diagnose_link_click_after_first_step(con, ws):
    c, eid = _completed(con, "ann@acme.com", steps=1, reason="opted_out")
    add_event(con, "opt_out", T0 + 2 * H + dt.timedelta(minutes=5), contact_id=c, email="ann@acme.com", source="link")
    d = diagnosis.diagnose_completion(con, eid)
    assert (d["pattern"], d["cause"], d["steps_sent"]) == ("completed_after_first_step_without_reply",
                                                          "opt_out_link", 1)
    assert "clicked the opt-out link on 2026-11-02 11:05, 2 h 5 min after step 1 was sent (2026-11-02 09:00)" \
        in d["summary"]
    assert d["evidence"][0]["source"] == "link"


def test_diagnose_exclusion_skip_before_first_message(con, ws):
    c, eid = _completed(con, "ben@acme.com", steps=0, reason="excluded")
    blocking = [{"exclusion_id": "open_opp", "name": "Open opportunity", "levels": ["organisation", "ruleset:default"]}]
    con.execute("INSERT INTO execution_log VALUES ('log1', ?, ?, 'p1', 'n1', 'seq1', 1, 'skipped', ?, 3)",
                [T0 + 10 * H, c, json.dumps(blocking)])
    d = diagnosis.diagnose_completion(con, eid)
    assert (d["pattern"], d["cause"]) == ("completed_before_first_message", "exclusion_skip")
    assert "Open opportunity (organisation, ruleset:default)" in d["summary"]
    assert "settings version 3" in d["summary"]
    assert d["evidence"][0]["table"] == "execution_log"


def test_diagnose_mid_sequence_removal(con, ws):
    c, eid = _completed(con, "cat@acme.com", steps=1, reason="excluded_mid_sequence")
    con.execute("INSERT INTO execution_log VALUES ('log2', ?, ?, 'p1', 'n1', 'seq1', 2, 'removed', ?, 2)",
                [T0 + 10 * H, c, json.dumps([{"exclusion_id": "open_opp", "name": "Open opportunity"}])])
    d = diagnosis.diagnose_completion(con, eid)
    assert d["cause"] == "exclusion_mid_sequence" and "Removed mid-sequence" in d["summary"]


def test_diagnose_handled_reply_and_admin_and_unenroll(con, ws):
    c, eid = _completed(con, "dan@acme.com", steps=1, reason=None, state="active", at=T0)
    con.execute("UPDATE enrollments SET next_step_at = ? WHERE enrollment_id = ?", [T0 + 72 * H, eid])
    reply = add_event(con, "reply", T0 + H, email="dan@acme.com", text="please take me off your list", label="opt_out")
    # the reply was an opt-out request (label opt_out), but recorded without ending the sequence
    lifecycle.handle_opt_out_replies(con, SUPPORT, [reply], at=T0 + 3 * H)
    d = diagnosis.diagnose_completion(con, eid)
    assert d["cause"] == "opt_out_reply" and "take me off your list" in d["summary"]
    assert [e["event_id"] for e in d["evidence"]][1] == reply

    _c, eid2 = _completed(con, "eve@acme.com", steps=0, reason=None, state="queued", at=T0)
    optouts.opt_out(con, SUPPORT, "eve@acme.com", source="admin", at=T0 + H)
    d = diagnosis.diagnose_completion(con, eid2)
    assert (d["pattern"], d["cause"]) == ("completed_before_first_message", "opt_out_admin")
    assert "sam opted the contact out with the Opt-Out button" in d["summary"]
    assert "before any step was sent" in d["summary"]

    _c, eid3 = _completed(con, "fay@acme.com", steps=1, reason=None, state="active", at=T0)
    lifecycle.unenroll(con, SUPPORT, "fay@acme.com", at=T0 + 5 * H)
    d = diagnosis.diagnose_completion(con, eid3)
    assert (d["pattern"], d["cause"]) == ("completed_after_first_step_without_reply", "unenrolled")
    assert "sam unenrolled the contact from the contact's profile" in d["summary"]


def test_diagnose_crm_flag_without_event(con, ws):
    c = add_contact(con, "gus@acme.com", sf_email_opt_out=True)
    eid = add_enrollment(con, c, "seq1", state="completed", completion_reason="opted_out", enrollment_id="en-gus",
                         enrolled_at=T0, updated_at=T0 + H)
    d = diagnosis.diagnose_completion(con, eid)
    assert d["cause"] == "opt_out_crm" and "Email Opt Out" in d["summary"]


@pytest.mark.parametrize("reason", ["excluded", "opted_out", None])
def test_diagnose_unknown_when_no_event_explains_it(con, ws, reason):
    _c, eid = _completed(con, "hal@acme.com", steps=1, reason=reason)
    d = diagnosis.diagnose_completion(con, eid)
    assert d["cause"] == "unknown" and d["summary"].startswith("unknown — no event explains it")
    assert d["evidence"] == []


def test_diagnose_does_not_use_an_opt_out_after_completion_or_reversed(con, ws):
    c, eid = _completed(con, "ivy@acme.com", steps=1, reason="opted_out", at=T0 + 5 * H)
    add_event(con, "opt_out", T0 + H, email="ivy@acme.com", source="link")
    add_event(con, "opt_out_reversal", T0 + 2 * H, email="ivy@acme.com")
    add_event(con, "opt_out", T0 + 9 * H, email="ivy@acme.com", source="admin")
    assert diagnosis.diagnose_completion(con, eid)["cause"] == "unknown"


def test_early_completions_lists_only_the_two_patterns(con, ws):
    _c, a = _completed(con, "a@acme.com", steps=1, reason="opted_out")
    add_event(con, "opt_out", T0 + H, email="a@acme.com", source="link")
    _completed(con, "b@acme.com", steps=3, reason="finished")
    _c, c = _completed(con, "c@acme.com", steps=0, reason="excluded")
    out = diagnosis.early_completions(con, sequence_id="seq1")
    assert {d["enrollment_id"]: d["cause"] for d in out} == {a: "opt_out_link", c: "unknown"}
    with pytest.raises(NotFound):
        diagnosis.diagnose_completion(con, "nope")


def test_bulk_filter_by_company_field(con, ws):
    # a bulk filter can use company fields (aggregates over every record of the domain, every CRM)
    add_record(con, "sf:1", "acme.com")
    add_record(con, "hs:1", "other.com", crm="hubspot")
    add_opportunity(con, "o1", "sf:1", is_closed=True)
    add_opportunity(con, "o2", "hs:1", crm="hubspot")
    refresh(con)
    _bulk_ws(con, 3, 2)
    out = lifecycle.bulk_unenroll(con, REVOPS, sequence_id="seq1", at=T0,
                                  filter={"field": "open_opportunities", "op": "gt", "value": 0})
    assert out["total"] == 2
    assert {r[0] for r in con.execute("SELECT enrollment_id FROM enrollments WHERE state = 'unenrolled'").fetchall()} \
        == {"other-0", "other-1"}


def test_system_actor_can_do_everything(con, ws):
    add_contact(con, "ann@acme.com")
    assert optouts.opt_out(con, SYSTEM, "ann@acme.com", source="link")["already_opted_out"] is False
