"""The settings document's schema, declared once (JSON Schema 2020-12).

:data:`SETTINGS_SCHEMA` says every key, its type, its bounds and what it means. It drives:

* validation (:func:`problems`, used by :func:`unify_dash.model.settings.parse_settings` for files,
  edits in the app and stored versions alike): unknown keys with a "did you mean", types, bounds,
  finite numbers, every problem at once with its key path;
* rule criteria and filters: the keyword ``x-condition`` hands them to the rule vocabulary
  (:func:`unify_dash.model.vocabulary.problems`), so fields, operators and value types come from
  :data:`~unify_dash.model.vocabulary.FIELDS` and :data:`~unify_dash.model.vocabulary.OPERATORS`;
* the published schema (:func:`json_schema`, for editors), where ``x-condition`` becomes a condition
  schema generated from the vocabulary (``tests/test_schema.py`` checks it accepts what the vocabulary
  accepts);
* the reference ``docs/settings.md`` (:func:`markdown`; ``python -m unify_dash.model.settings_schema``; a test fails
  when it drifts).

Cross-references (an exclusion id a ruleset names, the ruleset of a sequence, unique ids) are checked by
``parse_settings`` after the schema.
"""

from __future__ import annotations

import copy
import difflib
import math
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators

from unify_dash.model import crms
from unify_dash.model import vocabulary as vocab

SECTIONS = ("org", "exclusions", "rulesets", "sequences", "plays", "crm_mapping")
SCOPES = ("person", "company")
CRM_MODES = ("read_only", "read_write")
CRMS = tuple(crms.CRMS)  # salesforce, hubspot
DEFAULT_PROPAGATION_MINUTES = 15

MAX_PROPAGATION_MINUTES = 10_080  # a week
MAX_DELAY_DAYS = 365  # between two steps of a sequence
MAX_EXCLUSIONS = 512  # evaluation keeps one bit per exclusion
MAX_ITEMS = 1_000  # rulesets, sequences, plays, steps of a sequence, nodes of a play
MAX_FILTERS = 10_000  # filters of one exclusion ("Email is not" overrides accumulate)
MAX_ID = 200  # characters of an id or a name
MAX_TEXT = 5_000  # characters of a description or a subject

_UNSET = object()


# --- building blocks ---------------------------------------------------------------------------------


def _text(doc: str, *, max_length: int = MAX_ID, nullable: bool = True, default: Any = _UNSET) -> dict:
    out = {"type": ["string", "null"] if nullable else "string", "maxLength": max_length, "description": doc}
    if default is not _UNSET:
        out["default"] = default
    return out


def _ident(doc: str) -> dict:
    return {"type": "string", "minLength": 1, "maxLength": MAX_ID, "description": doc}


def _flag(doc: str, default: bool) -> dict:
    return {"type": "boolean", "default": default, "description": doc}


def _number(doc: str, what: str, low: float, high: float, *, integer: bool = False, default: Any = _UNSET) -> dict:
    out = {"type": "integer" if integer else "number", "minimum": low, "maximum": high, "x-finite": True,
           "x-what": what, "description": doc}
    if default is not _UNSET:
        out["default"] = default
    return out


def _list(doc: str, items: dict, *, noun: str, max_items: int = MAX_ITEMS, min_items: int = 0,
          nullable: bool = True) -> dict:
    out = {"type": ["array", "null"] if nullable else "array", "items": items, "maxItems": max_items,
           "x-noun": noun, "description": doc}
    if min_items:
        out["minItems"] = min_items
    return out


def _object(doc: str, properties: dict, *, required: tuple[str, ...] = (), nullable: bool = False,
            noun: str = "key") -> dict:
    for key in required:
        properties[key] = {**properties[key], "x-required": True}
    out = {"type": ["object", "null"] if nullable else "object", "properties": properties,
           "additionalProperties": False, "x-noun": noun, "description": doc}
    if required:
        out["required"] = list(required)
    return out


def _toggles(doc: str) -> dict:
    return {"type": ["object", "null"], "additionalProperties": {"type": "boolean"},
            "x-keys": "exclusion ids", "description": doc}


def _condition(doc: str) -> dict:
    return {"type": "object", "x-condition": True, "description": doc}


# --- the schema --------------------------------------------------------------------------------------

