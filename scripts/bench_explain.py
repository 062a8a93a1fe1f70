"""Time ``explain`` and drill-down pages on any loaded database: ``python scripts/bench_explain.py DB``.

The bench's explain and drill-down part (:mod:`unify_dash.reports.bench`: 59 random contacts and 10 of the
largest domain, the point query by email as the floor; every first page of the Play's counts and the last
page of the largest) on a database the bench did not build (e.g. the ``make run`` demo at 1M; opening it
upgrades an older schema, so time a copy of a shared file).
Prints the bench's lines and one JSON line with ``evaluate_s`` (the pages' evaluation, cached for the
rest), the explain and drill-down figures (``explain_cpu_ms``: the median CPU time of the process per
explain, which a shared machine's load inflates less than the wall time) and ``loadavg_before`` /
``loadavg_after``. ``--rounds N`` times
the same contacts N times (``explain_rounds``: each round's figures; the first round reads every block
for the first time, the next ones find them in DuckDB's buffer pool: at 10M the two differ by 2-3x).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from unify_dash import engine  # noqa: E402
from unify_dash.reports import bench  # noqa: E402
from unify_dash.store import db  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", help="a loaded workspace database (a copy of a shared one)")
    parser.add_argument("--rounds", type=int, default=1, help="time the explain contacts this many times")
    args = parser.parse_args(argv)
    out: dict = {"loadavg_before": [round(x, 2) for x in os.getloadavg()]}
    con = db.connect(args.db)
    try:
        started = time.perf_counter()
        ev = engine.evaluation(con)
        out.update(contacts=ev.contacts, groups=ev.groups, evaluate_s=round(time.perf_counter() - started, 2))
        sizes = {p: engine.impact(ev, p)["entered"] for p in ev.play_ids}
        play_id = max(ev.play_ids, key=lambda p: (len(ev.settings.play(p).nodes), sizes[p]))
        rounds = [bench._explain_figures(con, print) for _ in range(max(1, args.rounds))]
        out.update(rounds[0])
        if len(rounds) > 1:
            out["explain_rounds"] = [{k: r[k] for k in ("explain_ms", "explain_p90_ms", "explain_cpu_ms",
                                                                  "explain_max_domain_ms")}
                                     for r in rounds]
        out.update(bench._drilldown_figures(con, ev, play_id, print))
    finally:
        con.close()
    out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
