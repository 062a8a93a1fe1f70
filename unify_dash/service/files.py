"""The service file beside the database: who serves it, on which loopback port, with which token.

``<db>.service.json`` (mode 0644) holds the pid, the API port, the database path, the service's
working directory and the path of ``<db>.service.token`` (mode 0600, a random token). Only the
owner of the service can read the token, so only they can use the API. A file whose pid is dead
is stale: the CLI ignores it and the next ``serve`` replaces it.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

SUFFIX = ".service.json"
TOKEN_SUFFIX = ".service.token"


def service_file(db_path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(db_path) + SUFFIX)


def token_file(db_path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(db_path) + TOKEN_SUFFIX)


@dataclass(frozen=True)
class ServiceInfo:
    pid: int
    port: int
    db: str
    cwd: str
    token_file: str
    started_at: str
    app_port: int | None = None

    def token(self) -> str:
        return Path(self.token_file).read_text(encoding="utf-8").strip()

    def alive(self) -> bool:
        return pid_alive(self.pid)


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def read_service(db_path: str | os.PathLike) -> ServiceInfo | None:
    """The service file of ``db_path`` as written, or None (absent or unreadable)."""
    try:
        data = json.loads(service_file(db_path).read_text(encoding="utf-8"))
        return ServiceInfo(**{k: data[k] for k in ServiceInfo.__dataclass_fields__ if k in data})
    except (OSError, ValueError, TypeError, KeyError):
        return None


def find_service(db_path: str | os.PathLike) -> ServiceInfo | None:
    """The live service of ``db_path`` (its pid is alive), else None: a stale file is ignored."""
    info = read_service(db_path)
    return info if info is not None and info.alive() else None


def new_token(db_path: str | os.PathLike) -> Path:
    """A fresh random token in ``<db>.service.token``, created with mode 0600 (never readable by others)."""
    path = token_file(db_path)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secrets.token_urlsafe(32) + "\n")
    return path


def write_service(info: ServiceInfo) -> Path:
    """Write the service file atomically (a reader sees the old file or the whole new one)."""
    path = service_file(info.db)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(info), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def remove_service(db_path: str | os.PathLike, pid: int) -> None:
    """Remove the service and token files, if they are still this pid's."""
    info = read_service(db_path)
    if info is not None and info.pid != pid:
        return
    service_file(db_path).unlink(missing_ok=True)
    token_file(db_path).unlink(missing_ok=True)
