"""Rule health, read-only: the overlap of a Play's exclusions (:func:`overlap`) and the rule lint
(:func:`lint`): rules that match nobody, rules shadowed by others, rules on at one level but off at the
other so they never act, overrides for addresses that are no contact, overrides older than N days.

Counts come from the engine's evaluation (its groups, :func:`unify_dash.engine.bucket_groups` for who
reaches where) and on/off from :class:`unify_dash.model.levels.Levels`, the one answer per level.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import duckdb
import numpy as np

from unify_dash import engine
from unify_dash.model.levels import Levels
from unify_dash.reports import overrides as overrides_mod

DEFAULT_OVERRIDE_DAYS = 90
KINDS = {
    "matches_nobody": "Matches nobody",
    "shadowed": "Shadowed: every contact it blocks is also blocked by another rule",
    "never_acts": "On at one level, off at the other: never acts",
    "override_not_a_contact": "Override for an address that is no contact",
    "override_old": "Override older than the limit",
}
SHORT = {"matches_nobody": "Match nobody", "shadowed": "Shadowed", "never_acts": "Never act",
         "override_not_a_contact": "Overrides of no contact", "override_old": "Old overrides"}


@dataclass(frozen=True)
class Finding:
    kind: str
    exclusion_id: str
    name: str
    detail: str
    contacts: int = 0  # the contacts concerned (blocked by a shadowed rule; 0 otherwise)
    address: str | None = None


# --- overlap ---------------------------------------------------------------------------------------------


def overlap(con: duckdb.DuckDBPyConnection, play_id: str) -> dict:
    """The overlap of a Play's exclusions over its audience (not opted out): per exclusion matched,
    blocking, blocks alone (released if it alone were turned off), and the matrix of contacts matched by
    both of two exclusions (only exclusions that match someone), JSON-able."""
    ev = engine.evaluation(con)
    imp = engine.impact(ev, play_id)
    ids = list(imp["overlap"]["exclusions"])
    matrix = np.asarray(imp["overlap"]["matrix"], dtype=np.int64).reshape(len(ids), len(ids))
    rows = [{"id": x["id"], "name": x["name"], "matched": x["matched"], "blocking": x["blocking"],
             "blocks_alone": x["blocks_alone"],
             "alone_share": round(x["blocks_alone"] / x["blocking"], 4) if x["blocking"] else None}
            for x in imp["exclusions"]]
    keep = [i for i, x in enumerate(imp["exclusions"]) if x["matched"]]
    return {"play": imp["play"], "settings_version": imp["settings_version"], "as_of": imp["as_of"],
            "exclusions": rows,
            "matrix": {"ids": [ids[i] for i in keep], "names": [imp["exclusions"][i]["name"] for i in keep],
                       "values": matrix[np.ix_(keep, keep)].tolist()}}


# --- lint ------------------------------------------------------------------------------------------------


def _places(ev, levels: Levels) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Where exclusions block: (place, groups that reach it bool[G], exclusions on there bool[n]): the
    audience of each Play (its audience, not opted out) and each sequence node (contacts that reach it)."""
    out = []
    for play in ev.settings.plays:
        entered = np.zeros(ev.groups, dtype=bool)
        entered[engine.bucket_groups(ev, play.id, "entered")] = True
        entered[engine.bucket_groups(ev, play.id, "opted_out")] = False
        out.append((f"audience of {play.name}", entered, levels.audiences[play.id]))
        reached = np.zeros(ev.groups, dtype=bool)
        reached[engine.bucket_groups(ev, play.id, "reached")] = True
        for node in play.nodes:
            seq = ev.settings.sequence(node.sequence)
            out.append((f"{play.name} · {node.name or seq.name}", reached, levels.sequence(seq.id)))
    return out


