"""The incremental evaluation across ticks (unify_dash/engine/incremental.py) against full evaluations.

Two properties, on randomised workspaces (the seeded demo at a few seeds, with opt-outs and reversals
recorded ahead of the clock so that they take effect between ticks):

* an evaluation advanced hour by hour puts every contact in a group with the same key (opted out,
  audience bits, mask) and the same opt-out source as a full evaluation as of that hour;
* the scheduler run tick by tick with the incremental path (each hour one ``run_until`` call, which
  goes on from the state the previous call left) makes exactly the decisions of the same run with a
  full evaluation at every tick: the execution log, the enrollments, the events and the outbox are
  equal (compared by content: enrollment and log ids are random).
"""

from __future__ import annotations

import collections
import datetime as dt
import random

import numpy as np
import pytest

from unify_dash import engine, scheduler
from unify_dash.engine import incremental
from unify_dash.engine.evaluator import _instance
from unify_dash.io import demo
from unify_dash.io.load import load_workspace
from unify_dash.scheduler import run as run_mod
from unify_dash.store import db

H = dt.timedelta(hours=1)
SEEDS = (3, 11)


def _future_opt_outs(con, seed: int, hours: int) -> None:
    """Opt-outs and reversals recorded at random times in the next ``hours`` hours (by email and by
    contact id only), so that the opt-out relation moves between ticks."""
    rng = random.Random(seed)
    now = db.now(con)
    contacts = con.execute("SELECT contact_id, email FROM contacts ORDER BY contact_id").fetchall()
    picked = rng.sample(contacts, 12)
    for k, (cid, email) in enumerate(picked):
        at = now + dt.timedelta(minutes=rng.randint(1, hours * 60))
        by_email = k % 2 == 0
        con.execute("INSERT INTO events (event_id, occurred_at, type, contact_id, email, source, actor) "
                    "VALUES (?, ?, 'opt_out', ?, ?, 'link', 'recipient')",
                    [f"test-opt:{k}", at, None if by_email else cid, email.upper() if by_email else None])
        if k % 3 == 0:  # reversed later
            con.execute("INSERT INTO events (event_id, occurred_at, type, contact_id, email, source, actor) "
                        "VALUES (?, ?, 'opt_out_reversal', ?, ?, 'admin', 'sam')",
                        [f"test-rev:{k}", at + dt.timedelta(hours=rng.randint(1, 6)), cid, email])
    db.bump_generation(con)


@pytest.fixture(scope="module", params=SEEDS)
def workspace(request, tmp_path_factory):
    seed = request.param
    folder = tmp_path_factory.mktemp(f"inc{seed}") / "ws"
    demo.generate(folder, contacts=500, seed=seed, fmt="parquet")
    path = folder.parent / "base.duckdb"
    con = db.connect(path)
    load_workspace(con, folder)
    _future_opt_outs(con, seed, hours=24)
    con.close()
    return seed, path


def _copy(path, tmp_path, name):
    target = tmp_path / name
    target.write_bytes(path.read_bytes())
    return db.connect(target)


def _keys(con, ev) -> dict:
    rows = con.execute(f"SELECT contact_id, group_id, opt_source FROM {ev.table}").fetchall()
    out = {}
    for cid, g, src in rows:
        out[cid] = (bool(ev.opted[g]), tuple(ev.audience[g].tolist()), tuple(ev.masks[g].tolist()), src)
    return out


def test_an_advanced_evaluation_equals_a_full_one_hour_by_hour(workspace, tmp_path):
    _seed, path = workspace
    con = _copy(path, tmp_path, "a.duckdb")
    try:
        t0 = db.now(con)
        ev = engine.evaluate(con, as_of=t0, ordered=False)
        moved = 0
        for h in range(1, 25):
            t = t0 + h * H
            step = incremental.advance(con, ev, t)
            moved += step["changed"]
            full = engine.evaluate(con, as_of=t, ordered=False)
            assert _keys(con, ev) == _keys(con, full), f"hour {h}"
            assert ev.contacts == full.contacts
            # the group counts are exact (empty groups aside)
            mine = {k: int(n) for k, n in zip(map(tuple, np.c_[ev.opted, ev.audience, ev.masks.view(np.int64)]),
                                              ev.counts, strict=True) if n}
            theirs = {k: int(n) for k, n in zip(map(tuple, np.c_[full.opted, full.audience, full.masks.view(np.int64)]),
                                                full.counts, strict=True)}
            assert mine == theirs, f"hour {h}"
        assert moved > 0  # time did move some contacts between groups
    finally:
        con.close()


