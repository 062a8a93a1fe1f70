"""Server paths: the folder the app may load workspaces from, and paths DuckDB reads literally.

The Data page's "folder on the server" is confined to one workspace root, ``$UNIFY_WORKSPACES``
(default ``data/``, relative to the working directory): a folder typed there is taken relative to
the root (an absolute path is accepted when it lies inside it), resolved (``..`` and symlinks
followed) and refused when the result is outside the root. The loader then refuses every file or
export folder that resolves outside the root, without opening it, so no content of a file outside
the root ever reaches a message. ``~`` is never expanded. See ``docs/security.md``.

DuckDB's ``read_csv`` / ``read_parquet`` take a path as a glob pattern (``*``, ``?``, ``[...]``):
:func:`duckdb_literal` escapes those characters, so a folder named ``ws[1]`` is read as itself.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from unify_dash.errors import ValidationError

WORKSPACES_ENV = "UNIFY_WORKSPACES"
DEFAULT_ROOT = Path("data")

_GLOB = re.compile(r"([\[\]*?])")


class PathRefused(ValidationError):
    """A server path outside the workspace root, or not a path at all."""


def workspace_root() -> Path:
    """The resolved workspace root: ``$UNIFY_WORKSPACES`` or ``data/`` (it need not exist yet)."""
    raw = os.environ.get(WORKSPACES_ENV, "").strip()
    return Path(raw or DEFAULT_ROOT).resolve()


def cli_root() -> Path | None:
    """The root the command line applies: the workspace root when ``$UNIFY_WORKSPACES`` is set in its
    environment (an operator declared where workspaces live), else none (the owner's own shell reads
    what the owner may read). See ``docs/security.md``."""
    return workspace_root() if os.environ.get(WORKSPACES_ENV, "").strip() else None


def is_inside(path: Path, root: Path) -> bool:
    """Whether ``path``, resolved (symlinks followed), is ``root`` or lies under it."""
    try:
        return Path(path).resolve().is_relative_to(root)
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte, a name too long
        return False


def resolve_workspace(folder: str | os.PathLike, root: Path | None = None) -> Path:
    """The workspace folder ``folder`` names, resolved, inside ``root`` (default :func:`workspace_root`).

    Raises :class:`PathRefused` naming the root and what to type instead. Whether a folder exists
    outside the root is never told (confinement is checked before existence).
    """
    root = workspace_root() if root is None else Path(root).resolve()
    text = os.fspath(folder).strip()
    hint = f"expected a folder inside the workspace root {root} (set by {WORKSPACES_ENV}), such as demo"
    if not text:
        raise PathRefused(f"no folder given; {hint}")
    if "\x00" in text:
        raise PathRefused(f"the folder name contains a NUL character; {hint}")
    if text.startswith("~"):
        raise PathRefused(f"{text!r}: '~' (a home folder) is not expanded on the server; {hint}")
    candidate = Path(text) if Path(text).is_absolute() else root / text
    if not is_inside(candidate, root):
        raise PathRefused(f"{text!r} is outside the workspace root (a path, '..' or a link leading out of it); "
                          f"{hint}")
    resolved = candidate.resolve()
    if not resolved.is_dir():
        raise PathRefused(f"{text!r}: no such folder in the workspace root; {hint}")
    return resolved


def duckdb_literal(path: str | os.PathLike) -> str:
    """``path`` absolute and resolved, with DuckDB's glob characters escaped (``[`` -> ``[[]``), so that
    ``read_csv`` / ``read_parquet`` read exactly this file and never a pattern's matches."""
    return _GLOB.sub(r"[\1]", str(Path(path).resolve()))
