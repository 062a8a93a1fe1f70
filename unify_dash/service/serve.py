"""``unify-dash serve``: the one process that owns the database, and ``unify-dash status``.

``serve`` opens the database, writes a fresh token (mode 0600), starts the loopback API thread
and the scheduler worker thread, writes the service file, then runs the Streamlit app in this
process (``streamlit.web.bootstrap.run``, what ``streamlit run`` calls), so that the app's
``ui.database()`` is the same DuckDB instance. SIGTERM or SIGINT stops Streamlit; then the API
stops taking commands, the worker and the commands in flight finish (at most ``GRACE`` seconds;
past it they are abandoned, uncommitted), the database is closed and the service file removed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sys
import threading
from pathlib import Path

import duckdb

from unify_dash.errors import ValidationError
from unify_dash.service import files
from unify_dash.service.api import Api
from unify_dash.service.client import post
from unify_dash.service.status import database_status, format_status
from unify_dash.service.worker import Worker, wall_clock
from unify_dash.store import db

GRACE = 60.0
APP = Path(__file__).resolve().parents[2] / "app.py"
CURRENT: dict = {}  # the running service of this process: "info", "worker", "api"


def parse_every(text: str) -> dt.timedelta:
    """``30s``, ``5m``, ``1h``, ``1d`` -> a positive duration."""
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    raw = str(text).strip().lower()
    try:
        value = dt.timedelta(**{units[raw[-1]]: float(raw[:-1])})
    except (KeyError, IndexError, ValueError):
        value = None
    if value is None or value <= dt.timedelta(0):
        raise ValidationError(f"--tick-every: expected a positive duration like 30s, 5m or 1h, got {text!r}")
    return value


def service_status(path: str, cursor=None) -> dict:
    """The whole status: the database's and, in the service process, the service's. ``cursor``:
    one of the caller's (the app's); default the service's database or a new connection."""
    own = CURRENT.get("database")
    if cursor is not None:
        cur = cursor.cursor()
    elif own is not None and os.path.realpath(own.path) == os.path.realpath(path):
        cur = own.cursor()
    else:
        cur = db.connect(path)
    try:
        with db.transaction(cur):  # one snapshot: never half of a tick
            status = {"db": os.path.realpath(path), "database": database_status(cur)}
    finally:
        cur.close()
    info = CURRENT.get("info")
    if info is not None and os.path.realpath(info.db) == os.path.realpath(path):
        status["service"] = {**{k: getattr(info, k) for k in ("pid", "port", "app_port", "started_at", "cwd")},
                             "commands_in_flight": CURRENT["api"].in_flight, "worker": CURRENT["worker"].snapshot()}
    else:
        status["service"] = None
    return status


def cli_status(args) -> int:
    """``unify-dash status [--db PATH] [--json]``."""
    status = service_status(args.db)
    print(json.dumps(status, default=str) if args.json else format_status(status))
    return 0


def _answers(info: files.ServiceInfo) -> bool:
    """True when the service of ``info`` answers its API (a live pid alone may be a reused one)."""
    try:
        post(info, "/status", timeout=10)
    except (OSError, ValueError):
        return False
    return True


def start(path: str, every: dt.timedelta, *, api_port: int = 0, app_port: int | None = None,
          worker: bool = True) -> dict:
    """Start serving ``path``; returns CURRENT. The API listens and the service file is written
    before the database opens, so a CLI call made while the service starts waits for it instead
    of hitting DuckDB's lock; when the database cannot be opened, the file is removed again."""
    if CURRENT:
        info = CURRENT["info"]
        raise ValidationError(f"a service already serves {info.db} (pid {info.pid}, API port {info.port})")
    existing = files.read_service(path)
    if existing is not None and existing.alive() and existing.pid != os.getpid() and _answers(existing):
        raise ValidationError(f"a service already serves {path} (pid {existing.pid}, API port {existing.port}): "
                              "stop it first, or use it: the CLI forwards to it")
    token_path = files.new_token(path)
    api = Api(token_path.read_text(encoding="utf-8").strip(), path, lambda: service_status(path), port=api_port)
    info = files.ServiceInfo(pid=os.getpid(), port=api.server_address[1], db=path, cwd=os.getcwd(),
                             token_file=str(token_path), started_at=wall_clock().isoformat(sep=" "), app_port=app_port)
    files.write_service(info)
    try:
        database = db.Database(path)
    except BaseException as err:
        files.remove_service(path, os.getpid())
        api.server_close()
        if not isinstance(err, duckdb.IOException):
            raise
        raise ValidationError(f"cannot open {path}: another process holds it ({str(err).splitlines()[0]}); "
                              "stop that process first") from err
    work = Worker(path, every)
    CURRENT.update(info=info, api=api, worker=work, database=database)
    threading.Thread(target=api.serve_forever, name="unify-dash-api", daemon=True).start()
    if worker:
        work.start()
    return CURRENT


