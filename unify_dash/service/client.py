"""The CLI side: forward a command line to the running service of its database.

:func:`forward_if_running` is the first thing ``unify-dash`` does. It is generic over every verb:
a verb that takes ``--db`` is forwarded when a live service owns that database, any other verb
(``demo``, ``bench``, ...) and any command line with no live service run here as before.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import os
import sys

from unify_dash.service.files import ServiceInfo, find_service

CONNECT_TIMEOUT = 3.0


def _db_of(argv: list[str], parser: argparse.ArgumentParser) -> tuple[str | None, str | None]:
    """(command, database) of a command line, or (None, None) when it does not parse (``main``
    then reports the error itself) or the verb has no ``--db``."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            ns, _ = parser.parse_known_args(argv)
        except SystemExit:
            return None, None
    db = getattr(ns, "db", None)
    return getattr(ns, "command", None), (str(db) if db else None)


def _absolute(token: str) -> str:
    """A relative path argument as an absolute one (the service runs in its own directory).

    A value is taken for a path when it names something that exists here, or contains a path
    separator and its folder exists here (an output not written yet). Anything else is left
    as written."""
    path = os.path.expanduser(token)
    if token.startswith("-") or os.path.isabs(path) or not token:
        return path if token.startswith("~") else token
    if os.path.exists(path) or (os.sep in token and os.path.isdir(os.path.dirname(path) or ".")):
        return os.path.abspath(path)
    return token


def rewrite(argv: list[str], command: str, db: str, service_cwd: str) -> list[str]:
    """The command line as the service must run it: ``--db`` absolute, and, when the service runs
    in another directory, relative paths made absolute."""
    out, seen_verb, i = [], False, 0
    other_cwd = os.path.realpath(os.getcwd()) != os.path.realpath(service_cwd)
    while i < len(argv):
        token = argv[i]
        if not seen_verb:
            seen_verb = token == command
            out.append(token)
        elif token == "--db" and i + 1 < len(argv):
            out += ["--db", os.path.realpath(db)]
            i += 1
        elif token.startswith("--db="):
            out.append("--db=" + os.path.realpath(db))
        elif other_cwd and token.startswith("--") and "=" in token:
            key, value = token.split("=", 1)
            out.append(f"{key}={_absolute(value)}")
        else:
            out.append(_absolute(token) if other_cwd else token)
        i += 1
    if not any(t == "--db" or t.startswith("--db=") for t in argv):
        out += ["--db", os.path.realpath(db)]  # the verb's default database, made explicit
    return out


class NotAnswering(OSError):
    """The service's port does not accept a connection: nothing was sent."""


def post(info: ServiceInfo, path: str, body: dict | None = None, *, timeout: float | None = None) -> dict:
    """One authenticated request to the service's API (GET without a body). Raises
    :class:`NotAnswering` when the port refuses the connection (nothing was sent), another
    OSError or ValueError when the exchange broke after the request went out."""
    conn = http.client.HTTPConnection("127.0.0.1", info.port, timeout=CONNECT_TIMEOUT)
    try:
        try:
            conn.connect()
        except OSError as err:
            raise NotAnswering(str(err)) from err
        conn.sock.settimeout(timeout)
        payload = None if body is None else json.dumps(body).encode()
        conn.request("GET" if body is None else "POST", path, body=payload,
                     headers={"Authorization": f"Bearer {info.token()}", "Content-Type": "application/json"})
        resp = conn.getresponse()
        data = json.loads(resp.read() or b"{}")
        if resp.status != 200:
            raise ConnectionError(f"the service answered {resp.status}: {data.get('error', '')}")
        return data
    finally:
        conn.close()


def forward_if_running(argv: list[str] | None, parser: argparse.ArgumentParser) -> int | None:
    """Run ``argv`` in the live service of its database and print its output; its exit code, or
    None when there is no live service (or the verb takes no ``--db``): the caller runs it here."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command, db = _db_of(argv, parser)
    if db is None:
        return None
    info = find_service(db)
    if info is None or info.pid == os.getpid():  # no service, a stale file, or we are the service
        return None
    try:
        info.token()
    except OSError as err:
        print(f"error: the service of {db} (pid {info.pid}) owns the database, and its token "
              f"{info.token_file} is not readable by you ({err.strerror}): run the command as the "
              "service's user", file=sys.stderr)
        return 1
    try:
        answer = post(info, "/run", {"argv": rewrite(argv, command, db, info.cwd), "cwd": os.getcwd()})
    except NotAnswering:
        return None  # nothing was sent: open the file directly (DuckDB says so if it is held)
    except (OSError, ValueError) as err:  # sent, but no answer: never run it a second time here
        print(f"error: the service of {db} (pid {info.pid}) did not answer ({err}); whether the command "
              "took effect is unknown: check with `unify-dash status` before running it again", file=sys.stderr)
        return 1
    sys.stdout.write(answer.get("stdout", ""))
    sys.stdout.flush()
    sys.stderr.write(answer.get("stderr", ""))
    sys.stderr.flush()
    return int(answer.get("code", 1))
