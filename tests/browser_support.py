"""Helpers of the end-to-end tests: a ``streamlit run app.py`` server on a free localhost port and a
headless Chromium (Debian's ``chromium`` package) driven by Playwright.

Used by ``tests/test_browser.py`` and by hand::

    python tests/browser_support.py DB OUT_DIR [EMAIL]

screenshots every page of DB into OUT_DIR, and prints each page's load time and the time from a
click on a what-if toggle to the new count on screen.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/lib/chromium/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
INSTALL_HINT = ("Chromium is not installed: the browser tests need Debian's chromium package "
                "(sudo apt-get install chromium), or set UNIFY_CHROMIUM to a Chromium binary.")


def chromium_path() -> str | None:
    """The Chromium binary: ``$UNIFY_CHROMIUM``, else Debian's package, else one on the PATH."""
    env = os.environ.get("UNIFY_CHROMIUM")
    if env and Path(env).exists():
        return env
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(db_path: str | os.PathLike, *, role: str | None = "revops", user: str = "e2e",
                     timeout: float = 60.0) -> Iterator[str]:
    """Run ``streamlit run app.py`` on ``db_path``; yields the base URL. The server is stopped after.
    ``role=None``: no ``UNIFY_ROLE``, the sidebar's role picker (local mode)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "UNIFY_ROLE"}
    env = {**env, "UNIFY_DB": str(db_path), **({"UNIFY_ROLE": role} if role else {}), "UNIFY_USER": user,
           "STREAMLIT_SERVER_HEADLESS": "true", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
           "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none", "STREAMLIT_SERVER_RUN_ON_SAVE": "false"}
    log = open(Path(db_path).with_suffix(f".streamlit-{port}.log"), "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not answer on {url} within {timeout} s; see {log.name}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextlib.contextmanager
def browser(executable: str) -> Iterator:
    """A headless Chromium (Playwright, the system binary) and one page of 1440x1000."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            context = b.new_context(viewport={"width": 1440, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            b.close()


def wait_ready(page, text: str | None = None, timeout: float = 60_000) -> None:
    """Wait until ``text`` is on the page (when given), the script has finished running and no
    element is still a loading skeleton."""
    if text is not None:
        page.get_by_text(text, exact=False).first.wait_for(timeout=timeout)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stSkeleton\"]')"
                           " && document.querySelector('[data-testid=\"stMain\"] h1')", timeout=timeout)
    page.wait_for_timeout(150)  # let charts finish their first paint before a screenshot


def screenshot(page, path: Path, *, max_height: int = 9000) -> None:
    """A screenshot of the whole page: Streamlit scrolls inside its main block, so the viewport is
    made as tall as the content first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    height = page.evaluate("() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
                           " return m ? m.scrollHeight : document.body.scrollHeight; }")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height) + 40, max_height))})
    page.wait_for_timeout(250)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)


PAGES = {"play": "Play view", "metrics": "Metrics", "contact": "Contact", "exclusions": "Exclusions & rulesets",
         "logs": "Execution logs", "replies": "Opt-out replies", "crm": "CRM sync", "data": "Data",
         "rules": "Rule health", "trends": "Trends & forecast"}


def screenshot_all(url: str, page, out: Path, *, email: str | None = None, prefix: str = "") -> list[Path]:
    """Open every page (the contact page at ``email``) and save a full-page screenshot of each."""
    shots = []
    for name, title in PAGES.items():
        target = f"{url}/{name}" + (f"?email={email}" if name == "contact" and email else "")
        page.goto(target)
        wait_ready(page, title)
        path = out / f"{prefix}{name}.png"
        screenshot(page, path)
        shots.append(path)
    return shots


GRID = "[class*='st-key-play-grid-']"  # the Play view's what-if grid (unify_dash/app/toggle_grid.py)
TABLE_ROW_PX = 35  # a data frame's row height (Streamlit's default, and the tables' ``height`` arithmetic)


def grid_cell(page, row: int, column: int = 1) -> tuple[float, float] | None:
    """The screen point of the what-if grid's checkbox at ``row`` (0 = the first exclusion) and level
    ``column`` (0 audience, 1 organisation, 2... the rulesets), scrolled into view; ``None`` past the
    last row."""
    from unify_dash.app import toggle_grid

    line = page.locator(f"{GRID} .st-key-{toggle_grid.ROW_PREFIX.replace('.', '-')}{row}").filter(visible=True)
    if line.count() == 0:
        return None
    box_el = line.first.locator("[data-testid=stCheckbox] label").nth(column)
    box = box_el.bounding_box()
    if box["y"] < 80 or box["y"] + box["height"] > page.viewport_size["height"]:  # not under the app's header bar
        box_el.evaluate("e => e.scrollIntoView({block: 'center'})")
        box = box_el.bounding_box()
    return box["x"] + 10, box["y"] + box["height"] / 2


def click_toggle(page, row: int, column: int = 1) -> None:
    """Tick or clear one checkbox of the Play view's what-if grid (a real mouse click)."""
    point = grid_cell(page, row, column)
    assert point is not None, f"the what-if grid has no row {row}"
    page.mouse.click(*point)


