"""In headless Chromium: an "Email is not" override is pending; the Data page previews that it will release
the contact; "Advance clock only" moves the clock (nothing is sent) and the contact's Exclusion tab then
shows it enrolled. Skipped without Chromium (see tests/test_browser.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser_support import INSTALL_HINT, browser, chromium_path, screenshot, streamlit_server, wait_ready

from unify_dash import engine
from unify_dash.io import demo
from unify_dash.io.load import load_workspace
from unify_dash.model import roles, settings
from unify_dash.scheduler import clock
from unify_dash.store import db

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots" / "400"


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = chromium_path()
    if exe is None:
        if os.environ.get("UNIFY_REQUIRE_BROWSER") == "1":
            pytest.fail(INSTALL_HINT + " (UNIFY_REQUIRE_BROWSER=1: a missing browser is a failure)")
        pytest.skip(INSTALL_HINT)
    return exe


def _overridden(tmp_path) -> dict:
    """A demo database where one Not Enrolled contact (a single node exclusion) has a pending override."""
    demo.generate(tmp_path / "ws", contacts=400, seed=7)
    path = tmp_path / "unify.duckdb"
    con = db.connect(path)
    try:
        load_workspace(con, tmp_path / "ws")
        ev = engine.evaluation(con)
        for play in (p for p in ev.settings.plays if p.nodes):
            rows = engine.drilldown(con, ev, play.id, "not_enrolled", limit=200)["rows"]
            hit = next((r for r in rows if {b["exclusion_id"] for b in r["blocking"]} - {None}
                        and len(r["blocking"]) == 1 and not r["opted_out"]), None)
            if hit:
                break
        else:
            raise AssertionError("the demo has a contact blocked by one exclusion")
        settings.add_email_override(con, roles.Actor("rita", "revops"), hit["blocking"][0]["exclusion_id"],
                                    hit["email"], note="permission from the AE")
        [pending] = clock.preview(con)
        sends = con.execute("SELECT count(*) FROM events WHERE type = 'send'").fetchone()[0]
        return {"db": path, "email": hit["email"], "play": play.name, "pending": pending, "clock": db.now(con),
                "sends": sends}
    finally:
        con.close()


def _play_line(page, name: str) -> str:
    return page.locator("[data-testid='stMarkdownContainer']").filter(has_text=f"Play {name}:").first.inner_text()


def test_clock_advance_releases_an_overridden_contact(chromium, tmp_path):
    case = _overridden(tmp_path)
    p = case["pending"]
    with streamlit_server(case["db"], role="revops", timeout=120) as url, browser(chromium) as page:
        page.goto(f"{url}/contact?email={case['email']}")
        wait_ready(page, "What would let the contact through")
        before = _play_line(page, case["play"])
        assert "Not Enrolled" in before
        page.goto(f"{url}/data")
        wait_ready(page, "Workspace clock")
        page.get_by_text(f"settings v{p['version']} will release {p['released']:,} contact").first.wait_for()
        page.get_by_role("button", name="Advance clock only").click()
        page.get_by_text("Clock advanced to").first.wait_for()
        wait_ready(page, "Workspace clock")
        screenshot(page, SHOTS / "flow-clock-advance.png")
        page.goto(f"{url}/contact?email={case['email']}")
        wait_ready(page, f"Play {case['play']}:")
        after = _play_line(page, case["play"])
        assert "enrolled" in after and "Not Enrolled" not in after, after
        assert page.locator("[data-testid='stException']").count() == 0
    con = db.connect(case["db"])
    try:
        assert db.now(con) >= p["effective_at"] > case["clock"]
        assert settings.settings_at(con)[0] == p["version"]
        assert con.execute("SELECT count(*) FROM events WHERE type = 'send'").fetchone()[0] == case["sends"]
        assert [r[0] for r in con.execute("SELECT action FROM audit_log WHERE action = 'clock.advance'").fetchall()]
    finally:
        con.close()