EXCLUSION = _object("An exclusion: who must not be emailed, and at which levels it is on.", {
    "id": _ident("Stable id, referenced by rulesets and plays; unique among exclusions."),
    "name": _text("Shown in the app; defaults to the id."),
    "description": _text("Why the exclusion exists (shown under its name).", max_length=MAX_TEXT),
    "scope": {"enum": list(SCOPES), "default": "person",
              "description": "person: the matching contact only; company: every contact of a domain where any "
                             "contact or company record matches."},
    "criteria": _condition("Who matches: a condition of the rule vocabulary."),
    "filters": _list("Conditions that must all hold for the exclusion to apply to a contact (the 'Email is "
                     "not' overrides that let one contact through are filters).",
                     _condition("A condition of the rule vocabulary."), noun="filters", max_items=MAX_FILTERS),
    "exclude_from_sequences": _flag("The organisation-level toggle: off means it blocks no sequence.", True),
    "remove_from_active_sequences": _flag("On: contacts who start matching mid-sequence are removed. Off: "
                                          "only new enrollments are blocked.", False),
    "override_expiry": {"type": ["object", "null"], "additionalProperties": {"type": "string", "maxLength": 40},
                        "x-keys": "email addresses of 'Email is not' filters",
                        "description": "Address -> ISO timestamp: from then on that 'Email is not' override "
                                       "no longer lets its contact through (the engine leaves it out)."},
}, required=("id", "criteria"))

RULESET = _object("A named set of exclusion toggles that sequences use.", {
    "id": _ident("Stable id, referenced by sequences; unique among rulesets."),
    "name": _text("Shown in the app; defaults to the id."),
    "exclusions": _toggles("Exclusion id -> true/false; an exclusion not listed is off in this ruleset."),
}, required=("id",))

STEP = _object("One email of a sequence.", {
    "delay_days": _number("Days after the previous step (the first step: after enrollment).",
                          "a number of days", 0, MAX_DELAY_DAYS, default=0),
    "subject": _text("The email's subject.", max_length=MAX_TEXT),
})

SEQUENCE = _object("A sequence of emails and the ruleset that guards it.", {
    "id": _ident("Stable id, referenced by play nodes and enrollments; unique among sequences."),
    "name": _text("Shown in the app; defaults to the id."),
    "ruleset": _ident("The id of the ruleset whose exclusions apply to this sequence."),
    "steps": _list("The emails, in order.", STEP, noun="steps", min_items=1, nullable=False),
}, required=("id", "ruleset", "steps"))

NODE = _object("A sequence node of a play.", {
    "id": _text("Unique within the play; defaults to the play's id, a dash and the node's position (play-1)."),
    "sequence": _ident("The id of the sequence this node enrolls into."),
    "name": _text("Shown in the app."),
    "condition": {**_condition("Who this node is for (Play branching): a play with a condition on any node sends "
                               "each contact to the first node, in order, whose condition it meets (a node "
                               "without one meets every contact). Absent on every node: every node, as before."),
                  "type": ["object", "null"]},
}, required=("sequence",))

PLAY = _object("A play: an audience and the sequences it enrolls into.", {
    "id": _ident("Stable id; unique among plays."),
    "name": _text("Shown in the app; defaults to the id."),
    "audience": {**_condition("Who the play targets; absent or null: every contact."), "type": ["object", "null"]},
    "audience_exclusions": _toggles("Exclusion id -> true/false at the play's audience level."),
    "nodes": _list("The play's sequence nodes.", NODE, noun="nodes"),
}, required=("id",))

CRM_MAPPING_ENTRY = _object("How opt-outs map to a CRM field.", {
    "field": _ident("The CRM field that holds the opt-out: HasOptedOutOfEmail, a custom field such as "
                    "Do_Not_Email__c, or HubSpot's property."),
    "mode": {"enum": list(CRM_MODES), "default": "read_only",
             "description": "read_only: the CRM flag is read; read_write: opt-outs are also written back."},
}, required=("field",))

SETTINGS_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "unify-dash settings",
    **_object("The settings document: one file (settings.yaml/.yml/.json) or one file per section.", {
        "org": _object("Organisation-wide settings.", {
            "propagation_minutes": _number("Minutes between saving a settings change and its taking effect.",
                                           "a whole number of minutes", 0, MAX_PROPAGATION_MINUTES, integer=True,
                                           default=DEFAULT_PROPAGATION_MINUTES),
            "one_active_sequence": _flag("One active sequence per contact at a time: a contact queued or active in "
                                         "one sequence enters no other until it ends (of the entries due at one "
                                         "tick, the first play's first node goes first), shown as a reason like "
                                         "any exclusion.", False),
        }, nullable=True),
        "exclusions": _list("The exclusions, in evaluation order.", EXCLUSION, noun="exclusions",
                            max_items=MAX_EXCLUSIONS),
        "rulesets": _list("The rulesets.", RULESET, noun="rulesets"),
        "sequences": _list("The sequences.", SEQUENCE, noun="sequences"),
        "plays": _list("The plays.", PLAY, noun="plays"),
        "crm_mapping": _object("CRM name -> its opt-out field.", {crm: CRM_MAPPING_ENTRY for crm in CRMS},
                               nullable=True, noun="CRM"),
    }, noun="section"),
}
assert tuple(SETTINGS_SCHEMA["properties"]) == SECTIONS

