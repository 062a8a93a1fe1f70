"""What a settings change flips: the contacts a new settings document releases (enrolled at a node of a
Play where they are not now) or newly blocks, counted by comparing two evaluations of the same
contacts at the same time. Both sides are the engine's own funnel (:mod:`.funnel`): no rule is
evaluated here.

A contact is *in* a Play when the funnel enrolls it at one node or more (a Play without sequence
nodes: when it reaches the Play). ``released`` = in under ``after`` and not under ``before``;
``blocked`` = the reverse. The totals count distinct contacts (a contact released in two Plays is
one contact)."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np

from unify_dash.engine.evaluator import Evaluation, _check_visible, evaluate
from unify_dash.engine.funnel import _funnel, _saved_levels
from unify_dash.errors import ValidationError
from unify_dash.model.settings import Settings

KINDS = ("released", "blocked")


def _in_play(ev: Evaluation, play_id: str) -> np.ndarray:
    """bool[G]: the groups the funnel puts in the Play (enrolled at >= 1 node; no nodes: reached)."""
    if play_id not in ev.play_ids:
        return np.zeros(ev.groups, dtype=bool)
    f = _funnel(ev, play_id, _saved_levels(ev))
    return f.enrolled(None) if f.nodes else f.reached


def _pairs(con: duckdb.DuckDBPyConnection, before: Evaluation, after: Evaluation) -> tuple[np.ndarray, ...]:
    """(before group, after group, contacts) of every pair of groups that share contacts."""
    _check_visible(con, before)
    _check_visible(con, after)
    got = con.execute(f"SELECT b.group_id AS gb, a.group_id AS ga, count(*) AS n FROM {before.table} b "
                      f"JOIN {after.table} a USING (contact_id) GROUP BY ALL ORDER BY gb, ga").fetchnumpy()
    return (np.asarray(got["gb"], dtype=np.int64), np.asarray(got["ga"], dtype=np.int64),
            np.asarray(got["n"], dtype=np.int64))


def _flags(before: Evaluation, after: Evaluation, gb: np.ndarray, ga: np.ndarray) -> dict[str, tuple]:
    """play id -> (released bool[pairs], blocked bool[pairs]) for every Play of either side."""
    plays = list(dict.fromkeys([*before.play_ids, *after.play_ids]))
    out = {}
    for pid in plays:
        was, now = _in_play(before, pid)[gb], _in_play(after, pid)[ga]
        out[pid] = (now & ~was, was & ~now)
    return out


def compare(con: duckdb.DuckDBPyConnection, before: Evaluation, after: Evaluation) -> dict:
    """Counts of the contacts ``after`` releases and newly blocks, against ``before``: totals (distinct
    contacts) and per Play. Both evaluations must be of the same data (the same contacts)."""
    gb, ga, n = _pairs(con, before, after)
    flags = _flags(before, after, gb, ga)
    names = {p.id: p.name for p in (*before.settings.plays, *after.settings.plays)}
    plays = []
    any_rel = np.zeros(len(n), dtype=bool)
    any_blk = np.zeros(len(n), dtype=bool)
    for pid, (rel, blk) in flags.items():
        any_rel |= rel
        any_blk |= blk
        plays.append({"play_id": pid, "name": names.get(pid, pid), "released": int(n[rel].sum()),
                      "blocked": int(n[blk].sum())})
    return {"released": int(n[any_rel].sum()), "blocked": int(n[any_blk].sum()), "plays": plays,
            "before": before.meta(), "after": after.meta()}


def flipped_contacts(con: duckdb.DuckDBPyConnection, before: Evaluation, after: Evaluation, kind: str, *,
                     play_id: str | None = None, offset: int = 0, limit: int = 50) -> dict:
    """The contacts behind a count of :func:`compare` (``kind`` released | blocked, one Play or any), by
    email: ``{"total": n, "rows": [{contact_id, email}]}``."""
    if kind not in KINDS:
        raise ValidationError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if offset < 0 or limit < 0:
        raise ValidationError("offset and limit must be >= 0")
    gb, ga, n = _pairs(con, before, after)
    flags = _flags(before, after, gb, ga)
    if play_id is not None and play_id not in flags:
        raise ValidationError(f"unknown play {play_id!r}")
    chosen = np.zeros(len(n), dtype=bool)
    for pid, (rel, blk) in flags.items():
        if play_id is None or pid == play_id:
            chosen |= rel if kind == "released" else blk
    keys = (gb[chosen] * max(after.groups, 1) + ga[chosen]).tolist()
    rows = []
    if keys and limit:
        rows = [{"contact_id": c, "email": e} for c, e in con.execute(
            f"SELECT a.contact_id, a.email FROM {before.table} b JOIN {after.table} a USING (contact_id) "
            f"WHERE b.group_id::BIGINT * ? + a.group_id IN (SELECT unnest(?::BIGINT[])) "
            f"ORDER BY a.email, a.contact_id LIMIT ? OFFSET ?",
            [max(after.groups, 1), keys, int(limit), int(offset)]).fetchall()]
    return {"kind": kind, "play_id": play_id, "total": int(n[chosen].sum()), "offset": offset, "limit": limit,
            "rows": rows}


def settings_flips(con: duckdb.DuckDBPyConnection, before: Settings, after: Settings, as_of: dt.datetime, *,
                   before_version: int | None = None, after_version: int | None = None) -> tuple[dict, tuple]:
    """:func:`compare` of two settings documents evaluated at the same time ``as_of`` (so only the
    settings differ, never the clock). Returns (counts, (before evaluation, after evaluation)) so a
    caller can list the contacts with :func:`flipped_contacts`. Evaluate before opening a transaction."""
    ev_b = evaluate(con, settings=before, version=before_version, as_of=as_of)
    ev_a = evaluate(con, settings=after, version=after_version, as_of=as_of)
    return compare(con, ev_b, ev_a), (ev_b, ev_a)
