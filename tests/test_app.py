"""The dashboard, driven with Streamlit's AppTest: a smoke test over every page and role, then the
behaviour of each action found by widget key. Every expected number comes from the domain package
(engine, metrics, settings), never from the UI.

The database is the demo workspace (400 contacts) loaded once per session; tests that write get
their own copy of the file.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import naughty_support as naughty
import pandas as pd
import pytest
from naughty_support import analyse
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from unify_dash import engine
from unify_dash.actions import optouts
from unify_dash.app import ui
from unify_dash.io.load import load_workspace
from unify_dash.model import levels, roles, settings
from unify_dash.reports import contactview, diagnosis, metrics, playview, settingsview
from unify_dash.reports.metrics import Scope
from unify_dash.store import db

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGE = {key: f"unify_dash/app/pages/{key}.py" for key in roles.PAGES["admin"]}
TIMEOUT = 60


# --- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def shared_db(template_db, tmp_path_factory) -> Path:
    """A copy for the tests that only read (the app keeps it open for the whole session)."""
    path = tmp_path_factory.mktemp("shared") / "unify.duckdb"
    shutil.copy(template_db, path)
    return path


@pytest.fixture
def reader(shared_db, monkeypatch):
    monkeypatch.setenv("UNIFY_DB", str(shared_db))
    monkeypatch.setenv("UNIFY_USER", "tester")
    monkeypatch.delenv("UNIFY_ROLE", raising=False)
    con = db.connect(shared_db)
    yield con
    con.close()


@pytest.fixture
def writer(template_db, tmp_path, monkeypatch):
    """A private copy of the demo database for a test that writes; yields a connection to it."""
    path = tmp_path / "unify.duckdb"
    shutil.copy(template_db, path)
    monkeypatch.setenv("UNIFY_DB", str(path))
    monkeypatch.setenv("UNIFY_USER", "tester")
    monkeypatch.delenv("UNIFY_ROLE", raising=False)
    con = db.connect(path)
    yield con
    con.close()


@pytest.fixture(autouse=True)
def loopback_server():
    """The app runs as ``make run`` starts it: on 127.0.0.1 (.streamlit/config.toml), whatever the
    working directory of the test run."""
    before = st_config.get_option("server.address")
    st_config.set_option("server.address", "127.0.0.1")
    yield
    st_config.set_option("server.address", before)


# --- helpers -------------------------------------------------------------------------------------------------


def open_linked(page: str, **query: str) -> AppTest:
    """``page`` opened by a link with ``query`` (``?play=...&list=...``), as a bar table's selected row
    sets it."""
    at = open_app()
    for k, v in query.items():
        at.query_params[k] = v
    at.switch_page(PAGE[page]).run()
    assert_ok(at)
    return at


def open_app(page: str | None = None, *, role: str = "revops", query: dict | None = None,
             monkeypatch=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["ui.role"] = role
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    if page is not None:
        at.switch_page(PAGE[page]).run()
    assert_ok(at)
    return at


def open_url(at: AppTest, url_path: str) -> AppTest:
    """Open the page at ``/url_path`` as a browser would (AppTest.switch_page only takes files; a
    page of st.navigation is keyed by the hash of its url_path, as st.Page does)."""
    from streamlit.util import calc_hash

    at._page_hash = calc_hash(url_path)
    return at.run()


def assert_ok(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


def texts(at: AppTest) -> str:
    """The text a person reads in the page's Markdown elements (escapes resolved, as the browser shows it)."""
    parts = [m.value for m in at.markdown] + [s.value for s in at.subheader] + [c.value for c in at.caption]
    parts += [e.value for e in at.error] + [s.value for s in at.success] + [i.value for i in at.info]
    parts += [w.value for w in at.warning]
    return "\n".join(analyse(str(p)).text for p in parts)


def shown(source: str) -> str:
    """What a person reads for one Markdown label or body."""
    return analyse(str(source)).text


def metric(at: AppTest, label: str) -> int:
    found = [m for m in at.metric if m.label == label]
    assert found, f"no metric {label!r}; have {[m.label for m in at.metric]}"
    return int(found[0].value.replace(",", ""))


def list_total(at: AppTest) -> int:
    """The count in the heading of the list behind a count ("...: 12 contacts")."""
    heads = [s.value for s in at.subheader if re.search(r": [\d,]+ (contact|row|repl|event)", s.value)]
    assert heads, [s.value for s in at.subheader]
    return int(re.search(r": ([\d,]+) ", heads[-1]).group(1).replace(",", ""))


def list_table(at: AppTest):
    """The table of the list behind a count: the last table of the page (a read-only table carries
    no key unless rows can be selected)."""
    return [d for d in at.dataframe if d.key is None or d.key.endswith(".table")][-1].value


def list_length(at: AppTest, key: str) -> int:
    """Every row of a paged list, counted by visiting its last page."""
    pagers = [p for p in at.pagination if p.key == f"{key}.page"]
    if not pagers:
        return len(list_table(at))
    pager = pagers[0]
    full_pages = pager.num_pages - 1
    pager.set_value(pager.num_pages).run()
    return full_pages * 50 + len(list_table(at))


def blocking_case(con) -> tuple[str, dict, dict]:
    """A Play, a node and an exclusion that alone blocks contacts at that node (and is on at the
    organisation level), from the engine."""
    ev = engine.evaluation(con)
    for play in ev.settings.plays:
        imp = engine.impact(ev, play.id)
        for node in imp["nodes"]:
            for x in imp["exclusions"]:
                if x["released_at"].get(node["id"], 0) > 0 and x["state"]["organisation"]["saved"]:
                    return play.id, node, x
    raise AssertionError("the demo has no exclusion that alone blocks a node")


def set_toggle(at: AppTest, con, play: str, exclusion_id: str, level: str = "organisation", on: bool = False) -> AppTest:
    """Tick or clear one checkbox of the Play view's what-if grid (its callback reruns the what-if
    fragment) and rerun: ``level`` is a grid column (``organisation``, ``audience``, ``ruleset:<id>``)."""
    version = settings.settings_at(con)[0]
    return at.checkbox(key=f"play.grid.{play}.v{version}.g0.{exclusion_id}.{level}").set_value(on).run()  # before any reset


# --- smoke: every page for every role ----------------------------------------------------------------------------


@pytest.mark.parametrize("page", list(PAGE))
def test_every_page_renders(reader, page):
    at = open_app(page, role="admin")
    assert at.title, f"{page} has no title"


@pytest.mark.parametrize("role", roles.ROLES)
def test_each_role_sees_its_pages(reader, role):
    at = open_app(role=role)
    for page in roles.PAGES[role]:
        at.switch_page(PAGE[page])  # resolves against the pages the navigation registered
    for page in sorted(set(PAGE) - set(roles.PAGES[role])):  # its URL (a hidden page) says so, no bounce
        open_url(at, page)
        assert_ok(at)
        assert f"not available to the {role} role" in texts(at)
        assert at.title[0].value == ui.PAGE_FILES[page][1]


def test_switching_role_rebuilds_the_sidebar_at_once(reader):
    """revops -> manager on the Data page: the sidebar names the new role at once, the page says Data is
    not for managers (no bounce), and a page change keeps the chosen role."""
    at = open_app("data", role="revops")
    at.sidebar.selectbox(key="ui.role").select("manager").run()
    assert_ok(at)
    assert "manager" in "\n".join(m.value for m in at.sidebar.markdown)
    assert "not available to the manager role" in texts(at)
    at.switch_page(PAGE["metrics"]).run()
    assert_ok(at)
    assert "manager" in "\n".join(m.value for m in at.sidebar.markdown)
    assert at.title[0].value == "Metrics"


