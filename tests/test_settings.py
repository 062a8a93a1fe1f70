"""The settings document, its validation, edits, versions and propagation."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from lifecycle_factory import REVOPS

from tests.engine_factory import NOW, Workspace, doc, exclusion, title_is
from unify_dash.errors import NotFound, PermissionDenied, ValidationError
from unify_dash.model import levels
from unify_dash.model import settings as s
from unify_dash.model.roles import Actor
from unify_dash.store import db

BASE = doc([exclusion("ceo", title_is("CEO"), name="Executives", remove=True),
            exclusion("vp", title_is("VP"), scope="company",
                      filters=[{"field": "email", "op": "not_equals", "value": "x@y.com"}])])


def test_parse_builds_objects_with_defaults():
    st = s.parse_settings({"exclusions": [{"id": "a", "criteria": title_is("x")}]})
    e = st.exclusion("a")
    assert (e.name, e.scope, e.exclude_from_sequences, e.remove_from_active_sequences, e.filters) == (
        "a", "person", True, False, ())
    assert st.propagation_minutes == s.DEFAULT_PROPAGATION_MINUTES == 15
    full = s.parse_settings(BASE)
    assert full.exclusion("vp").company_wide and full.ruleset("default").is_on("ceo")
    assert full.play("play").nodes[0].sequence == "seq" and not full.play("play").audience_on("ceo")
    assert full.exclusion_index("vp") == 1


def test_round_trip():
    st = s.parse_settings(BASE)
    assert s.parse_settings(st.to_dict()) == st
    assert s.parse_settings(copy.deepcopy(st.to_dict())).to_json() == st.to_json()


def broken(path: list, value):
    d = copy.deepcopy(BASE)
    target = d
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return d


# (document, error path, message fragment)
INVALID = [
    ("nope", "settings", "expected a mapping"),
    ({**BASE, "extra": {}}, "extra", "unknown section"),
    (broken(["exclusions"], {"a": 1}), "exclusions", "expected a list"),
    (broken(["exclusions", 0, "id"], KeyError), "exclusions[0].id", "is required"),
    (broken(["exclusions", 0, "id"], 7), "exclusions[0].id", "expected str"),
    (broken(["exclusions", 0, "scope"], "team"), "exclusions[0].scope", "expected person or company"),
    (broken(["exclusions", 0, "criteria"], KeyError), "exclusions[0].criteria", "is required"),
    (broken(["exclusions", 0, "criteria", "op"], "gt"), "exclusions[0].criteria.op", "does not apply"),
    (broken(["exclusions", 1, "filters"], "x"), "exclusions[1].filters", "expected a list"),
    (broken(["exclusions", 1, "filters", 0, "value"], ""), "exclusions[1].filters[0].value", "non-empty text"),
    (broken(["exclusions", 0, "exclude_from_sequences"], "yes"), "exclusions[0].exclude_from_sequences",
     "expected true or false"),
    (broken(["exclusions", 1, "id"], "ceo"), "exclusions[1].id", "duplicate id 'ceo'"),
    (broken(["rulesets", 0, "exclusions", "nope"], True), "rulesets[0].exclusions.nope", "unknown exclusion"),
    (broken(["rulesets", 0, "exclusions", "ceo"], "on"), "rulesets[0].exclusions.ceo", "expected true or false"),
    (broken(["sequences", 0, "ruleset"], "nope"), "sequences[0].ruleset", "unknown ruleset 'nope'"),
    (broken(["sequences", 0, "steps"], []), "sequences[0].steps", "non-empty list"),
    (broken(["sequences", 0, "steps", 0, "delay_days"], -1), "sequences[0].steps[0].delay_days", ">= 0"),
    (broken(["plays", 0, "nodes", 0, "sequence"], "nope"), "plays[0].nodes[0].sequence", "unknown sequence"),
    (broken(["plays", 0, "audience"], {"field": "nope", "op": "is_empty"}), "plays[0].audience.field",
     "unknown field"),
    (broken(["plays", 0, "audience_exclusions"], {"nope": True}), "plays[0].audience_exclusions.nope",
     "unknown exclusion"),
    (broken(["crm_mapping"], {"pipedrive": {"field": "x"}}), "crm_mapping.pipedrive", "salesforce or hubspot"),
    (broken(["crm_mapping"], {"salesforce": {"field": "X", "mode": "rw"}}), "crm_mapping.salesforce.mode",
     "read_only or read_write"),
    (broken(["org", "propagation_minutes"], -5), "org.propagation_minutes", ">= 0"),
    ({"exclusions": [{"id": f"x{i}", "criteria": title_is("t")} for i in range(s.MAX_EXCLUSIONS + 1)]},
     "exclusions", f"at most {s.MAX_EXCLUSIONS}"),
]


@pytest.mark.parametrize("document,path,message", INVALID, ids=[p for _, p, _ in INVALID])
def test_invalid_documents_name_the_path(document, path, message):
    with pytest.raises(s.SettingsError) as err:
        s.parse_settings(document)
    assert err.value.path == path
    assert message in err.value.message
    assert isinstance(err.value, ValidationError)


@pytest.mark.parametrize("toggles,check", [
    ({("ceo", "organisation", None): False}, lambda st: not st.exclusion("ceo").exclude_from_sequences),
    ({("ceo", "ruleset", "default"): False}, lambda st: not st.ruleset("default").is_on("ceo")),
    ({("vp", "audience", "play"): True}, lambda st: st.play("play").audience_on("vp")),
])
def test_with_toggles(toggles, check):
    st = s.parse_settings(BASE)
    assert check(levels.with_toggles(st, toggles))
    assert not check(st)  # the original is untouched


@pytest.mark.parametrize("toggles,error", [
    ({("nope", "organisation", None): False}, NotFound),
    ({("ceo", "ruleset", "nope"): False}, NotFound),
    ({("ceo", "audience", "nope"): False}, NotFound),
    ({("ceo", "moon", None): False}, ValidationError),
])
def test_with_toggles_errors(toggles, error):
    with pytest.raises(error):
        levels.with_toggles(s.parse_settings(BASE), toggles)


def test_with_exclusion_replaces_or_adds():
    st = s.parse_settings(BASE)
    e = st.exclusion("ceo")
    changed = st.with_exclusion(s.Exclusion(**{**e.__dict__, "name": "Chiefs"}))
    assert changed.exclusion("ceo").name == "Chiefs" and len(changed.exclusions) == 2
    added = st.with_exclusion(s.Exclusion(id="new", name="New", criteria=title_is("x")))
    assert [x.id for x in added.exclusions] == ["ceo", "vp", "new"]


@pytest.mark.parametrize("kind,key", [("exclusion", "x"), ("ruleset", "x"), ("sequence", "x"), ("play", "x")])
def test_lookups_raise_not_found(kind, key):
    with pytest.raises(NotFound, match=f"unknown {kind} 'x'"):
        getattr(s.parse_settings(BASE), kind)(key)


# --- versions and propagation -------------------------------------------------------------------------------


def test_versions_take_effect_after_the_propagation_delay(con):
    Workspace(con)
    v1 = s.save_version(con, s.parse_settings(BASE), actor="a", at=NOW - dt.timedelta(days=1))
    st2 = levels.with_toggles(s.parse_settings(BASE), {("ceo", "organisation", None): False})
    v2 = s.save_version(con, st2, actor="b", note="off", at=NOW)
    assert (v1, v2) == (1, 2)
    assert s.settings_at(con, NOW + dt.timedelta(minutes=14))[0] == 1
    assert s.settings_at(con, NOW + dt.timedelta(minutes=15))[0] == 2
    assert s.settings_at(con)[0] == 1  # the workspace clock is NOW
    [pending] = s.pending_versions(con, NOW)
    assert (pending["version"], pending["effective_at"], pending["actor"], pending["note"]) == (
        2, NOW + dt.timedelta(minutes=15), "b", "off")
    assert [(c["object_type"], c["object_id"], c["field"]) for c in pending["changes"]] == [
        ("exclusion", "ceo", "exclude_from_sequences")]
    assert s.pending_versions(con, NOW + dt.timedelta(minutes=15)) == []
    # a version saved later was not pending earlier
    assert s.pending_versions(con, NOW - dt.timedelta(minutes=1)) == []
    assert s.latest_version(con)[0] == 2


def test_nothing_in_effect_is_not_found(con):
    with pytest.raises(NotFound, match="no settings in effect"):
        s.settings_at(con, NOW)
    assert s.latest_version(con) is None


def test_a_newer_version_in_effect_supersedes_an_older_pending_one(con):
    """v2 (15 min delay) is saved, then v3 with a 0-minute delay: v3 is in effect at once and v2 never
    reverts it when its own time comes."""
    Workspace(con)
    base = s.parse_settings(BASE)
    s.save_version(con, base, actor="a", at=NOW - dt.timedelta(days=1))
    v2 = levels.with_toggles(base, {("ceo", "organisation", None): False})
    s.save_version(con, v2, actor="a", at=NOW)
    v3_doc = v2.to_dict()
    v3_doc["org"]["propagation_minutes"] = 0
    s.save_version(con, s.parse_settings(v3_doc), actor="a", at=NOW + dt.timedelta(minutes=5))
    assert s.settings_at(con, NOW + dt.timedelta(minutes=6))[0] == 3
    assert s.settings_at(con, NOW + dt.timedelta(minutes=20))[0] == 3
    assert s.pending_versions(con, NOW + dt.timedelta(minutes=6)) == []


def test_every_changed_field_is_recorded(con):
    Workspace(con)
    base = s.parse_settings(BASE)
    s.save_version(con, base, actor="a", at=NOW)
    new = levels.with_toggles(base, {("vp", "ruleset", "default"): False, ("vp", "audience", "play"): True})
    version = s.save_version(con, new, actor="b", at=NOW)
    rows = con.execute("SELECT object_type, object_id, field, before, after FROM settings_changes "
                       "WHERE version = ? ORDER BY change_id", [version]).fetchall()
    assert rows == [("ruleset", "default", "exclusions.vp", "true", "false"),
                    ("play", "play", "audience_exclusions.vp", "null", "true")]


def test_apply_checks_the_role_requires_a_note_and_bumps_the_generation(con):
    ws = Workspace(con)
    ws.save(BASE)
    new = levels.with_toggles(s.parse_settings(BASE), {("ceo", "organisation", None): False})
    with pytest.raises(PermissionDenied):
        s.apply(con, Actor("mia", "manager"), new, note="x")
    with pytest.raises(ValidationError, match="note is required"):
        s.apply(con, REVOPS, new, note="  ")
    gen = db.generation(con)
    version = s.apply(con, REVOPS, new, note="release executives", at=NOW)
    assert db.generation(con) == gen + 1
    row = con.execute("SELECT created_at, effective_at, actor, note FROM settings_versions WHERE version = ?",
                      [version]).fetchone()
    assert row == (NOW, NOW + dt.timedelta(minutes=15), "rex", "release executives")
    audit = con.execute("SELECT actor, action, target FROM audit_log").fetchall()
    assert audit == [("rex", "settings.apply", f"settings v{version}")]
