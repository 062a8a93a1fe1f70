"""Roles and the permission check that runs before every write, plus the audit log.

Three roles: ``revops`` (exclusions, rulesets, plays, overrides, apply toggles, load data),
``manager`` (reads metrics; unenrolls), ``support`` (contact actions: opt out, unenroll,
reverse an opt-out with permission, add an "Email is not" override). ``admin`` may do all.
The check is here, in the domain package, not only in the UI.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import duckdb

from unify_dash.errors import PermissionDenied
from unify_dash.store import db

ROLES = ("revops", "manager", "support", "admin")

# action -> roles allowed
PERMISSIONS: dict[str, frozenset[str]] = {
    "settings.apply": frozenset({"revops", "admin"}),
    "exclusion.edit": frozenset({"revops", "admin"}),
    "override.add": frozenset({"revops", "support", "admin"}),
    "data.load": frozenset({"revops", "admin"}),
    "contact.opt_out": frozenset({"support", "revops", "admin"}),
    "contact.reverse_opt_out": frozenset({"support", "admin"}),
    "contact.unenroll": frozenset({"support", "revops", "manager", "admin"}),
    "contact.enroll": frozenset({"support", "revops", "admin"}),
    "enrollment.bulk_unenroll": frozenset({"revops", "manager", "admin"}),
    "replies.handle": frozenset({"support", "revops", "admin"}),
    "crm.sync": frozenset({"revops", "admin"}),
    "sends.run": frozenset({"revops", "admin"}),
    "clock.advance": frozenset({"revops", "admin"}),
}

# pages each role sees (the UI hides the others; writes are checked by `require` regardless)
PAGES: dict[str, tuple[str, ...]] = {
    "revops": ("play", "metrics", "contact", "exclusions", "rules", "trends", "logs", "replies", "crm", "data"),
    "manager": ("metrics", "play", "trends", "contact", "logs"),
    "support": ("contact", "replies", "logs", "crm", "rules"),
    "admin": ("play", "metrics", "contact", "exclusions", "rules", "trends", "logs", "replies", "crm", "data"),
}


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in user (``st.user`` under OIDC) or the local default."""

    name: str
    role: str

    def __post_init__(self):
        if self.role not in ROLES:
            raise PermissionDenied(f"unknown role {self.role!r}; expected one of {', '.join(ROLES)}")


SYSTEM = Actor("system", "admin")


def can(actor: Actor, action: str) -> bool:
    return actor.role in PERMISSIONS.get(action, frozenset())


def require(actor: Actor, action: str) -> None:
    """Raise :class:`PermissionDenied` unless ``actor`` may do ``action``."""
    if action not in PERMISSIONS:
        raise PermissionDenied(f"unknown action {action!r}")
    if not can(actor, action):
        allowed = ", ".join(sorted(PERMISSIONS[action]))
        raise PermissionDenied(f"{actor.name} ({actor.role}) may not {action}; allowed roles: {allowed}")


def audit(con: duckdb.DuckDBPyConnection, actor: Actor, action: str, target: str | None,
          detail: dict | None = None, at: dt.datetime | None = None) -> str:
    """Record who did what. Returns the audit id. The caller owns the transaction.

    ``at`` is the workspace (possibly simulated) clock; ``wall_at`` beside it is the real time (UTC) at
    which the row was written, so an audit never depends on a clock the workspace can pin."""
    audit_id = uuid.uuid4().hex
    wall = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con.execute('INSERT INTO audit_log (audit_id, "at", actor, role, action, target, detail, wall_at) '
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [audit_id, at or db.now(con), actor.name, actor.role, action, target, db.dumps(detail or {}), wall])
    return audit_id
