"""What the Exclusions & rulesets page shows, computed without Streamlit: the overview of every exclusion,
the ruleset matrix (one row per exclusion, one column per level) and the changes an edited matrix makes.
Every text is plain (the page escapes it)."""

from __future__ import annotations

import dataclasses

import pandas as pd

from unify_dash.model import levels, settings, vocabulary

ORG = "Exclude from sequences (organisation)"
REMOVE = "Remove from active sequences"
is_override = vocabulary.is_email_is_not


def rulesets_on(cfg: settings.Settings, exclusion_id: str) -> list[str]:
    return [r.name for r in cfg.rulesets if r.is_on(exclusion_id)]


def sequences_of(cfg: settings.Settings, ruleset_id: str) -> list[str]:
    return [s.name for s in cfg.sequences if s.ruleset == ruleset_id]


def overview(cfg: settings.Settings) -> pd.DataFrame:
    """One row per exclusion: criteria in English, scope, its levels, filters and overrides."""
    return pd.DataFrame([{
        "exclusion": e.name,
        "criteria": vocabulary.describe(e.criteria),
        "scope": "company-wide" if e.company_wide else "person",
        "exclude from sequences": e.exclude_from_sequences,
        "remove from active sequences": e.remove_from_active_sequences,
        "on in rulesets": ", ".join(rulesets_on(cfg, e.id)) or "none",
        "on at play audiences": ", ".join(p.name for p in cfg.plays if p.audience_on(e.id)) or "none",
        "filters (let through)": "; ".join(vocabulary.describe(f) for f in e.filters if not is_override(f)) or "",
        "email overrides": sum(1 for f in e.filters if is_override(f)),
    } for e in cfg.exclusions])


def ruleset_columns(cfg: settings.Settings) -> dict[str, str]:
    """Ruleset id -> its matrix column ``ruleset: <name>`` (the id is added when two names are the same)."""
    names = [r.name for r in cfg.rulesets]
    return {r.id: f"ruleset: {r.name}" if names.count(r.name) == 1 else f"ruleset: {r.name} ({r.id})"
            for r in cfg.rulesets}


def matrix(cfg: settings.Settings) -> pd.DataFrame:
    """The levels of every exclusion as booleans, indexed by exclusion id."""
    cols = ruleset_columns(cfg)
    return pd.DataFrame({
        "exclusion": [e.name for e in cfg.exclusions],
        ORG: [e.exclude_from_sequences for e in cfg.exclusions],
        REMOVE: [e.remove_from_active_sequences for e in cfg.exclusions],
        **{cols[r.id]: [r.is_on(e.id) for e in cfg.exclusions] for r in cfg.rulesets},
    }, index=[e.id for e in cfg.exclusions])


def matrix_changes(cfg: settings.Settings, edited: pd.DataFrame) -> tuple[dict, dict[str, bool]]:
    """``(toggles, removals)`` an edited :func:`matrix` makes: level toggles as
    :func:`unify_dash.model.levels.with_toggles` takes them, and "remove from active sequences" per exclusion id."""
    cols = ruleset_columns(cfg)
    toggles: dict = {}
    removals: dict[str, bool] = {}
    for e in cfg.exclusions:
        row = edited.loc[e.id]
        if bool(row[ORG]) != e.exclude_from_sequences:
            toggles[(e.id, "organisation", None)] = bool(row[ORG])
        if bool(row[REMOVE]) != e.remove_from_active_sequences:
            removals[e.id] = bool(row[REMOVE])
        for r in cfg.rulesets:
            if bool(row[cols[r.id]]) != r.is_on(e.id):
                toggles[(e.id, "ruleset", r.id)] = bool(row[cols[r.id]])
    return toggles, removals


def with_matrix_changes(cfg: settings.Settings, toggles: dict, removals: dict[str, bool]) -> settings.Settings:
    """The settings with the matrix changes applied (raises a :class:`settings.SettingsError`)."""
    new_cfg = levels.with_toggles(cfg, toggles)
    for eid, on in removals.items():
        new_cfg = new_cfg.with_exclusion(dataclasses.replace(new_cfg.exclusion(eid), remove_from_active_sequences=on))
    return new_cfg