def test_the_sidebar_says_who_and_when(reader):
    at = open_app(role="support")
    sidebar = "\n".join(m.value for m in at.sidebar.markdown) + "\n".join(c.value for c in at.sidebar.caption)
    assert "tester" in sidebar and "support" in sidebar
    assert f"Workspace clock {db.now(reader):%Y-%m-%d %H:%M}" in sidebar


def test_the_root_url_opens_the_first_page_of_the_role(reader):
    assert open_app(role="support").title[0].value == "Contact"
    assert open_app(role="manager").title[0].value == "Metrics"


# --- Play view --------------------------------------------------------------------------------------------------


def test_toggle_changes_the_counts_without_saving(reader):
    play, node, x = blocking_case(reader)
    ev = engine.evaluation(reader)
    at = open_app("play")
    at.selectbox(key="play.id").set_value(play).run()
    label = "Not Enrolled"
    assert metric(at, label) == node["not_enrolled"] if len(engine.impact(ev, play)["nodes"]) == 1 else True
    set_toggle(at, reader, play, x["id"])
    assert_ok(at)
    expected = engine.impact(ev, play, {(x["id"], "organisation", None): False})
    shown = [int(m.value.replace(",", "")) for m in at.metric if m.label == label]
    assert shown == [n["not_enrolled"] for n in expected["nodes"]]
    assert shown != [n["not_enrolled"] for n in engine.impact(ev, play)["nodes"]]
    # the what-if never touched the saved settings
    assert settings.latest_version(reader)[0] == 1 and not settings.pending_versions(reader)


def test_reset_to_saved_clears_the_what_if(reader):
    play, _node, x = blocking_case(reader)
    ev = engine.evaluation(reader)
    at = open_app("play")
    at.selectbox(key="play.id").set_value(play).run()
    set_toggle(at, reader, play, x["id"])
    assert "Apply 1 change" in [b.label for b in at.button]
    at.button(key="play.reset").click().run()
    assert_ok(at)
    shown = [int(m.value.replace(",", "")) for m in at.metric if m.label == "Not Enrolled"]
    assert shown == [n["not_enrolled"] for n in engine.impact(ev, play)["nodes"]]
    assert not [b for b in at.button if b.key == "play.reset"]


@pytest.mark.parametrize("bucket", ["not_enrolled", "enrolled", "excluded_at_audience"])
def test_play_list_length_equals_its_count(reader, bucket):
    play, node, _ = blocking_case(reader)
    at = open_app("play")
    at.selectbox(key="play.id").set_value(play).run()
    node_id = node["id"] if bucket != "excluded_at_audience" else ""
    at.button(key=f"play.show.{bucket}.{node_id}").click().run()
    assert_ok(at)
    ev = engine.evaluation(reader)
    expected = engine.drilldown(reader, ev, play, bucket, node_id=node_id or None, limit=0)["total"]
    assert list_total(at) == expected
    assert list_length(at, f"play.list.{bucket}.{node_id or None}.None") == expected


def test_apply_requires_a_note_then_creates_a_pending_version(writer):
    play, node, x = blocking_case(writer)
    at = open_app("play")
    at.selectbox(key="play.id").set_value(play).run()
    set_toggle(at, writer, play, x["id"])
    at.button(key="play.apply").click().run()
    assert "a note is required" in texts(at)
    assert not settings.pending_versions(writer)

    at.text_input(key="play.note").input("release the only-blocked contacts").run()
    at.button(key="play.apply").click().run()
    assert_ok(at)
    pending = settings.pending_versions(writer)
    assert [p["version"] for p in pending] == [2]
    assert pending[0]["actor"] == "tester" and pending[0]["note"] == "release the only-blocked contacts"
    assert pending[0]["effective_at"] == db.now(writer) + dt.timedelta(minutes=15)
    assert settings.latest_version(writer)[1].exclusion(x["id"]).exclude_from_sequences is False
    assert "Pending changes" in "\n".join(m.value for m in at.sidebar.markdown)
    assert "takes effect" in texts(at)
    audit = metrics.recent_audit(writer, limit=50)
    assert ("tester", "revops", "settings.apply") in set(zip(audit["actor"], audit["role"], audit["action"],
                                                             strict=True))


def test_a_manager_cannot_apply(reader):
    play, _node, x = blocking_case(reader)
    at = open_app("play", role="manager")
    at.selectbox(key="play.id").set_value(play).run()
    set_toggle(at, reader, play, x["id"])
    assert at.button(key="play.apply").disabled


# --- Metrics ------------------------------------------------------------------------------------------------------


def test_not_enrolled_list_has_reasons_and_the_length_of_its_count(reader):
    play, node, _ = blocking_case(reader)
    at = open_app("metrics")
    at.selectbox(key="metrics.play").set_value(play).run()
    at.button(key="metrics.head.not_enrolled").click().run()
    assert_ok(at)
    ev = engine.evaluation(reader)
    expected = engine.impact(ev, play)["not_enrolled"]
    assert metric(at, "Not Enrolled") == expected == list_total(at)
    assert list_table(at)["reasons"].str.len().min() > 1  # every row says why
    assert list_length(at, "metrics.list.now.not_enrolled.not_enrolled.None.None") == expected


@pytest.mark.parametrize("family", ["completed", "opt_outs", "replies"])
def test_every_bar_opens_a_list_of_its_length(reader, family):
    play, _node, _ = blocking_case(reader)
    df = metrics.breakdown(reader, family, Scope(play_id=play))
    if df.empty:
        pytest.skip(f"no {family} in this play of the demo")
    key, count = df.iloc[0]["key"], int(df.iloc[0]["count"])
    # the row's link (?list=history:FAMILY:KEY), what selecting the bar's row sets (tests/test_browser.py clicks one)
    at = open_linked("metrics", play=play, list=f"history:{family}:{key}")
    assert list_total(at) == count
    assert list_length(at, f"metrics.list.history.{family}.{key}.None.None") == count


def test_bulk_unenroll_from_a_list_with_progress(writer):
    play, node, _ = blocking_case(writer)
    scope = Scope(play_id=play, node_id=node["id"])
    active = metrics.count(writer, "state", "active", scope)
    if not active:
        pytest.skip("no active enrollment at this node of the demo")
    at = open_app("metrics")
    at.selectbox(key="metrics.play").set_value(play).run()
    at.selectbox(key=f"metrics.node.{play}").set_value(node["id"]).run()
    at.button(key="metrics.head.active").click().run()
    at.button(key="metrics.unenroll.all").click().run()
    at.button(key="metrics.unenroll.go").click().run()
    assert_ok(at)
    assert f"Unenrolled {active} enrollment" in texts(at)
    assert metrics.count(writer, "state", "active", scope) == 0
    assert metrics.count(writer, "state", "unenrolled", scope) >= active


