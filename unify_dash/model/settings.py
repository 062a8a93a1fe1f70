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
import difflib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import duckdb

from unify_dash.errors import NotFound, ValidationError
from unify_dash.model import settings_schema, vocabulary
from unify_dash.store import db

SCOPES, CRM_MODES = settings_schema.SCOPES, settings_schema.CRM_MODES
DEFAULT_PROPAGATION_MINUTES = settings_schema.DEFAULT_PROPAGATION_MINUTES
# The levels at which an exclusion can be toggled. "node" is the sequence node of a Play:
# there an exclusion blocks when it is on at the organisation level AND in the sequence's ruleset.
MAX_EXCLUSIONS = settings_schema.MAX_EXCLUSIONS


class SettingsError(ValidationError):
    """A settings document that does not validate. ``path`` is like ``exclusions[2].criteria.op``;
    ``problems`` lists every ``(path, message)`` found (``path``/``message`` are the first)."""

    def __init__(self, path: str, message: str, problems: list[tuple[str, str]] | None = None):
        self.path = path
        self.message = message
        self.problems = list(problems or [(path, message)])
        text = "; ".join(f"{p}: {m}" for p, m in self.problems[:10])
        more = f" (and {len(self.problems) - 10} more)" if len(self.problems) > 10 else ""
        super().__init__(text + more)

    @classmethod
    def of(cls, problems: list[tuple[str, str]]) -> SettingsError:
        return cls(problems[0][0], problems[0][1], problems)


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
    # address of an "Email is not" override -> when it stops applying (ISO timestamp, workspace clock)
    override_expiry: dict[str, str] = field(default_factory=dict)

    @property
    def company_wide(self) -> bool:
        return self.scope == "company"

    def expiry(self, address: str) -> dt.datetime | None:
        """When the "Email is not ``address``" override of this exclusion stops applying (None: never)."""
        value = self.override_expiry.get(address)
        return None if value is None else _expiry_time(value)


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
    condition: dict | None = None  # Play branching: who this node is for (None: every contact)


