"""The app's speed in a real browser, on a given database (issue 13's app figures).

    python scripts/browser_bench.py DB [--toggles 12] [--rounds 2] [--port 8599]

Starts the service as ``make run`` does (``unify-dash serve --db DB --no-worker``: the app in the
service, which evaluates the workspace before it listens), drives Debian's Chromium through
Playwright (``executable_path``, tests/browser_support.py) and measures:

* ``server_ready_s``: from starting the process to the app answering (``/_stcore/health``), the
  start-up evaluation included;
* ``first_page_s``: from then to the first Play view on screen (a new browser session, every
  count drawn, the script finished); ``first_counts_s``: to its first Not Enrolled count on screen;
* ``first_visit_ms``: each page's first visit from the sidebar in the process (its cached answers
  computed then, unless the service's background warm-up, unify_dash/app/warmup.py, has done it);
* ``warm_page_ms``: each page opened again from the sidebar (the same session, as a user moves
  between pages), per page, with ``warm_page_max_ms`` / ``warm_page_median_ms``; ``reload_page_ms``
  the same pages opened as a new session (``page.goto``: websocket and static files included);
* ``toggle_ms``: click on a what-if checkbox of the Play view's grid (a real mouse click; from its
  pointerdown event) to the new Not Enrolled count on screen (a MutationObserver in the page),
  ``toggle_p50_ms`` / ``toggle_p90_ms``;
* ``server_rss_mb`` / ``server_peak_rss_mb``: the service process's resident memory at the end, and
  its peak (VmHWM).

The last line printed is one JSON object with these keys and ``contacts``, ``db``, ``load_avg``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import (  # noqa: E402 - the test helpers are the one Chromium setup
    PAGES,
    browser,
    chromium_path,
    free_port,
    toggle_click,
)

READY_JS = """(title) => {
    const app = document.querySelector('[data-testid=stApp]');
    const h1 = document.querySelector('[data-testid=stMain] h1');
    return app && app.getAttribute('data-test-script-state') === 'notRunning' && h1 && h1.innerText.includes(title)
        && !document.querySelector('[data-testid=stSkeleton]');
}"""


def wait_page(page, title: str, timeout_ms: float) -> None:
    """The page titled ``title`` is on screen and its script has finished (no skeleton left)."""
    page.wait_for_function(READY_JS, arg=title, timeout=timeout_ms, polling=20)


def proc_memory(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return round(fields.get("VmRSS", 0.0), 1), round(fields.get("VmHWM", 0.0), 1)


def contacts_of(db: str) -> int | None:
    import duckdb

    try:
        con = duckdb.connect(db, read_only=True)
        try:
            return int(con.execute("SELECT count(*) FROM contacts").fetchone()[0])
        finally:
            con.close()
    except duckdb.Error:
        return None


def start_service(db: str, port: int, log_path: Path) -> tuple[subprocess.Popen, str, float]:
    env = {**os.environ, "UNIFY_ROLE": "revops", "UNIFY_USER": "bench", "STREAMLIT_SERVER_HEADLESS": "true",
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",
           "STREAMLIT_SERVER_ADDRESS": "127.0.0.1", "UNIFY_APP_TIMING": "1"}
    log = open(log_path, "w")  # noqa: SIM115 - kept open for the process's life
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "unify_dash", "serve", "--db", db, "--no-worker",
                             "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"the service exited with {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, url, time.perf_counter() - started
        except OSError:
            time.sleep(0.05)
        if time.perf_counter() - started > 900:
            proc.kill()
            raise SystemExit(f"the service did not answer within 900 s; see {log_path}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def measure(url: str, page, *, toggles: int, rounds: int, timeout_ms: float) -> dict:
    out: dict = {}
    t = time.perf_counter()
    page.goto(f"{url}/play")
    page.locator("[data-testid=stMetric]").filter(has_text="Not Enrolled").first.wait_for(timeout=timeout_ms)
    out["first_counts_s"] = round(time.perf_counter() - t, 3)
    wait_page(page, PAGES["play"], timeout_ms)
    out["first_page_s"] = round(time.perf_counter() - t, 3)

    # every page once (cold caches of that page), then `rounds` more visits from the sidebar
    warm: dict[str, list[float]] = {name: [] for name in PAGES}
    first: dict[str, float] = {}
    for visit in range(rounds + 1):
        for name, title in PAGES.items():
            link = page.locator("[data-testid=stSidebarNav] a").filter(has_text=title).first
            t = time.perf_counter()
            link.click()
            page.wait_for_url(f"**/{name}*", timeout=timeout_ms)
            wait_page(page, title, timeout_ms)
            if visit:
                warm[name].append((time.perf_counter() - t) * 1000)
            else:
                first[name] = round((time.perf_counter() - t) * 1000, 1)
    out["first_visit_ms"] = first
    out["warm_page_ms"] = {k: round(min(v), 1) for k, v in warm.items()}
    flat = [min(v) for v in warm.values()]
    out["warm_page_max_ms"] = round(max(flat), 1)
    out["warm_page_median_ms"] = round(statistics.median(flat), 1)
    reload = {}
    for name, title in PAGES.items():
        t = time.perf_counter()
        page.goto(f"{url}/{name}")
        wait_page(page, title, timeout_ms)
        reload[name] = round((time.perf_counter() - t) * 1000, 1)
    out["reload_page_ms"] = reload

    page.goto(f"{url}/play")
    wait_page(page, PAGES["play"], timeout_ms)
    times, changed = [], 0
    for i in range(toggles):
        result = toggle_click(page, i)
        if result is None:
            break
        ms, before, after = result
        times.append(ms)
        changed += before != after
        wait_page(page, PAGES["play"], timeout_ms)
    out["toggle_ms"] = [round(x, 1) for x in times]
    out["toggles_that_changed_the_count"] = changed
    if times:
        out["toggle_p50_ms"] = round(percentile(times, 0.5), 1)
        out["toggle_p90_ms"] = round(percentile(times, 0.9), 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", help="the database (a copy is not made: the service opens it for writing)")
    parser.add_argument("--toggles", type=int, default=12, help="what-if toggles to click (default 12)")
    parser.add_argument("--rounds", type=int, default=2, help="warm visits of every page (default 2)")
    parser.add_argument("--port", type=int, default=0, help="the app's port (default a free one)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for one page (default 300)")
    args = parser.parse_args(argv)
    exe = chromium_path()
    if exe is None:
        raise SystemExit("Chromium is not installed (sudo apt-get install chromium)")
    db = os.path.realpath(args.db)
    contacts = contacts_of(db)
    port = args.port or free_port()
    proc, url, ready = start_service(db, port, Path(db).with_suffix(".bench.log"))
    try:
        result = {"db": db, "contacts": contacts, "server_ready_s": round(ready, 3)}
        with browser(exe) as page:
            page.set_default_timeout(args.timeout * 1000)
            result.update(measure(url, page, toggles=args.toggles, rounds=args.rounds,
                                  timeout_ms=args.timeout * 1000))
        result["server_rss_mb"], result["server_peak_rss_mb"] = proc_memory(proc.pid)
        result["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