def _tick_by_tick(con, hours: int) -> list[dict]:
    t0 = db.now(con)
    out = []
    for h in range(1, hours + 1):
        out.append(scheduler.run_until(con, t0 + h * H))
    return out


def _content(con) -> dict:
    q = {
        "log": "SELECT \"at\", contact_id, play_id, node_id, sequence_id, step, outcome, blocking, settings_version "
               "FROM execution_log",
        "enrollments": "SELECT contact_id, play_id, node_id, sequence_id, state, completion_reason, current_step, "
                       "next_step_at, enrolled_at, updated_at FROM enrollments",
        "events": "SELECT occurred_at, type, contact_id, email, sequence_id, step, source, actor, text "
                  "FROM events",
        "outbox": "SELECT contact_id, email, sequence_id, step, subject, queued_at, status FROM outbox",
    }
    return {k: sorted(con.execute(sql).fetchall(), key=repr) for k, sql in q.items()}


def test_the_scheduler_decides_as_with_a_full_evaluation_at_every_tick(workspace, tmp_path, monkeypatch):
    _seed, path = workspace
    hours = 24
    inc = _copy(path, tmp_path, "inc.duckdb")
    full = _copy(path, tmp_path, "full.duckdb")
    try:
        a = _tick_by_tick(inc, hours)
        # the incremental run went on from call to call: one full evaluation, then advances
        assert sum(s["evaluations"] for s in a) == 1 and sum(s["advances"] for s in a) == hours - 1
        assert sum(s["advanced_contacts"] for s in a) > 0
        run = run_mod._RUNS[_instance(inc)]
        assert _keys(inc, run.ev) == _keys(inc, engine.evaluate(inc, as_of=run.ev.as_of, ordered=False))
        monkeypatch.setattr(run_mod, "INCREMENTAL", False)
        b = _tick_by_tick(full, hours)
        assert sum(s["evaluations"] for s in b) == hours
    finally:
        got, want = _content(inc), _content(full)
        inc.close()
        full.close()
    for key in ("log", "enrollments", "events", "outbox"):
        assert got[key] == want[key], key
    assert len(got["log"]) > 0 and any(r[6] == "sent" for r in got["log"])
    assert [s["sends"] for s in a] == [s["sends"] for s in b]
    assert any(s["entry_passes"] for s in a)


def _future_replies(con, seed: int, hours: int) -> int:
    """Replies recorded at random times in the next ``hours`` hours to queued or active enrollments:
    by enrollment id, by contact id (with and without the sequence), by email only, and
    out-of-office auto-replies (which end nothing)."""
    rng = random.Random(seed)
    now = db.now(con)
    live = con.execute("SELECT e.enrollment_id, e.contact_id, e.sequence_id, c.email FROM enrollments e "
                       "JOIN contacts c USING (contact_id) WHERE e.state IN ('queued', 'active') "
                       "ORDER BY e.enrollment_id").fetchall()
    picked = rng.sample(live, min(40, len(live)))
    for k, (eid, cid, seq, email) in enumerate(picked):
        at = now + dt.timedelta(minutes=rng.randint(1, hours * 60))
        kind = k % 5
        row = {0: (None, eid, None, None), 1: (cid, None, seq, None), 2: (cid, None, None, None),
               3: (None, None, None, email), 4: (cid, eid, seq, email)}[kind]
        label = "out_of_office" if k % 7 == 0 else "positive"
        con.execute("INSERT INTO events (event_id, occurred_at, type, contact_id, enrollment_id, sequence_id, email, "
                    "source, actor, text, label) VALUES (?, ?, 'reply', ?, ?, ?, ?, 'inbox', 'recipient', 'hi', ?)",
                    [f"test-reply:{k}", at, *row, label])
    db.bump_generation(con)
    return len(picked)


