"""The workspace clock on its own: show it, advance it without sending, and preview what each pending
settings version will release or block when the clock passes its time (docs/cli.md#unify-dash-clock).

Advancing only moves ``meta.clock`` (the clock never goes back: not before the clock nor before any
recorded activity, :func:`unify_dash.store.ledger.latest_activity`). Settings versions whose time it
passes are then in effect (``settings_at`` reads the clock); steps that fall due on the way are not
sent, not skipped and not decided: the next scheduler run decides them as of its own tick, with the
settings in effect then. No Play entry runs either. One transaction: role ``clock.advance``, the
clock, the data generation and an audit row, or nothing.
"""

from __future__ import annotations

import datetime as dt
import json

import duckdb

from unify_dash.engine import changes
from unify_dash.errors import NotFound, ValidationError
from unify_dash.model import roles, states
from unify_dash.model import settings as settings_mod
from unify_dash.store import db, ledger

TICK = dt.timedelta(microseconds=1)


def _pending(con: duckdb.DuckDBPyConnection, when: dt.datetime) -> list[dict]:
    return [{"version": p["version"], "effective_at": p["effective_at"], "created_at": p["created_at"],
             "actor": p["actor"], "note": p["note"], "changes": len(p["changes"])}
            for p in settings_mod.pending_versions(con, when)]


def _in_effect(con: duckdb.DuckDBPyConnection, when: dt.datetime) -> int | None:
    try:
        return settings_mod.settings_at(con, when)[0]
    except NotFound:  # no settings loaded yet: nothing is in effect
        return None


def _due(con: duckdb.DuckDBPyConnection, until: dt.datetime) -> int:
    return int(con.execute(f"SELECT count(*) FROM enrollments WHERE state IN {states.ACTIVE_SQL} "
                           "AND next_step_at <= ?", [until]).fetchone()[0])


def show(con: duckdb.DuckDBPyConnection) -> dict:
    """The clock (pinned or the wall clock), the version in effect, the pending versions, steps due now."""
    clock = db.now(con)
    return {"clock": clock, "pinned": bool(db.get_meta(con, "clock")), "in_effect": _in_effect(con, clock),
            "pending": _pending(con, clock), "due_steps": _due(con, clock)}


def floor(con: duckdb.DuckDBPyConnection) -> dt.datetime:
    """The earliest time the clock may be set to: the clock itself, or recorded activity after it."""
    clock = db.now(con)
    latest = ledger.latest_activity(con)
    return max(clock, latest) if latest is not None else clock


def advance(con: duckdb.DuckDBPyConnection, actor: roles.Actor, to: dt.datetime) -> dict:
    """Move the workspace clock to ``to`` without sending anything (role ``clock.advance``, audited).

    Raises :class:`ValidationError` when ``to`` is before the clock or before recorded activity (the
    clock never goes back); ``to`` equal to the clock changes nothing. Returns the clock before and
    after, the versions that took effect on the way, those still pending, and the steps now due (left
    for the next scheduler run)."""
    roles.require(actor, "clock.advance")
    to = db.parse_timestamp(to, "--to").replace(microsecond=0)
    start = db.now(con)
    low = floor(con)
    if to < low:
        what = "the workspace clock" if low == start else "recorded activity"
        raise ValidationError(f"--to {to:%Y-%m-%d %H:%M:%S} is before {what} ({low:%Y-%m-%d %H:%M:%S}): the clock "
                              "never goes back; give a later time")
    took = [p for p in _pending(con, start) if p["effective_at"] <= to]
    was_pinned = bool(db.get_meta(con, "clock"))
    moved = to > start or not was_pinned
    if moved:
        with db.transaction(con):
            db.set_clock(con, to)
            db.bump_generation(con)
            roles.audit(con, actor, "clock.advance", f"to {to.isoformat(sep=' ')}",
                        {"from": start.isoformat(sep=" "), "to": to.isoformat(sep=" "),
                         "took_effect": [p["version"] for p in took]}, at=to)
    return {"from": start, "to": to, "moved": moved, "pinned_now": not was_pinned,
            "took_effect": took, "in_effect": _in_effect(con, to), "pending": _pending(con, to),
            "due_steps": _due(con, to)}


