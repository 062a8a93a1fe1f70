"""One running service (docs/service.md): ``unify-dash serve`` owns the database, the CLI forwards
to it and prints what it would have printed on its own, the worker ticks, and everything at once
neither fails on DuckDB's lock nor loses, doubles or half-applies a write.

Real processes throughout: the service is a subprocess on a temporary copy of a 300-contact demo
database, the CLI calls are subprocesses, reads go through the service's HTTP API.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import shutil
import signal
import stat
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from browser_support import browser, chromium_path, wait_ready
from service_support import EMAIL, api_status, build_demo, cli, copy_db, service, service_info, wait_app

from unify_dash.errors import ValidationError
from unify_dash.store import db

UNTIL = "2026-11-28T09:00"
LOCK_ERROR = re.compile(r"conflicting lock|could not set lock|lock is held|holds it", re.I)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, Path]:
    return build_demo(tmp_path_factory.mktemp("service"))


def _json(text: str, *drop: str) -> dict:
    out = json.loads(text)
    for key in drop:
        out.pop(key, None)
    return out


def _load_text(text: str, dbfile: Path) -> str:
    return re.sub(r"in [\d.]+s", "in Ns", text.replace(str(dbfile), "DB"))


def _plain(text: str, dbfile: Path) -> str:
    return re.sub(r"[\d.]+ s", "N s", text.replace(str(dbfile), "DB"))


def _explain_after(text: str) -> dict:
    """explain after the sends and the re-load: the enrollments the scheduler made are kept by the load
    (docs/ledger.md) and have random ids, so they are compared by what they are, not by id or id order."""
    out = _json(text, "evaluate_s")
    for e in out["enrollments"]:
        e.pop("enrollment_id")
    out["enrollments"].sort(key=lambda e: json.dumps(e, sort_keys=True))
    return out


def _verbs(demo_dir: Path, dbfile: Path) -> list:
    """(name, argv, normalise(stdout)) of the verbs compared with and without the service."""
    d = str(dbfile)
    return [
        ("explain", ["explain", EMAIL, "--json", "--db", d], lambda s: _json(s, "evaluate_s")),
        ("explain text", ["explain", EMAIL, "--db", d], lambda s: s),
        ("impact", ["impact", "--play", "play_enterprise", "--set", "open_opportunity@audience=off", "--json",
                    "--db", d], lambda s: _json(s, "evaluate_s", "seconds", "generation")),
        ("unknown email", ["explain", "nobody@example.com", "--db", d], lambda s: s),
        ("usage error", ["impact", "--db", d], lambda s: s),
        ("sends", ["sends", "--until", UNTIL, "--json", "--db", d], lambda s: _json(s, "seconds")),
        ("sends again", ["sends", "--until", "2026-11-27T00:00", "--db", d], lambda s: s),
        ("load", ["load", str(demo_dir), "--db", d], lambda s: _load_text(s, dbfile)),
        ("explain after", ["explain", EMAIL, "--json", "--db", d], _explain_after),
    ]


def test_forwarded_commands_print_what_direct_ones_print(demo, tmp_path):
    demo_dir, template = demo
    direct_db, served_db = copy_db(template, tmp_path / "a.duckdb"), copy_db(template, tmp_path / "b.duckdb")
    direct = [(name, cli(*argv), norm) for name, argv, norm in _verbs(demo_dir, direct_db)]
    with service(served_db, "--no-worker"):
        forwarded = [(name, cli(*argv), norm) for name, argv, norm in _verbs(demo_dir, served_db)]
        status = json.loads(cli("status", "--json", "--db", str(served_db)).stdout)
    assert status["service"] is not None, "status was not answered by the service"
    # the sends moved the clock to 2026-11-28; the load after them does not rewind it (docs/ledger.md)
    assert status["database"]["clock"] == "2026-11-28 09:00:00"
    codes = {}
    for (name, a, norm_a), (_, b, norm_b) in zip(direct, forwarded, strict=True):
        codes[name] = a.returncode
        assert b.returncode == a.returncode, (name, b.stderr)
        assert not LOCK_ERROR.search(b.stderr) and "Traceback" not in b.stderr, (name, b.stderr)
        assert norm_b(b.stdout) == norm_a(a.stdout), name
        assert _plain(b.stderr, served_db) == _plain(a.stderr, direct_db), name
    assert codes == {"explain": 0, "explain text": 0, "impact": 0, "unknown email": 1, "usage error": 2, "sends": 0,
                     "sends again": 1, "load": 0, "explain after": 0}


def test_relative_paths_and_default_db_are_the_callers(demo, tmp_path):
    """The service runs in the project folder; a relative path is the caller's, and a verb's default
    ``--db`` (data/unify.duckdb of the caller's folder) finds the service of that file."""
    demo_dir, template = demo
    work = tmp_path / "elsewhere"
    (work / "data").mkdir(parents=True)
    shutil.copytree(demo_dir, work / "ws")
    dbfile = copy_db(template, work / "data" / "unify.duckdb")
    with service(dbfile, "--no-worker"):
        done = cli("load", "ws", cwd=work)
        assert done.returncode == 0, done.stderr
        assert f"loaded {work / 'ws'} into {dbfile}" in done.stdout
        status = json.loads(cli("status", "--json", cwd=work).stdout)
        assert status["service"]["pid"] == service_info(dbfile)["pid"]


def test_service_file_token_and_stale_file(demo, tmp_path):
    _, template = demo
    dbfile = copy_db(template, tmp_path / "u.duckdb")
    # a stale service file (a dead pid): ignored by the CLI, replaced by serve
    Path(str(dbfile) + ".service.json").write_text(json.dumps(
        {"pid": 2 ** 22 + 12345, "port": 1, "db": str(dbfile), "cwd": "/", "token_file": "/nonexistent",
         "started_at": "2026-01-01 00:00:00"}))
    assert cli("explain", EMAIL, "--db", str(dbfile)).returncode == 0
    with service(dbfile, "--no-worker") as proc:
        info = service_info(dbfile)
        assert info["pid"] == proc.pid
        token = Path(info["token_file"])
        assert stat.S_IMODE(token.stat().st_mode) == 0o600
        # loopback only, and the token is required
        req = urllib.request.Request(f"http://127.0.0.1:{info['port']}/status")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 401
        req.add_header("Authorization", "Bearer " + token.read_text().strip())
        assert json.loads(urllib.request.urlopen(req, timeout=10).read())["service"]["pid"] == proc.pid
        # a second service on the same database is refused, clearly
        again = cli("serve", "--db", str(dbfile), "--no-app")
        assert again.returncode == 1 and "already serves" in again.stderr, again.stderr
    assert proc.returncode == 0, proc.final_log
    assert "service stopped" in proc.final_log
    assert service_info(dbfile) is None and not token.exists()
    assert cli("explain", EMAIL, "--db", str(dbfile)).returncode == 0  # the file is free again


def _unpinned_copy(demo_dir: Path, template: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A live workspace: the same demo without ``now:`` (the workspace clock is the wall clock)."""
    live = tmp_path / "live"
    shutil.copytree(demo_dir, live)
    yaml = live / "workspace.yaml"
    yaml.write_text("".join(line for line in yaml.read_text().splitlines(True) if not line.startswith("now:")))
    dbfile = copy_db(template, tmp_path / "live.duckdb")
    con = db.connect(dbfile)
    con.execute("DELETE FROM meta WHERE key = 'clock'")
    con.close()
    return live, dbfile


def _counts(dbfile: Path) -> dict:
    con = db.connect(dbfile)
    try:
        row = con.execute("""SELECT (SELECT count(*) FROM events WHERE type = 'send'),
                                    (SELECT count(*) FROM execution_log WHERE outcome = 'sent'),
                                    (SELECT count(*) FROM audit_log WHERE action = 'data.load'),
                                    (SELECT count(*) - count(DISTINCT event_id) FROM events)""").fetchone()
    finally:
        con.close()
    return dict(zip(("send_events", "sent_logs", "loads", "duplicate_events"), row, strict=True))


def test_everything_at_once(demo, tmp_path):
    """The app, the worker ticking every second, CLI reads and writes and API reads at the same time:
    every command succeeds, no lock error, every load landed exactly once, and no read ever saw a
    half-applied tick (a tick's send events and its execution-log rows always appear together)."""
    demo_dir, template = demo
    live, dbfile = _unpinned_copy(demo_dir, template, tmp_path)
    before = _counts(dbfile)
    n_loads, n_reads = 3, 8
    snapshots, stop = [], threading.Event()

    def poll() -> None:
        while not stop.is_set():
            snapshots.append(api_status(dbfile))
            time.sleep(0.05)

    with service(dbfile, "--tick-every", "1s", app=True):
        wait_app(dbfile)
        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        jobs = [["load", str(live), "--db", str(dbfile)]] * n_loads
        jobs += [["explain", EMAIL, "--json", "--db", str(dbfile)]] * n_reads
        jobs += [["impact", "--play", "play_enterprise", "--json", "--db", str(dbfile)]] * 2
        jobs += [["status", "--json", "--db", str(dbfile)]] * 2
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(lambda argv: (argv[0], cli(*argv)), jobs))
        elapsed = time.perf_counter() - started
        deadline = time.monotonic() + 60  # bounded: at least one worker run that sent something
        while time.monotonic() < deadline and not api_status(dbfile)["service"]["worker"]["totals"]["sends"]:
            time.sleep(0.5)
        stop.set()
        poller.join(30)
        final = api_status(dbfile)
    after = _counts(dbfile)
    failures = [(verb, r.returncode, r.stderr[-500:]) for verb, r in results
                if r.returncode or LOCK_ERROR.search(r.stderr) or "Traceback" in r.stderr]
    assert not failures
    worker = final["service"]["worker"]
    assert worker["totals"]["sends"] > 0 and worker["totals"]["failures"] == 0, worker
    assert worker["mode"] == "real"
    assert after["loads"] - before["loads"] == n_loads
    assert after["duplicate_events"] == 0
    # every snapshot: each 'sent' log row of a tick is a send event or a message still in the outbox
    # (the tick commits its decisions and the outbox rows together; delivery writes the send events)
    base = before["send_events"] - before["sent_logs"]
    torn = [s["database"] for s in snapshots
            if s["database"]["send_events"] + s["database"]["outbox_pending"] - s["database"]["sent_log_rows"] != base
            or (s["database"]["last_tick"] and s["database"]["last_tick"]["at"] > s["database"]["clock"])]
    assert not torn, json.dumps({"base": base, "torn": [{k: v for k, v in t.items() if k != "recent_ticks"}
                                                           for t in torn[:2]]}, default=str)
    assert after["send_events"] - after["sent_logs"] == base
    assert len(snapshots) >= 10
    explains = [json.loads(r.stdout)["email"] for verb, r in results if verb == "explain"]
    assert explains == [EMAIL] * n_reads
    figures = {"commands": len(jobs), "seconds": round(elapsed, 1), "snapshots": len(snapshots),
               "worker_runs": worker["totals"]["runs"], "worker_ticks": worker["totals"]["ticks"],
               "sends": after["send_events"] - before["send_events"], "loads": after["loads"] - before["loads"]}
    print("concurrency figures:", json.dumps(figures))


def test_sigterm_during_a_tick_leaves_whole_ticks(demo, tmp_path):
    """Stopping while a forwarded ``sends`` runs: the service ends, the service file is gone, and
    the database holds whole ticks only (the clock is the last finished tick, every send of it logged)."""
    _, template = demo
    dbfile = copy_db(template, tmp_path / "u.duckdb")
    with service(dbfile, "--no-worker") as proc:
        runner = threading.Thread(target=cli, args=("sends", "--until", "2026-12-20T00:00", "--db", str(dbfile)))
        runner.start()
        time.sleep(3)
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(120)
        runner.join(120)
    assert service_info(dbfile) is None
    con = db.connect(dbfile)
    try:
        clock = db.now(con)
        late = con.execute("SELECT count(*) FROM execution_log WHERE \"at\" > ?", [clock]).fetchone()[0]
        sends, logs = con.execute("SELECT (SELECT count(*) FROM events WHERE type = 'send' AND occurred_at > ?), "
                                  "(SELECT count(*) FROM execution_log WHERE outcome = 'sent' AND \"at\" > ?)",
                                  [db.dt.datetime(2026, 11, 26, 9), db.dt.datetime(2026, 11, 26, 9)]).fetchone()
    finally:
        con.close()
    assert late == 0 and sends == logs


@pytest.mark.browser
def test_the_app_shows_a_forwarded_write_on_the_next_rerun(demo, tmp_path):
    """Chromium on the service's app: ``unify-dash sends`` run from a shell while the page is open
    moves the workspace clock the page shows after a reload; the Data page shows the worker panel."""
    executable = chromium_path()
    if executable is None and not os.environ.get("UNIFY_REQUIRE_BROWSER"):
        pytest.skip("Chromium is not installed")
    _, template = demo
    dbfile = copy_db(template, tmp_path / "u.duckdb")
    with service(dbfile, app=True, env={"UNIFY_ROLE": "revops"}), browser(executable) as page:
        url = wait_app(dbfile)
        page.goto(f"{url}/data")
        wait_ready(page, "Workspace clock 2026-11-26 09:00", timeout=120_000)
        assert page.get_by_text("Scheduler worker").count() >= 1
        done = cli("sends", "--until", "2026-11-27T09:00", "--db", str(dbfile))
        assert done.returncode == 0, done.stderr
        page.reload()
        wait_ready(page, "Workspace clock 2026-11-27 09:00", timeout=120_000)
        assert page.locator("[data-testid='stException']").count() == 0


def test_serve_honours_streamlits_own_environment_variables(monkeypatch):
    """``streamlit run`` reads STREAMLIT_SERVER_PORT / _ADDRESS / _HEADLESS through its command line;
    ``serve`` runs Streamlit through bootstrap and must pass them on itself."""
    from streamlit import config as st_config

    from unify_dash.service import serve

    monkeypatch.setenv("STREAMLIT_SERVER_PORT", "8765")
    monkeypatch.setenv("STREAMLIT_SERVER_ADDRESS", "0.0.0.0")
    monkeypatch.setenv("STREAMLIT_SERVER_HEADLESS", "false")
    got = serve._env_options(st_config)
    assert got["server.port"] == 8765 and got["server.address"] == "0.0.0.0" and got["server.headless"] is False
    monkeypatch.setenv("STREAMLIT_SERVER_PORT", "eighty")
    with pytest.raises(ValidationError, match="STREAMLIT_SERVER_PORT"):
        serve._env_options(st_config)
