"""The service's loopback API: ``POST /run`` runs a CLI command line in this process, ``GET /status``.

Bound to 127.0.0.1 only; every request carries ``Authorization: Bearer <token>`` (the token file
is mode 0600). ``/run`` takes ``{"argv": [...]}`` and runs the same ``cli.main(argv)`` as the
command line would, under the database's process-wide write lock (so a forwarded command never
interleaves with a scheduler tick, another forwarded command or a write from the app), with its
stdout and stderr captured for this thread only; it answers ``{"code", "stdout", "stderr"}``.
"""

from __future__ import annotations

import contextlib
import hmac
import io
import json
import sys
import threading
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from unify_dash import cli  # no cycle: the CLI imports only service.client and service.files
from unify_dash.store import db

MAX_BODY = 1 << 20


class _ThreadStream(io.TextIOBase):
    """sys.stdout / sys.stderr for a multi-threaded process: a thread that captures writes to its
    own buffer, every other thread (Streamlit, the worker) to the real stream."""

    def __init__(self, real, local: threading.local, name: str):
        self._real, self._local, self._name = real, local, name

    def _target(self):
        return getattr(self._local, self._name, None) or self._real

    def write(self, text):
        return self._target().write(text)

    def flush(self):
        return self._target().flush()

    def isatty(self):
        return False if getattr(self._local, self._name, None) else self._real.isatty()

    def fileno(self):
        return self._real.fileno()

    @property
    def encoding(self):
        return getattr(self._real, "encoding", "utf-8")


_LOCAL = threading.local()
_INSTALL = threading.Lock()


def _install_streams() -> None:
    with _INSTALL:
        if not isinstance(sys.stdout, _ThreadStream):
            sys.stdout = _ThreadStream(sys.stdout, _LOCAL, "out")
        if not isinstance(sys.stderr, _ThreadStream):
            sys.stderr = _ThreadStream(sys.stderr, _LOCAL, "err")


@contextlib.contextmanager
def captured():
    """Capture this thread's stdout and stderr: yields the two buffers."""
    _install_streams()
    out, err = io.StringIO(), io.StringIO()
    _LOCAL.out, _LOCAL.err = out, err
    try:
        yield out, err
    finally:
        _LOCAL.out = _LOCAL.err = None


def run_command(argv: list[str], db_path: str) -> dict:
    """``cli.main(argv)`` in this process under the write lock of ``db_path``: code, stdout, stderr."""
    started = time.perf_counter()
    with captured() as (out, err), db.write_lock(db_path):
        try:
            code = cli.main(argv)
        except SystemExit as stop:  # argparse: usage errors (2) and --help (0)
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
            if stop.code is not None and not isinstance(stop.code, int):
                print(stop.code, file=sys.stderr)
        except Exception:  # noqa: BLE001 - as the command line would: the traceback on stderr, exit 1
            traceback.print_exc(file=err)
            code = 1
    return {"code": int(code or 0), "stdout": out.getvalue(), "stderr": err.getvalue(),
            "seconds": round(time.perf_counter() - started, 4)}


class Api(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, token: str, db_path: str, status: Callable[[], dict], port: int = 0):
        super().__init__(("127.0.0.1", port), _Handler)
        self.token, self.db_path, self.status = token, db_path, status
        self.in_flight = 0
        self._count = threading.Condition()

    def track(self, delta: int) -> None:
        with self._count:
            self.in_flight += delta
            self._count.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait until no command runs (at most ``timeout`` seconds); True when none does."""
        with self._count:
            return self._count.wait_for(lambda: self.in_flight == 0, timeout)


class _Handler(BaseHTTPRequestHandler):
    server: Api
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        given = self.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {self.server.token}".encode()):
            return True
        self._answer(401, {"error": "missing or wrong token"})
        return False

    def do_GET(self):  # noqa: N802 - http.server's name
        if not self._authorised():
            return
        if self.path == "/status":
            self._answer(200, self.server.status())
        else:
            self._answer(404, {"error": f"no {self.path}"})

    def do_POST(self):  # noqa: N802
        if not self._authorised():
            return
        if self.path != "/run":
            self._answer(404, {"error": f"no {self.path}"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            if length > MAX_BODY:
                raise ValueError("request too large")
            argv = json.loads(self.rfile.read(length))["argv"]
            if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
                raise ValueError("argv must be a list of strings")
        except (ValueError, KeyError, TypeError) as err:
            self._answer(400, {"error": str(err)})
            return
        self.server.track(+1)
        try:
            result = run_command(argv, self.server.db_path)
        finally:
            self.server.track(-1)
        self._answer(200, result)