def test_replies_between_ticks_end_what_the_full_reply_pass_ends(workspace, tmp_path, monkeypatch):
    """A tick's few replies are matched through index lookups (run._complete_few_replied); with the
    lookups off (FEW = -1) every tick takes the one-statement SQL path. Both end the same enrollments."""
    seed, path = workspace
    hours = 24
    few, sql = _copy(path, tmp_path, "few.duckdb"), _copy(path, tmp_path, "sql.duckdb")
    try:
        for con in (few, sql):
            assert _future_replies(con, seed, hours) > 0
        a = _tick_by_tick(few, hours)
        monkeypatch.setattr(run_mod, "FEW", -1)
        b = _tick_by_tick(sql, hours)
        got, want = _content(few), _content(sql)
    finally:
        few.close()
        sql.close()
    for key in ("log", "enrollments", "events", "outbox"):
        assert got[key] == want[key], key
    replied = [s["completions"].get("replied", 0) for s in a]
    assert replied == [s["completions"].get("replied", 0) for s in b] and sum(replied) > 0


def test_a_contact_position_that_moved_is_caught_and_read_by_id(workspace, tmp_path):
    """The advance reads the moved contacts by their rowid (kept at the first advance). When the
    positions no longer hold those contacts (the contacts table was rewritten), the row count
    catches it: that tick goes by id, the positions are taken again, the result stays exact."""
    _seed, path = workspace
    con = _copy(path, tmp_path, "pos.duckdb")
    try:
        t0 = db.now(con)
        ev = engine.evaluate(con, as_of=t0, ordered=False)
        incremental.advance(con, ev, t0 + H)
        names = ev._memo["incremental"]
        for table in (names["cmap"], names["flips"], names["optmap"]):
            con.execute(f"UPDATE {table} SET crid = (crid + 7) % (SELECT count(*) FROM contacts)")
        seen_stale = False
        for h in range(2, 25):
            before = ev._memo.get("incremental")
            step = incremental.advance(con, ev, t0 + h * H)
            if step["contacts"] and ev._memo.get("incremental") is not before:
                seen_stale = True
            full = engine.evaluate(con, as_of=t0 + h * H, ordered=False)
            assert _keys(con, ev) == _keys(con, full), f"hour {h}"
        assert seen_stale
    finally:
        con.close()


def test_a_company_wide_flip_moves_the_domain_only_when_its_count_crosses_zero():
    """Company-wide exclusions keep per-domain counts: a contact whose relative date flips moves its
    domain only when it was the last (or is the first) matching contact; otherwise only itself. Every
    hour the advanced evaluation equals a full one."""
    from tests.engine_factory import NOW, Workspace, doc, exclusion, title_is

    con = db.connect(None)
    try:
        ws = Workspace(con)
        ago = lambda hours: NOW - dt.timedelta(days=14) + dt.timedelta(hours=hours)  # noqa: E731  flips at +hours
        ws.contact("a@acme.com", last_contacted_at=ago(11.5))
        ws.contact("b@acme.com", last_contacted_at=ago(2.5))
        ws.contact("c@acme.com")
        ws.contact("d@beta.com", last_contacted_at=ago(5.5))
        ws.contact("e@beta.com", title="CEO")
        ws.contact("f@beta.com")
        ws.contact("g@gmail.com", last_contacted_at=ago(7.5))  # free mail: no company domain
        ws.contact("h@gamma.com")
        recent = {"field": "last_contacted_at", "op": "within_last_days", "value": 14}
        ws.save(doc([exclusion("ceo_co", title_is("CEO"), scope="company"),
                     exclusion("recent_co", recent, scope="company")]))
        ev = engine.evaluate(con, as_of=NOW, ordered=False)
        seen = {}
        for h in range(1, 16):
            t = NOW + h * H
            seen[h] = incremental.advance(con, ev, t)
            assert _keys(con, ev) == _keys(con, engine.evaluate(con, as_of=t, ordered=False)), f"hour {h}"
        # b flips at +2.5 h while a still matches: only b is recomputed, acme's count goes 2 -> 1
        assert (seen[3]["contacts"], seen[3]["domains"], seen[3]["changed"]) == (1, 0, 0)
        # d flips at +5.5 h: beta's "recent" count goes 1 -> 0 (its CEO bit stays): beta's 3 contacts
        assert (seen[6]["contacts"], seen[6]["domains"]) == (3, 1)
        # g (no domain) flips alone
        assert (seen[8]["contacts"], seen[8]["domains"]) == (1, 0)
        # a, the last recent contact of acme, flips at +11.5 h: acme's 3 contacts are released together
        assert (seen[12]["contacts"], seen[12]["domains"]) == (3, 1) and seen[12]["changed"] == 3
        assert all(seen[h]["contacts"] == 0 for h in seen if h not in (3, 6, 8, 12))
    finally:
        con.close()