def test_bulk_unenroll_by_filter_matches_the_filtered_list(writer):
    """Filter an enrollment list by a condition of the rule vocabulary, then unenroll every queued or
    active one it keeps: the same domain function and filter as ``unify-dash unenroll --filter``."""
    play, node, _ = blocking_case(writer)
    scope = Scope(play_id=play, node_id=node["id"])
    rows = metrics.contacts(writer, "state", "enrolled", scope, limit=None)["rows"]
    live = rows[rows["state"].isin(["queued", "active"])]
    if live.empty:
        pytest.skip("no queued or active enrollment at this node of the demo")
    domain = live["company"].dropna().value_counts().index[0]
    condition = {"field": "company_domain", "op": "equals", "value": domain}
    expected = metrics.contacts(writer, "state", "enrolled", scope, limit=0, contact_filter=condition)["total"]
    unenrollable = int(((rows["company"] == domain) & rows["state"].isin(["queued", "active"])).sum())
    at = open_app("metrics")
    at.selectbox(key="metrics.play").set_value(play).run()
    at.selectbox(key=f"metrics.node.{play}").set_value(node["id"]).run()
    at.button(key="metrics.head.enrolled").click().run()
    at.toggle(key="metrics.filter.enrolled.on").set_value(True).run()
    at.selectbox(key="metrics.filter.enrolled.field").set_value("company_domain").run()
    at.selectbox(key="metrics.filter.enrolled.op.company_domain").set_value("equals").run()
    at.text_input(key="metrics.filter.enrolled.text.company_domain.equals").input(domain).run()
    assert_ok(at)
    assert list_total(at) == expected and len(list_table(at)) == min(expected, 50)
    at.button(key="metrics.unenroll.all").click().run()
    at.button(key="metrics.unenroll.go").click().run()
    assert_ok(at)
    assert f"Unenrolled {unenrollable} enrollment" in texts(at)
    left = metrics.contacts(writer, "state", "enrolled", scope, limit=None, contact_filter=condition)["rows"]
    assert not left["state"].isin(["queued", "active"]).any()


def test_a_list_link_opens_its_list_and_an_unknown_play_says_so(reader):
    play, node, x = blocking_case(reader)
    at = open_app(role="revops")
    at.query_params["play"] = play
    at.query_params["list"] = f"blocking:{node['id']}:{x['id']}"
    at.switch_page(PAGE["play"]).run()
    assert_ok(at)
    ev = engine.evaluation(reader)
    want = engine.drilldown(reader, ev, play, "blocking", node_id=node["id"], exclusion_id=x["id"], limit=0)["total"]
    assert list_total(at) == want
    at.button(key=f"play.show.not_enrolled.{node['id']}").click().run()
    assert at.query_params["list"] == [f"not_enrolled:{node['id']}"] or at.query_params["list"] == \
        f"not_enrolled:{node['id']}"
    for page in ("play", "metrics"):
        at = open_app(role="revops")
        at.query_params["play"] = "no_such_play"
        at.switch_page(PAGE[page]).run()
        assert_ok(at)
        assert "No Play no_such_play in the settings in effect" in texts(at)
    at = open_app(role="revops")
    at.query_params["play"] = play
    at.query_params["list"] = "nonsense"
    at.switch_page(PAGE["play"]).run()
    assert "list is not shown" in texts(at)


# --- Contact ------------------------------------------------------------------------------------------------------


def test_deep_link_opens_the_contact_and_its_exclusion_tab(reader):
    play, node, x = blocking_case(reader)
    ev = engine.evaluation(reader)
    email = engine.drilldown(reader, ev, play, "blocks_alone", node_id=node["id"], exclusion_id=x["id"],
                             limit=1)["rows"][0]["email"]
    at = open_app(role="support", query={"email": email})
    assert at.title[0].value == "Contact"
    assert at.text_input(key="contact.email").value == email
    body = texts(at)
    assert email in body
    assert f"{x['name']} · blocks" in [shown(e.label) for e in at.expander]
    assert "What would let the contact through" in body
    assert at.button(key=f"contact.override.{x['id']}")


def test_unknown_email_says_so(reader):
    at = open_app("contact", query={"email": "nobody@nowhere.example"})
    assert "No contact with email" in texts(at)


def test_override_releases_the_contact_after_propagation(writer):
    play, node, x = blocking_case(writer)
    ev = engine.evaluation(writer)
    email = engine.drilldown(writer, ev, play, "blocks_alone", node_id=node["id"], exclusion_id=x["id"],
                             limit=1)["rows"][0]["email"]
    at = open_app(role="support", query={"email": email})
    at.button(key=f"contact.override.{x['id']}").click().run()
    at.text_input(key="contact.override.note").input("customer asked to keep talking").run()
    at.button(key="contact.override.confirm").click().run()
    assert_ok(at)
    (pending,) = settings.pending_versions(writer)
    assert "Pending" in texts(at)
    assert f"contact.override.{x['id']}" not in [b.key for b in at.button]  # saved: the button is gone
    assert f"is saved (settings v{pending['version']})" in texts(at)
    # during the propagation delay the contact is still blocked
    assert engine.explain(writer, email)["plays"][[p.id for p in ev.settings.plays].index(play)]["nodes"][
        node["id"]] == "not_enrolled"
    # after it, the filter lets the contact through
    db.set_clock(writer, pending["effective_at"] + dt.timedelta(minutes=1))
    at.run()
    assert_ok(at)
    labels = [shown(e.label) for e in at.expander]
    assert f"{x['name']} · matches, let through by a filter" in labels
    after = engine.explain(writer, email)
    assert next(p for p in after["plays"] if p["id"] == play)["nodes"][node["id"]] == "enrolled"


def test_opt_out_then_reversal_refused_without_permission(writer):
    ev = engine.evaluation(writer)
    play = ev.settings.plays[0].id
    email = engine.drilldown(writer, ev, play, "enrolled", limit=1)["rows"][0]["email"]
    at = open_app(role="support", query={"email": email})
    at.button(key="contact.optout").click().run()
    at.button(key="contact.optout.confirm").click().run()
    assert_ok(at)
    s = settings.settings_at(writer)[1]
    status = optouts.opt_out_status(writer, s, email, db.now(writer))
    assert status["source"] == "admin"

    db.set_clock(writer, db.now(writer) + dt.timedelta(hours=1))  # later that day, permission is given
    at.button(key="contact.reverse").click().run()
    at.button(key="contact.reverse.confirm").click().run()
    assert "documented permission" in texts(at)
    assert optouts.opt_out_status(writer, s, email, db.now(writer)) is not None

    assert "permission_by" not in texts(at) and "“Who gave the permission”" in texts(at)  # the dialog's names
    assert at.text_input(key="contact.reverse.by").placeholder == ""  # nothing that looks filled in

    at.text_input(key="contact.reverse.by").input(email).run()
    at.text_area(key="contact.reverse.evidence").input("email of 2026-11-25, ticket 4711").run()
    at.button(key="contact.reverse.confirm").click().run()
    assert_ok(at)
    assert optouts.opt_out_status(writer, s, email, db.now(writer)) is None
    actions = metrics.recent_audit(writer, target=email)["action"].tolist()
    assert actions[:2] == ["contact.reverse_opt_out", "contact.opt_out"]
    assert "use Enroll" in texts(at)

    # Enroll, as `unify-dash enroll` does (lifecycle.enroll): the engine decides, the enrollment is queued
    seq = next(n.sequence for n in ev.settings.plays[0].nodes)
    at.button(key="contact.enroll").click().run()
    at.selectbox(key="contact.enroll.seq").set_value(seq).run()
    at.button(key="contact.enroll.confirm").click().run()
    assert_ok(at)
    states_now = metrics.contact_enrollments(writer, email)
    assert "queued" in states_now.loc[states_now["sequence"] == seq, "state"].tolist()
    assert "enrolled in" in texts(at)
    assert "contact.enroll" in metrics.recent_audit(writer, target=email)["action"].tolist()


