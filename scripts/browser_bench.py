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
  its peak (VmHWM);
* ``start_phases_s``: when each start-up line of the service log appeared, from starting the process
  (``service_line``: the imports and the database opened; ``evaluated``: the start-up evaluation done;
  ``ready``: the app answering), and ``first_page_phases``: the first Play view's browser side
  (``scripts_ms``: the JavaScript files fetched and their bytes, ``dom_ms`` the document parsed,
  ``server_ms`` the page's and its fragment's server time from the log);
* ``dom_nodes``: the number of DOM nodes (and ``elements``, Streamlit's element containers) of each
  page after its warm visit;
* ``floor``: the same figures for a minimal Streamlit app (one checkbox whose click changes a number,
  two such pages to switch between) started with ``streamlit run`` and driven the same way in the same
  Chromium (its own browser context) just before the app: what Streamlit itself costs on this machine;
  ``ratio`` each app figure over its floor (first page, warm page median and max over the page switch,
  toggle p50 / p90 over the click to the number).

The last line printed is one JSON object with these keys and ``contacts``, ``db``, ``load_avg``
(``load_avg_start`` before the run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import (  # noqa: E402 - the test helpers are the one Chromium setup
    CHROMIUM_ARGS,
    PAGES,
    TOGGLE_ARM_JS,
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


START_LINES = {"service_line": "unify-dash service: /", "evaluated": "workspace evaluated in"}


def wait_healthy(proc: subprocess.Popen, url: str, log_path: Path, started: float,
                 lines: dict[str, str] | None = None) -> dict[str, float]:
    """Wait for ``url`` to answer its health check; returns when each of ``lines`` (name -> text) first
    appeared in the log and ``ready``, in seconds from ``started``."""
    seen: dict[str, float] = {}
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args[2]} exited with {proc.returncode}; see {log_path}")
        text = log_path.read_text(errors="replace") if lines else ""
        for name, needle in (lines or {}).items():
            if name not in seen and needle in text:
                seen[name] = round(time.perf_counter() - started, 3)
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    seen["ready"] = round(time.perf_counter() - started, 3)
                    return seen
        except OSError:
            time.sleep(0.05)
        if time.perf_counter() - started > 900:
            proc.kill()
            raise SystemExit(f"no answer within 900 s; see {log_path}")


def start_service(db: str, port: int, log_path: Path) -> tuple[subprocess.Popen, str, dict[str, float]]:
    env = {**os.environ, "UNIFY_ROLE": "revops", "UNIFY_USER": "bench", "STREAMLIT_SERVER_HEADLESS": "true",
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",
           "STREAMLIT_SERVER_ADDRESS": "127.0.0.1", "UNIFY_APP_TIMING": "1"}
    log = open(log_path, "w")  # noqa: SIM115 - kept open for the process's life
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "unify_dash", "serve", "--db", db, "--no-worker",
                             "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    return proc, url, wait_healthy(proc, url, log_path, started, START_LINES)


# --- the floor: a minimal Streamlit app driven the same way ------------------------------------------------------

FLOOR_APP = """import streamlit as st

st.set_page_config(page_title="floor", layout="wide")


def page(title):
    def run():
        st.title(title)
        on = st.checkbox("Toggle", key="floor.on." + title)
        st.metric("Not Enrolled", f"{1001 if on else 1000:,}")
    run.__name__ = title.replace(" ", "_")
    return run


st.navigation([st.Page(page("Floor one"), title="Floor one", url_path="one", default=True),
               st.Page(page("Floor two"), title="Floor two", url_path="two")]).run()
"""
FLOOR_PAGES = ("Floor two", "Floor one")


def start_floor(folder: Path) -> tuple[subprocess.Popen, str, float]:
    """``streamlit run`` of :data:`FLOOR_APP` (the app's Streamlit, the same server options)."""
    script = folder / "floor_app.py"
    script.write_text(FLOOR_APP)
    port = free_port()
    env = {**os.environ, "STREAMLIT_SERVER_HEADLESS": "true", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
           "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}
    log_path = folder / "floor.log"
    log = open(log_path, "w")  # noqa: SIM115 - kept open for the process's life
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
                             "--server.address", "127.0.0.1"], cwd=folder, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    return proc, url, wait_healthy(proc, url, log_path, started)["ready"]


def floor_click(page) -> float:
    """A real mouse click on the floor page's checkbox to the new number on screen (the app's probe)."""
    box = page.locator("[data-testid=stCheckbox] label").filter(visible=True).first.bounding_box()
    page.evaluate(TOGGLE_ARM_JS)
    page.mouse.click(box["x"] + 10, box["y"] + box["height"] / 2)
    ms, before, after = page.evaluate("() => window.__unifyToggle")
    if before == after:
        raise SystemExit("the floor's checkbox click did not change its number")
    return ms


def measure_floor(url: str, page, *, toggles: int, rounds: int, timeout_ms: float) -> dict:
    out: dict = {}
    t = time.perf_counter()
    page.goto(url)
    wait_page(page, "Floor one", timeout_ms)
    out["first_page_s"] = round(time.perf_counter() - t, 3)
    out["first_page_phases"] = page.evaluate(PHASES_JS)
    switches = []
    for _ in range(rounds + 1):
        for title in FLOOR_PAGES:
            link = page.locator("[data-testid=stSidebarNav] a").filter(has_text=title).first
            t = time.perf_counter()
            link.click()
            wait_page(page, title, timeout_ms)
            switches.append((time.perf_counter() - t) * 1000)
    out["page_switch_ms"] = [round(x, 1) for x in switches]
    out["page_switch_median_ms"] = round(statistics.median(switches), 1)
    clicks = []
    for _ in range(toggles):
        clicks.append(floor_click(page))
        wait_page(page, "Floor one", timeout_ms)
    out["click_ms"] = [round(x, 1) for x in clicks]
    out["click_p50_ms"] = round(percentile(clicks, 0.5), 1)
    out["click_p90_ms"] = round(percentile(clicks, 0.9), 1)
    return out


def ratios(app: dict, floor: dict) -> dict:
    """Each app figure over its floor (how many times what Streamlit itself costs here)."""
    pairs = {"first_page": ("first_page_s", "first_page_s"), "warm_page_median": ("warm_page_median_ms",
             "page_switch_median_ms"), "warm_page_max": ("warm_page_max_ms", "page_switch_median_ms"),
             "toggle_p50": ("toggle_p50_ms", "click_p50_ms"), "toggle_p90": ("toggle_p90_ms", "click_p90_ms")}
    return {name: round(app[a] / floor[f], 2) for name, (a, f) in pairs.items()
            if app.get(a) is not None and floor.get(f)}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


PHASES_JS = """() => {
    const js = performance.getEntriesByType('resource').filter(e => e.name.split('?')[0].endsWith('.js'));
    const nav = performance.getEntriesByType('navigation')[0];
    return {scripts: js.length, scripts_kb: Math.round(js.reduce((a, e) => a + (e.encodedBodySize || 0), 0) / 1024),
            scripts_ms: Math.round(Math.max(0, ...js.map(e => e.responseEnd))),
            dom_ms: Math.round(nav ? nav.domContentLoadedEventEnd : 0), drawn_ms: Math.round(performance.now())};
}"""
COUNT_JS = """() => ({dom_nodes: document.querySelectorAll('[data-testid=stMain] *').length,
    elements: document.querySelectorAll('[data-testid=stMain] [data-testid=stElementContainer]').length})"""


def server_times(log_path: Path, *names: str) -> dict[str, float]:
    """The first ``... <name> ran in X ms`` of each name in the service log (UNIFY_APP_TIMING)."""
    out: dict[str, float] = {}
    for line in log_path.read_text(errors="replace").splitlines():
        for name in names:
            if name not in out and f" {name} ran in " in line:
                out[name] = float(line.rsplit(" ran in ", 1)[1].split()[0])
    return out


def measure(url: str, page, *, toggles: int, rounds: int, timeout_ms: float) -> dict:
    out: dict = {}
    t = time.perf_counter()
    page.goto(f"{url}/play")
    page.locator("[data-testid=stMetric]").filter(has_text="Not Enrolled").first.wait_for(timeout=timeout_ms)
    out["first_counts_s"] = round(time.perf_counter() - t, 3)
    wait_page(page, PAGES["play"], timeout_ms)
    out["first_page_s"] = round(time.perf_counter() - t, 3)
    out["first_page_phases"] = page.evaluate(PHASES_JS)

    # every page once (cold caches of that page), then `rounds` more visits from the sidebar
    warm: dict[str, list[float]] = {name: [] for name in PAGES}
    first: dict[str, float] = {}
    nodes: dict[str, dict] = {}
    for visit in range(rounds + 1):
        for name, title in PAGES.items():
            link = page.locator("[data-testid=stSidebarNav] a").filter(has_text=title).first
            t = time.perf_counter()
            link.click()
            page.wait_for_url(f"**/{name}*", timeout=timeout_ms)
            wait_page(page, title, timeout_ms)
            if visit:
                warm[name].append((time.perf_counter() - t) * 1000)
                nodes[name] = page.evaluate(COUNT_JS)
            else:
                first[name] = round((time.perf_counter() - t) * 1000, 1)
    out["first_visit_ms"] = first
    out["warm_page_ms"] = {k: round(min(v), 1) for k, v in warm.items()}
    flat = [min(v) for v in warm.values()]
    out["warm_page_max_ms"] = round(max(flat), 1)
    out["warm_page_median_ms"] = round(statistics.median(flat), 1)
    out["dom_nodes"] = nodes
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
    parser.add_argument("--no-floor", action="store_true", help="skip the minimal Streamlit app's floor")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1 (the warm visits are what it times)")
    exe = chromium_path()
    if exe is None:
        raise SystemExit("Chromium is not installed (sudo apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    db = os.path.realpath(args.db)
    result = {"db": db, "contacts": contacts_of(db), "load_avg_start": [round(x, 2) for x in os.getloadavg()]}
    timeout_ms = args.timeout * 1000
    with sync_playwright() as p, tempfile.TemporaryDirectory(prefix="unify-floor-") as folder:
        chromium = p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        try:
            if not args.no_floor:  # its own server, its own browser context (no cache shared with the app's)
                floor_proc, floor_url, floor_ready = start_floor(Path(folder))
                try:
                    result["floor"] = {"server_ready_s": round(floor_ready, 3),
                                       **measure_floor(floor_url, new_page(chromium, timeout_ms), toggles=args.toggles,
                                                       rounds=args.rounds, timeout_ms=timeout_ms)}
                finally:
                    stop(floor_proc)
            log_path = Path(db).with_suffix(".bench.log")
            proc, url, phases = start_service(db, args.port or free_port(), log_path)
            try:
                result["server_ready_s"], result["start_phases_s"] = phases["ready"], phases
                result.update(measure(url, new_page(chromium, timeout_ms), toggles=args.toggles, rounds=args.rounds,
                                      timeout_ms=timeout_ms))
                result["first_page_phases"]["server_ms"] = server_times(log_path, "page play", "fragment play.what_if")
                result["server_rss_mb"], result["server_peak_rss_mb"] = proc_memory(proc.pid)
            finally:
                stop(proc)
        finally:
            chromium.close()
    if "floor" in result:
        result["ratio"] = ratios(result, result["floor"])
    result["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, sort_keys=True))
    return 0


def new_page(chromium, timeout_ms: float):
    """A page of 1440x1000 in a new browser context (tests/browser_support.py's size)."""
    page = chromium.new_context(viewport={"width": 1440, "height": 1000}).new_page()
    page.set_default_timeout(timeout_ms)
    return page


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


if __name__ == "__main__":
    raise SystemExit(main())
