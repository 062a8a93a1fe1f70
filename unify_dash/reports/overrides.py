"""The override registry, read-only: every "Email is not" override of the newest settings with who added
it, when, why (the settings version that first had it), its contact, its optional expiry
(``override_expiry``; the engine leaves an expired override out), whether it is in effect yet, and the
sends it has let through: ``send`` events to that address after it took effect, in sequences the
exclusion guards (on at the organisation level and in the sequence's ruleset, :class:`Levels`)."""

from __future__ import annotations

import datetime as dt

import duckdb

from unify_dash.model import settings as settings_mod
from unify_dash.model import vocabulary
from unify_dash.model.levels import Levels
from unify_dash.store import db


def _iso(t) -> str | None:
    return None if t is None else t.isoformat(timespec="seconds")


def _first_versions(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], tuple]:
    """(exclusion id, address) -> (version, created_at, effective_at, actor, note) of the version since
    which the override has been there without a break."""
    since: dict[tuple[str, str], tuple] = {}
    rows = con.execute("SELECT version, created_at, effective_at, actor, note, document FROM settings_versions "
                       "ORDER BY version").fetchall()
    for version, created, effective, actor, note, document in rows:
        cfg = settings_mod._cached(document)
        present = {(e.id, f.get("value")) for e in cfg.exclusions for f in e.filters if vocabulary.is_email_is_not(f)}
        since = {k: v for k, v in since.items() if k in present}
        for k in present - set(since):
            since[k] = (version, created, effective, actor, note)
    return since


def registry(con: duckdb.DuckDBPyConnection, *, exclusion_id: str | None = None) -> dict:
    """Every "Email is not" override of the newest saved settings, JSON-able (``unify-dash overrides``)."""
    latest = settings_mod.latest_version(con)
    if latest is None:
        return {"as_of": None, "overrides": []}
    version, cfg = latest
    now = db.now(con)
    since = _first_versions(con)
    levels = Levels(cfg)
    out = []
    for i, e in enumerate(cfg.exclusions):
        if exclusion_id is not None and e.id != exclusion_id:
            continue
        guarded = [s.id for s in cfg.sequences if levels.sequence(s.id)[i]]
        for f in e.filters:
            if not vocabulary.is_email_is_not(f):
                continue
            address = f.get("value")
            v, created, effective, actor, note = since.get((e.id, address), (version, None, None, None, None))
            contact = con.execute("SELECT contact_id FROM contacts WHERE lower(email) = lower(?) "
                                  "ORDER BY contact_id LIMIT 1", [address]).fetchone()
            expires = e.expiry(address)
            sends = 0
            if effective is not None and guarded:
                sends = con.execute(
                    "SELECT count(*) FROM events WHERE type = 'send' AND (contact_id = ? OR lower(email) = lower(?)) "
                    "AND occurred_at >= ? AND (?::TIMESTAMP IS NULL OR occurred_at < ?) "
                    "AND sequence_id IN (SELECT unnest(?::VARCHAR[]))",
                    [contact[0] if contact else None, address, effective, expires, expires, guarded]).fetchone()[0]
            out.append({"exclusion_id": e.id, "exclusion": e.name, "address": address,
                        "contact_id": contact[0] if contact else None, "added_by": actor, "added_at": _iso(created),
                        "effective_at": _iso(effective), "note": note, "version": v,
                        "in_effect": effective is not None and effective <= now and (expires is None or expires > now),
                        "expires_at": _iso(expires), "expired": expires is not None and expires <= now,
                        "sends_let_through": int(sends), "guarded_sequences": guarded})
    out.sort(key=lambda o: (o["added_at"] or "", o["exclusion_id"], o["address"]), reverse=True)
    return {"as_of": _iso(now), "settings_version": version, "overrides": out}


def expiring(con: duckdb.DuckDBPyConnection, within: dt.timedelta) -> list[dict]:
    """The overrides whose expiry comes within ``within`` of the workspace clock."""
    now = db.now(con)
    return [o for o in registry(con)["overrides"]
            if o["expires_at"] and now < dt.datetime.fromisoformat(o["expires_at"]) <= now + within]