@dataclass(frozen=True)
class Play:
    id: str
    name: str
    audience: dict | None  # criteria over contacts; None = every contact
    audience_exclusions: dict[str, bool]  # exclusion id -> on at the audience level
    nodes: tuple[Node, ...]

    def audience_on(self, exclusion_id: str) -> bool:
        return bool(self.audience_exclusions.get(exclusion_id, False))

    @property
    def branching(self) -> bool:
        """A node has a condition: each contact goes to the first node whose condition it meets."""
        return any(n.condition is not None for n in self.nodes)


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
    one_active_sequence: bool = False  # org: one active sequence per contact at a time
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
            if e.override_expiry:
                d["override_expiry"] = dict(e.override_expiry)
            return d

        return {
            "org": {"propagation_minutes": self.propagation_minutes,
                    **({"one_active_sequence": True} if self.one_active_sequence else {})},
            "exclusions": [excl(e) for e in self.exclusions],
            "rulesets": [{"id": r.id, "name": r.name, "exclusions": dict(r.exclusions)} for r in self.rulesets],
            "sequences": [{"id": s.id, "name": s.name, "ruleset": s.ruleset,
                           "steps": [{"delay_days": st.delay_days, "subject": st.subject} for st in s.steps]}
                          for s in self.sequences],
            "plays": [{"id": p.id, "name": p.name, "audience": p.audience,
                       "audience_exclusions": dict(p.audience_exclusions),
                       "nodes": [{"id": n.id, "sequence": n.sequence, "name": n.name,
                                  **({"condition": n.condition} if n.condition is not None else {})}
                                 for n in p.nodes]}
                      for p in self.plays],
            "crm_mapping": {m.crm: {"field": m.field, "mode": m.mode} for m in self.crm_mapping},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    # -- override expiry (the engine evaluates :meth:`in_force_at`) --------------------------------
    def expiries(self) -> list[tuple[str, str, dt.datetime]]:
        """(exclusion id, address, expires at) of every override with an expiry."""
        return [(e.id, a, _expiry_time(t)) for e in self.exclusions for a, t in e.override_expiry.items()]

    def expires_between(self, after: dt.datetime, until: dt.datetime) -> bool:
        """True when an override's expiry falls in (after, until]: an evaluation at ``after`` is stale."""
        return any(after < t <= until for _x, _a, t in self.expiries())

    def in_force_at(self, when: dt.datetime) -> Settings:
        """These settings as they apply at ``when``: an "Email is not" override whose expiry has come no
        longer lets its contact through (its filter is left out). ``self`` when nothing has expired."""
        expired = {(x, a) for x, a, t in self.expiries() if t <= when}
        if not expired:
            return self
        doc = self.to_dict()
        for e in doc["exclusions"]:
            e["filters"] = [f for f in e["filters"]
                            if not (vocabulary.is_email_is_not(f) and (e["id"], f.get("value")) in expired)]
        return parse_settings(doc)

    # -- edits (each returns a new Settings; nothing is saved until save_version) -------------------
    def with_exclusion(self, exclusion: Exclusion) -> Settings:
        index = next((i for i, e in enumerate(self.exclusions) if e.id == exclusion.id), len(self.exclusions))
        rules = [("criteria", exclusion.criteria), *((f"filters[{j}]", f) for j, f in enumerate(exclusion.filters))]
        found = [(f"exclusions[{index}].{e.path}", e.message)  # before copying: a rule may be nested absurdly deep
                 for where, rule in rules for e in vocabulary.problems(rule, where)]
        if found:
            raise SettingsError.of(found)
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
    if e.override_expiry:
        d["override_expiry"] = dict(e.override_expiry)
    return d


def _expiry_time(value: str) -> dt.datetime:
    """An override expiry as a naive UTC timestamp (the workspace clock's form)."""
    t = dt.datetime.fromisoformat(str(value))
    return t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo else t


# --- parsing & validation --------------------------------------------------------------------------

SECTIONS = settings_schema.SECTIONS


def _items(doc: dict, section: str) -> list[tuple[int, dict]]:
    value = doc.get(section)
    return [(i, x) for i, x in enumerate(value) if isinstance(x, dict)] if isinstance(value, list) else []


def _id_problems(items: list[tuple[int, dict]], path: str) -> list[tuple[str, str]]:
    out, seen = [], set()
    for i, item in items:
        key = item.get("id")
        if isinstance(key, str):
            if key in seen:
                out.append((f"{path}[{i}].id", f"duplicate id {key!r}; ids are unique within {path.split('.')[-1]}"))
            seen.add(key)
    return out


def _reference_problems(doc: dict) -> list[tuple[str, str]]:
    """Unique ids and references between sections (the schema checks each item on its own)."""
    exclusions, rulesets = _items(doc, "exclusions"), _items(doc, "rulesets")
    sequences, plays = _items(doc, "sequences"), _items(doc, "plays")
    out = _id_problems(exclusions, "exclusions") + _id_problems(rulesets, "rulesets") + _id_problems(
        sequences, "sequences") + _id_problems(plays, "plays")
    excl_ids = {e.get("id") for _, e in exclusions}
    ruleset_ids = {r.get("id") for _, r in rulesets if isinstance(r.get("id"), str)}
    seq_ids = {s.get("id") for _, s in sequences}

    def toggles(value: Any, path: str) -> None:
        for key in value if isinstance(value, dict) else ():
            if key not in excl_ids:
                close = difflib.get_close_matches(str(key), [k for k in excl_ids if isinstance(k, str)], n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                out.append((f"{path}.{key}", f"unknown exclusion {str(key)!r}{hint}"))

    for i, r in rulesets:
        toggles(r.get("exclusions"), f"rulesets[{i}].exclusions")
    for i, s in sequences:
        rs = s.get("ruleset")
        if isinstance(rs, str) and rs and rs not in ruleset_ids:
            out.append((f"sequences[{i}].ruleset", f"unknown ruleset {rs!r}; known: {', '.join(sorted(ruleset_ids))}"))
    for i, p in plays:
        toggles(p.get("audience_exclusions"), f"plays[{i}].audience_exclusions")
        nodes = [(j, n) for j, n in enumerate(p.get("nodes") or []) if isinstance(n, dict)] if isinstance(
            p.get("nodes"), list) else []
        for j, n in nodes:
            seq = n.get("sequence")
            if isinstance(seq, str) and seq and seq not in seq_ids:
                out.append((f"plays[{i}].nodes[{j}].sequence", f"unknown sequence {seq!r}"))
        node_ids = [(j, {"id": n.get("id") or f"{p.get('id')}-{j + 1}"}) for j, n in nodes]
        out += _id_problems(node_ids, f"plays[{i}].nodes")
    for i, e in exclusions:
        for address, when in (e.get("override_expiry") or {}).items() if isinstance(e.get("override_expiry"), dict) else ():
            try:
                _expiry_time(when)
            except (TypeError, ValueError):
                out.append((f"exclusions[{i}].override_expiry.{address}",
                            f"expected an ISO timestamp such as 2027-01-31T00:00, got {when!r}"))
    return out


def parse_settings(doc: dict) -> Settings:
    """Validate a settings document against :data:`unify_dash.model.settings_schema.SETTINGS_SCHEMA` and the
    references between its sections, and build :class:`Settings`.

    Raises :class:`SettingsError` naming every problem (its ``problems``), each with its key path."""
    found = settings_schema.problems(doc)
    if isinstance(doc, dict):
        found += [p for p in _reference_problems(doc) if p[0] not in {f[0] for f in found}]
    if found:
        raise SettingsError.of(found)
    org = doc.get("org") or {}
    exclusions = tuple(Exclusion(
        id=e["id"], name=e.get("name") or e["id"], criteria=e["criteria"], scope=e.get("scope", "person"),
        exclude_from_sequences=e.get("exclude_from_sequences", True),
        remove_from_active_sequences=e.get("remove_from_active_sequences", False),
        filters=tuple(e.get("filters") or ()), description=e.get("description") or "",
        override_expiry=dict(e.get("override_expiry") or {}),
    ) for e in doc.get("exclusions") or [])
    rulesets = tuple(Ruleset(id=r["id"], name=r.get("name") or r["id"], exclusions=dict(r.get("exclusions") or {}))
                     for r in doc.get("rulesets") or [])
    sequences = tuple(Sequence(
        id=s["id"], name=s.get("name") or s["id"], ruleset=s["ruleset"],
        steps=tuple(Step(delay_days=float(st.get("delay_days", 0)), subject=st.get("subject") or "")
                    for st in s["steps"])) for s in doc.get("sequences") or [])
    plays = tuple(Play(
        id=p["id"], name=p.get("name") or p["id"], audience=p.get("audience"),
        audience_exclusions=dict(p.get("audience_exclusions") or {}),
        nodes=tuple(Node(id=n.get("id") or f"{p['id']}-{j + 1}", sequence=n["sequence"], name=n.get("name") or "",
                         condition=n.get("condition"))
                    for j, n in enumerate(p.get("nodes") or []))) for p in doc.get("plays") or [])
    mappings = tuple(CrmMapping(crm=crm, field=m["field"], mode=m.get("mode", "read_only"))
                     for crm, m in (doc.get("crm_mapping") or {}).items())
    return Settings(exclusions=exclusions, rulesets=rulesets, sequences=sequences, plays=plays,
                    crm_mapping=mappings,
                    propagation_minutes=int(org.get("propagation_minutes", DEFAULT_PROPAGATION_MINUTES)),
                    one_active_sequence=bool(org.get("one_active_sequence", False)))


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
    document = settings.to_json()
    _cached(document)  # a version is saved only when it loads again: SettingsError otherwise
    con.execute("INSERT INTO settings_versions VALUES (?, ?, ?, ?, ?, ?)",
                [version, at, effective_at, actor, note, document])
    db.set_meta(con, "settings_token", uuid.uuid4().hex)  # a new token: cached version look-ups read again
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


# the version in effect at a time: the newest whose effective_at has come
_IN_EFFECT = "FROM settings_versions WHERE effective_at <= ? ORDER BY version DESC LIMIT 1"


def settings_at(con: duckdb.DuckDBPyConnection, when: dt.datetime | None = None) -> tuple[int, Settings]:
    """The version in effect at ``when`` (default: the workspace clock): the newest version whose
    ``effective_at`` has come. Each version is a whole document saved on top of the latest one, so a
    newer version that takes effect first (a shorter propagation delay) supersedes an older pending one."""
    when = when or db.now(con)
    row = con.execute(f"SELECT version, document {_IN_EFFECT}", [when]).fetchone()
    if row is None:
        raise NotFound("no settings in effect: load a workspace first (unify-dash load DIR)")
    return row[0], _cached(row[1])


def version_at(con: duckdb.DuckDBPyConnection, when: dt.datetime) -> int | None:
    """The number of the version :func:`settings_at` returns, without reading its document (None: none in
    effect). A cache keyed by version asks this first."""
    row = con.execute(f"SELECT version {_IN_EFFECT}", [when]).fetchone()
    return None if row is None else row[0]


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
                       at: dt.datetime | None = None, expires_at: dt.datetime | None = None) -> int:
    """Add the filter "Email is not <address>" to an exclusion, letting that one contact through.

    Role ``override.add`` (support may do this, unlike other settings changes). Builds on the
    newest saved version (pending or not), saves a new version that takes effect after the
    propagation delay, audits. ``expires_at``: the override stops applying then (``override_expiry``).
    Returns the version number.
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
    expiry = dict(exclusion.override_expiry)
    if expires_at is not None:
        if expires_at <= (at or db.now(con)):
            raise ValidationError(f"the expiry {expires_at:%Y-%m-%d %H:%M} is not in the future")
        expiry[rule["value"]] = expires_at.isoformat(timespec="minutes")
    new = base.with_exclusion(Exclusion(**{**exclusion.__dict__, "filters": (*exclusion.filters, rule),
                                           "override_expiry": expiry}))
    with db.transaction(con):
        version = save_version(con, new, actor=actor.name, note=note.strip(), at=at)
        db.bump_generation(con)
        roles.audit(con, actor, "override.add", rule["value"],
                    {"exclusion": exclusion_id, "version": version, "note": note.strip(),
                     **({"expires_at": expiry[rule["value"]]} if expires_at is not None else {})}, at=at)
    return version
