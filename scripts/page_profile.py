"""Each page's rerun on the server, timed in-process (issue 13's app figures, without a browser).

    python scripts/page_profile.py DB [--pages play,logs] [--reruns 3] [--profile 15] [--role revops]

Runs every page script with Streamlit's AppTest against ``DB`` (opened read-only as a copy is not
needed: AppTest reads, and a page's widgets are not clicked), the way ``unify-dash serve`` runs it:
the workspace is evaluated first (:func:`unify_dash.service.serve.warm`), then per page:

* ``first_ms``: the page's first run in this process (its cached answers computed; with
  ``--warm-caches`` after the service's background warm-up, ``warm_up_s``, has computed them);
* ``rerun_ms``: the minimum over ``--reruns`` reruns of the same session (what a click costs a
  page that is not split into fragments, and a warm visit from the sidebar);
* with ``--profile N``: the N functions of the package with the most cumulative time in one rerun,
  to tell Streamlit's own cost from the domain calls.

The last line printed is one JSON object: ``warm_s`` and per page ``first_ms`` / ``rerun_ms``.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import pstats
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class ScriptTimer:
    """Times (and optionally profiles) the page script inside AppTest's script thread, around
    ``ScriptRunner._run_script``: AppTest's own handling of the page's messages is not counted."""

    def __init__(self) -> None:
        from streamlit.runtime.scriptrunner import script_runner

        self.runs: list[float] = []
        self.profile: cProfile.Profile | None = None
        original = script_runner.ScriptRunner._run_script
        timer = self

        def timed(runner, rerun_data):
            started = time.perf_counter()
            if timer.profile is not None:
                timer.profile.enable()
            try:
                return original(runner, rerun_data)
            finally:
                if timer.profile is not None:
                    timer.profile.disable()
                timer.runs.append((time.perf_counter() - started) * 1000)

        script_runner.ScriptRunner._run_script = timed

    def run(self, at, timeout: float) -> float:
        """Run (or rerun) the page; the milliseconds its script took."""
        before = len(self.runs)
        at.run(timeout=timeout)
        if at.exception:
            raise SystemExit(f"{at.exception[0].message}")
        return sum(self.runs[before:])

    def profiled(self, at, timeout: float, top: int) -> str:
        self.profile = cProfile.Profile()
        try:
            self.run(at, timeout)
        finally:
            prof, self.profile = self.profile, None
        stats = pstats.Stats(prof).sort_stats("cumulative")
        wanted = re.compile(r"unify_dash|plotly/express|streamlit/elements/(plotly|arrow|layouts)")
        lines = []
        for (file, line, name), (_, calls, _, cum, _) in sorted(stats.stats.items(), key=lambda kv: -kv[1][3]):
            if wanted.search(file) and len(lines) < top:
                where = file.split("/unify_dash/")[-1] if "/unify_dash/" in file else file.split("site-packages/")[-1]
                lines.append(f"    {cum * 1000:8.1f} ms  {calls:5d}x  {where}:{line}({name})")
        return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db")
    parser.add_argument("--pages", default="", help="comma-separated page keys (default: every page of the role)")
    parser.add_argument("--reruns", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, help="print the top N functions of one rerun")
    parser.add_argument("--role", default="revops")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--warm-caches", action="store_true",
                        help="also compute the pages' first views first, as the service's background warm-up does "
                             "(unify_dash/app/warmup.py): first_ms is then a first visit after it finished")
    args = parser.parse_args(argv)
    os.environ.update({"UNIFY_DB": os.path.realpath(args.db), "UNIFY_ROLE": args.role, "UNIFY_USER": "bench"})

    from streamlit.testing.v1 import AppTest

    from unify_dash.app import ui
    from unify_dash.model import roles
    from unify_dash.service import serve

    for name in [*[n for n in logging.root.manager.loggerDict if n.startswith("streamlit")],
                 "streamlit.runtime.scriptrunner_utils.script_run_context"]:
        logging.getLogger(name).setLevel(logging.ERROR)  # "missing ScriptRunContext": AppTest's bare mode

    timer = ScriptTimer()
    started = time.perf_counter()
    serve.warm(ui.database())
    result: dict = {"db": os.environ["UNIFY_DB"], "warm_s": round(time.perf_counter() - started, 2), "pages": {}}
    if args.warm_caches:
        from unify_dash.app import warmup

        started = time.perf_counter()
        result["warm_up"] = warmup.warm_caches()
        result["warm_up_s"] = round(time.perf_counter() - started, 2)
    keys = [k for k in args.pages.split(",") if k] or list(roles.PAGES[args.role])
    for key in keys:
        at = AppTest.from_file(str(ui.ROOT / ui.PAGE_FILES[key][0]), default_timeout=args.timeout)
        first = timer.run(at, args.timeout)
        reruns = [timer.run(at, args.timeout) for _ in range(args.reruns)]
        result["pages"][key] = {"first_ms": round(first, 1), "rerun_ms": round(min(reruns), 1) if reruns else None}
        print(f"{key:12s} first {first:8.1f} ms   rerun {min(reruns) if reruns else float('nan'):8.1f} ms",
              file=sys.stderr, flush=True)
        if args.profile:
            print(timer.profiled(at, args.timeout, args.profile), file=sys.stderr, flush=True)
    result["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