def test_a_read_only_crm_opt_out_offers_no_reverse_and_opt_out_is_not_primary(reader):
    at = open_app(role="support", query={"email": "hannah.kim@bluefjord-demo.com"})  # HubSpot, read-only mapping
    assert_ok(at)
    assert "contact.reverse" not in [b.key for b in at.button]
    assert "cannot be reversed here" in texts(at) and "read-only" in texts(at)
    ev = engine.evaluation(reader)
    email = engine.drilldown(reader, ev, ev.settings.plays[0].id, "enrolled", limit=1)["rows"][0]["email"]
    at = open_app(role="support", query={"email": email})
    buttons = {b.key: b for b in at.button}
    assert buttons["contact.optout"].proto.type == "secondary" and buttons["contact.enroll"].proto.type == "primary"


def test_unenroll_one_contact(writer):
    row = writer.execute("SELECT c.email, e.sequence_id FROM enrollments e JOIN contacts c USING (contact_id) "
                         "WHERE e.state = 'active' ORDER BY c.email LIMIT 1").fetchone()
    at = open_app(role="support", query={"email": row[0]})
    at.button(key="contact.unenroll").click().run()
    at.radio(key="contact.unenroll.seq").set_value(row[1]).run()
    at.button(key="contact.unenroll.confirm").click().run()
    assert_ok(at)
    states = metrics.contact_enrollments(writer, row[0])
    assert states.loc[states["sequence"] == row[1], "state"].tolist()[0] == "unenrolled"
    assert optouts.opt_out_status(writer, settings.settings_at(writer)[1], row[0], db.now(writer)) is None


# --- Exclusions & rulesets ------------------------------------------------------------------------------------------


def test_exclusion_edit_saves_a_pending_version_with_a_note(writer):
    x = settings.latest_version(writer)[1].exclusions[0]
    at = open_app("exclusions")
    at.selectbox(key="excl.pick").set_value(x.id).run()
    prefix = f"excl.edit.{x.id}"
    at.text_input(key=f"{prefix}.name").input(x.name + " (edited)").run()
    at.button(key=f"{prefix}.save").click().run()
    assert "a note is required" in texts(at)
    at.text_input(key=f"{prefix}.note").input("rename").run()
    at.button(key=f"{prefix}.save").click().run()
    assert_ok(at)
    assert settings.latest_version(writer)[1].exclusion(x.id).name == x.name + " (edited)"
    assert [p["version"] for p in settings.pending_versions(writer)] == [2]


def test_rule_editor_validates_before_saving(writer):
    at = open_app("exclusions")
    at.selectbox(key="excl.pick").set_value("__new__").run()
    prefix = "excl.edit.__new__"
    at.toggle(key=f"{prefix}.advanced").set_value(True).run()
    at.text_area(key=f"{prefix}.yaml").input("{field: title, op: gt, value: 3}").run()
    assert "does not apply to string field" in texts(at)
    assert at.button(key=f"{prefix}.save").disabled
    at.text_area(key=f"{prefix}.yaml").input("{field: title, op: contains, value: intern}").run()
    assert "Title contains 'intern'" in texts(at)
    at.text_input(key=f"{prefix}.id").input("interns_again").run()
    at.text_input(key=f"{prefix}.note").input("new rule").run()
    at.button(key=f"{prefix}.save").click().run()
    assert_ok(at)
    assert settings.latest_version(writer)[1].exclusion("interns_again").criteria["value"] == "intern"


@pytest.mark.parametrize("text, fragment", [
    ("a: &a [lol, lol, lol]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n",
     "anchors and aliases are not accepted"),
    ("{not: " * 3000 + "{field: title, op: is_empty}" + "}" * 3000, "nested more than 64 levels"),
    ("{field: last_contacted_at, op: within_last_days, value: .inf}", "<= 36,500"),
    ("{field: employees, op: gt, value: .nan}", "finite"),
    ("{field: employees, op: gt, value: " + "9" * 5000 + "}", "5,000 digits"),
    ("{field: title, op: equals, value: x}\n{field: title}", "invalid YAML"),
])
def test_rule_editor_refuses_hostile_yaml(writer, text, fragment):
    """The app's YAML box goes through the same reader and checks as a settings file: no traceback, no save."""
    at = open_app("exclusions")
    at.selectbox(key="excl.pick").set_value("__new__").run()
    prefix = "excl.edit.__new__"
    at.toggle(key=f"{prefix}.advanced").set_value(True).run()
    at.text_area(key=f"{prefix}.yaml").input(text).run()
    assert_ok(at)
    assert fragment in texts(at)
    assert at.button(key=f"{prefix}.save").disabled
    assert settings.latest_version(writer)[0] == 1


def test_rule_editor_keeps_yaml_1_2_text(writer):
    at = open_app("exclusions")
    at.selectbox(key="excl.pick").set_value("__new__").run()
    prefix = "excl.edit.__new__"
    at.toggle(key=f"{prefix}.advanced").set_value(True).run()
    at.text_area(key=f"{prefix}.yaml").input("{field: country, op: in, value: [No, 'NO', 1:30]}").run()
    at.text_input(key=f"{prefix}.id").input("norway").run()
    at.text_input(key=f"{prefix}.note").input("Norway").run()
    at.button(key=f"{prefix}.save").click().run()
    assert_ok(at)
    assert settings.latest_version(writer)[1].exclusion("norway").criteria["value"] == ["No", "NO", "1:30"]


def test_override_from_the_rule_page(writer):
    x = settings.latest_version(writer)[1].exclusions[0]
    at = open_app("exclusions")
    at.selectbox(key="excl.pick").set_value(x.id).run()
    # a form: its values travel with the submit
    at.text_input(key="excl.override.email").input(" Someone@Example.com ")
    at.text_input(key="excl.override.note").input("asked by sales")
    at.button(key="excl.override.submit").click().run()
    assert_ok(at)
    filters = settings.latest_version(writer)[1].exclusion(x.id).filters
    assert {"field": "email", "op": "not_equals", "value": "someone@example.com"} in filters
    assert [w.value for w in at.warning if "no contact has the email someone@example.com" in shown(w.value)]
    # a contact's email: no warning
    email = writer.execute("SELECT email FROM contacts ORDER BY email LIMIT 1").fetchone()[0]
    at.text_input(key="excl.override.email").input(email)
    at.text_input(key="excl.override.note").input("asked by sales")
    at.button(key="excl.override.submit").click().run()
    assert_ok(at)
    assert not [w for w in at.warning if "no contact has the email" in shown(w.value)]


def test_the_data_page_says_what_is_pending_and_what_is_in_effect(writer):
    x = settings.latest_version(writer)[1].exclusions[0]
    version = settings.add_email_override(writer, roles.Actor("t", "revops"), x.id, "a@b.com", note="n")
    at = open_app("data")
    assert_ok(at)
    (in_effect, _), (pending,) = settings.settings_at(writer), settings.pending_versions(writer)
    said = texts(at)
    assert f"settings v{version} pending (takes effect {pending['effective_at']:%Y-%m-%d %H:%M}" in said
    assert f"settings v{in_effect} in effect" in said
    sidebar = "\n".join(c.value for c in at.sidebar.caption)
    assert f"settings v{in_effect} in effect" in sidebar


def test_ruleset_matrix_saves_level_toggles(writer):
    cfg = settings.latest_version(writer)[1]
    x, rs = cfg.exclusions[0], cfg.rulesets[0]
    at = open_app("exclusions")
    editor = at.session_state  # the data editor's edits are session state
    column = f"ruleset: {rs.name}"
    row = [e.id for e in cfg.exclusions].index(x.id)
    editor["excl.matrix"] = {"edited_rows": {row: {column: not rs.is_on(x.id)}}, "added_rows": [],
                             "deleted_rows": []}
    at.run()
    at.text_input(key="excl.matrix.note").input("ruleset change").run()
    at.button(key="excl.matrix.save").click().run()
    assert_ok(at)
    assert settings.latest_version(writer)[1].ruleset(rs.id).is_on(x.id) is (not rs.is_on(x.id))


