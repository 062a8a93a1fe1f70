"""The scheduler worker: a thread of the service that ticks the send scheduler on the real clock.

Every ``every`` (default 5 minutes) it wakes and, under the database's write lock, decides:

* **real clock** - the workspace clock is not pinned, or it is where this worker last left it (or
  later, up to the wall clock): it runs ``scheduler.run_until(wall clock now)``, which carries out
  every entry and send due in between, tick by tick, each tick one transaction;
* **pinned / simulated** - the workspace pins its clock (``now:`` in workspace.yaml, as the demo
  does) elsewhere: nothing happens on its own; the scheduler runs only when asked
  (``unify-dash sends --until T`` through the service, or the Data page's button).

The worker's own mark is the meta key ``service.real_clock_from``: the clock it last reached.
A tick that fails leaves the clock at the last finished tick (``run_until``'s transactions) and is
retried after ``RETRY_FIRST`` seconds, doubling up to ``every``. Stopping waits for the run in
progress: every tick is applied whole or not at all.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import traceback
from collections import deque

from unify_dash.scheduler import run_until
from unify_dash.store import db

MARK = "service.real_clock_from"
RETRY_FIRST = 5.0
HISTORY = 20


def wall_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def clock_mode(con, wall: dt.datetime) -> tuple[str, dt.datetime | None]:
    """("unpinned", None), ("real", clock) or ("pinned", clock) for the workspace clock now."""
    pinned = db.get_meta(con, "clock")
    if not pinned:
        return "unpinned", None
    clock = dt.datetime.fromisoformat(pinned)
    mark = db.get_meta(con, MARK)
    if mark and dt.datetime.fromisoformat(mark) <= clock <= wall:
        return "real", clock
    return "pinned", clock


class Worker(threading.Thread):
    """``start()``, then ``stop()`` (waits for a run in progress); ``snapshot()`` for the status."""

    def __init__(self, db_path: str, every: dt.timedelta, *, tick: dt.timedelta | None = None):
        super().__init__(name="unify-dash-scheduler", daemon=True)
        self.db_path, self.every = db_path, every
        self.tick = tick or min(every, dt.timedelta(hours=1))
        self._stop_event = threading.Event()
        self._state = threading.Lock()
        self.history: deque[dict] = deque(maxlen=HISTORY)
        self.errors: deque[dict] = deque(maxlen=HISTORY)
        self.failures = 0  # consecutive
        self.totals = {"runs": 0, "ticks": 0, "sends": 0, "skips": 0, "failures": 0}
        self.mode = "starting"
        self.running_since: str | None = None
        self.next_at: dt.datetime | None = None

    # --- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        delay = 0.0
        while not self._stop_event.wait(delay):
            ok = self.wake()
            if ok:
                self.failures, delay = 0, self.every.total_seconds()
            else:
                self.failures += 1
                delay = min(self.every.total_seconds(), RETRY_FIRST * 2 ** (self.failures - 1))
            with self._state:
                self.next_at = wall_clock() + dt.timedelta(seconds=delay)

    def stop(self, timeout: float = 60.0) -> bool:
        """Ask the loop to end and wait for a run in progress; True when the thread ended."""
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout)
        return not self.is_alive()

    def wake(self) -> bool:
        """One wake-up: a real-clock run, or nothing when the clock is pinned. False when it failed."""
        started = time.perf_counter()
        wall = wall_clock()
        try:
            with db.write_lock(self.db_path):
                con = db.connect(self.db_path)
                try:
                    return self._wake(con, wall, started)
                finally:
                    con.close()
        except Exception as err:  # noqa: BLE001 - any failure is recorded and retried, never fatal
            with self._state:
                self.running_since = None
                self.totals["failures"] += 1
                self.errors.appendleft({"at": wall.isoformat(sep=" "), "error": f"{type(err).__name__}: {err}",
                                        "traceback": traceback.format_exc(limit=8)})
            return False

    def _wake(self, con, wall: dt.datetime, started: float) -> bool:
        mode, clock = clock_mode(con, wall)
        with self._state:
            self.mode = "real" if mode != "pinned" else "pinned"
        if mode == "pinned":
            return True
        if mode == "unpinned":  # the first wake on a live workspace: start the clock at the wall clock
            with db.transaction(con):
                db.set_clock(con, wall)
                db.set_meta(con, MARK, wall.isoformat(sep=" "))
            self._record(wall, wall, {"ticks": 0, "sends": 0, "skips": {}, "removals": {}}, started)
            return True
        with self._state:
            self.running_since = wall.isoformat(sep=" ")
        summary = run_until(con, wall, tick=self.tick)
        with db.transaction(con):
            db.set_meta(con, MARK, wall.isoformat(sep=" "))
        self._record(clock, wall, summary, started)
        return True

    def _record(self, start: dt.datetime, until: dt.datetime, summary: dict, started: float) -> None:
        run = {"at": wall_clock().isoformat(sep=" "), "from": start.isoformat(sep=" "), "until": until.isoformat(sep=" "),
               "ticks": summary.get("ticks", 0), "sends": summary.get("sends", 0),
               "skips": sum(summary.get("skips", {}).values()), "removals": sum(summary.get("removals", {}).values()),
               "seconds": round(time.perf_counter() - started, 3)}
        with self._state:
            self.running_since = None
            self.history.appendleft(run)
            self.totals["runs"] += 1
            for key in ("ticks", "sends", "skips"):
                self.totals[key] += run[key]

    def snapshot(self) -> dict:
        with self._state:
            return {
                "every_seconds": self.every.total_seconds(), "tick": str(self.tick), "mode": self.mode,
                "alive": self.is_alive(), "running_since": self.running_since,
                "next_wake": self.next_at.isoformat(sep=" ") if self.next_at else None,
                "last_run": self.history[0] if self.history else None, "runs": list(self.history),
                "consecutive_failures": self.failures, "errors": list(self.errors), "totals": dict(self.totals)}
