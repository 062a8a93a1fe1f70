"""Time hourly scheduler ticks on a loaded workspace: ``python scripts/bench_ticks.py DB [--days 7]
[--tick 1h] [--full]``.

Runs :func:`unify_dash.scheduler.tick` on ``DB`` (changed in place: copy it first) until ``--days``
have passed, one call per tick in one process (so every tick after the first goes on from the last
one's state, as the service's worker does), and prints one line per simulated day and a JSON line:
``contacts, ticks, first_tick_s, tick_median_s, tick_p90_s, tick_max_s, tick_cpu_median_s, tick_cpu_p90_s, week_s,
sends, evaluations, advances, advanced_contacts, db_mb_before, db_mb_after, db_growth_mb,
db_mb_after_first_tick, db_growth_per_day_after_first_mb`` (file + write-ahead log; the ticks after the
first, scaled to a simulated day), ``load_average``. ``--full`` evaluates every contact at every tick (the path before incremental
evaluation), for comparison. ``--profile`` also times every SQL statement and prints the 25 costliest
by CPU time (wall and CPU summed, with their count and the calling line) of the first tick, then of the
ticks after it, before the JSON.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import re
import statistics
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from unify_dash import scheduler  # noqa: E402
from unify_dash.scheduler import run as run_mod  # noqa: E402
from unify_dash.store import db  # noqa: E402


def _size_mb(path: Path) -> float:
    wal = path.with_name(path.name + ".wal")
    return round((path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)) / 2**20, 1)


class _Timed:
    """A connection (or cursor) whose ``execute`` is timed per statement while ``on[0]``."""

    def __init__(self, con, stats: dict, on: list):
        self._con, self._stats, self._on = con, stats, on

    def __getattr__(self, name):
        return getattr(self._con, name)

    def cursor(self):
        return _Timed(self._con.cursor(), self._stats, self._on)

    def execute(self, sql, *args, **kwargs):
        t0, c0 = time.perf_counter(), time.process_time()
        out = self._con.execute(sql, *args, **kwargs)
        if self._on[0]:
            frame = traceback.extract_stack(limit=2)[0]
            text = re.sub(r"\s+", " ", sql).strip()[:80]
            key = f"{Path(frame.filename).name}:{frame.lineno} {text}"
            entry = self._stats[key]
            entry[0] += 1
            entry[1] += time.perf_counter() - t0
            entry[2] += time.process_time() - c0  # CPU of the process (DuckDB's threads too): steadier under load
        return self if out is self._con else out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db")
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--tick", default="1h")
    ap.add_argument("--full", action="store_true", help="a full evaluation at every tick")
    ap.add_argument("--profile", action="store_true", help="time every statement of the ticks after the first")
    args = ap.parse_args(argv)
    path = Path(args.db)
    every = scheduler.parse_duration(args.tick)
    run_mod.INCREMENTAL = not args.full
    before = _size_mb(path)
    con = db.connect(path)
    first = collections.defaultdict(lambda: [0, 0.0, 0.0])
    stats, on = collections.defaultdict(lambda: [0, 0.0, 0.0]), [True]
    timed = _Timed(con, first, on) if args.profile else con
    try:
        contacts = con.execute("SELECT count(*) FROM contacts").fetchone()[0]
        end = db.now(con) + dt.timedelta(days=args.days)
        wall, cpu, totals = [], [], {"sends": 0, "evaluations": 0, "advances": 0, "advanced_contacts": 0,
                                  "checkpoints": 0}
        started = time.perf_counter()
        day = None
        while db.now(con) < end:
            t0, c0 = time.perf_counter(), time.process_time()
            s = scheduler.tick(timed, every=every)
            if args.profile:
                timed._stats = stats  # the first tick's statements apart from the later ticks'
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            if len(wall) == 1:  # the growth of the ticks after the first, apart from the first's backlog
                after_first, first_at = _size_mb(path), db.now(con)
            for k in totals:
                totals[k] += s[k]
            now = db.now(con)
            if now.date() != day:
                day = now.date()
                print(f"{now:%Y-%m-%d %H:%M}  tick {wall[-1]:.3f} s  sends {totals['sends']:,}  "
                      f"evaluations {totals['evaluations']}  advances {totals['advances']}", flush=True)
        week_s = time.perf_counter() - started
        end_at = db.now(con)
    finally:
        end_mb = _size_mb(path)  # file + write-ahead log while open, as after_first was taken
        con.close()
    for title, table in (("first tick", first), ("the ticks after the first", stats)):
        if table:
            print(f"-- {title}: the 25 costliest statements by CPU")
        for key, (n, secs, cpu_s) in sorted(table.items(), key=lambda kv: -kv[1][2])[:25]:
            print(f"{secs:8.3f} s wall {cpu_s:8.3f} s CPU {n:5d}x  {key}")
    rest = wall[1:] or wall
    out = {"contacts": contacts, "ticks": len(wall), "first_tick_s": round(wall[0], 3),
           "tick_median_s": round(statistics.median(rest), 4),
           "tick_p90_s": round(sorted(rest)[int(0.9 * (len(rest) - 1))], 4), "tick_max_s": round(max(rest), 3),
           "tick_cpu_median_s": round(statistics.median(cpu[1:] or cpu), 4),
           "tick_cpu_p90_s": round(sorted(cpu[1:] or cpu)[int(0.9 * (len(rest) - 1))], 4), "week_s": round(week_s, 1),
           **totals, "db_mb_before": before, "db_mb_after": _size_mb(path),
           "db_growth_mb": round(_size_mb(path) - before, 1), "db_mb_after_first_tick": after_first,
           "db_growth_per_day_after_first_mb": round((end_mb - after_first) / max(
               (end_at - first_at).total_seconds() / 86400, 1e-9), 1) if len(wall) > 1 else None,
           "load_average": os.getloadavg()[0],
           "incremental": not args.full}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