def _shadowed(ev, levels: Levels) -> list[Finding]:
    """Rules that block someone and never alone: at every place where a contact is blocked by the rule,
    another rule on there matches it too. Names the rule that covers it all, when there is one."""
    places = _places(ev, levels)
    n = len(ev.exclusion_ids)
    out = []
    weights = ev.counts
    for i in range(n):
        blocked_total, alone, cover = 0, 0, np.ones(n, dtype=bool)
        cover[i] = False
        for _place, groups, on in places:
            if not on[i]:
                continue
            hit = groups & ev.matches[:, i]
            if not hit.any():
                continue
            blocked_total += int(weights[hit].sum())
            others = on.copy()
            others[i] = False
            covered = (ev.matches[:, others]).any(axis=1) if others.any() else np.zeros(ev.groups, dtype=bool)
            alone += int(weights[hit & ~covered].sum())
            # a single rule covering every blocked contact here (and on here)
            cover &= others & ev.matches[hit].all(axis=0)
        if blocked_total and not alone:
            e = ev.settings.exclusions[i]
            names = [ev.settings.exclusions[j].name for j in np.flatnonzero(cover)]
            by = (f"{' or '.join(names[:3])} blocks every one of them" if names
                  else "other rules between them block every one of them")
            out.append(Finding("shadowed", e.id, e.name, f"blocks {blocked_total:,} contacts, none alone: {by}; "
                               "turning it off releases nobody", blocked_total))
    return out


def _never_acts(ev, levels: Levels) -> list[Finding]:
    """Rules switched on somewhere that block nowhere: on in a ruleset but off at the organisation level, or
    on at the organisation level but off in every ruleset a sequence uses, and on at no Play's audience."""
    cfg = ev.settings
    used = sorted({s.ruleset for s in cfg.sequences})
    out = []
    for i, e in enumerate(cfg.exclusions):
        at_nodes = any(levels.node(r)[i] for r in used)
        at_audience = any(levels.audiences[p.id][i] for p in cfg.plays)
        if at_nodes or at_audience:
            continue
        in_rulesets = [cfg.ruleset(r).name for r in used if levels.rulesets[r][i]]
        if levels.org[i] and not in_rulesets:
            detail = "on at the organisation level but off in every ruleset a sequence uses, and at no audience"
        elif in_rulesets and not levels.org[i]:
            detail = (f"on in ruleset {', '.join(in_rulesets)} but off at the organisation level (exclude from "
                      "sequences), and at no audience")
        else:
            continue  # off everywhere: switched off on purpose, not a contradiction
        out.append(Finding("never_acts", e.id, e.name, detail))
    return out


def lint(con: duckdb.DuckDBPyConnection, *, override_days: int = DEFAULT_OVERRIDE_DAYS) -> dict:
    """Every finding of the settings in effect, JSON-able (``unify-dash lint``)."""
    ev = engine.evaluation(con)
    levels = Levels(ev.settings)
    found: list[Finding] = []
    matched = (ev.counts[:, None] * ev.matches).sum(axis=0) if ev.groups else np.zeros(len(ev.exclusion_ids))
    for i, e in enumerate(ev.settings.exclusions):
        if not matched[i]:
            found.append(Finding("matches_nobody", e.id, e.name,
                                 f"no contact of {ev.contacts:,} matches it (criteria and filters)"))
    found += _shadowed(ev, levels)
    found += _never_acts(ev, levels)
    now = ev.as_of
    for o in overrides_mod.registry(con)["overrides"]:
        if not o["contact_id"]:
            found.append(Finding("override_not_a_contact", o["exclusion_id"], o["exclusion"],
                                 f"Email is not {o['address']}: no contact has this address", address=o["address"]))
        added = o["added_at"]
        if added is not None and (now - dt.datetime.fromisoformat(added)).days > override_days:
            found.append(Finding("override_old", o["exclusion_id"], o["exclusion"],
                                 f"Email is not {o['address']}: added {added[:10]} by {o['added_by']}, "
                                 f"{(now - dt.datetime.fromisoformat(added)).days} days ago", address=o["address"]))
    return {"settings_version": ev.version, "as_of": now.isoformat(), "override_days": override_days,
            "kinds": KINDS, "findings": [asdict(f) for f in found],
            "counts": {k: sum(1 for f in found if f.kind == k) for k in KINDS}}