def test_a_tick_that_fails_midway_is_redone_whole_and_sends_nothing_twice(workspace, tmp_path, monkeypatch):
    """A crash inside a tick's transaction (here: the sender's recording fails at the 7th tick) leaves the
    clock at the last finished tick and nothing of the failed one; the scheduler kept no state, so the
    next call starts fresh (a full evaluation), redoes that hour and goes on incrementally. Everything
    written equals the run with a full evaluation at every tick, and no step is sent twice."""
    from unify_dash.scheduler import outbox

    _seed, path = workspace
    hours = 18
    inc = _copy(path, tmp_path, "crash.duckdb")
    full = _copy(path, tmp_path, "full.duckdb")
    real, calls = outbox.queue_delivered, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 7:
            raise RuntimeError("the process died here")
        return real(*args, **kwargs)

    try:
        t0 = db.now(inc)
        monkeypatch.setattr(outbox, "queue_delivered", failing)
        summaries, failed_at = [], None
        h = 1
        while h <= hours:
            try:
                summaries.append(scheduler.run_until(inc, t0 + h * H))
            except RuntimeError:
                failed_at = h
                assert db.now(inc) == t0 + (h - 1) * H  # the failed tick left nothing
                continue  # the same hour again
            h += 1
        assert failed_at is not None
        assert sum(s["evaluations"] for s in summaries) == 2  # the first tick and the one after the crash
        monkeypatch.setattr(outbox, "queue_delivered", real)
        monkeypatch.setattr(run_mod, "INCREMENTAL", False)
        _tick_by_tick(full, hours)
        got, want = _content(inc), _content(full)
        sends = inc.execute("SELECT count(*), count(DISTINCT enrollment_id || ':' || step) FROM events "
                            "WHERE type = 'send'").fetchall()[0]
    finally:
        inc.close()
        full.close()
    for key in ("log", "enrollments", "events", "outbox"):
        assert got[key] == want[key], key
    assert sends[0] == sends[1] > 0


def _small_batches(monkeypatch, entry: int = 150, send: int = 30) -> list:
    """Batch sizes that split the 500-contact first tick (4 entry parts, several send batches); returns
    the list the tick's transactions are counted into."""
    monkeypatch.setattr(run_mod, "ENTRY_BATCH", entry)
    monkeypatch.setattr(run_mod, "SEND_BATCH", send)
    begun, real = [], run_mod.db.transaction

    def counted(con):
        begun.append(db.now(con))
        return real(con)

    monkeypatch.setattr(run_mod.db, "transaction", counted)
    return begun


def _duplicates(con) -> tuple:
    return con.execute(
        "SELECT (SELECT count(*) - count(DISTINCT enrollment_id || ':' || step) FROM events WHERE type = 'send'), "
        "(SELECT count(*) - count(DISTINCT enrollment_id || ':' || step) FROM outbox), "
        "(SELECT count(*) FROM events WHERE type = 'send')").fetchall()[0]


