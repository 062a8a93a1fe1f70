"""Where a scheduler tick's memory goes, phase by phase: process RSS, DuckDB's own accounting, Python's heap.

    .venv/bin/python scripts/tick_memory.py DB_COPY [--memory-limit 3GB] [--ticks 1] [--tracemalloc]
        [--entry-batch N] [--send-batch N]

``DB_COPY`` is changed by the ticks: pass a copy. Runs ``--ticks`` hourly ticks
(:func:`unify_dash.scheduler.run.run_until`) and wraps the scheduler's phases (evaluation, Play-entry frames
and writes, send decisions and writes, the commit); a thread samples every 0.1 s the process RSS
(``/proc/self/status``), and DuckDB's memory (``duckdb_memory()``, what its buffer manager counts against
``memory_limit``) is read at the end of every phase. Prints one line per phase call: RSS at its start and end,
the peak RSS seen during it, DuckDB's memory at its end, and (``--tracemalloc``, slower) the Python heap at its
end and its peak; the last line is one JSON object with the phases and the load average before and after.
``--entry-batch`` / ``--send-batch`` set the scheduler's batch sizes for the run (``ENTRY_BATCH``, ``SEND_BATCH``;
a size above the workspace's contacts and backlog gives the one-transaction tick).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import json
import os
import resource
import sys
import threading
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from unify_dash import engine  # noqa: E402
from unify_dash.scheduler import outbox  # noqa: E402
from unify_dash.scheduler import run as scheduler  # noqa: E402
from unify_dash.store import db  # noqa: E402

MB = 2**20


def _rss() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _Sampler(threading.Thread):
    """The peak RSS between two resets (the thread reads /proc only: a query on a second cursor would hold
    a transaction open and make the scheduler's checkpoints wait)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak_rss = 0.0
        self.stop = threading.Event()

    def reset(self):
        self.peak_rss = _rss()

    def run(self):
        while not self.stop.wait(0.1):
            self.peak_rss = max(self.peak_rss, _rss())


def _duck_mb(con) -> float:
    return round(con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchall()[0][0] / MB)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("--memory-limit")
    ap.add_argument("--ticks", type=int, default=1)
    ap.add_argument("--tracemalloc", action="store_true")
    ap.add_argument("--entry-batch", type=int, help="scheduler.run.ENTRY_BATCH for this run")
    ap.add_argument("--send-batch", type=int, help="scheduler.run.SEND_BATCH for this run")
    args = ap.parse_args()
    scheduler.ENTRY_BATCH = args.entry_batch or scheduler.ENTRY_BATCH
    scheduler.SEND_BATCH = args.send_batch or scheduler.SEND_BATCH
    out = {"memory_limit": db.memory_limit(args.memory_limit), "entry_batch": scheduler.ENTRY_BATCH,
           "send_batch": scheduler.SEND_BATCH, "load_average_before": os.getloadavg(), "phases": []}
    print(f"memory limit {out['memory_limit']}; load average before {out['load_average_before']}", flush=True)
    con = db.connect(args.db, memory=args.memory_limit)
    sampler = _Sampler()
    sampler.start()
    depth = [0]
    if args.tracemalloc:
        tracemalloc.start()

    def wrap(owner, name):
        fn = getattr(owner, name)

        @functools.wraps(fn)
        def inner(*a, **k):
            depth[0] += 1
            sampler.reset()
            if args.tracemalloc:
                tracemalloc.reset_peak()
            rss0, t0 = _rss(), time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                row = {"phase": "  " * (depth[0] - 1) + name, "s": round(time.perf_counter() - t0, 2),
                       "rss_start_mb": round(rss0), "rss_end_mb": round(_rss()),
                       "rss_peak_mb": round(max(sampler.peak_rss, _rss())), "duckdb_end_mb": _duck_mb(con)}
                if args.tracemalloc:
                    cur, peak = tracemalloc.get_traced_memory()
                    row.update(py_end_mb=round(cur / MB), py_peak_mb=round(peak / MB))
                out["phases"].append(row)
                print(json.dumps(row), flush=True)
                depth[0] -= 1

        setattr(owner, name, inner)

    for name in ("_evaluate_for", "_entry_frames", "_complete_replied", "_entry_pass", "_send_pass", "_sends",
                 "_stops", "_decision_frame", "_log_still_blocked", "_log_once"):
        wrap(scheduler, name)
    wrap(engine, "send_decisions")
    wrap(engine, "entry_decisions")
    wrap(outbox, "queue_delivered")

    commit = db.transaction

    @contextlib.contextmanager
    def timed_transaction(c, *a, **k):
        with commit(c, *a, **k) as x:
            yield x
            sampler.reset()
            t0, rss0 = time.perf_counter(), _rss()
        row = {"phase": "commit", "s": round(time.perf_counter() - t0, 2), "rss_start_mb": round(rss0),
               "rss_end_mb": round(_rss()), "rss_peak_mb": round(max(sampler.peak_rss, _rss())),
               "duckdb_end_mb": _duck_mb(con)}
        out["phases"].append(row)
        print(json.dumps(row), flush=True)

    scheduler.db.transaction = timed_transaction
    try:
        for _ in range(args.ticks):
            until = db.now(con) + dt.timedelta(hours=1)
            t0 = time.perf_counter()
            summary = scheduler.run_until(con, until, tick=dt.timedelta(hours=1))
            out.setdefault("ticks", []).append({k: summary[k] for k in ("sends", "new_enrollments", "evaluations",
                                                                         "checkpoints", "seconds")})
            print(f"tick to {until}: {time.perf_counter() - t0:.1f} s, {json.dumps(out['ticks'][-1])}", flush=True)
    finally:
        sampler.stop.set()
        scheduler.db.transaction = commit
        out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        con.close()
    out["load_average_after"] = os.getloadavg()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
