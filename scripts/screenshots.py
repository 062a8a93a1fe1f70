"""Open every page of the dashboard (and every view of the Rule health and Trends pages) in headless
Chromium against a database, save a full-page PNG of each and print how long each took to be ready.

    python scripts/screenshots.py --db PATH [--out test-artifacts/screens] [--email ann@acme.com]

The first page pays for the evaluation (cold start); the Play view is also shot with a funnel row
clicked (its list open). The last line is JSON: {page: seconds}. At 1M contacts hold the shared lock
(``flock /work/helpers/big.lock python scripts/screenshots.py ...``)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import (  # noqa: E402 - tests/ on the path first
    INSTALL_HINT,
    PAGES,
    browser,
    chromium_path,
    screenshot,
    streamlit_server,
    table_row_point,
    wait_ready,
)

VIEWS = {"rules": ("lint", "overlap", "overrides", "diff"), "trends": ("trends", "forecast")}


def targets(email: str | None) -> list[tuple[str, str, str]]:
    """(name, path, title) of every page and view."""
    out = []
    for name, title in PAGES.items():
        if name in VIEWS:
            out += [(f"{name}-{v}", f"/{name}?view={v}", title) for v in VIEWS[name]]
        elif name == "contact" and email:
            out.append((name, f"/contact?email={email}", title))
        else:
            out.append((name, f"/{name}", title))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", required=True)
    p.add_argument("--out", default=str(ROOT / "test-artifacts" / "screens"))
    p.add_argument("--email", help="the contact the Contact page opens")
    p.add_argument("--timeout", type=float, default=600, help="seconds a page may take (default 600)")
    args = p.parse_args(argv)
    exe = chromium_path()
    if exe is None:
        raise SystemExit(INSTALL_HINT)
    out = Path(args.out)
    timings: dict[str, float] = {}
    ms = int(args.timeout * 1000)
    with streamlit_server(args.db, role="admin", timeout=args.timeout) as base, browser(exe) as page:
        page.set_default_timeout(ms)
        started = time.perf_counter()
        page.goto(base + "/play")
        wait_ready(page, "Play view", timeout=ms)
        timings["cold start (first evaluation)"] = round(time.perf_counter() - started, 1)
        print(f"cold start (first evaluation): {timings['cold start (first evaluation)']} s", flush=True)
        for name, path, title in targets(args.email):
            started = time.perf_counter()
            page.goto(base + path)
            wait_ready(page, title, timeout=ms)
            timings[name] = round(time.perf_counter() - started, 1)
            screenshot(page, out / f"{name}.png")
            print(f"{name}: {timings[name]} s", flush=True)
        # a funnel row selected (the funnel is a table of bars): its list opens in a dialog
        page.goto(base + "/play")
        wait_ready(page, "Play view", timeout=ms)
        started = time.perf_counter()
        page.mouse.click(*table_row_point(page, "[data-testid='stElementContainer'].st-key-play-chart", 1))
        page.locator("h3").filter(has_text=" contact").first.wait_for(timeout=ms)
        wait_ready(page, timeout=ms)
        timings["play: funnel bar -> its list"] = round(time.perf_counter() - started, 1)
        screenshot(page, out / "play-funnel-list.png")
    print(json.dumps(timings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