def test_a_first_tick_in_batches_decides_as_the_one_transaction_tick(workspace, tmp_path, monkeypatch):
    """The first tick's Play entry in parts of the contacts and its sends in batches, each a transaction
    of its own (run._carry_out), then a day of ticks: everything written equals the run whose first tick
    is one transaction, and so do the summaries."""
    _seed, path = workspace
    hours = 24
    one = _copy(path, tmp_path, "one.duckdb")
    batched = _copy(path, tmp_path, "batched.duckdb")
    try:
        a = _tick_by_tick(one, hours)
        begun = _small_batches(monkeypatch)
        b = _tick_by_tick(batched, hours)
        got, want = _content(batched), _content(one)
        dup = _duplicates(batched)
    finally:
        one.close()
        batched.close()
    t0 = a[0]["from"]
    first = [at for at in begun if str(at) == t0 or at.isoformat(sep=" ") == t0]
    assert len(first) > 5  # the first tick went in parts and batches (4 parts, then the sends 30 at a time)
    for key in ("log", "enrollments", "events", "outbox"):
        assert got[key] == want[key], key
    drop = ("seconds", "checkpoints")
    assert [{k: v for k, v in s.items() if k not in drop} for s in b] == [
        {k: v for k, v in s.items() if k not in drop} for s in a]
    assert a[0]["sends"] > 3 * 30 and dup[:2] == (0, 0)


@pytest.mark.parametrize("crash_in", ["_entry_pass", "_send_pass"])
def test_a_batched_first_tick_that_crashes_between_batches_resumes_without_duplicates(
        workspace, tmp_path, monkeypatch, crash_in):
    """A crash in the third batch of the first tick (in Play entry's parts, or in the sends): the batches
    before it stay committed, the clock stays where it was. The next run does that tick again: nobody is
    entered twice, no step is sent twice (events and outbox), and after a day of ticks everything equals
    the run without the crash."""
    _seed, path = workspace
    hours = 24
    one = _copy(path, tmp_path, "one.duckdb")
    crashed = _copy(path, tmp_path, "crashed.duckdb")
    try:
        _tick_by_tick(one, hours)
        _small_batches(monkeypatch, send=20)
        real, calls = getattr(run_mod, crash_in), []

        def dying(*args, **kwargs):
            calls.append(1)
            if len(calls) == 3:
                raise RuntimeError("the process died here")
            return real(*args, **kwargs)

        monkeypatch.setattr(run_mod, crash_in, dying)
        t0 = db.now(crashed)
        with pytest.raises(RuntimeError):
            scheduler.run_until(crashed, t0 + H)
        assert db.now(crashed) == t0  # the clock did not move
        partial = crashed.execute("SELECT count(*) FROM enrollments WHERE updated_at = ?", [t0 + H]).fetchone()[0]
        assert partial > 0  # two batches were committed
        monkeypatch.setattr(run_mod, crash_in, real)
        summaries = [scheduler.run_until(crashed, t0 + h * H) for h in range(1, hours + 1)]
        assert summaries[0]["evaluations"] == 1  # the redone tick starts fresh
        got, want = _content(crashed), _content(one)
        dup = _duplicates(crashed)
        twice = crashed.execute(
            "SELECT count(*) FROM (SELECT contact_id, node_id FROM enrollments WHERE play_id IS NOT NULL "
            "GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]
        twice_one = one.execute(
            "SELECT count(*) FROM (SELECT contact_id, node_id FROM enrollments WHERE play_id IS NOT NULL "
            "GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]
    finally:
        one.close()
        crashed.close()
    assert dup[:2] == (0, 0) and dup[2] > 0
    assert twice == twice_one
    for key in ("enrollments", "events", "outbox"):
        assert got[key] == want[key], key
    # the log too, but for the contacts entering two sequences at once (one active sequence at a time):
    # the redone tick sees the first enrollment already made and logs the wait as "already in" it then
    # (the run without the crash says so at its next Play entry pass)
    extra = collections.Counter(got["log"]) - collections.Counter(want["log"])
    missing = collections.Counter(want["log"]) - collections.Counter(got["log"])
    for r in [*extra, *missing]:
        assert r[6] == "not_enrolled" and '"reason": "active_elsewhere"' in r[7] and "already in sequence" in r[7]
    assert all(r[0] == t0 + H for r in extra)
    assert {r[1:] for r in missing} <= {r[1:] for r in extra}
