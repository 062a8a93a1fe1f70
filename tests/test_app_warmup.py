"""The service's background warm-up (unify_dash/app/warmup.py): after it, the first visit of Metrics,
Trends and CRM sync computes none of the answers again (nor builds a Plotly figure: the Metrics page has none); after a write, they are computed anew (the cache
stamp decides freshness, not the warm-up)."""

from __future__ import annotations

import datetime as dt
import functools
import shutil
from pathlib import Path

import plotly.express as px
import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from unify_dash.actions import crmsync
from unify_dash.app import warmup
from unify_dash.reports import forecast, metrics, trends
from unify_dash.store import db

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
WATCHED = [(metrics, "summary"), (metrics, "timeline"), (metrics, "will_be_skipped"), (trends, "trends"),
           (forecast, "forecast"), (crmsync, "mappings"), (crmsync, "provenance"),
           (crmsync, "readonly_disagreements")]


@pytest.fixture
def workspace(template_db, tmp_path, monkeypatch):
    path = tmp_path / "unify.duckdb"
    shutil.copy(template_db, path)
    con = db.connect(path)
    db.set_clock(con, dt.datetime(2026, 11, 26, 9, 0))  # a pinned clock: the stamp does not move by itself
    con.close()
    monkeypatch.setenv("UNIFY_DB", str(path))
    monkeypatch.setenv("UNIFY_USER", "tester")
    monkeypatch.setenv("UNIFY_ROLE", "revops")
    before = st_config.get_option("server.address")
    st_config.set_option("server.address", "127.0.0.1")
    yield path
    st_config.set_option("server.address", before)


@pytest.fixture
def calls(monkeypatch) -> dict[str, int]:
    """Counts the calls of the watched domain functions (the cache looks each one up by module and name)."""
    counted: dict[str, int] = {}

    def counting(module, name):
        original = getattr(module, name)

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            counted[name] = counted.get(name, 0) + 1
            return original(*args, **kwargs)
        return wrapper

    def watch() -> None:
        monkeypatch.setattr(px, "bar", counting(px, "bar"))  # the Metrics page draws tables of bars, no figure
        for module, name in WATCHED:
            monkeypatch.setattr(module, name, counting(module, name))

    counted["watch"] = watch  # type: ignore[assignment]
    return counted


def first_visits(pages: list[str]) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    for page in pages:
        at.switch_page(f"unify_dash/app/pages/{page}.py").run()
        assert not at.exception, [e.message for e in at.exception]
        assert at.title[0].value


def test_first_visits_after_the_warm_up_compute_nothing_again(workspace, calls):
    took = warmup.warm_caches()
    assert {"trends", "forecast", "crm"} <= set(took), took
    assert any(name.startswith("metrics ") for name in took), took
    calls.pop("watch")()
    first_visits(["metrics", "trends", "crm"])
    assert calls == {}, f"computed again after the warm-up: {calls}"


def test_a_write_after_the_warm_up_shows_new_numbers(workspace, calls):
    warmup.warm_caches()
    con = db.connect(workspace)
    try:
        db.bump_generation(con)  # what every write of records, opt-outs or settings does
    finally:
        con.close()
    calls.pop("watch")()
    first_visits(["metrics", "trends"])
    assert calls.get("summary", 0) >= 1 and calls.get("trends", 0) >= 1, calls


def test_start_runs_once_per_process(workspace):
    first = warmup.start()
    assert warmup.start() is first
    first.join(timeout=120)
    assert not first.is_alive()