# --- logs, replies, CRM, data ------------------------------------------------------------------------------------------


def test_execution_log_filters_by_email(writer):
    from unify_dash import scheduler

    scheduler.run_until(writer, db.now(writer) + dt.timedelta(hours=1))
    email = writer.execute("SELECT c.email FROM execution_log l JOIN contacts c USING (contact_id) "
                           "WHERE l.blocking IS NOT NULL ORDER BY c.email LIMIT 1").fetchone()[0]
    at = open_app("logs")
    at.text_input(key="logs.email").input(email).run()
    assert_ok(at)
    n = metrics.execution_log(writer, email=email)["total"]
    assert n and f"{n} log row" in texts(at)
    shown = list_table(at)
    assert len(shown) == n and shown["blocking_criteria"].notna().any()


def test_handle_all_opt_out_replies(writer):
    from unify_dash.actions import enrollments as lifecycle

    queue = lifecycle.opt_out_reply_queue(writer)
    if queue.empty:
        pytest.skip("the demo has no unhandled opt-out reply")
    at = open_app("replies", role="support")
    at.button(key="replies.handle.all").click().run()
    assert not lifecycle.opt_out_reply_queue(writer).empty  # nothing happens before the confirmation
    at.button(key="replies.handle.go").click().run()
    assert_ok(at)
    assert "Handled" in texts(at)
    assert lifecycle.opt_out_reply_queue(writer).empty
    s = settings.settings_at(writer)[1]
    assert all(optouts.opt_out_status(writer, s, e, db.now(writer)) for e in queue["email"])


def test_crm_page_lists_provenance(reader):
    at = open_app("crm")
    n = len(metrics.breakdown(reader, "opt_outs"))
    assert n and at.metric  # the origins are counted
    assert "Field mapping" in texts(at)


def test_crm_conflicts_to_push_are_typed_and_checked(writer):
    """The conflicts' filter is typed emails (no list of every conflict sent to the browser): one that is
    not a conflict is named and disables the push; a known one (any case) queues that contact only."""
    from unify_dash.actions import crmsync

    conflicts = crmsync.provenance(writer).query("conflict")["email"].tolist()
    assert len(conflicts) > 1
    at = open_app("crm")
    at.text_area(key="crm.conf.pick").input("nobody@example.invalid").run()
    assert any("Not among the conflicts" in w.value and "nobody@example.invalid" in w.value for w in at.warning)
    assert at.button(key="crm.resolve").disabled
    at.text_area(key="crm.conf.pick").input(f"  {conflicts[0].upper()} ,").run()
    assert not any("Not among the conflicts" in w.value for w in at.warning)
    at.button(key="crm.resolve").click().run()
    assert_ok(at)
    assert any("queued for 1 contact" in s.value for s in at.success), [s.value for s in at.success]
    left = crmsync.provenance(writer).query("conflict")["email"].tolist()
    assert sorted(left) == sorted(conflicts[1:])


def test_data_page_lists_load_problems_by_file_row_column(writer, tmp_path, monkeypatch):
    from workspace_factory import write_workspace

    monkeypatch.setenv("UNIFY_WORKSPACES", str(tmp_path))  # the server folder is confined to this root
    bad = write_workspace(tmp_path / "bad", {"opportunities.csv": "opportunity_id,crm,record_id,is_closed\n"
                                                                  "o1,salesforce,r1,maybe\n"})
    before = metrics.workspace_counts(writer)
    at = open_app("data")
    at.text_input(key="data.folder").input(str(bad)).run()
    at.button(key="data.load.folder").click().run()
    assert_ok(at)
    assert "Nothing was loaded" in texts(at)
    problems = at.dataframe[0].value
    assert list(problems.columns) == ["file", "row", "column", "problem"]
    assert (problems["file"] == "opportunities.csv").any() and problems["row"].notna().any()
    assert metrics.workspace_counts(writer) == before


def test_data_page_loads_a_folder(writer, tmp_path, monkeypatch):
    from workspace_factory import write_workspace

    monkeypatch.setenv("UNIFY_WORKSPACES", str(tmp_path))
    good = write_workspace(tmp_path / "good")
    at = open_app("data")
    at.text_input(key="data.folder").input(str(good)).run()
    at.button(key="data.load.folder").click().run()
    assert_ok(at)
    assert "Loaded in" in texts(at)
    assert metrics.workspace_counts(writer)["contacts"] == writer.execute(
        "SELECT count(*) FROM contacts").fetchone()[0] < 400


def test_a_load_whose_indexes_did_not_build_is_loaded_and_the_pages_say_how_to_finish(writer, tmp_path,
                                                                                        monkeypatch):
    """A load committed whose index build then failed (out of memory, io/workspace.IndexesPending): the Data
    page says it is loaded, every page shows a banner naming the indexes and the command that finishes them,
    and the data pages still show their data."""
    from contextlib import contextmanager

    from test_load_indexes import FailingIndex
    from workspace_factory import write_workspace

    monkeypatch.setenv("UNIFY_WORKSPACES", str(tmp_path))
    good = write_workspace(tmp_path / "good")
    at = open_app("data")
    assert "not built yet" not in texts(at)
    real = ui.writing

    @contextmanager
    def out_of_memory_for_one_index():  # the Data page's load, on a cursor whose one index build fails
        with real() as cur:
            yield FailingIndex(cur, "idx_contacts_domain")

    monkeypatch.setattr(ui, "writing", out_of_memory_for_one_index)
    at.text_input(key="data.folder").input(str(good)).run()
    at.button(key="data.load.folder").click().run()
    monkeypatch.setattr(ui, "writing", real)
    assert_ok(at)
    shown = texts(at)
    assert "Nothing was loaded" not in shown and "Loaded: the workspace is committed" in shown
    banner = next(w.value for w in at.warning if "not built yet" in w.value)
    assert "idx_contacts_domain" in banner and "unify-dash upgrade --db" in banner and db.MEMORY_ENV in banner
    pending = [db.index_name(s) for s in db.pending_indexes(writer)]  # the one that failed and those after it
    assert "idx_contacts_domain" in pending and all(name in banner for name in pending)
    loaded = writer.execute("SELECT count(*) FROM contacts").fetchone()[0]
    assert metrics.workspace_counts(writer)["contacts"] == loaded < 400
    for page in ("play", "metrics", "contact", "exclusions"):  # the data pages work, the banner over each
        at.switch_page(PAGE[page]).run()
        assert_ok(at)
        assert any("not built yet" in w.value for w in at.warning), page
    at.switch_page(PAGE["play"]).run()
    ev = engine.evaluation(writer)
    assert metric(at, "Not Enrolled") == engine.impact(ev, ev.settings.plays[0].id)["not_enrolled"]


@pytest.mark.parametrize("typed", ["/", "../../etc", "~", "outside_link", "{outside}"])
def test_data_page_refuses_server_folders_outside_the_workspace_root(writer, tmp_path, monkeypatch, typed):
    from workspace_factory import write_workspace

    root = tmp_path / "root"
    root.mkdir()
    outside = write_workspace(tmp_path, name="outside")
    (root / "outside_link").symlink_to(outside)
    monkeypatch.setenv("UNIFY_WORKSPACES", str(root))
    before = metrics.workspace_counts(writer)
    at = open_app("data")
    at.text_input(key="data.folder").input(typed.format(outside=outside)).run()
    at.button(key="data.load.folder").click().run()
    assert_ok(at)
    assert "workspace root" in texts(at) and "Loaded in" not in texts(at)
    assert metrics.workspace_counts(writer) == before


