"""End to end in a real headless Chromium against ``streamlit run app.py``: the three main flows,
and a screenshot of every page into ``test-artifacts/screenshots/<contacts>/`` (git-ignored).

* Without Chromium the tests are skipped with the reason (install: ``sudo apt-get install chromium``),
  unless ``UNIFY_REQUIRE_BROWSER=1`` (CI), where a missing browser is a failure.
* ``UNIFY_SCREENSHOT_CONTACTS=1000000`` runs them against a demo workspace of that size (built once
  into ``test-artifacts/`` and reused; delete the file to rebuild). Default: 400 contacts.

Every expected number is computed with the domain package before the server starts (DuckDB lets one
process open the file for writing at a time, and the server is that process afterwards).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from browser_support import (
    INSTALL_HINT,
    PAGES,
    browser,
    chromium_path,
    click_toggle,
    screenshot,
    streamlit_server,
    table_row_point,
    wait_ready,
)

from unify_dash import engine
from unify_dash.io import demo
from unify_dash.io.load import load_workspace
from unify_dash.model import roles
from unify_dash.reports import funnelview, playview
from unify_dash.store import db

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CONTACTS = int(os.environ.get("UNIFY_SCREENSHOT_CONTACTS") or 400)
SHOTS = ARTIFACTS / "screenshots" / str(CONTACTS)
# generous: the machine is shared, a rerun can take many seconds under load (the waits are on state, not sleeps)
PAGE_TIMEOUT = 120_000 if CONTACTS >= 500_000 else 60_000


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = chromium_path()
    if exe is None:
        if os.environ.get("UNIFY_REQUIRE_BROWSER") == "1":
            pytest.fail(INSTALL_HINT + " (UNIFY_REQUIRE_BROWSER=1: a missing browser is a failure)")
        pytest.skip(INSTALL_HINT)
    return exe


def build_db(tmp_path_factory) -> Path:
    if CONTACTS == 400:
        root = tmp_path_factory.mktemp("e2e")
        path = root / "unify.duckdb"
    else:  # big databases are kept between runs
        root = ARTIFACTS / "screenshot-db"
        path = root / f"unify-{CONTACTS}.duckdb"
        if path.exists():
            return path
    root.mkdir(parents=True, exist_ok=True)
    demo.generate(root / f"ws-{CONTACTS}", contacts=CONTACTS, seed=7)
    con = db.connect(path)
    load_workspace(con, root / f"ws-{CONTACTS}")
    con.close()
    return path


@pytest.fixture(scope="module")
def scenario(chromium, tmp_path_factory) -> dict:
    """The database and what the pages must show, from the engine (then the file is closed)."""
    path = build_db(tmp_path_factory)
    con = db.connect(path)
    try:
        ev = engine.evaluation(con)
        for play in ev.settings.plays:
            saved = engine.impact(ev, play.id)
            case = next(((k, n, x) for k, n in enumerate(saved["nodes"]) for x in saved["exclusions"]
                         if x["released_at"].get(n["id"], 0) > 0 and x["state"]["organisation"]["saved"]), None)
            if case:
                break
        else:
            raise AssertionError("the demo has no exclusion that alone blocks a node")
        k, node, x = case
        what_if = engine.impact(ev, play.id, {(x["id"], "organisation", None): False})
        email = engine.drilldown(con, ev, play.id, "blocks_alone", node_id=node["id"], exclusion_id=x["id"],
                                 limit=1)["rows"][0]["email"]
        segs = funnelview.segments(saved)
        seg = next(i for i, sg in enumerate(segs) if sg.key == funnelview.segment_key("not_enrolled", node["id"], x["id"]))
        first = ev.settings.plays[0]
        enrolled = engine.drilldown(con, ev, first.id, "enrolled", limit=1)["rows"][0]["email"]
        sequence = ev.settings.sequences[0].name  # the Enroll dialog's first choice (no active enrollment then)
        row = [e["id"] for e in saved["exclusions"]].index(x["id"])  # its row in the what-if grid
        reason = playview.not_enrolled_reasons(saved).iloc[0]  # the first row of Metrics' reasons table
        return {"db": path, "play": play.id, "node_index": k, "node_id": node["id"], "exclusion": x, "row": row,
                "segment": {"index": seg, "value": segs[seg].value, "count": len(segs)},
                "enrolled_email": enrolled, "enroll_sequence": sequence,
                "saved_node": node["not_enrolled"], "what_if_node": what_if["nodes"][k]["not_enrolled"],
                "not_enrolled": saved["not_enrolled"], "email": email,
                "reason": {"reason": reason["reason"], "contacts": int(reason["contacts"])}}
    finally:
        con.close()


@pytest.fixture(scope="module")
def app(scenario, chromium):
    with streamlit_server(scenario["db"], role="revops", timeout=120) as url, browser(chromium) as page:
        page.set_default_timeout(PAGE_TIMEOUT)
        yield url, page


def no_exception(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0, page.locator(
        "[data-testid='stException']").first.inner_text()


def number(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text))


def test_toggle_an_exclusion_and_see_the_count_change(app, scenario):
    url, page = app
    page.goto(f"{url}/play?play={scenario['play']}")
    wait_ready(page, "Play view", timeout=PAGE_TIMEOUT)
    metric = page.locator("[data-testid='stMetric']").filter(has_text="Not Enrolled").nth(scenario["node_index"])
    value = metric.locator("[data-testid='stMetricValue']")
    assert number(value.inner_text()) == scenario["saved_node"]
    click_toggle(page, scenario["row"])  # the organisation level of the exclusion, in the what-if grid
    page.wait_for_function(
        "([el, want]) => el.innerText.replace(/[^0-9]/g, '') === want",
        arg=[value.element_handle(), str(scenario["what_if_node"])], timeout=PAGE_TIMEOUT)
    assert scenario["what_if_node"] < scenario["saved_node"]
    page.get_by_text("Apply 1 change").first.wait_for()
    no_exception(page)
    screenshot(page, SHOTS / "flow-1-toggle.png")


def _open_play_node_count(page, url: str, scenario: dict):
    """Open the scenario's Play view; returns ``count_is(n)``, which waits until the scenario node's
    Not Enrolled count on screen is ``n``."""
    page.goto(f"{url}/play?play={scenario['play']}")
    wait_ready(page, "Play view", timeout=PAGE_TIMEOUT)
    value = page.locator("[data-testid='stMetric']").filter(has_text="Not Enrolled").nth(
        scenario["node_index"]).locator("[data-testid='stMetricValue']")

    def count_is(n: int) -> None:
        page.wait_for_function("([el, want]) => el.innerText.replace(/[^0-9]/g, '') === want",
                               arg=[value.element_handle(), str(n)], timeout=PAGE_TIMEOUT)
    return count_is


def test_a_toggle_reruns_the_what_if_fragment_and_its_list_follows(app, scenario):
    """The toggle grid and the counts are one fragment (a click does not rerun the page): the click
    changes the node's Not Enrolled count, the list behind that count has the what-if length, and the
    click back restores the saved count."""
    url, page = app
    count_is = _open_play_node_count(page, url, scenario)
    click_toggle(page, scenario["row"])
    count_is(scenario["what_if_node"])
    wait_ready(page, timeout=PAGE_TIMEOUT)
    page.locator(f".st-key-play-show-not_enrolled-{scenario['node_id']} button").first.click()
    n = scenario["what_if_node"]
    heading = page.locator("[role=dialog] h3").filter(has_text=f": {n:,} contact").filter(has_text="what-if")
    heading.first.wait_for(timeout=PAGE_TIMEOUT)
    wait_ready(page, timeout=PAGE_TIMEOUT)
    table = page.locator("[role=dialog] [data-testid='stDataFrame'] table[role='grid']")
    assert int(table.get_attribute("aria-rowcount")) == min(n, 50) + 1
    page.keyboard.press("Escape")
    page.locator("[role=dialog]").wait_for(state="detached", timeout=PAGE_TIMEOUT)
    wait_ready(page, timeout=PAGE_TIMEOUT)
    click_toggle(page, scenario["row"])
    count_is(scenario["saved_node"])
    no_exception(page)


def test_reset_to_saved_then_the_same_toggle_again(app, scenario):
    """Reset to saved redraws the grid as saved (the browser keeps a grid's edits under the same key):
    the same click then makes the same what-if again."""
    url, page = app
    count_is = _open_play_node_count(page, url, scenario)
    click_toggle(page, scenario["row"])
    count_is(scenario["what_if_node"])
    wait_ready(page, timeout=PAGE_TIMEOUT)
    page.locator(".st-key-play-reset button").click()
    count_is(scenario["saved_node"])
    wait_ready(page, timeout=PAGE_TIMEOUT)
    click_toggle(page, scenario["row"])
    count_is(scenario["what_if_node"])
    no_exception(page)


def test_a_funnel_segment_opens_its_contacts(app, scenario):
    url, page = app
    page.goto(f"{url}/play?play={scenario['play']}")
    wait_ready(page, "Play view", timeout=PAGE_TIMEOUT)
    seg, x = scenario["segment"], scenario["exclusion"]
    funnel = "[data-testid='stElementContainer'].st-key-play-chart"
    assert page.locator(f"{funnel} [data-testid='stDataFrame']").count() == 1
    assert page.locator("[data-testid='stPlotlyChart']").count() == 0  # the Play view loads no Plotly
    page.mouse.click(*table_row_point(page, funnel, seg["index"]))
    n = seg["value"]
    heading = page.locator("h3").filter(has_text=x["name"]).filter(has_text=f": {n:,} contact")
    heading.first.wait_for(timeout=PAGE_TIMEOUT)
    wait_ready(page, timeout=PAGE_TIMEOUT)
    heading.first.scroll_into_view_if_needed()
    table = page.locator("[data-testid='stDataFrame']").last.locator("table[role='grid']")
    assert int(table.get_attribute("aria-rowcount")) == min(n, 50) + 1
    if n > 50:
        page.get_by_text(f"of {n:,}").first.wait_for()
    no_exception(page)
    screenshot(page, SHOTS / "flow-0-funnel-segment.png")


def test_a_metrics_bar_row_opens_its_contacts_and_there_is_no_second_way(app, scenario):
    """Not Enrolled by reason on Metrics: selecting a row of its table of bars opens that reason's list;
    the page has no other list picker (the "Open a list" pills were a second way to the same lists)."""
    url, page = app
    page.goto(f"{url}/metrics?play={scenario['play']}")
    wait_ready(page, "Metrics", timeout=PAGE_TIMEOUT)
    assert page.locator("[data-testid='stButtonGroup']").count() == 0
    page.mouse.click(*table_row_point(page, "[data-testid='stElementContainer'].st-key-metrics-chart-reasons", 0))
    n, why = scenario["reason"]["contacts"], scenario["reason"]["reason"]
    heading = page.locator("h3").filter(has_text="Not Enrolled").filter(has_text=f": {n:,} contact")
    heading.first.wait_for(timeout=PAGE_TIMEOUT)
    assert why in heading.first.inner_text().replace("\u2060", "")  # ui.md's word joiners are invisible
    wait_ready(page, timeout=PAGE_TIMEOUT)
    no_exception(page)


def test_click_not_enrolled_and_see_the_contacts_with_reasons(app, scenario):
    url, page = app
    page.goto(f"{url}/metrics?play={scenario['play']}")
    wait_ready(page, "Metrics", timeout=PAGE_TIMEOUT)
    page.locator(".st-key-metrics-head-not_enrolled button").click()
    n = scenario["not_enrolled"]
    page.get_by_text(f"Not Enrolled: {n:,} contact").first.wait_for()
    wait_ready(page, timeout=PAGE_TIMEOUT)
    table = page.locator("[data-testid='stDataFrame']").last.locator("table[role='grid']")
    assert int(table.get_attribute("aria-rowcount")) == min(n, 50) + 1
    headers = [h.text_content() for h in table.locator("th").all()]
    reasons = headers.index("Reasons") + 1
    first = table.locator(f"td[aria-colindex='{reasons}']").first.text_content()
    assert "org on + ruleset" in first or "audience" in first, first
    no_exception(page)
    screenshot(page, SHOTS / "flow-2-not-enrolled.png")


def test_open_a_contact_by_deep_link_and_read_its_exclusion_tab(app, scenario):
    url, page = app
    page.goto(f"{url}/contact?email={scenario['email']}")
    wait_ready(page, "What would let the contact through", timeout=PAGE_TIMEOUT)
    x = scenario["exclusion"]
    assert page.get_by_text(f"{x['name']} · blocks").count() >= 1
    assert page.get_by_text("Matched values").count() >= 1
    assert page.get_by_text(f"Email is not {scenario['email']}").count() >= 1
    assert page.locator("[data-testid='stTextInput'] input").first.input_value() == scenario["email"]
    no_exception(page)
    screenshot(page, SHOTS / "flow-3-contact.png")


def test_several_sessions_at_once(app, scenario):
    """Three browser sessions load pages at the same time (one DuckDB database, a cursor per
    query): each one renders without an error."""
    url, page = app
    context = page.context.browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        targets = [(f"{url}/metrics?play={scenario['play']}", "Not Enrolled by reason"),
                   (f"{url}/contact?email={scenario['email']}", "What would let the contact through"),
                   (f"{url}/crm", "Opt-out provenance")]
        pages = [context.new_page() for _ in targets]
        for p, (target, _text) in zip(pages, targets, strict=True):
            p.set_default_timeout(PAGE_TIMEOUT)
            p.goto(target, wait_until="commit")
        for p, (_target, text) in zip(pages, targets, strict=True):
            wait_ready(p, text, timeout=PAGE_TIMEOUT)
            no_exception(p)
    finally:
        context.close()


@pytest.mark.parametrize("name", list(PAGES))
def test_screenshot_of_every_page(app, scenario, name):
    url, page = app
    target = f"{url}/{name}" + (f"?email={scenario['email']}" if name == "contact" else "")
    page.goto(target)
    wait_ready(page, PAGES[name], timeout=PAGE_TIMEOUT)
    no_exception(page)
    screenshot(page, SHOTS / f"{name}.png")
    assert (SHOTS / f"{name}.png").stat().st_size > 10_000


# --- hostile input: no request leaves for another host, links from data are text ------------------------------


@pytest.fixture(scope="module")
def naughty_app(app, tmp_path_factory):
    """The naughty workspace (tests/naughty_support.py): the first contact's first name is
    ``[Verify your account](https://evil.example/login)``, its last name and email local part
    ``![x](http://127.0.0.2:9/beacon)``, exclusion names carry the same; every request the page makes
    is recorded, and any for another host is refused before it leaves."""
    import naughty_support as naughty
    from workspace_factory import write_workspace

    root = tmp_path_factory.mktemp("naughty-e2e")
    ws = naughty.build(root, write_workspace)
    path = root / "unify.duckdb"
    con = db.connect(path)
    load_workspace(con, ws.folder)
    ev = engine.evaluation(con)  # the what-if grid's rows of the first Play (its exclusions, in order)
    rows = [x["id"] for x in engine.impact(ev, ev.settings.plays[0].id)["exclusions"]]
    con.close()
    # a second context of the module's browser (one Playwright per thread)
    context = app[1].context.browser.new_context(viewport={"width": 1440, "height": 1000})
    with streamlit_server(path, role="admin", timeout=120) as url:
        page = context.new_page()
        page.set_default_timeout(PAGE_TIMEOUT)
        requests: list[str] = []
        origin = url.rstrip("/")

        # every request is recorded; one for another host is refused before it leaves (the app's own
        # requests are not intercepted: a Python round trip per static file slows the page down)
        context.on("request", lambda r: requests.append(r.url))
        context.route(lambda u: not (u == origin or u.startswith(origin + "/")), lambda r: r.abort())
        try:
            yield url, page, ws, requests, rows
        finally:
            context.close()


def test_no_request_leaves_for_another_host_and_links_show_as_text(naughty_app):
    from urllib.parse import quote, urlsplit

    import naughty_support as naughty

    url, page, ws, requests, rows = naughty_app
    first = ws.contacts[0]
    assert first["first_name"] == naughty.ISSUE_EXAMPLES[0] and first["last_name"] == naughty.ISSUE_EXAMPLES[1]
    visited = []
    for name, title in PAGES.items():
        target = f"{url}/{name}" + (f"?email={quote(first['email'], safe='@')}" if name == "contact" else "")
        page.goto(target)
        try:
            wait_ready(page, title, timeout=PAGE_TIMEOUT)
        finally:
            screenshot(page, SHOTS / f"naughty-{name}.png")
        page.wait_for_timeout(500)  # images and fonts of the page start loading
        no_exception(page)
        visited.append(name)
        # no link or image from data: every <a> points into the app, every <img> is the app's own
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        srcs = page.eval_on_selector_all("img[src]", "els => els.map(e => e.src)")
        assert [h for h in hrefs if not h.startswith(url)] == [], (name, hrefs)
        assert [s for s in srcs if not s.startswith((url, "data:", "blob:"))] == [], (name, srcs)
        if name == "contact":
            heading = page.locator("[data-testid='stMain'] h3").first.inner_text()
            assert naughty.norm(heading) == f"{first['first_name']} {first['last_name']}"
            body = naughty.norm(page.locator("[data-testid='stMain']").inner_text())
            assert first["title"] in body and first["email"] in body
        if name == "play":  # the grid and the tables are canvases: the Apply panel names the toggled exclusions
            for xid in ("x0", "x2"):  # named ISSUE_EXAMPLES[0] and [2]
                click_toggle(page, rows.index(xid))
                wait_ready(page, timeout=PAGE_TIMEOUT)
            page.get_by_text("Apply 2 changes").first.wait_for()
            body = naughty.norm(page.locator("[data-testid='stMain']").inner_text())
            assert naughty.ISSUE_EXAMPLES[0] in body and naughty.ISSUE_EXAMPLES[2] in body
    hosts = {urlsplit(r).netloc for r in requests}
    assert hosts == {urlsplit(url).netloc}, [r for r in requests if not r.startswith(url)]
    print(f"browser: {len(visited)} pages, {len(requests)} requests, hosts {sorted(hosts)}")


# --- the walkthrough's dead ends (issue 16) ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_app(app, scenario, tmp_path_factory):
    """The app in local mode (no UNIFY_ROLE: the sidebar's role picker) on a copy of the database (its
    tests write), a second context of the module's browser."""
    import shutil

    path = tmp_path_factory.mktemp("local-e2e") / "unify.duckdb"
    shutil.copy(scenario["db"], path)
    context = app[1].context.browser.new_context(viewport={"width": 1440, "height": 1000})
    with streamlit_server(path, role=None, timeout=120) as url:
        page = context.new_page()
        page.set_default_timeout(PAGE_TIMEOUT)
        try:
            yield url, page
        finally:
            context.close()


def nav_titles(page) -> list[str]:
    return [t.split("\n")[-1].strip() for t in page.locator("[data-testid='stSidebarNav'] a").all_inner_texts()]


def test_switching_role_rebuilds_the_sidebar_at_once(local_app):
    url, page = local_app
    page.goto(f"{url}/data")
    wait_ready(page, "Data", timeout=PAGE_TIMEOUT)
    assert len(nav_titles(page)) == len(PAGES)
    page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").click()
    page.get_by_role("option", name="manager").click()
    page.get_by_text("not available to the manager role").first.wait_for()
    wait_ready(page, timeout=PAGE_TIMEOUT)
    assert "/data" in page.url  # no bounce: the page says why
    assert nav_titles(page) == [PAGES[k] for k in roles.PAGES["manager"]]
    assert "· manager" in page.locator("[data-testid='stSidebarUserContent']").inner_text()
    page.locator("[data-testid='stSidebarNav'] a").filter(has_text="Execution logs").click()
    wait_ready(page, "Execution logs", timeout=PAGE_TIMEOUT)
    assert "· manager" in page.locator("[data-testid='stSidebarUserContent']").inner_text()
    assert len(nav_titles(page)) == len(roles.PAGES["manager"])
    no_exception(page)
    screenshot(page, SHOTS / "flow-4-role-switch.png")


def keyed(page, key: str, what: str = "button"):
    """The visible element of widget ``key`` (Streamlit may keep a hidden copy of an element while it reruns)."""
    return page.locator(f".st-key-{key.replace('.', '-')} {what}").filter(visible=True).first


def pick_role(page, role: str) -> None:
    page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").click()
    page.get_by_role("option", name=role).click()
    page.get_by_text(f"· {role}").first.wait_for()
    wait_ready(page, timeout=PAGE_TIMEOUT)


def in_view(page, locator) -> bool:
    box = locator.bounding_box()
    size = page.viewport_size
    return box is not None and box["y"] >= 0 and box["y"] + 40 <= size["height"] and box["x"] >= 0


def test_a_list_opens_in_view_and_its_link_opens_it_again(app, scenario):
    """The List button of a count far down the Play view opens its contacts in a dialog in the viewport
    (not 2,000 px below), and the URL it leaves (?play=...&list=...) opens the same list."""
    url, page = app
    page.goto(f"{url}/play?play={scenario['play']}")
    wait_ready(page, "Play view", timeout=PAGE_TIMEOUT)
    button = keyed(page, f"play-show-not_enrolled-{scenario['node_id']}")
    button.scroll_into_view_if_needed()
    button.click()
    dialog = page.locator("[role='dialog']")
    dialog.get_by_text("Not Enrolled · ").first.wait_for()
    wait_ready(page, timeout=PAGE_TIMEOUT)
    heading = dialog.locator("h3").first
    assert in_view(page, heading), heading.bounding_box()
    assert f"{scenario['saved_node']:,} contact" in heading.inner_text()
    assert dialog.locator("[data-testid='stDataFrame']").count() == 1
    link = page.url
    assert "list=not_enrolled" in link
    screenshot(page, SHOTS / "flow-5-list-in-view.png")
    page.goto(link)  # a new session from the link alone
    wait_ready(page, "Play view", timeout=PAGE_TIMEOUT)
    page.locator("[role='dialog'] h3").first.wait_for()
    assert f"{scenario['saved_node']:,} contact" in page.locator("[role='dialog'] h3").first.inner_text()
    no_exception(page)


def test_enroll_after_a_reversal(local_app, scenario):
    """Opt a contact out, reverse it with a documented permission, then Enroll it from the Contact page."""
    url, page = local_app
    email, sequence = scenario["enrolled_email"], scenario["enroll_sequence"]
    page.goto(f"{url}/contact?email={email}")
    wait_ready(page, "Contact", timeout=PAGE_TIMEOUT)
    pick_role(page, "admin")
    keyed(page, "contact-optout").click()
    keyed(page, "contact-optout-confirm").click()
    page.get_by_text("Reverse opt-out").first.wait_for()
    wait_ready(page, timeout=PAGE_TIMEOUT)
    keyed(page, "contact-reverse").click()
    dialog = page.locator("[role='dialog']")
    keyed(dialog, "contact-reverse-evidence", "textarea").fill("email of today, ticket SUP-77")
    keyed(dialog, "contact-reverse-evidence", "textarea").press("Control+Enter")
    wait_ready(page, timeout=PAGE_TIMEOUT)
    keyed(dialog, "contact-reverse-by", "input").fill("The contact, by email")
    keyed(dialog, "contact-reverse-by", "input").press("Enter")
    wait_ready(page, timeout=PAGE_TIMEOUT)
    keyed(dialog, "contact-reverse-confirm", "button").click()
    page.get_by_text("use Enroll").first.wait_for()
    wait_ready(page, timeout=PAGE_TIMEOUT)
    keyed(page, "contact-enroll").click()
    dialog = page.locator("[role='dialog']")
    keyed(dialog, "contact-enroll-confirm", "button").click()
    page.get_by_text(f"enrolled in {sequence}").first.wait_for()
    wait_ready(page, timeout=PAGE_TIMEOUT)
    no_exception(page)
    screenshot(page, SHOTS / "flow-6-enroll-after-reversal.png")
