"""Levels: whether each exclusion is on at each level. The one answer to "is exclusion X on for node N"
(on at the organisation level *and* in the ruleset of N's sequence) and "at the audience of Play P".

A :class:`Levels` is built from saved settings, optionally with what-if toggles
``{(exclusion_id, level, target): on}`` (level ``audience`` with a play id, ``ruleset`` with a ruleset id,
``organisation`` with ``None``). The engine counts with its vectors; the settings editor applies the same
toggles to a settings document (:meth:`Levels.apply_to`); the CLI's ``--set`` text form is parsed by
:func:`parse_toggles`.
"""

from __future__ import annotations

import numpy as np

from unify_dash.errors import ValidationError
from unify_dash.model.settings import Play, Settings, parse_settings

LEVELS = ("audience", "organisation", "ruleset")

Toggle = tuple[str, str, "str | None"]  # (exclusion_id, level, target)


def normalise(settings: Settings, toggles: dict | None) -> tuple:
    """Validated toggles as a sorted tuple of ((exclusion_id, level, target), on); unknown exclusions,
    levels, rulesets or plays are a :class:`ValidationError` (or NotFound)."""
    if not toggles:
        return ()
    out = {}
    for key, on in toggles.items():
        if not isinstance(key, tuple) or len(key) != 3:
            raise ValidationError(f"a toggle key is (exclusion_id, level, target), got {key!r}")
        excl_id, level, target = key
        settings.exclusion(excl_id)
        if level == "organisation":
            target = None
        elif level == "ruleset":
            settings.ruleset(target)
        elif level == "audience":
            settings.play(target)
        else:
            raise ValidationError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")
        out[(excl_id, level, target)] = bool(on)
    return tuple(sorted(out.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "")))


class Levels:
    """The on/off state of every exclusion (in ``settings.exclusions`` order) at every level, as bool[n]
    vectors: ``org``, ``rulesets[ruleset_id]``, ``audiences[play_id]``, and ``remove`` (remove from
    active sequences). ``toggles`` is the normalised what-if on top of the saved settings."""

    def __init__(self, settings: Settings, toggles: dict | tuple | None = None):
        self.settings = settings
        self.toggles = toggles if isinstance(toggles, tuple) else normalise(settings, toggles)
        ids = [e.id for e in settings.exclusions]
        self._index = {x: i for i, x in enumerate(ids)}
        self.org = np.array([e.exclude_from_sequences for e in settings.exclusions], dtype=bool)
        self.rulesets = {r.id: np.array([r.is_on(x) for x in ids], dtype=bool) for r in settings.rulesets}
        self.audiences = {p.id: np.array([p.audience_on(x) for x in ids], dtype=bool) for p in settings.plays}
        self.remove = np.array([e.remove_from_active_sequences for e in settings.exclusions], dtype=bool)
        for (excl_id, level, target), on in self.toggles:
            self._vector(level, target)[self._index[excl_id]] = on

    def _vector(self, level: str, target: str | None) -> np.ndarray:
        if level == "organisation":
            return self.org
        if level == "ruleset":
            return self.rulesets[target]
        return self.audiences[target]

    def with_toggles(self, toggles: dict | tuple | None) -> Levels:
        """These levels under ``toggles`` (validated), replacing any toggles of their own; ``self`` when
        there are none. Copies the vectors instead of reading the settings again (the what-if hot path)."""
        norm = toggles if isinstance(toggles, tuple) else normalise(self.settings, toggles)
        if not norm and not self.toggles:
            return self
        out = object.__new__(Levels)
        out.settings, out.toggles, out._index = self.settings, norm, self._index
        out.org, out.remove = self.org.copy(), self.remove
        out.rulesets = {k: v.copy() for k, v in self.rulesets.items()}
        out.audiences = {k: v.copy() for k, v in self.audiences.items()}
        for (excl_id, level, target), on in norm:
            out._vector(level, target)[out._index[excl_id]] = on
        return out

    def on(self, exclusion_id: str, level: str, target: str | None = None) -> bool:
        """Is the exclusion on at this one level (``organisation``, ``ruleset`` id, ``audience`` play id)?"""
        return bool(self._vector(level, target)[self._index[exclusion_id]])

    def node(self, ruleset_id: str) -> np.ndarray:
        """bool[n]: the exclusions that block enrollment in a sequence of this ruleset: on at the
        organisation level and in the ruleset (PRODUCT.md 3)."""
        return self.org & self.rulesets[ruleset_id]

    def sequence(self, sequence_id: str) -> np.ndarray:
        """bool[n]: :meth:`node` for the ruleset of a sequence."""
        return self.node(self.settings.sequence(sequence_id).ruleset)

    def blocks_in(self, exclusion_id: str, ruleset_id: str) -> bool:
        return bool(self.node(ruleset_id)[self._index[exclusion_id]])

    def apply_to(self, doc: dict) -> dict:
        """Write the toggles into a settings document (``Settings.to_dict()`` shape), in place."""
        for (excl_id, level, target), on in self.toggles:
            if level == "organisation":
                for e in doc["exclusions"]:
                    if e["id"] == excl_id:
                        e["exclude_from_sequences"] = on
            elif level == "ruleset":
                for r in doc["rulesets"]:
                    if r["id"] == target:
                        r["exclusions"][excl_id] = on
            else:
                for p in doc["plays"]:
                    if p["id"] == target:
                        p["audience_exclusions"][excl_id] = on
        return doc


def with_toggles(settings: Settings, toggles: dict | None) -> Settings:
    """``settings`` with what-if toggles applied and saved into them (what "Apply" saves)."""
    return parse_settings(Levels(settings, toggles).apply_to(settings.to_dict()))


_ON = {"on": True, "true": True, "1": True, "off": False, "false": False, "0": False}


def parse_toggles(items: list[str], play: Play, settings: Settings) -> dict:
    """``EXCLUSION@LEVEL=on|off`` (LEVEL: audience | organisation | ruleset:ID | ruleset, the latter for
    every ruleset of the Play's nodes) -> toggles for :class:`Levels`."""
    out = {}
    for item in items or []:
        text = item.strip()
        if "=" not in text or "@" not in text.split("=", 1)[0]:
            raise ValidationError(f"--set {item!r}: expected EXCLUSION@LEVEL=on|off")
        left, value = text.rsplit("=", 1)
        excl, level = left.split("@", 1)
        on = _ON.get(value.strip().lower())
        if on is None:
            raise ValidationError(f"--set {item!r}: expected on or off after '='")
        settings.exclusion(excl)
        if level == "audience":
            out[(excl, "audience", play.id)] = on
        elif level in ("organisation", "organization", "org"):
            out[(excl, "organisation", None)] = on
        elif level == "ruleset":
            for nd in play.nodes:
                out[(excl, "ruleset", settings.sequence(nd.sequence).ruleset)] = on
        elif level.startswith("ruleset:"):
            rs = level.split(":", 1)[1]
            settings.ruleset(rs)
            out[(excl, "ruleset", rs)] = on
        else:
            raise ValidationError(f"--set {item!r}: unknown level {level!r}; expected audience, organisation, "
                                  "ruleset or ruleset:RULESET_ID")
    return out