def preview(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """For each pending settings version: at its time, how many contacts it releases (enrolled at a node
    of a Play where they are not under the settings in effect just before) and newly blocks, in total
    and per Play. The engine evaluates both documents as of that time (:mod:`unify_dash.engine.changes`)."""
    clock = db.now(con)
    out = []
    for p in _pending(con, clock):
        at = p["effective_at"]
        before_v, before = settings_mod.settings_at(con, at - TICK)
        after_v, after = settings_mod.settings_at(con, at)
        counts, _evs = changes.settings_flips(con, before, after, at, before_version=before_v,
                                              after_version=after_v)
        out.append({**p, "before_version": before_v, "after_version": after_v,
                    "superseded": after_v != p["version"], "released": counts["released"],
                    "blocked": counts["blocked"], "plays": counts["plays"]})
    return out


def preview_line(p: dict) -> str:
    """"at 10:15 settings v5 will release 3 contacts and newly block 0" (one pending version)."""
    when = p["effective_at"]
    sup = f" (superseded: v{p['after_version']} takes effect then)" if p["superseded"] else ""
    return (f"at {when:%Y-%m-%d %H:%M} settings v{p['version']}{sup} will release {p['released']:,} "
            f"contact{'s' if p['released'] != 1 else ''} and newly block {p['blocked']:,}")


# --- CLI ------------------------------------------------------------------------------------------------


def _print(args, result, words) -> int:
    print(json.dumps(result, sort_keys=True, default=str) if args.json else words(result))
    return 0


def _pending_words(pending: list[dict]) -> str:
    if not pending:
        return "no settings version pending"
    return "; ".join(f"v{p['version']} takes effect at {p['effective_at']:%Y-%m-%d %H:%M}" for p in pending)


def cli_clock(args) -> int:
    """``unify-dash clock show|advance --to T|preview [--json] [--db PATH]``."""
    from unify_dash.cli.actions import actor_of  # local: cli sits above the scheduler

    con = db.connect(args.db)
    try:
        if args.clock_verb == "advance":
            r = advance(con, actor_of(args), args.to)
            return _print(args, r, lambda r: "\n".join([
                (f"clock advanced from {r['from']:%Y-%m-%d %H:%M:%S} to {r['to']:%Y-%m-%d %H:%M:%S} (nothing sent)"
                 if r["moved"] else f"clock already at {r['to']:%Y-%m-%d %H:%M:%S}; nothing changed"),
                *(["  the clock was the wall clock; it is now pinned (the worker no longer moves it)"]
                  if r["pinned_now"] else []),
                "  took effect: " + (", ".join(f"v{p['version']}" for p in r["took_effect"]) or "none")
                + f"; in effect now: v{r['in_effect']}",
                "  pending: " + _pending_words(r["pending"]),
                f"  steps due now: {r['due_steps']:,} (not sent: run `unify-dash sends --until ...` to decide them)"]))
        if args.clock_verb == "preview":
            rows = preview(con)
            return _print(args, rows, lambda rows: "\n".join(
                [preview_line(p) + "".join(f"\n  {x['name']}: releases {x['released']:,}, newly blocks "
                                           f"{x['blocked']:,}" for x in p["plays"]) for p in rows])
                or "no settings version pending")
        r = show(con)
        return _print(args, r, lambda r: "\n".join([
            f"workspace clock {r['clock']:%Y-%m-%d %H:%M:%S} ({'pinned' if r['pinned'] else 'the wall clock, UTC'}); "
            f"settings v{r['in_effect']} in effect",
            "  pending: " + _pending_words(r["pending"]),
            f"  steps due now: {r['due_steps']:,}"]))
    finally:
        con.close()
