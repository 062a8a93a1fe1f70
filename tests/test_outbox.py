"""The outbox under kill -9: ``unify-dash sends --sender kill_sender:factory`` in a subprocess that is
killed in the middle of a tick's deliveries, several times, then run to the end. Every enrollment x
step is queued once under one idempotency key; a provider that deduplicates by key delivers each
step exactly once; the database records one send per enrollment and step."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lifecycle_factory import add_contact, make_workspace

from unify_dash.store import db

UNTIL = "2026-11-12T00:00"  # three steps of seq1 (delays 0, 3, 4 days)
CONTACTS = 150
KILL_AT = (25, 140, 260)  # deliveries logged when each killed run is stopped
TESTS = Path(__file__).resolve().parent


def build(path: Path) -> None:
    con = db.connect(path)
    make_workspace(con)
    for i in range(CONTACTS):
        add_contact(con, f"k{i:03d}@kill{i % 7}.example")
    con.close()


def log_lines(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(x) for x in log.read_text().splitlines() if x.strip()]


def sends(db_path: Path, log: Path, env: dict, *, kill_at: int | None) -> int:
    """One ``unify-dash sends`` run; killed with SIGKILL once ``kill_at`` deliveries are logged. Returns
    the exit code (-9 when killed)."""
    cmd = [sys.executable, "-m", "unify_dash", "sends", "--until", UNTIL, "--db", str(db_path),
           "--sender", "kill_sender:factory", "--json"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill_at is None:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()
        return proc.returncode
    deadline = time.monotonic() + 300
    while proc.poll() is None and len(log_lines(log)) < kill_at and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before it could be killed: " + proc.stderr.read().decode()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    return proc.returncode


def test_kill_9_mid_tick_sends_every_step_at_most_once(tmp_path):
    db_path, log = tmp_path / "kill.duckdb", tmp_path / "deliveries.jsonl"
    build(db_path)
    env = {**os.environ, "KILL_SENDER_LOG": str(log), "KILL_SENDER_DELAY": "0.003",
           "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    codes = [sends(db_path, log, env, kill_at=n) for n in KILL_AT]
    assert codes == [-signal.SIGKILL] * len(KILL_AT)
    sends(db_path, log, env, kill_at=None)

    calls = log_lines(log)
    per_key = collections.Counter(c["key"] for c in calls)
    keys_per_step = collections.defaultdict(set)
    for c in calls:
        keys_per_step[(c["enrollment_id"], c["step"])].add(c["key"])
    # one key per enrollment x step, always the same one
    assert all(len(k) == 1 for k in keys_per_step.values())
    assert all(key == f"{e}:{s}" for (e, s), ks in keys_per_step.items() for key in ks)
    # every step went out (a provider deduplicating by key delivers each exactly once) ...
    assert len(per_key) == CONTACTS * 3
    # ... and a key was offered again only when a run died between delivering it and recording it:
    # at most one confirmation batch (20) per kill
    reoffered = sum(n - 1 for n in per_key.values())
    assert max(per_key.values()) <= 2 and reoffered <= 20 * len(KILL_AT)
    con = db.connect(db_path, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM outbox WHERE status <> 'delivered'").fetchone()[0] == 0
        twice = con.execute("SELECT enrollment_id, step FROM events WHERE type = 'send' GROUP BY ALL "
                            "HAVING count(*) > 1").fetchall()
        assert twice == []
        assert con.execute("SELECT count(*) FROM events WHERE type = 'send'").fetchone()[0] == CONTACTS * 3
    finally:
        con.close()
    print(f"kill -9 x{len(KILL_AT)}: {len(calls)} deliver calls, {len(per_key)} keys, {reoffered} re-offered "
          f"with the same key, max calls per key {max(per_key.values())}")


@pytest.mark.parametrize("spec,message", [("nope", "expected package.module:factory"),
                                          ("no_such_module:factory", "cannot import")])
def test_a_bad_sender_spec_is_a_clear_error(tmp_path, spec, message):
    db_path = tmp_path / "x.duckdb"
    build(db_path)
    proc = subprocess.run([sys.executable, "-m", "unify_dash", "sends", "--until", UNTIL, "--db", str(db_path),
                           "--sender", spec], capture_output=True, text=True)
    assert proc.returncode == 1 and message in proc.stderr and "Traceback" not in proc.stderr


def test_sends_recorded_after_their_tick_change_the_app_cache_stamp(tmp_path):
    """An external sender's deliveries are recorded after the tick's commit: the pages that count sends
    must not keep a cached answer from before them, yet the evaluation inputs (data_generation, which the
    scheduler's incremental evaluation keys on) did not change."""
    import datetime as dt

    from unify_dash.scheduler import outbox
    from unify_dash.scheduler import run as sched

    class External:  # not the local RecordingSender: delivery happens after the tick commits
        def deliver(self, message) -> str:
            return f"ext:{message.idempotency_key}"

    path = tmp_path / "o.duckdb"
    build(path)
    con = db.connect(path)
    sched.run_until(con, db.now(con) + dt.timedelta(hours=1), sender=External())
    sent = con.execute("SELECT count(*) FROM events WHERE type = 'send'").fetchone()[0]
    assert sent > 0 and con.execute("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()[0] == 0
    before = (db.generation(con), db.get_meta(con, "delivery_generation"))
    assert before[1] is not None  # the deliveries of that run bumped it
    con.execute("UPDATE outbox SET status = 'pending', delivered_at = NULL")  # as if a tick left them pending
    con.execute("DELETE FROM events WHERE type = 'send'")
    assert outbox.flush(con, External()) == sent
    assert db.generation(con) == before[0]
    assert int(db.get_meta(con, "delivery_generation")) > int(before[1])
    con.close()