def test_data_page_never_shows_a_file_linked_out_of_the_root(writer, tmp_path, monkeypatch):
    from workspace_factory import write_workspace

    ws = write_workspace(tmp_path / "root", name="ws")
    (ws / "contacts.csv").unlink()
    (ws / "contacts.csv").symlink_to("/etc/passwd")
    monkeypatch.setenv("UNIFY_WORKSPACES", str(tmp_path / "root"))
    at = open_app("data")
    at.text_input(key="data.folder").input("ws").run()  # relative to the root
    at.button(key="data.load.folder").click().run()
    assert_ok(at)
    shown = texts(at) + "".join(at.dataframe[0].value.astype(str).to_string())
    assert "Nothing was loaded" in shown and "outside the workspace root" in shown
    assert "root:x:0:0" not in shown


def test_running_sends_advances_the_clock_and_a_pending_change_takes_effect(writer):
    latest = settings.latest_version(writer)[1]
    x = latest.exclusions[0]
    settings.apply(writer, roles.Actor("tester", "revops"), levels.with_toggles(latest, {(x.id, "organisation", None): False}),
                   note="turn off")
    before = db.now(writer)
    at = open_app("data")
    assert "Pending changes" in "\n".join(m.value for m in at.sidebar.markdown)
    at.button(key="data.sends").click().run()
    assert_ok(at)
    assert db.now(writer) == before + dt.timedelta(hours=1)
    assert settings.settings_at(writer)[0] == 2 and not settings.pending_versions(writer)
    assert "Clock advanced" in texts(at)


@pytest.mark.parametrize("role,hidden", [
    ("manager", ["contact.optout", "contact.reverse"]),  # managers unenroll, they do not opt out
    ("support", []),
])
def test_actions_a_role_cannot_use_are_hidden(reader, role, hidden):
    email = reader.execute("SELECT email FROM contacts ORDER BY email LIMIT 1").fetchone()[0]
    at = open_app(role=role, query={"email": email})
    keys = {b.key for b in at.button}
    assert not keys & set(hidden)
    assert ("contact.unenroll" in keys) == roles.can(roles.Actor("x", role), "contact.unenroll")


def test_signed_in_user_gets_the_role_of_the_secrets(reader):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.user = {"is_logged_in": True, "email": "Ann@Acme.com", "name": "Ann"}
    at.secrets["unify"] = {"roles": {"ann@acme.com": "support"}, "default_role": "manager"}
    at.run()
    assert_ok(at)
    assert at.title[0].value == "Contact"  # support's first page
    assert "Ann@Acme.com · support" in [shown(m.value) for m in at.sidebar.markdown]
    assert at.button(key="ui.logout")
    assert not [s for s in at.sidebar.selectbox if s.key == "ui.role"]  # no role picker when signed in


def test_signed_out_user_sees_only_the_sign_in(reader):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.user = {"is_logged_in": False}
    at.run()
    assert_ok(at)
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.sidebar.markdown


def test_unknown_signed_in_user_gets_the_default_role(reader):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.user = {"is_logged_in": True, "email": "bob@acme.com"}
    at.secrets["unify"] = {"roles": {"ann@acme.com": "support"}, "default_role": "manager"}
    at.run()
    assert_ok(at)
    assert at.title[0].value == "Metrics"
    assert "bob@acme.com · manager" in [shown(m.value) for m in at.sidebar.markdown]


def test_overrides_can_be_removed_and_filters_edited(writer):
    x = settings.latest_version(writer)[1].exclusions[0]
    settings.add_email_override(writer, roles.Actor("tester", "support"), x.id, "keep@acme.com", note="n")
    settings.add_email_override(writer, roles.Actor("tester", "support"), x.id, "drop@acme.com", note="n")
    at = open_app("exclusions")
    at.selectbox(key="excl.pick").set_value(x.id).run()
    prefix = f"excl.edit.{x.id}"
    at.text_area(key=f"{prefix}.filters").input("- {field: title, op: nope}").run()
    assert "unknown operator" in texts(at) and at.button(key=f"{prefix}.save").disabled
    at.text_area(key=f"{prefix}.filters").input("- {field: country, op: not_equals, value: France}").run()
    at.multiselect(key=f"{prefix}.drop").set_value(["drop@acme.com"]).run()
    at.text_input(key=f"{prefix}.note").input("cleanup").run()
    at.button(key=f"{prefix}.save").click().run()
    assert_ok(at)
    filters = settings.latest_version(writer)[1].exclusion(x.id).filters
    values = [f.get("value") for f in filters]
    assert "keep@acme.com" in values and "drop@acme.com" not in values and "France" in values


def test_early_completions_are_diagnosed_from_the_logs(reader):

    play, node, _ = blocking_case(reader)
    seq = node["sequence_id"]
    expected = diagnosis.early_completions(reader, sequence_id=seq, limit=50)
    assert expected, "the demo has early completions in every sequence"
    at = open_app("metrics")
    at.selectbox(key="metrics.play").set_value(play).run()
    at.selectbox(key=f"metrics.node.{play}").set_value(node["id"]).run()
    at.toggle(key=f"metrics.early.{seq}").set_value(True).run()
    assert_ok(at)
    table = next(d.value for d in at.dataframe if "why" in d.value.columns)
    assert list(table["why"]) == [d["summary"] for d in expected]


@pytest.mark.parametrize("seconds,text", [(30, "in less than a minute"), (-600, "10 min ago"), (5400, "in 1.5 h"),
                                          (-3 * 86400, "3 days ago")])
def test_relative_times(seconds, text):
    from unify_dash.app import ui

    t0 = dt.datetime(2026, 11, 26, 9, 0)
    assert ui.fmt_relative(t0 + dt.timedelta(seconds=seconds), t0) == text


def test_contact_links_keep_the_at_sign_and_escape_the_rest():
    from unify_dash.app import ui

    assert ui.contact_link("a+b@x.com") == "./contact?email=a%2Bb@x.com"


@pytest.mark.parametrize("page", ["play", "metrics", "contact", "exclusions", "logs", "replies", "crm", "data"])
def test_an_empty_database_says_how_to_load_one(tmp_path, monkeypatch, page):
    monkeypatch.setenv("UNIFY_DB", str(tmp_path / "empty.duckdb"))
    at = open_app(page, query={"email": "ann@acme.com"} if page == "contact" else None)
    assert "no workspace loaded" in "\n".join(c.value for c in at.sidebar.caption)
    if page != "data":
        assert "No workspace is loaded" in texts(at)


# --- hostile input: data shown as written -------------------------------------------------------------------------

HOSTILE = {"link": "[Verify your account](https://evil.example/login)", "image": "![x](http://127.0.0.2:9/beacon)",
           "sql": "'; DROP TABLE contacts; --", "katex": "$x^2$ and $$y$$", "colour": ":red[alert] :material/home:",
           "emoji": ":smile: :streamlit:", "autolink": "www.evil.example and ann@evil.example",
           "html": "<img src=http://127.0.0.2:9/h>", "heading": "# big", "list": "1. first"}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_md_shows_a_hostile_value_as_written(name):
    value = HOSTILE[name]
    assert analyse(value).constructs or analyse(value).text != naughty.norm(value)  # the raw value is not safe
    for helper in (ui.md, ui.code):
        rendered = analyse(helper(value))
        assert rendered.constructs == [] and rendered.text == value