def stop() -> bool:
    """Stop taking commands, let the worker and the commands in flight finish, close, remove the
    service file. True when everything finished within the grace period."""
    if not CURRENT:
        return True
    api, work, info = CURRENT["api"], CURRENT["worker"], CURRENT["info"]
    files.remove_service(info.db, info.pid)  # new CLI calls open the file (and wait for us to exit)
    api.shutdown()
    clean = work.stop(GRACE) and api.drain(GRACE)
    api.server_close()
    if clean:
        CURRENT["database"].close()
    CURRENT.clear()
    return clean


def _env_options(st_config) -> dict:
    """Streamlit's own environment variables (STREAMLIT_SERVER_PORT, STREAMLIT_SERVER_ADDRESS, ...), which
    ``streamlit run`` reads through its command line and ``bootstrap.run`` alone does not."""
    out = {}
    for option in st_config._config_options_template.values():
        value = os.environ.get(option.env_var) if option.env_var else None
        if value is None:
            continue
        if option.type is bool:
            out[option.key] = value.strip().lower() in ("1", "true", "yes", "on")
        elif option.type in (int, float):
            try:
                out[option.key] = option.type(value)
            except ValueError:
                raise ValidationError(f"{option.env_var}={value!r}: expected {option.type.__name__}") from None
        else:
            out[option.key] = value
    return out


def _run_app(app_port: int | None) -> None:
    from streamlit import config as st_config
    from streamlit.web import bootstrap

    flags = {"server.headless": True, **_env_options(st_config)}
    if app_port:
        flags["server.port"] = app_port
    st_config._main_script_path = str(APP)  # what `streamlit run` does before reading its config
    bootstrap.load_config_options(flag_options=flags)
    bootstrap.run(str(APP), False, [], flags)


def _wait_for_signal() -> None:
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    while not done.wait(3600):
        pass


def warm(database) -> float:
    """Evaluate the workspace (and every Play's counts) before the app listens, so the first page a
    browser opens reads the cached evaluation instead of computing it (docs/benchmarks.md, "The app at
    1M"); the app's modules and their heavy imports are loaded too. Returns the seconds it took. An
    empty database (nothing loaded yet) is not an error: the pages say what to do."""
    import importlib
    import time

    from unify_dash import engine
    from unify_dash.errors import NotFound

    started = time.perf_counter()
    for module in ("plotly.graph_objects", "plotly.express", "unify_dash.app.ui", "unify_dash.reports.playview",
                   "unify_dash.reports.metrics", "unify_dash.reports.contactview"):
        importlib.import_module(module)
    cur = database.cursor()
    try:
        ev = engine.evaluation(cur)
        for play in ev.settings.plays:
            engine.impact(ev, play.id)
    except NotFound:
        pass
    finally:
        cur.close()
    return time.perf_counter() - started


def cli_serve(args) -> int:
    """``unify-dash serve [--db PATH] [--port N] [--api-port N] [--tick-every 5m] [--no-app] [--no-worker]``."""
    every = parse_every(args.tick_every)
    path = os.path.realpath(args.db)
    start(path, every, api_port=args.api_port, app_port=args.port, worker=not args.no_worker)
    os.environ["UNIFY_DB"] = path  # the app's ui.database(): the same file, hence the same instance
    print(f"unify-dash service: {path}, API 127.0.0.1:{CURRENT['info'].port}, worker every {every} "
          f"(pid {os.getpid()})", file=sys.stderr, flush=True)
    try:
        if args.no_app:
            _wait_for_signal()
        else:
            seconds = warm(CURRENT["database"])
            print(f"unify-dash service: workspace evaluated in {seconds:.1f} s", file=sys.stderr, flush=True)
            from unify_dash.app import warmup

            warmup.start(runtime_wait_s=60)  # the other pages' first views, once the app's runtime runs
            _run_app(args.port)
    finally:
        clean = stop()
        print("unify-dash service stopped" + ("" if clean else " (work in flight abandoned, uncommitted)"),
              file=sys.stderr, flush=True)
    if not clean:
        os._exit(1)  # threads still inside DuckDB: leave without committing them
    return 0
