"""Time hourly scheduler ticks on a loaded workspace: ``python scripts/bench_ticks.py DB [--days 7]
[--tick 1h] [--full]``.

Runs :func:`unify_dash.scheduler.tick` on ``DB`` (changed in place: copy it first) until ``--days``
have passed, one call per tick in one process (so every tick after the first goes on from the last
one's state, as the service's worker does), and prints one line per simulated day and a JSON line:
``contacts, ticks, first_tick_s, tick_median_s, tick_p90_s, tick_max_s, tick_cpu_median_s, week_s,
sends, evaluations, advances, advanced_contacts, db_mb_before, db_mb_after, db_growth_mb,
load_average``. ``--full`` evaluates every contact at every tick (the path before incremental
evaluation), for comparison.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from unify_dash import scheduler  # noqa: E402
from unify_dash.scheduler import run as run_mod  # noqa: E402
from unify_dash.store import db  # noqa: E402


def _size_mb(path: Path) -> float:
    wal = path.with_name(path.name + ".wal")
    return round((path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)) / 2**20, 1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db")
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--tick", default="1h")
    ap.add_argument("--full", action="store_true", help="a full evaluation at every tick")
    args = ap.parse_args(argv)
    path = Path(args.db)
    every = scheduler.parse_duration(args.tick)
    run_mod.INCREMENTAL = not args.full
    before = _size_mb(path)
    con = db.connect(path)
    try:
        contacts = con.execute("SELECT count(*) FROM contacts").fetchone()[0]
        end = db.now(con) + dt.timedelta(days=args.days)
        wall, cpu, totals = [], [], {"sends": 0, "evaluations": 0, "advances": 0, "advanced_contacts": 0}
        started = time.perf_counter()
        day = None
        while db.now(con) < end:
            t0, c0 = time.perf_counter(), time.process_time()
            s = scheduler.tick(con, every=every)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            for k in totals:
                totals[k] += s[k]
            now = db.now(con)
            if now.date() != day:
                day = now.date()
                print(f"{now:%Y-%m-%d %H:%M}  tick {wall[-1]:.3f} s  sends {totals['sends']:,}  "
                      f"evaluations {totals['evaluations']}  advances {totals['advances']}", flush=True)
        week_s = time.perf_counter() - started
    finally:
        con.close()
    rest = wall[1:] or wall
    out = {"contacts": contacts, "ticks": len(wall), "first_tick_s": round(wall[0], 3),
           "tick_median_s": round(statistics.median(rest), 4),
           "tick_p90_s": round(sorted(rest)[int(0.9 * (len(rest) - 1))], 4), "tick_max_s": round(max(rest), 3),
           "tick_cpu_median_s": round(statistics.median(cpu[1:] or cpu), 4), "week_s": round(week_s, 1),
           **totals, "db_mb_before": before, "db_mb_after": _size_mb(path),
           "db_growth_mb": round(_size_mb(path) - before, 1), "load_average": os.getloadavg()[0],
           "incremental": not args.full}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
