"""What the Contact page's Exclusion tab shows, computed without Streamlit from
:func:`unify_dash.engine.explain`: the sequences table, one line per Play, the badge and the level
table of each exclusion, what it blocks. Every text is plain (the page escapes it).
"""

from __future__ import annotations

import pandas as pd

from unify_dash.model import settings, states
from unify_dash.model.vocabulary import email_is_not

OUTCOME_WORDS = {"not_in_audience": "not in the audience", "opted_out": "opted out",
                 "excluded_at_audience": "excluded at the audience", "entered": "enters",
                 "not_enrolled": "Not Enrolled", "enrolled": "enrolled",
                 "not_routed": "not this branch (Play branching)"}
NOTHING_BLOCKED = ("nothing: no level where it applies is on for both the organisation and a ruleset, nor at an "
                   "audience")


def display_name(contact: dict) -> str:
    return " ".join(v for v in (contact.get("first_name"), contact.get("last_name")) if v) or contact["email"]


def sequences_table(explained: dict) -> pd.DataFrame:
    return pd.DataFrame([{
        "sequence": q["name"], "ruleset": q["ruleset_name"],
        "would be enrolled": "no" if q["blocked"] else "yes",
        "blocked by": "opted out" if q["opted_out"] else ", ".join(b["text"] for b in q["blocking"]),
    } for q in explained["sequences"]], columns=["sequence", "ruleset", "would be enrolled", "blocked by"])


def play_lines(cfg: settings.Settings, explained: dict) -> list[tuple[str, str]]:
    """``(play name, outcome in words)`` per Play, with the node outcomes when the contact enters."""
    out = []
    for p in explained["plays"]:
        node_names = {n.id: n.name or cfg.sequence(n.sequence).name for n in cfg.play(p["id"]).nodes}
        outcome = OUTCOME_WORDS.get(p["outcome"], p["outcome"])
        if p["outcome"] == "entered" and p["nodes"]:
            outcome += " (" + ", ".join(f"{node_names.get(n, n)}: {OUTCOME_WORDS.get(o, o)}"
                                        for n, o in p["nodes"].items()) + ")"
        reasons = [b["text"] for b in p.get("blocking", []) if b.get("reason")]  # e.g. one active sequence
        if reasons:
            outcome += ": " + "; ".join(dict.fromkeys(reasons))
        out.append((p["name"], outcome))
    return out


def blocks_something(exclusion: dict) -> bool:
    return bool(exclusion["blocks"]["sequences"] or exclusion["blocks"]["audiences"])


def badge(exclusion: dict) -> str:
    if not exclusion["applies"]:
        return "matches, let through by a filter"
    if blocks_something(exclusion):
        return "blocks"
    return "matches, blocks nothing (off at a level that applies)"


def levels_table(cfg: settings.Settings, exclusion: dict) -> pd.DataFrame:
    """The exclusion's state at every level: organisation, each ruleset (with its sequences), each audience."""
    lv = exclusion["levels"]
    rows = [{"level": "Organisation (Exclude from Sequences)", "state": "on" if lv["organisation"] else "off",
             "applies to": "every sequence"}]
    for r in cfg.rulesets:
        used = ", ".join(q.name for q in cfg.sequences if q.ruleset == r.id) or "no sequence"
        rows.append({"level": f"Ruleset {r.name}", "state": "on" if lv["rulesets"].get(r.id) else "off",
                     "applies to": used})
    for pl in cfg.plays:
        rows.append({"level": f"Audience of {pl.name}", "state": "on" if lv["audiences"].get(pl.id) else "off",
                     "applies to": f"entry into {pl.name}"})
    return pd.DataFrame(rows, columns=["level", "state", "applies to"])


def blocks(exclusion: dict) -> str:
    """What the exclusion blocks for this contact, in words."""
    parts = [f"sequence {b['name']}" for b in exclusion["blocks"]["sequences"]]
    parts += [f"audience of {b['name']}" for b in exclusion["blocks"]["audiences"]]
    return ", ".join(parts) if parts else NOTHING_BLOCKED


def no_match_table(explained: dict) -> pd.DataFrame:
    return pd.DataFrame([{
        "exclusion": e["name"], "criteria": e["criteria"],
        "values": "; ".join(v for leaf in e["leaves"] for v in leaf["evidence"]),
    } for e in explained["exclusions"] if e["state"] == "no_match"], columns=["exclusion", "criteria", "values"])


def overrides_in(cfg, email: str) -> set[str]:
    """Ids of the exclusions of ``cfg`` that carry the filter "Email is not ``email``"."""
    rule = email_is_not(email)
    return {x.id for x in cfg.exclusions if rule in x.filters}


def _names(cfg) -> tuple[dict, dict, dict]:
    plays = {p.id: p.name for p in cfg.plays}
    seqs = {q.id: q.name for q in cfg.sequences}
    nodes = {n.id: (n.name or seqs.get(n.sequence, n.sequence)) for p in cfg.plays for n in p.nodes}
    return plays, seqs, nodes


def enrollments_table(enrollments: pd.DataFrame, cfg) -> pd.DataFrame:
    """The Contact page's enrollments as read: Play, node and sequence by name, state and reason by
    their labels (model/states.py), empty cells instead of "None"; ``enrollment_id`` kept for look-ups."""
    plays, seqs, nodes = _names(cfg)
    out = enrollments.copy()
    out["play"] = [plays.get(v, v) if isinstance(v, str) else "" for v in out["play"]]
    out["node"] = [nodes.get(v, v) if isinstance(v, str) else "" for v in out["node"]]
    out["sequence"] = [seqs.get(v, v) if isinstance(v, str) else "" for v in out["sequence"]]
    out["state"] = [states.label(states.ENROLLMENT_STATES, v) for v in out["state"]]
    out["reason"] = [states.label(states.COMPLETION_REASONS, v) if isinstance(v, str) else "" for v in out["reason"]]
    return out


def events_table(events: pd.DataFrame, cfg) -> pd.DataFrame:
    """The Contact page's History events as read: type and sequence by name, no event id or raw JSON."""
    _plays, seqs, _nodes = _names(cfg)
    out = events.drop(columns=[c for c in ("event_id", "detail") if c in events.columns]).copy()
    out["type"] = [states.label(states.EVENT_TYPES, v) for v in out["type"]]
    out["sequence"] = [seqs.get(v, v) if isinstance(v, str) else "" for v in out["sequence"]]
    for col in ("source", "actor", "label", "text"):
        out[col] = out[col].fillna("")
    out["step"] = out["step"].astype("Int64")
    return out