def table_row_point(page, selector: str, row: int) -> tuple[float, float]:
    """The screen point of the row-selection checkbox of ``row`` in the table (st.dataframe with row
    selection) matched by ``selector``, the viewport made tall enough to hold it."""
    table = page.locator(selector).filter(visible=True).first
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    size = page.viewport_size
    y = box["y"] + 1 + (TABLE_ROW_PX + 1) + TABLE_ROW_PX * row + TABLE_ROW_PX / 2
    if y > size["height"] - 20:
        page.set_viewport_size({"width": size["width"], "height": int(y + 200)})
        page.wait_for_timeout(200)
        box = table.bounding_box()
        y = box["y"] + 1 + (TABLE_ROW_PX + 1) + TABLE_ROW_PX * row + TABLE_ROW_PX / 2
    return box["x"] + 18, y


# Armed before the click: the click's own pointerdown time (the event's timeStamp, the clock of
# performance.now()) to the new Not Enrolled count on screen, or to the end of the rerun when that
# count does not change (a MutationObserver in the page).
TOGGLE_ARM_JS = """() => { window.__unifyToggle = new Promise((resolve) => {
    const value = () => { const m = [...document.querySelectorAll('[data-testid=stMetric]')]
        .find(e => e.innerText.includes('Not Enrolled'));
        return m ? m.querySelector('[data-testid=stMetricValue]').innerText : null; };
    const app = document.querySelector('[data-testid=stApp]');
    const before = value();
    let ran = false, t0 = null;
    const down = (e) => { if (t0 === null) t0 = e.timeStamp; };
    document.addEventListener('pointerdown', down, {capture: true});
    const done = () => { obs.disconnect(); document.removeEventListener('pointerdown', down, {capture: true});
        resolve([performance.now() - (t0 === null ? performance.now() : t0), before, value()]); };
    const obs = new MutationObserver(() => {
        if (t0 === null) return;
        const state = app.getAttribute('data-test-script-state');
        if (state === 'running') ran = true;
        if (value() !== before || (ran && state === 'notRunning')) done();
    });
    obs.observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
    setTimeout(done, 20000);
}); }"""


def toggle_click(page, index: int) -> tuple[float, str, str] | None:
    """Click the organisation-level checkbox of the ``index``-th exclusion of the what-if grid; returns
    (milliseconds from the click to the new Not Enrolled count on screen, the count before, after), or
    ``None`` past the last row."""
    point = grid_cell(page, index)
    if point is None:
        return None
    page.evaluate(TOGGLE_ARM_JS)
    page.mouse.click(*point)
    return tuple(page.evaluate("() => window.__unifyToggle"))


def toggle_latency(url: str, page, toggles: int = 4) -> list[tuple[float, str, str]]:
    """Milliseconds from a click on an organisation-level toggle of the Play view to the new Not
    Enrolled count on screen, or to the end of the rerun when that count does not change (measured in
    the page with a MutationObserver), for the first toggles."""
    page.goto(f"{url}/play")
    wait_ready(page, "Play view")
    out = []
    for i in range(toggles):
        result = toggle_click(page, i)
        if result is None:
            break
        out.append(result)
        wait_ready(page)
    return out


if __name__ == "__main__":  # pragma: no cover - manual use
    db_arg, out_arg = sys.argv[1], Path(sys.argv[2])
    email_arg = sys.argv[3] if len(sys.argv) > 3 else None
    exe = chromium_path()
    if exe is None:
        raise SystemExit(INSTALL_HINT)
    with streamlit_server(db_arg, timeout=300) as base, browser(exe) as pg:
        pg.set_default_timeout(300_000)
        started = time.perf_counter()
        pg.goto(base + "/play")
        wait_ready(pg, "Play view", timeout=300_000)
        print(f"first page (cold start, evaluation): {time.perf_counter() - started:.1f} s")
        for name, title in PAGES.items():
            started = time.perf_counter()
            pg.goto(f"{base}/{name}" + (f"?email={email_arg}" if name == "contact" and email_arg else ""))
            wait_ready(pg, title, timeout=300_000)
            print(f"{name}: {time.perf_counter() - started:.1f} s to load")
            screenshot(pg, out_arg / f"{name}.png")
        for ms, before, after in toggle_latency(base, pg):
            print(f"toggle: Not Enrolled {before} -> {after}, answered {ms:.0f} ms after the click")
