"""The settings diff, read-only: between any two settings versions (or the versions in effect at two
dates), what changed (rules, toggles, overrides, the rest) and which contacts flipped: evaluated on the
same data at the same time under each version, a contact of a Play's audience is *released* when it is
enrolled (at one node or more) under the newer version and not under the older, *newly blocked* when the
other way round. Both evaluations are the engine's; the Play buckets are :func:`engine.bucket_groups`'s."""

from __future__ import annotations

import collections
import datetime as dt
import json

import duckdb

from unify_dash import engine
from unify_dash.errors import NotFound, ValidationError
from unify_dash.model import settings as settings_mod
from unify_dash.model import vocabulary
from unify_dash.store import db

DIRECTIONS = ("released", "newly_blocked")
TOGGLE_FIELDS = ("exclude_from_sequences", "remove_from_active_sequences")


def resolve(con: duckdb.DuckDBPyConnection, ref: str | int) -> tuple[int, settings_mod.Settings]:
    """A version: a number (``3``, ``v3``) or a date/time (the version in effect then)."""
    text = str(ref).strip()
    number = text[1:] if text[:1].lower() == "v" else text
    if number.isdigit():
        row = con.execute("SELECT version, document FROM settings_versions WHERE version = ?", [int(number)]).fetchone()
        if row is None:
            raise NotFound(f"no settings version {number}; see the Data page or `unify-dash history`")
        return row[0], settings_mod._cached(row[1])
    when = db.parse_timestamp(text, "version", "a version number (3, v3) or an ISO time like 2026-11-26T09:00")
    return settings_mod.settings_at(con, when)


def _kind(obj: str, fld: str, before, after) -> str:
    if obj in ("org", "crm_mapping"):
        return "other"
    if fld == "filters":
        return "overrides" if any(vocabulary.is_email_is_not(f) for f in (before or []) + (after or [])) else "rules"
    if fld == "override_expiry":
        return "overrides"
    if fld in ("criteria", "scope", "audience") or fld == "*":
        return "rules"
    if fld in TOGGLE_FIELDS or fld.startswith(("exclusions.", "audience_exclusions.")):
        return "toggles"
    return "other"


def _filter_changes(eid: str, before: list, after: list) -> list[dict]:
    """A filters change split into the overrides added/removed and the other filters."""
    out = []
    b = {json.dumps(f, sort_keys=True): f for f in before or []}
    a = {json.dumps(f, sort_keys=True): f for f in after or []}
    for change, keys, side in (("added", sorted(set(a) - set(b)), a), ("removed", sorted(set(b) - set(a)), b)):
        for key in keys:
            f = side[key]
            kind = "overrides" if vocabulary.is_email_is_not(f) else "rules"
            out.append({"kind": kind, "object_type": "exclusion", "object_id": eid, "field": "filters",
                        "change": change, "text": f"{'override' if kind == 'overrides' else 'filter'} {change}: "
                                                  f"{vocabulary.describe(f)}",
                        "before": f if change == "removed" else None, "after": f if change == "added" else None})
    return out


def changes(old: settings_mod.Settings, new: settings_mod.Settings) -> list[dict]:
    """What changed from ``old`` to ``new``, each with its kind (rules, toggles, overrides, other)."""
    out = []
    for obj, oid, fld, before, after in settings_mod._diff(old, new):
        if obj == "exclusion" and fld == "filters":
            out += _filter_changes(oid, before, after)
            continue
        word = "added" if before is None else "removed" if after is None else "changed"
        text = (f"{obj} {oid} {word}" if fld == "*" and obj not in ("org", "crm_mapping")
                else f"{obj} {oid} {fld}: {json.dumps(before, default=str)} → {json.dumps(after, default=str)}")
        out.append({"kind": _kind(obj, fld, before, after), "object_type": obj, "object_id": oid, "field": fld,
                    "change": word, "text": text, "before": before, "after": after})
    return out


def _enrolled_contacts(con, ev, play_id: str) -> set[str]:
    gids = engine.bucket_groups(ev, play_id, "enrolled")
    if not len(gids):
        return set()
    return {r[0] for r in con.execute(f"SELECT contact_id FROM {ev.table} WHERE group_id IN "
                                      "(SELECT unnest(?::INTEGER[]))", [gids.tolist()]).fetchall()}


_FLIPS: collections.OrderedDict = collections.OrderedDict()  # the last few answers of :func:`flipped`
_FLIPS_SIZE = 4