def test_every_naughty_string_renders_as_written_through_md_and_code():
    """All 515 strings of the big list: through ui.md and ui.code, the renderer model shows each as
    written and finds no construct; without them, a good part of the list would be rendered."""
    raw = [s for s in naughty.BLNS if analyse(s).constructs or analyse(s).text != naughty.norm(s)]
    assert len(raw) > 100
    for helper in (ui.md, ui.code):
        bad = [(s, analyse(helper(s))) for s in naughty.BLNS]
        bad = [(s, r) for s, r in bad if r.constructs or r.text != naughty.norm(s)]
        assert bad == [], bad[:5]


def test_plot_text_keeps_plotly_html_out():
    assert ui.plot_text('<a href="https://evil.example">x</a> & <br>') == \
        '&lt;a href="https://evil.example"&gt;x&lt;/a&gt; &amp; &lt;br&gt;'


@pytest.fixture(scope="module")
def naughty_db(tmp_path_factory):
    """The naughty workspace loaded, a pending settings change whose note is a naughty string, and a
    reply from a naughty contact; returns (path, workspace, settings in effect, contacts as stored)."""
    from workspace_factory import write_workspace

    root = tmp_path_factory.mktemp("naughty")
    ws = naughty.build(root, write_workspace)
    path = root / "unify.duckdb"
    con = db.connect(path)
    load_workspace(con, ws.folder)
    _, cfg = settings.settings_at(con)
    actor = roles.Actor(naughty.BLNS[100], "admin")
    settings.apply(con, actor, levels.with_toggles(cfg, {("x0", "organisation", None): False}), note=naughty.BLNS[101])
    stored = con.execute("SELECT email, first_name, last_name, title FROM contacts WHERE email LIKE '%@naughty.example' "
                         "ORDER BY contact_id").df()
    con.close()
    return path, ws, cfg, stored


def naughty_page(path, page: str | None, monkeypatch, query: dict | None = None, role: str = "admin"):
    monkeypatch.setenv("UNIFY_DB", str(path))
    monkeypatch.setenv("UNIFY_USER", naughty.BLNS[102])
    monkeypatch.delenv("UNIFY_ROLE", raising=False)
    return open_app(page, role=role, query=query)


def test_every_page_shows_the_naughty_workspace_as_written(naughty_db, monkeypatch):
    """Every page (and the Contact page of several naughty contacts) over a workspace whose names,
    descriptions, titles, email local parts and notes are the big list of naughty strings: each value
    the page shows is shown as written, and no element's Markdown renders a link, image, formula,
    autolink, icon or rewrite (the only link is the app's own Contact page)."""
    path, ws, cfg, stored = naughty_db
    expect: dict[str, set[str]] = {  # page -> values (as stored) that page must show
        "play": {r.name for r in cfg.rulesets if r.id == "default"}
                | {q.name for q in cfg.sequences if q.id == "seq_outbound"}
                | {cfg.plays[0].nodes[0].name, naughty.BLNS[101], naughty.BLNS[102]},
        "exclusions": {r.name for r in cfg.rulesets} | {q.name for q in cfg.sequences} | {cfg.exclusions[0].name},
    }
    con = db.connect(path)
    try:
        reasons = playview.not_enrolled_reasons(engine.impact(engine.evaluation(con), "play_main"))
    finally:
        con.close()
    reason_texts = set(reasons["reason"]) | set(reasons["node"])  # Metrics: cells of its reasons' bar table
    pages = {key: None for key in PAGE}
    contacts = stored[stored["email"].str.split("@").str[0].map(naughty.valid_local_part)
                      & ~stored["email"].str.match(r"n\d+@")].head(8)
    for row in contacts.itertuples():
        pages[f"contact:{row.email}"] = {"email": row.email}
        expect[f"contact:{row.email}"] = {v for v in (row.email, row.title) if isinstance(v, str)} | {
            " ".join(v for v in (row.first_name, row.last_name) if isinstance(v, str)) or row.email}
    shown_ok, not_shown, constructs = 0, [], []
    for key, query in pages.items():
        page = key.split(":")[0]
        at = naughty_page(path, None if query else page, monkeypatch, query=query)
        assert_ok(at)
        in_markdown, _plain, found = naughty.shown_texts(at)
        constructs += [(key, *f) for f in found]
        if page == "metrics":  # Not Enrolled by reason: a table of bars (cells are not Markdown), as written
            table = next(d.value for d in at.dataframe if "reason" in d.value.columns)
            cells = set(table["reason"]) | set(table.get("node", ()))
            shown_ok += len(reason_texts & cells)
            not_shown += [(key, v) for v in reason_texts - cells]
        if page == "play":  # the what-if grid: a row per exclusion, its name and description escaped Markdown
            for value in [v for x in cfg.exclusions for v in (x.name, x.description) if v]:
                if any(naughty.norm(value) in t for t in in_markdown):
                    shown_ok += 1
                else:
                    not_shown.append((key, value))
            # the Play's name: an option of the Play picker (plain text, not Markdown)
            if cfg.plays[0].name in at.selectbox(key="play.id").options:
                shown_ok += 1
            else:
                not_shown.append((key, cfg.plays[0].name))
        for value in expect.get(key, ()):  # each of these is shown by a Markdown element of its page
            if any(naughty.norm(value) in t for t in in_markdown):
                shown_ok += 1
            else:
                not_shown.append((key, value))
    print(f"naughty strings: {len(naughty.BLNS)} in the list, {ws.strings_used} cells written; pages rendered: "
          f"{len(pages)}; values checked on their page: {shown_ok + len(not_shown)}, shown as written: {shown_ok}, "
          f"not: {len(not_shown)}; constructs from data: {len(constructs)}")
    assert constructs == [], sorted({(k, c) for k, _, c, _ in constructs})
    assert not_shown == [], not_shown[:5]
    assert shown_ok >= 40


def test_the_contact_list_shows_names_in_a_table_and_the_link_is_our_own(naughty_db, monkeypatch):
    path, ws, cfg, stored = naughty_db
    at = naughty_page(path, "play", monkeypatch)
    at.button(key="play.show.entered.").click().run()
    assert_ok(at)
    table = list_table(at)
    assert table["contact"].str.startswith("./contact?email=").all()
    names = {naughty.norm(n) for n in table["name"]}
    first = stored.iloc[0]
    assert naughty.norm(" ".join(v for v in (first.first_name, first.last_name) if isinstance(v, str))) in names


# --- CSV exports ---------------------------------------------------------------------------------------------


def test_csv_export_neutralises_formulas():
    frame = pd.DataFrame({"name": ['=HYPERLINK("https://evil.example","x")', "+cmd|' /C calc'!A0", "-2+3",
                                   "@SUM(A1:A9)", "\t=1", "\r=1", "plain", None],
                          "n": [-1, 2, 3, 4, 5, 6, 7, 8]})
    text = metrics.frame_to_csv(frame).decode()
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    assert header == ["name", "n"]
    assert [r[0] for r in rows][:6] == ["'" + v for v in frame["name"][:6]]
    assert [r[0] for r in rows][6:] == ["plain", ""]
    assert [r[1] for r in rows] == ["-1", "2", "3", "4", "5", "6", "7", "8"]  # numbers stay numbers
    assert metrics.frame_to_csv(pd.DataFrame({"=x": [1]})).decode().startswith("'=x")