WORKSPACE_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "unify-dash workspace.yaml",
    **_object("The workspace's own file (optional).", {
        "name": _text("The workspace's name, shown in the app."),
        "now": {"type": "string", "maxLength": 40,
                "description": "Pins the workspace clock: ISO 8601 such as 2026-11-26T09:00:00 (Z or an offset "
                               "allowed)."},
        "description": _text("Free text.", max_length=MAX_TEXT),
    }),
}


# --- validation ----------------------------------------------------------------------------------------


def _finite(validator, on, instance, schema):
    if on and isinstance(instance, float) and not math.isfinite(instance):
        yield ValidationError(f"{instance} is not a finite number")


def _condition_check(validator, on, instance, schema):
    if on and instance is not None:
        for err in vocab.problems(instance, ""):
            error = ValidationError(err.message)
            error.subpath = err.path  # ".all[0].op" below the condition
            yield error


_Validator = validators.extend(Draft202012Validator, {"x-finite": _finite, "x-condition": _condition_check})
_SETTINGS = _Validator(SETTINGS_SCHEMA)
_WORKSPACE = _Validator(WORKSPACE_SCHEMA)


def _join(parent: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else str(key)


def _show(value: Any) -> str:
    return vocab._show(value) if not isinstance(value, (dict, list)) else (
        "a mapping" if isinstance(value, dict) else "a list")


def _or(words) -> str:
    words = [str(w) for w in words]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


_TYPE_WORDS = {"string": "str (text)", "object": "a mapping", "array": "a list", "boolean": "true or false",
               "integer": "a whole number", "number": "a number"}
# when several keywords fail at one path, the message of the first in this order is kept
_RANK = ["required", "additionalProperties", "type", "enum", "x-finite", "minimum", "maximum", "minLength",
         "maxLength", "minItems", "maxItems", "x-condition"]


def _range(schema: dict, value: Any) -> str:
    low, high = schema["minimum"], schema["maximum"]
    return f"expected {schema.get('x-what', 'a number')} >= {low:,} and <= {high:,}, got {_show(value)}"


def _messages(err: ValidationError, path: str) -> list[tuple[str, str]]:
    kind, schema, value = err.validator, err.schema, err.instance
    if kind == "required":
        return [(_join(path, k), "is required") for k in err.validator_value if k not in value]
    if kind == "additionalProperties":
        known = list(schema.get("properties", {}))
        noun = schema.get("x-noun", "key")
        out = []
        for key in value:
            if key in known:
                continue
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            out.append((_join(path, key), f"unknown {noun} {str(key)!r}{hint} (expected {_or(known)})"))
        return out
    if kind == "type":
        if value is None and schema.get("x-required"):
            return [(path, "is required")]
        types = [t for t in ([err.validator_value] if isinstance(err.validator_value, str) else err.validator_value)
                 if t != "null"]
        got = f"a {type(value).__name__}" if isinstance(value, (dict, list)) else _show(value)
        if types == ["object"] and schema.get("x-condition"):
            return [(path, f"expected a condition (a mapping), got {type(value).__name__}")]
        hint = ""
        if isinstance(value, float) and not math.isfinite(value):
            hint = " (not a finite number)"
        elif types == ["string"] and (value is None or isinstance(value, (bool, int, float))):
            hint = "; text that reads as a number, true/false or null needs quotes, as in '2024'"
        return [(path, f"expected {_or(_TYPE_WORDS.get(t, t) for t in types)}, got {got}{hint}")]
    if kind == "enum":
        return [(path, f"expected {_or(err.validator_value)}, got {_show(value)}")]
    if kind in ("x-finite", "minimum", "maximum"):
        return [(path, _range(schema, value) + (" (not a finite number)" if kind == "x-finite" else ""))]
    if kind == "minLength":
        return [(path, "is required" if schema.get("x-required") else "must not be empty")]
    if kind == "maxLength":
        return [(path, f"{len(value):,} characters; at most {err.validator_value:,} are allowed")]
    if kind == "minItems":
        return [(path, f"expected a non-empty list of {schema.get('x-noun', 'items')}")]
    if kind == "maxItems":
        return [(path, f"{len(value):,} {schema.get('x-noun', 'items')}; at most {err.validator_value:,} "
                       "are supported")]
    if kind == "x-condition":
        return [(path + getattr(err, "subpath", ""), err.message)]
    return [(path, err.message)]


def _huge_integers(document: Any) -> tuple[Any, list[tuple[str, str]]]:
    """Integers too large to print (jsonschema's own messages would fail on them): their paths, and the
    document with each replaced by None. Iterative: the document may be nested absurdly deep."""
    found: list[tuple[str, str]] = []
    todo: list[tuple[Any, str]] = [(document, "")]
    while todo:
        node, path = todo.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
                found.append((_join(path, key), f"{_show(value)} is out of range"))
            elif isinstance(value, (dict, list)):
                todo.append((value, _join(path, key)))
    if not found:
        return document, []
    bad = {p for p, _ in found}
    out: dict = {"": None}
    copying: list[tuple[Any, Any, Any, str]] = [(document, out, "", "")]
    while copying:  # a copy with None for each of them
        node, parent, slot, path = copying.pop()
        if isinstance(node, dict):
            new: Any = dict.fromkeys(node)
            copying.extend((v, new, k, _join(path, k)) for k, v in node.items())
        elif isinstance(node, list):
            new = [None] * len(node)
            copying.extend((v, new, i, _join(path, i)) for i, v in enumerate(node))
        else:
            new = None if path in bad else node
        parent[slot] = new
    return out[""], found


def _problems(validator, document: Any) -> list[tuple[str, str]]:
    best: dict[str, tuple[int, str]] = {}
    document, huge = _huge_integers(document)
    for where, message in huge:
        best[where] = (-1, message)
    for err in validator.iter_errors(document):
        path = ""
        for key in err.absolute_path:
            path = _join(path, key)
        rank = _RANK.index(err.validator) if err.validator in _RANK else len(_RANK)
        for where, message in _messages(err, path):
            if where not in best or rank < best[where][0]:
                best[where] = (rank, message)
    return [(where or "settings", message) for where, (_, message) in best.items()]


def problems(document: Any) -> list[tuple[str, str]]:
    """Every (key path, message) the settings schema finds in ``document``, in document order."""
    if not isinstance(document, dict):
        return [("settings", f"expected a mapping with sections {', '.join(SECTIONS)}")]
    return _problems(_SETTINGS, document)


def workspace_problems(document: Any) -> list[tuple[str, str]]:
    """The same for ``workspace.yaml``."""
    if not isinstance(document, dict):
        return [("workspace", "expected a mapping such as {name: Acme, now: '2026-11-26T09:00:00'}")]
    return _problems(_WORKSPACE, document)


# --- the published schema ------------------------------------------------------------------------------

_VALUE_SCHEMA = {
    vocab.STRING: {"type": "string", "minLength": 1, "maxLength": vocab.MAX_TEXT_VALUE, "pattern": r"\S"},
    vocab.EMAIL: {"type": "string", "minLength": 1, "maxLength": vocab.MAX_TEXT_VALUE, "pattern": r"\S"},
    vocab.NUMBER: {"type": "number", "minimum": -vocab.MAX_NUMBER, "maximum": vocab.MAX_NUMBER},
}


def condition_schema() -> dict:
    """A condition as JSON Schema, generated from the vocabulary: for each field, the operators of its type
    and the value each takes."""
    by_field = []
    for field in vocab.FIELDS.values():
        kinds: dict[str, list[str]] = {}
        for op in vocab.operators_for(field.name):
            kinds.setdefault(op.value, []).append(op.name)
        branches = []
        for kind, ops in kinds.items():
            if kind == "scalar":
                value = _VALUE_SCHEMA[field.type]
            elif kind == "list":
                value = {"type": "array", "minItems": 1, "maxItems": vocab.MAX_LIST_VALUES,
                         "items": _VALUE_SCHEMA[field.type]}
            elif kind == "days":
                value = {"type": "number", "minimum": 0, "maximum": vocab.MAX_DAYS}
            else:
                value = {"type": "null"}
            branches.append({"properties": {"op": {"enum": ops}, "value": value},
                             "required": ["op"] if kind == "none" else ["op", "value"]})
        by_field.append({"if": {"properties": {"field": {"const": field.name}}},
                         "then": {"anyOf": branches}})
    leaf = {"properties": {"field": {"enum": list(vocab.FIELDS)}, "op": {"enum": list(vocab.OPERATORS)},
                           "value": True},
            "required": ["field", "op"], "additionalProperties": False, "allOf": by_field}
    ref = {"$ref": "#/$defs/condition"}
    block = {key: {"properties": {key: ref if key == "not" else {"type": "array", "minItems": 1, "items": ref}},
                   "additionalProperties": False} for key in vocab.COMBINATORS}
    out: dict = leaf
    for key in reversed(vocab.COMBINATORS):
        out = {"if": {"required": [key]}, "then": block[key], "else": out}
    return {"type": "object", **out}


def json_schema(which: dict = SETTINGS_SCHEMA) -> dict:
    """The schema in standard JSON Schema (no ``x-`` keywords; conditions as :func:`condition_schema`).
    Nesting depth and finiteness are not expressible there and are left out."""
    def clean(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get("x-condition"):
                out = {"description": node["description"]}
                return {**out, "anyOf": [{"$ref": "#/$defs/condition"}, {"type": "null"}]} if (
                    "null" in node.get("type", [])) else {**out, "$ref": "#/$defs/condition"}
            return {k: clean(v) for k, v in node.items() if not k.startswith("x-")}
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node

    out = clean(copy.deepcopy(which))
    if which is SETTINGS_SCHEMA:
        out["$defs"] = {"condition": condition_schema()}
    return out


# --- the reference -------------------------------------------------------------------------------------


def _type_text(node: dict) -> str:
    if node.get("x-condition"):
        return "condition" + (" or null" if "null" in node.get("type", []) else "")
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    types = node["type"] if isinstance(node["type"], list) else [node["type"]]
    words = {"string": "text", "object": "mapping", "array": "list", "boolean": "true/false",
             "integer": "whole number", "number": "number", "null": "null"}
    return " or ".join(words[t] for t in types)


def _bounds_text(node: dict) -> str:
    parts = []
    if "minimum" in node:
        parts.append(f"{node['minimum']:,} to {node['maximum']:,}, finite")
    if node.get("minLength"):
        parts.append("not empty")
    if "maxLength" in node:
        parts.append(f"at most {node['maxLength']:,} characters")
    if "minItems" in node:
        parts.append(f"at least {node['minItems']} item")
    if "maxItems" in node:
        parts.append(f"at most {node['maxItems']:,} items")
    if node.get("x-keys"):
        parts.append(f"keys: {node['x-keys']}")
    return "; ".join(parts)


def _rows(node: dict, path: str, out: list[str]) -> None:
    required = set(node.get("required", ()))
    for key, sub in node.get("properties", {}).items():
        here = f"{path}.{key}" if path else key
        default = f"`{str(sub['default']).lower() if isinstance(sub['default'], bool) else sub['default']}`" if (
            "default" in sub) else ("required" if key in required else "")
        out.append(f"| `{here}` | {_type_text(sub)} | {_bounds_text(sub)} | {default} | {sub.get('description', '')} |")
        if "properties" in sub:
            _rows(sub, here, out)
        elif isinstance(sub.get("items"), dict) and "properties" in sub["items"]:
            _rows(sub["items"], here + "[]", out)


def markdown_tables() -> str:
    """Every key of the settings and workspace documents, as the tables of docs/settings.md."""
    head = ["| key | type | bounds | default | meaning |", "|---|---|---|---|---|"]
    settings_rows: list[str] = []
    _rows(SETTINGS_SCHEMA, "", settings_rows)
    workspace_rows: list[str] = []
    _rows(WORKSPACE_SCHEMA, "", workspace_rows)
    rules = [
        "| rule bound | value |", "|---|---|",
        f"| all/any/not nesting | at most {vocab.MAX_RULE_DEPTH} levels |",
        f"| days (`within_last_days`, `more_than_days_ago`) | 0 to {vocab.MAX_DAYS:,}, finite |",
        f"| numbers compared with number fields | -{vocab.MAX_NUMBER:.0e} to {vocab.MAX_NUMBER:.0e}, finite |",
        f"| values of `in` / `not_in` | 1 to {vocab.MAX_LIST_VALUES:,} |",
        f"| a text value | not blank, at most {vocab.MAX_TEXT_VALUE:,} characters |",
    ]
    return "\n".join(["### settings", "", *head, *settings_rows, "", "### workspace.yaml", "", *head,
                      *workspace_rows, "", "### rule values", "", *rules])


if __name__ == "__main__":  # pragma: no cover
    import json
    import sys

    print(json.dumps(json_schema(), indent=2) if "--json" in sys.argv else markdown_tables())