def flipped(con: duckdb.DuckDBPyConnection, old: settings_mod.Settings, new: settings_mod.Settings,
            as_of: dt.datetime | None = None) -> list[dict]:
    """(contact_id, play_id, direction) of every contact whose outcome in a Play differs between the two
    settings, on the same data at ``as_of`` (default the workspace clock). Plays of one version only count
    as all released (new Play) or all newly blocked (removed Play). The last few answers are kept per
    database file, data generation and clock (a page of the list does not evaluate twice again)."""
    as_of = as_of or db.now(con)
    where = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    if not where or not where[0]:  # an in-memory database: nothing names it, nothing is kept
        return _flipped(con, old, new, as_of)
    key = (where[0], db.generation(con), as_of, old.to_json(), new.to_json())
    if key in _FLIPS:
        _FLIPS.move_to_end(key)
        return _FLIPS[key]
    out = _flipped(con, old, new, as_of)
    _FLIPS[key] = out
    while len(_FLIPS) > _FLIPS_SIZE:
        _FLIPS.popitem(last=False)
    return out


def _flipped(con, old: settings_mod.Settings, new: settings_mod.Settings, as_of: dt.datetime) -> list[dict]:
    current = engine.evaluation(con, as_of=as_of)  # cached: the version in effect is not evaluated again

    def evaluated(s: settings_mod.Settings):
        same = s.in_force_at(as_of).to_json() == current.settings.to_json()
        return current if same else engine.evaluate(con, settings=s, as_of=as_of)

    ev_old = evaluated(old)
    ev_new = ev_old if new.to_json() == old.to_json() else evaluated(new)
    out = []
    plays = list(dict.fromkeys([p.id for p in old.plays] + [p.id for p in new.plays]))
    for pid in plays:
        before = _enrolled_contacts(con, ev_old, pid) if pid in ev_old.play_ids else set()
        after = _enrolled_contacts(con, ev_new, pid) if pid in ev_new.play_ids else set()
        out += [{"contact_id": c, "play_id": pid, "direction": "released"} for c in sorted(after - before)]
        out += [{"contact_id": c, "play_id": pid, "direction": "newly_blocked"} for c in sorted(before - after)]
    return out


def settings_diff(con: duckdb.DuckDBPyConnection, a: str | int, b: str | int, *, limit: int | None = 200,
                  offset: int = 0, direction: str | None = None) -> dict:
    """The diff from version/date ``a`` to ``b``: changes, flipped contacts counted per Play and
    direction, and one page of them (``limit`` None: all) with email and name, JSON-able."""
    if direction is not None and direction not in DIRECTIONS:
        raise ValidationError(f"unknown direction {direction!r}; expected {' or '.join(DIRECTIONS)}")
    va, sa = resolve(con, a)
    vb, sb = resolve(con, b)
    flips = flipped(con, sa, sb)
    counts: dict = {}
    for f in flips:
        counts.setdefault(f["play_id"], dict.fromkeys(DIRECTIONS, 0))[f["direction"]] += 1
    chosen = [f for f in flips if direction is None or f["direction"] == direction]
    page = chosen[offset:] if limit is None else chosen[offset:offset + limit]
    names = {p.id: p.name for p in (*sa.plays, *sb.plays)}
    info = {}
    if page:
        ids = sorted({f["contact_id"] for f in page})
        info = {r[0]: r[1:] for r in con.execute(
            "SELECT contact_id, email, trim(concat_ws(' ', first_name, last_name)), domain FROM contacts "
            "WHERE contact_id IN (SELECT unnest(?::VARCHAR[]))", [ids]).fetchall()}
    rows = [{**f, "play": names.get(f["play_id"], f["play_id"]), "email": info.get(f["contact_id"], (None,))[0],
             "name": (info.get(f["contact_id"], (None, None))[1] or ""),
             "company": (info.get(f["contact_id"], (None, None, None))[2] or "")} for f in page]
    return {"from": {"version": va}, "to": {"version": vb}, "as_of": db.now(con).isoformat(),
            "changes": changes(sa, sb),
            "flipped": {"total": len(chosen), "released": sum(1 for f in flips if f["direction"] == "released"),
                        "newly_blocked": sum(1 for f in flips if f["direction"] == "newly_blocked"),
                        "by_play": [{"play_id": p, "play": names.get(p, p), **c} for p, c in counts.items()]},
            "offset": offset, "limit": limit, "rows": rows}


def versions(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Every saved version with its time, author and note (the pickers of the diff)."""
    return [{"version": v, "created_at": c, "effective_at": e, "actor": a, "note": n} for v, c, e, a, n in con.execute(
        "SELECT version, created_at, effective_at, actor, note FROM settings_versions ORDER BY version").fetchall()]

