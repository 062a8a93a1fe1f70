"""An evaluation and a scheduler tick on a loaded database within a memory limit: time, CPU and peak memory.

    .venv/bin/python scripts/limit_eval.py DB_COPY [--memory-limit 3GB] [--ticks 1]

``DB_COPY`` is changed by the ticks (sends, events): pass a copy. Opens it with
:func:`unify_dash.store.db.connect` at ``--memory-limit`` (default: :func:`unify_dash.store.db.memory_limit`,
the default the CLI uses), runs :func:`unify_dash.engine.evaluate` once, then ``--ticks`` hourly ticks
(:func:`unify_dash.scheduler.run.run_until`, one hour each; 0 for none), and prints each step's wall and CPU
time (user + system of the process, DuckDB's threads included), the peak RSS of the process after it, and the
load average; the last line is one JSON object. Run each limit in its own process (peak RSS is per process).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import time

from unify_dash import engine
from unify_dash.scheduler import run as scheduler
from unify_dash.store import db


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("--memory-limit")
    ap.add_argument("--ticks", type=int, default=1)
    args = ap.parse_args()
    out = {"memory_limit": db.memory_limit(args.memory_limit), "load_average_before": os.getloadavg()}
    print(f"memory limit {out['memory_limit']}; load average before: {out['load_average_before']}")
    wall, cpu = time.perf_counter(), _cpu()
    con = db.connect(args.db, memory=args.memory_limit)
    try:
        contacts = con.execute("SELECT count(*) FROM contacts").fetchone()[0]
        out.update(contacts=contacts, open_s=round(time.perf_counter() - wall, 2), open_rss_mb=_rss_mb())
        wall, cpu = time.perf_counter(), _cpu()
        ev = engine.evaluate(con)
        out.update(evaluate_s=round(time.perf_counter() - wall, 2), evaluate_cpu_s=round(_cpu() - cpu, 2),
                   evaluate_rss_mb=_rss_mb(), groups=ev.groups)
        print(f"evaluated {contacts:,} contacts in {out['evaluate_s']} s ({out['evaluate_cpu_s']} s CPU), "
              f"peak RSS {out['evaluate_rss_mb']:,} MB")
        del ev
        ticks = []
        for _ in range(args.ticks):
            until = db.now(con) + dt.timedelta(hours=1)
            wall, cpu = time.perf_counter(), _cpu()
            scheduler.run_until(con, until, tick=dt.timedelta(hours=1))
            ticks.append((round(time.perf_counter() - wall, 2), round(_cpu() - cpu, 2)))
            print(f"tick: {ticks[-1][0]} s ({ticks[-1][1]} s CPU), peak RSS {_rss_mb():,} MB")
        out.update(ticks=ticks, peak_rss_mb=_rss_mb())
    finally:
        con.close()
    out["load_average_after"] = os.getloadavg()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
