"""Settings: exclusions, rulesets, sequences, plays, CRM mapping, and their versions.

Settings are one document (docs/workspace-format.md). Every saved
change makes a new *version* with the time it takes effect (saved time plus the
propagation delay); evaluation "as of T" uses the newest version whose
``effective_at`` is at or before T. Versions whose time has not come are
*pending*. What-if toggles never create a version until they are applied.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import duckdb

from unify_dash.errors import NotFound, ValidationError
from unify_dash.model import states
from unify_dash.model.vocabulary import RuleError, validate
from unify_dash.store import db

SCOPES = ("person", "company")
CRM_MODES = ("read_only", "read_write")
DEFAULT_PROPAGATION_MINUTES = 15
# The levels at which an exclusion can be toggled. "node" is the sequence node of a Play:
# there an exclusion blocks when it is on at the organisation level AND in the sequence's ruleset.
MAX_EXCLUSIONS = 512


class SettingsError(ValidationError):
    """A settings document that does not validate. ``path`` is like ``exclusions[2].criteria.op``."""

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


@dataclass(frozen=True)
class Exclusion:
    id: str
    name: str
    criteria: dict
    scope: str = "person"
    exclude_from_sequences: bool = True
    remove_from_active_sequences: bool = False
    filters: tuple[dict, ...] = ()
    description: str = ""

    @property
    def company_wide(self) -> bool:
        return self.scope == "company"


@dataclass(frozen=True)
class Ruleset:
    id: str
    name: str
    exclusions: dict[str, bool]  # exclusion id -> on; an exclusion not listed is off

    def is_on(self, exclusion_id: str) -> bool:
        return bool(self.exclusions.get(exclusion_id, False))


@dataclass(frozen=True)
class Step:
    delay_days: float
    subject: str = ""


@dataclass(frozen=True)
class Sequence:
    id: str
    name: str
    ruleset: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Node:
    id: str
    sequence: str
    name: str = ""


@dataclass(frozen=True)
class Play:
    id: str
    name: str
    audience: dict | None  # criteria over contacts; None = every contact
    audience_exclusions: dict[str, bool]  # exclusion id -> on at the audience level
    nodes: tuple[Node, ...]

    def audience_on(self, exclusion_id: str) -> bool:
        return bool(self.audience_exclusions.get(exclusion_id, False))


@dataclass(frozen=True)
class CrmMapping:
    crm: str  # "salesforce" | "hubspot"
    field: str  # HasOptedOutOfEmail, a custom field like Do_Not_Email__c, or HubSpot's property
    mode: str  # "read_only" | "read_write"

    @property
    def writable(self) -> bool:
        return self.mode == "read_write"


@dataclass(frozen=True)
class Settings:
    exclusions: tuple[Exclusion, ...] = ()
    rulesets: tuple[Ruleset, ...] = ()
    sequences: tuple[Sequence, ...] = ()
    plays: tuple[Play, ...] = ()
    crm_mapping: tuple[CrmMapping, ...] = ()
    propagation_minutes: int = DEFAULT_PROPAGATION_MINUTES
    _index: dict = field(default_factory=dict, compare=False, repr=False)

    # -- look-ups ---------------------------------------------------------------------------------
    def _lookup(self, kind: str, key: str):
        idx = self._index.get(kind)
        if idx is None:
            idx = {o.id: o for o in getattr(self, kind)} if kind != "crm_mapping" else {
                m.crm: m for m in self.crm_mapping}
            self._index[kind] = idx
        try:
            return idx[key]
        except KeyError:
            raise NotFound(f"unknown {kind.rstrip('s').replace('_', ' ')} {key!r}") from None

    def exclusion(self, key: str) -> Exclusion:
        return self._lookup("exclusions", key)

    def ruleset(self, key: str) -> Ruleset:
        return self._lookup("rulesets", key)

    def sequence(self, key: str) -> Sequence:
        return self._lookup("sequences", key)

    def play(self, key: str) -> Play:
        return self._lookup("plays", key)

    def mapping(self, crm: str) -> CrmMapping | None:
        try:
            return self._lookup("crm_mapping", crm)
        except NotFound:
            return None

    def exclusion_index(self, key: str) -> int:
        """The bit of an exclusion in evaluation masks (its position in :attr:`exclusions`)."""
        for i, e in enumerate(self.exclusions):
            if e.id == key:
                return i
        raise NotFound(f"unknown exclusion {key!r}")

    # -- serialisation ------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        def excl(e: Exclusion) -> dict:
            d = {"id": e.id, "name": e.name, "scope": e.scope,
                 "exclude_from_sequences": e.exclude_from_sequences,
                 "remove_from_active_sequences": e.remove_from_active_sequences,
                 "criteria": e.criteria, "filters": list(e.filters)}
            if e.description:
                d["description"] = e.description
            return d

        return {
            "org": {"propagation_minutes": self.propagation_minutes},
            "exclusions": [excl(e) for e in self.exclusions],
            "rulesets": [{"id": r.id, "name": r.name, "exclusions": dict(r.exclusions)} for r in self.rulesets],
            "sequences": [{"id": s.id, "name": s.name, "ruleset": s.ruleset,
                           "steps": [{"delay_days": st.delay_days, "subject": st.subject} for st in s.steps]}
                          for s in self.sequences],
            "plays": [{"id": p.id, "name": p.name, "audience": p.audience,
                       "audience_exclusions": dict(p.audience_exclusions),
                       "nodes": [{"id": n.id, "sequence": n.sequence, "name": n.name} for n in p.nodes]}
                      for p in self.plays],
            "crm_mapping": {m.crm: {"field": m.field, "mode": m.mode} for m in self.crm_mapping},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    # -- edits (each returns a new Settings; nothing is saved until save_version) -------------------
    def with_exclusion(self, exclusion: Exclusion) -> Settings:
        doc = self.to_dict()
        new = [exclusion_to_dict(exclusion) if e["id"] == exclusion.id else e for e in doc["exclusions"]]
        if not any(e["id"] == exclusion.id for e in doc["exclusions"]):
            new.append(exclusion_to_dict(exclusion))
        doc["exclusions"] = new
        return parse_settings(doc)


def exclusion_to_dict(e: Exclusion) -> dict:
    d = {"id": e.id, "name": e.name, "scope": e.scope, "exclude_from_sequences": e.exclude_from_sequences,
         "remove_from_active_sequences": e.remove_from_active_sequences, "criteria": copy.deepcopy(e.criteria),
         "filters": [copy.deepcopy(f) for f in e.filters]}
    if e.description:
        d["description"] = e.description
    return d


# --- parsing & validation --------------------------------------------------------------------------

SECTIONS = ("org", "exclusions", "rulesets", "sequences", "plays", "crm_mapping")


def _req(obj: dict, key: str, path: str, kind: type | tuple = str):
    if not isinstance(obj, dict):
        raise SettingsError(path, f"expected a mapping, got {type(obj).__name__}")
    if key not in obj or obj[key] is None or obj[key] == "":
        raise SettingsError(f"{path}.{key}", "is required")
    val = obj[key]
    if not isinstance(val, kind) or (kind is int and isinstance(val, bool)):
        name = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise SettingsError(f"{path}.{key}", f"expected {name}, got {val!r}")
    return val


def _bool(obj: dict, key: str, path: str, default: bool) -> bool:
    val = obj.get(key, default)
    if not isinstance(val, bool):
        raise SettingsError(f"{path}.{key}", f"expected true or false, got {val!r}")
    return val


def _toggles(obj: Any, path: str, exclusion_ids: set[str]) -> dict[str, bool]:
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise SettingsError(path, "expected a mapping of exclusion id to true/false")
    out = {}
    for k, v in obj.items():
        if k not in exclusion_ids:
            raise SettingsError(f"{path}.{k}", f"unknown exclusion {k!r}")
        if not isinstance(v, bool):
            raise SettingsError(f"{path}.{k}", f"expected true or false, got {v!r}")
        out[str(k)] = v
    return out


def _unique(items: list, path: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        key = item.id
        if key in seen:
            raise SettingsError(f"{path}[{i}].id", f"duplicate id {key!r}")
        seen.add(key)


def _list(doc: dict, key: str) -> list:
    val = doc.get(key) or []
    if not isinstance(val, list):
        raise SettingsError(key, f"expected a list, got {type(val).__name__}")
    return val


def parse_settings(doc: dict) -> Settings:
    """Validate a settings document and build :class:`Settings`. Raises :class:`SettingsError`."""
    if not isinstance(doc, dict):
        raise SettingsError("settings", "expected a mapping with sections " + ", ".join(SECTIONS))
    unknown = set(doc) - set(SECTIONS)
    if unknown:
        raise SettingsError(sorted(unknown)[0], f"unknown section; expected one of {', '.join(SECTIONS)}")
    org = doc.get("org") or {}
    if not isinstance(org, dict):
        raise SettingsError("org", "expected a mapping")
    propagation = org.get("propagation_minutes", DEFAULT_PROPAGATION_MINUTES)
    if not isinstance(propagation, int) or isinstance(propagation, bool) or propagation < 0:
        raise SettingsError("org.propagation_minutes", f"expected a whole number of minutes >= 0, got {propagation!r}")

    exclusions = []
    for i, e in enumerate(_list(doc, "exclusions")):
        path = f"exclusions[{i}]"
        eid = _req(e, "id", path)
        scope = e.get("scope", "person")
        if scope not in SCOPES:
            raise SettingsError(f"{path}.scope", f"expected person or company, got {scope!r}")
        criteria = _req(e, "criteria", path, dict)
        filters = e.get("filters") or []
        if not isinstance(filters, list):
            raise SettingsError(f"{path}.filters", "expected a list of conditions")
        try:
            validate(criteria, f"{path}.criteria")
            for j, f in enumerate(filters):
                validate(f, f"{path}.filters[{j}]")
        except RuleError as err:
            raise SettingsError(err.path, err.message) from None
        exclusions.append(Exclusion(
            id=str(eid), name=str(e.get("name") or eid), criteria=criteria, scope=scope,
            exclude_from_sequences=_bool(e, "exclude_from_sequences", path, True),
            remove_from_active_sequences=_bool(e, "remove_from_active_sequences", path, False),
            filters=tuple(filters), description=str(e.get("description") or ""),
        ))
    _unique(exclusions, "exclusions")
    if len(exclusions) > MAX_EXCLUSIONS:
        raise SettingsError("exclusions", f"{len(exclusions)} exclusions; at most {MAX_EXCLUSIONS} are supported")
    excl_ids = {e.id for e in exclusions}

    rulesets = []
    for i, r in enumerate(_list(doc, "rulesets")):
        path = f"rulesets[{i}]"
        rid = _req(r, "id", path)
        rulesets.append(Ruleset(id=str(rid), name=str(r.get("name") or rid),
                                exclusions=_toggles(r.get("exclusions"), f"{path}.exclusions", excl_ids)))
    _unique(rulesets, "rulesets")
    ruleset_ids = {r.id for r in rulesets}

    sequences = []
    for i, s in enumerate(_list(doc, "sequences")):
        path = f"sequences[{i}]"
        sid = _req(s, "id", path)
        rs = _req(s, "ruleset", path)
        if rs not in ruleset_ids:
            raise SettingsError(f"{path}.ruleset", f"unknown ruleset {rs!r}; known: {', '.join(sorted(ruleset_ids))}")
        raw_steps = s.get("steps") or []
        if not isinstance(raw_steps, list) or not raw_steps:
            raise SettingsError(f"{path}.steps", "expected a non-empty list of steps")
        steps = []
        for j, st in enumerate(raw_steps):
            if not isinstance(st, dict):
                raise SettingsError(f"{path}.steps[{j}]", "expected a mapping with delay_days and subject")
            delay = st.get("delay_days", 0)
            if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
                raise SettingsError(f"{path}.steps[{j}].delay_days", f"expected a number >= 0, got {delay!r}")
            steps.append(Step(delay_days=float(delay), subject=str(st.get("subject") or "")))
        sequences.append(Sequence(id=str(sid), name=str(s.get("name") or sid), ruleset=rs, steps=tuple(steps)))
    _unique(sequences, "sequences")
    seq_ids = {s.id for s in sequences}

    plays = []
    for i, p in enumerate(_list(doc, "plays")):
        path = f"plays[{i}]"
        pid = _req(p, "id", path)
        audience = p.get("audience")
        if audience is not None:
            try:
                validate(audience, f"{path}.audience")
            except RuleError as err:
                raise SettingsError(err.path, err.message) from None
        nodes = []
        for j, n in enumerate(p.get("nodes") or []):
            npath = f"{path}.nodes[{j}]"
            seq = _req(n, "sequence", npath)
            if seq not in seq_ids:
                raise SettingsError(f"{npath}.sequence", f"unknown sequence {seq!r}")
            nodes.append(Node(id=str(n.get("id") or f"{pid}-{j + 1}"), sequence=seq, name=str(n.get("name") or "")))
        _unique(nodes, f"{path}.nodes")
        plays.append(Play(id=str(pid), name=str(p.get("name") or pid), audience=audience,
                          audience_exclusions=_toggles(p.get("audience_exclusions"), f"{path}.audience_exclusions",
                                                       excl_ids),
                          nodes=tuple(nodes)))
    _unique(plays, "plays")

    mappings = []
    raw_map = doc.get("crm_mapping") or {}
    if not isinstance(raw_map, dict):
        raise SettingsError("crm_mapping", "expected a mapping of crm name to {field, mode}")
    for crm, m in raw_map.items():
        path = f"crm_mapping.{crm}"
        if crm not in states.CRMS:
            raise SettingsError(path, "expected salesforce or hubspot")
        fld = _req(m, "field", path)
        mode = m.get("mode", "read_only")
        if mode not in CRM_MODES:
            raise SettingsError(f"{path}.mode", f"expected read_only or read_write, got {mode!r}")
        mappings.append(CrmMapping(crm=crm, field=fld, mode=mode))

    return Settings(exclusions=tuple(exclusions), rulesets=tuple(rulesets), sequences=tuple(sequences),
                    plays=tuple(plays), crm_mapping=tuple(mappings), propagation_minutes=propagation)


# --- versions --------------------------------------------------------------------------------------

EPOCH = dt.datetime(1970, 1, 1)


def _diff(before: Settings | None, after: Settings) -> list[tuple[str, str, str, Any, Any]]:
    """(object_type, object_id, field, before, after) for every changed field."""
    out = []
    b = before.to_dict() if before else {}
    a = after.to_dict()

    def by_id(items):
        return {x["id"]: x for x in items}

    for section in ("exclusions", "rulesets", "sequences", "plays"):
        old, new = by_id(b.get(section, [])), by_id(a.get(section, []))
        kind = section.rstrip("s")
        for key in sorted(set(old) | set(new)):
            o, n = old.get(key), new.get(key)
            if o is None or n is None:
                out.append((kind, key, "*", o, n))
                continue
            for f in sorted(set(o) | set(n)):
                if f in ("exclusions", "audience_exclusions") and isinstance(n.get(f), dict):
                    for ex in sorted(set(o.get(f) or {}) | set(n.get(f) or {})):
                        ov, nv = (o.get(f) or {}).get(ex), (n.get(f) or {}).get(ex)
                        if ov != nv:
                            out.append((kind, key, f"{f}.{ex}", ov, nv))
                elif o.get(f) != n.get(f):
                    out.append((kind, key, f, o.get(f), n.get(f)))
    for section in ("org", "crm_mapping"):
        if b.get(section) != a.get(section):
            out.append((section, section, "*", b.get(section), a.get(section)))
    return out


def save_version(con: duckdb.DuckDBPyConnection, settings: Settings, *, actor: str, note: str = "",
                 at: dt.datetime | None = None, effective_at: dt.datetime | None = None) -> int:
    """Save ``settings`` as a new version and record one settings change per changed field.

    ``effective_at`` defaults to ``at`` plus the propagation delay. Returns the version number.
    The caller owns the transaction.
    """
    at = at or db.now(con)
    if effective_at is None:
        effective_at = at + dt.timedelta(minutes=settings.propagation_minutes)
    previous = latest_version(con)
    prev_settings = previous[1] if previous else None
    version = (previous[0] if previous else 0) + 1
    con.execute("INSERT INTO settings_versions VALUES (?, ?, ?, ?, ?, ?)",
                [version, at, effective_at, actor, note, settings.to_json()])
    for i, (kind, oid, fld, before, after) in enumerate(_diff(prev_settings, settings)):
        con.execute(
            "INSERT INTO settings_changes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [f"v{version}-{i + 1}", version, kind, oid, fld, db.dumps(before), db.dumps(after), actor, at,
             effective_at, note],
        )
    return version


def _load(document: str) -> Settings:
    return parse_settings(json.loads(document))


_CACHE: dict[str, Settings] = {}


def _cached(document: str) -> Settings:
    s = _CACHE.get(document)
    if s is None:
        if len(_CACHE) > 64:
            _CACHE.clear()
        s = _CACHE[document] = _load(document)
    return s


def latest_version(con: duckdb.DuckDBPyConnection) -> tuple[int, Settings] | None:
    """The newest saved version, pending or not (what an editor starts from)."""
    row = con.execute("SELECT version, document FROM settings_versions ORDER BY version DESC LIMIT 1").fetchone()
    return None if row is None else (row[0], _cached(row[1]))


def settings_at(con: duckdb.DuckDBPyConnection, when: dt.datetime | None = None) -> tuple[int, Settings]:
    """The version in effect at ``when`` (default: the workspace clock): the newest version whose
    ``effective_at`` has come. Each version is a whole document saved on top of the latest one, so a
    newer version that takes effect first (a shorter propagation delay) supersedes an older pending one."""
    when = when or db.now(con)
    row = con.execute(
        "SELECT version, document FROM settings_versions WHERE effective_at <= ? "
        "ORDER BY version DESC LIMIT 1", [when]).fetchone()
    if row is None:
        raise NotFound("no settings in effect: load a workspace first (unify-dash load DIR)")
    return row[0], _cached(row[1])


def pending_versions(con: duckdb.DuckDBPyConnection, when: dt.datetime | None = None) -> list[dict]:
    """Versions saved at or before ``when`` and not yet in effect then, with what they change.

    A version superseded before it takes effect (a newer one is already in effect) is not pending."""
    when = when or db.now(con)
    rows = con.execute(
        "SELECT version, created_at, effective_at, actor, note FROM settings_versions "
        "WHERE effective_at > ? AND created_at <= ? "
        "AND version > coalesce((SELECT max(version) FROM settings_versions WHERE effective_at <= ?), 0) "
        "ORDER BY version", [when, when, when]).fetchall()
    out = []
    for version, created, effective, actor, note in rows:
        changes = con.execute(
            "SELECT object_type, object_id, field, before, after FROM settings_changes WHERE version = ? "
            "ORDER BY change_id", [version]).fetchall()
        out.append({"version": version, "created_at": created, "effective_at": effective, "actor": actor,
                    "note": note, "changes": [dict(zip(("object_type", "object_id", "field", "before", "after"),
                                                       c, strict=True)) for c in changes]})
    return out


def apply(con: duckdb.DuckDBPyConnection, actor, new: Settings, *, note: str,
          at: dt.datetime | None = None) -> int:
    """Save ``new`` as the next version on behalf of ``actor`` (role checked, audited).

    It takes effect after the propagation delay; until then :func:`pending_versions` lists it.
    """
    from unify_dash.model import roles  # local import: roles imports nothing from here

    roles.require(actor, "settings.apply")
    if not note or not note.strip():
        raise ValidationError("a note is required to apply a settings change")
    with db.transaction(con):
        version = save_version(con, new, actor=actor.name, note=note.strip(), at=at)
        db.bump_generation(con)
        roles.audit(con, actor, "settings.apply", f"settings v{version}", {"note": note.strip()}, at=at)
    return version


def add_email_override(con: duckdb.DuckDBPyConnection, actor, exclusion_id: str, address: str, *, note: str,
                       at: dt.datetime | None = None) -> int:
    """Add the filter "Email is not <address>" to an exclusion, letting that one contact through.

    Role ``override.add`` (support may do this, unlike other settings changes). Builds on the
    newest saved version (pending or not), saves a new version that takes effect after the
    propagation delay, audits. Returns the version number.
    """
    from unify_dash.model import roles
    from unify_dash.model.vocabulary import email_is_not

    roles.require(actor, "override.add")
    if not note or not note.strip():
        raise ValidationError("a note is required to add an override")
    if not address or "@" not in address:
        raise ValidationError(f"expected an email address, got {address!r}")
    latest = latest_version(con)
    if latest is None:
        raise NotFound("no settings saved yet: load a workspace first")
    base = latest[1]
    exclusion = base.exclusion(exclusion_id)
    rule = email_is_not(address)
    if rule in exclusion.filters:
        raise ValidationError(f"{exclusion.name} already has the filter Email is not {rule['value']}")
    new = base.with_exclusion(Exclusion(**{**exclusion.__dict__, "filters": (*exclusion.filters, rule)}))
    with db.transaction(con):
        version = save_version(con, new, actor=actor.name, note=note.strip(), at=at)
        db.bump_generation(con)
        roles.audit(con, actor, "override.add", rule["value"],
                    {"exclusion": exclusion_id, "version": version, "note": note.strip()}, at=at)
    return version