def test_the_list_download_neutralises_naughty_cells(naughty_db):
    path, ws, cfg, stored = naughty_db
    con = db.connect(path)
    try:
        ev = engine.evaluation(con)
        total = engine.drilldown(con, ev, "play_main", "entered", limit=0)["total"]
        rows = engine.drilldown(con, ev, "play_main", "entered", limit=total)["rows"]
    finally:
        con.close()
    cells = pd.read_csv(io.StringIO(ui.list_csv(ui.engine_rows_frame(rows)).decode()), dtype=str,
                        keep_default_na=False)
    assert len(cells) == total and cells["email"].str.endswith(("@naughty.example", ".com", ".io")).all()
    values = [v for col in cells.columns for v in cells[col]]
    assert [v for v in values if v.startswith(metrics.FORMULA_STARTS)] == []
    written = {v for c in ws.contacts for v in (c["first_name"], c["last_name"], c["title"]) if v}
    risky = {v for v in written if v.startswith(metrics.FORMULA_STARTS)}
    assert risky and {v[1:] for v in values if v.startswith("'")} >= {v for v in risky if v.strip() == v and v in
                                                                       set(cells["title"].str[1:])}


# --- loopback by default ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("address,loopback", [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True),
                                              ("[::1]", True), ("localhost", True), ("unix:///tmp/s", True),
                                              (None, False), ("", False), ("0.0.0.0", False), ("::", False),
                                              ("10.0.0.5", False), ("app.example.com", False)])
def test_which_addresses_are_loopback(address, loopback):
    assert ui.is_loopback(address) is loopback


@pytest.mark.parametrize("address", ["0.0.0.0", None])
def test_local_mode_is_refused_off_loopback(reader, address):
    st_config.set_option("server.address", address)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["ui.role"] = "admin"
    at.run()
    assert_ok(at)
    assert [t.value for t in at.title] == ["unify-dash"]
    message = texts(at)
    assert "[auth]" in message and ".streamlit/secrets.toml" in message and "127.0.0.1" in message
    assert not at.selectbox and not at.sidebar.markdown  # no role picker, no page


def test_sign_in_is_allowed_off_loopback(reader):
    st_config.set_option("server.address", "0.0.0.0")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.user = {"is_logged_in": True, "email": "ann@acme.com"}
    at.secrets["unify"] = {"roles": {"ann@acme.com": "support"}}
    at.run()
    assert_ok(at)
    assert at.title[0].value == "Contact"


def test_config_binds_loopback():
    import tomllib

    conf = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert conf["server"]["address"] == "127.0.0.1"


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the sockets listening on ``port`` (from /proc/net/tcp and tcp6)."""
    out = set()
    for name, width in (("tcp", 8), ("tcp6", 32)):
        proc = Path("/proc/net") / name
        if not proc.exists():
            continue
        for line in proc.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            host, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                raw = bytes.fromhex(host)
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                out.add(socket.inet_ntop(socket.AF_INET if width == 8 else socket.AF_INET6, words))
    return out


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs /proc/net/tcp (Linux)")
def test_make_run_listens_on_loopback_only(reader, tmp_path):
    """``make run``'s command (``unify-dash serve``, the app in the service, no address given) listens
    on 127.0.0.1 only; STREAMLIT_SERVER_ADDRESS still overrides it."""
    import urllib.request

    from browser_support import free_port

    port = free_port()
    served = tmp_path / "served.duckdb"
    db.connect(served).close()
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("STREAMLIT_SERVER_ADDRESS")}
    env.update(STREAMLIT_SERVER_HEADLESS="true", STREAMLIT_SERVER_FILE_WATCHER_TYPE="none")
    make = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True)
    assert "unify-dash serve" in make.stdout and "--server.address" not in make.stdout
    proc = subprocess.Popen([sys.executable, "-m", "unify_dash", "serve", "--db", str(served), "--port", str(port),
                             "--no-worker"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.3)
        assert listening_addresses(port) == {"127.0.0.1"}
    finally:
        proc.terminate()
        proc.wait(timeout=60)


# --- what the pages compute, without Streamlit -------------------------------------------------------------------


def test_play_view_grid_flow_table_and_changes(reader):
    ev = engine.evaluation(reader)
    cfg = ev.settings
    play = cfg.plays[0]
    saved = engine.impact(ev, play.id)
    columns = playview.toggle_columns(cfg, play.id, saved)
    assert [c.level for c in columns][:2] == ["audience", "organisation"]
    assert {c.target for c in columns[2:]} == {n["ruleset_id"] for n in saved["nodes"]}
    rows = playview.toggle_rows(cfg, play.id, saved)
    assert [r.exclusion_id for r in rows] == [x["id"] for x in saved["exclusions"]]
    assert all(len(r.cells) == len(columns) for r in rows)
    assert playview.changed(rows, {}) == {}
    x = rows[0]
    org = next(c for c in x.cells if c.level == "organisation")
    toggles = playview.changed(rows, {(x.exclusion_id, "organisation", None): not org.saved})
    assert toggles == {(x.exclusion_id, "organisation", None): not org.saved}
    (line,) = playview.change_lines(cfg, play.id, toggles)
    assert line.exclusion == cfg.exclusion(x.exclusion_id).name and line.where.startswith("organisation")
    assert line.change == ("off → on" if not org.saved else "on → off")
    steps = playview.flow_steps(saved)
    assert [s.bucket for s in steps[:3]] == ["entered", "opted_out", "excluded_at_audience"]
    assert len(steps) == 3 + 2 * len(saved["nodes"]) and steps[0].value == saved["entered"]
    assert steps[3].label == f"Not Enrolled · {saved['nodes'][0]['name']}"
    table = playview.exclusion_table(cfg, saved)
    assert table["blocking"].tolist() == [x["blocking"] for x in saved["exclusions"]]
    reasons = playview.not_enrolled_reasons(saved)
    assert reasons["contacts"].sum() == sum(x["blocking_at"].get(n["id"], 0) for n in saved["nodes"]
                                            for x in saved["exclusions"]) + sum(
        n["active_elsewhere"] for n in saved["nodes"])  # one active sequence at a time is a reason too
    assert (reasons["contacts"] > 0).all()
    node = saved["nodes"][0]
    assert set(playview.not_enrolled_reasons(saved, node["id"])["node"]) <= {node["name"]}


def test_contact_view_and_settings_view(reader):
    ev = engine.evaluation(reader)
    cfg = ev.settings
    play, node, x = blocking_case(reader)
    email = engine.drilldown(reader, ev, play, "blocks_alone", node_id=node["id"], exclusion_id=x["id"],
                             limit=1)["rows"][0]["email"]
    explained = engine.explain(reader, email)
    e = next(e for e in explained["exclusions"] if e["id"] == x["id"])
    assert contactview.badge(e) == "blocks" and contactview.blocks_something(e)
    levels = contactview.levels_table(cfg, e)
    assert len(levels) == 1 + len(cfg.rulesets) + len(cfg.plays)
    assert contactview.sequences_table(explained)["would be enrolled"].isin(["yes", "no"]).all()
    assert len(contactview.play_lines(cfg, explained)) == len(explained["plays"])
    matrix = settingsview.matrix(cfg)
    assert settingsview.matrix_changes(cfg, matrix) == ({}, {})
    rs = cfg.rulesets[0]
    column = settingsview.ruleset_columns(cfg)[rs.id]
    edited = matrix.copy()
    edited.loc[x["id"], column] = not rs.is_on(x["id"])
    toggles, removals = settingsview.matrix_changes(cfg, edited)
    assert toggles == {(x["id"], "ruleset", rs.id): not rs.is_on(x["id"])} and removals == {}
    assert settingsview.with_matrix_changes(cfg, toggles, removals).ruleset(rs.id).is_on(x["id"]) is (
        not rs.is_on(x["id"]))
    assert len(settingsview.overview(cfg)) == len(cfg.exclusions)
