"""Helpers of the service tests and the overhead measurement: a demo database, ``unify-dash serve``
as a subprocess (bounded waits, always stopped), CLI calls as subprocesses.

By hand::

    python tests/service_support.py [RUNS]

prints the median wall time of forwarded and direct CLI calls (docs/service.md quotes it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "unify_dash"]
START_TIMEOUT = 90.0
EMAIL = "dana@northwind-demo.com"


def cli(*args: str, cwd: Path | str = ROOT, timeout: float = 300.0) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def build_demo(folder: Path, contacts: int = 300) -> tuple[Path, Path]:
    """(workspace folder, loaded database) of a small demo workspace."""
    demo, dbfile = folder / "demo", folder / "template.duckdb"
    for args in (("demo", "--out", str(demo), "--contacts", str(contacts)), ("load", str(demo), "--db", str(dbfile))):
        done = cli(*args)
        assert done.returncode == 0, done.stderr
    return demo, dbfile


def copy_db(template: Path, target: Path) -> Path:
    shutil.copy(template, target)
    wal = Path(str(template) + ".wal")
    if wal.exists():
        shutil.copy(wal, Path(str(target) + ".wal"))
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_info(dbfile: Path) -> dict | None:
    try:
        return json.loads(Path(str(dbfile) + ".service.json").read_text())
    except (OSError, ValueError):
        return None


def api_status(dbfile: Path) -> dict:
    from unify_dash.service import client, files

    info = files.read_service(dbfile)
    assert info is not None, "no service file"
    return client.post(info, "/status", timeout=60)


@contextlib.contextmanager
def service(dbfile: Path, *extra: str, app: bool = False, env: dict | None = None) -> Iterator[subprocess.Popen]:
    """``unify-dash serve --db DBFILE`` running until the block ends (SIGTERM, then kill)."""
    args = [*CLI, "serve", "--db", str(dbfile), *extra]
    if app:
        args += ["--port", str(free_port())]
    else:
        args.append("--no-app")
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "STREAMLIT_SERVER_HEADLESS": "true", **(env or {})})
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert proc.poll() is None, f"serve exited {proc.returncode}: {_read(log)}"
            info = service_info(dbfile)
            if info and info["pid"] == proc.pid:
                with contextlib.suppress(OSError):
                    api_status(dbfile)
                    break
            assert time.monotonic() < deadline, f"the service did not start: {_read(log)}"
            time.sleep(0.2)
        proc.log = log  # type: ignore[attr-defined]
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        proc.final_log = _read(log)  # type: ignore[attr-defined]
        log.close()


def wait_app(dbfile: Path, timeout: float = START_TIMEOUT) -> str:
    """The app's URL once its health check answers (the app starts after the API)."""
    import urllib.request

    url = f"http://127.0.0.1:{service_info(dbfile)['app_port']}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=10).read() == b"ok":
                return url
        except OSError:
            pass
        assert time.monotonic() < deadline, "the app did not start"
        time.sleep(0.3)


def _read(log) -> str:
    log.flush()
    log.seek(0)
    return log.read()


def _median_call(args: list[str], runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = cli(*args)
        times.append(time.perf_counter() - started)
        assert done.returncode == 0, done.stderr
    return statistics.median(times), times


def _transport(dbfile: Path, calls: dict, runs: int) -> dict:
    """The forwarding itself, from a warm client: the POST's wall time, the command's time inside the
    service ("seconds" of the answer), and their difference (HTTP, JSON, capture) in milliseconds."""
    from unify_dash.service import client, files

    info, out = files.read_service(dbfile), {}
    for name, args in calls.items():
        total, inside = [], []
        for _ in range(runs):
            started = time.perf_counter()
            answer = client.post(info, "/run", {"argv": args})
            total.append(time.perf_counter() - started)
            inside.append(answer["seconds"])
        out[f"{name}_in_service_s"] = statistics.median(inside)
        out[f"{name}_transport_ms"] = statistics.median(t - i for t, i in zip(total, inside, strict=True)) * 1000
    return out


def measure(runs: int = 7) -> dict:
    """Median wall time of CLI calls, direct (no service) and forwarded to a service."""
    with tempfile.TemporaryDirectory() as tmp:
        _demo, template = build_demo(Path(tmp))
        dbfile = copy_db(template, Path(tmp) / "u.duckdb")
        calls = {"explain": ["explain", EMAIL, "--json", "--db", str(dbfile)],
                 "status": ["status", "--json", "--db", str(dbfile)]}
        out = {"runs": runs}
        for name, args in calls.items():
            out[f"{name}_direct_s"], _ = _median_call(args, runs)
        with service(dbfile, "--no-worker"):
            for name, args in calls.items():
                out[f"{name}_forwarded_s"], _ = _median_call(args, runs)
            out.update(_transport(dbfile, calls, runs * 3))
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 7)))
