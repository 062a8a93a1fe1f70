"""The evaluation engine: levels, groups, impact, drill-down, decisions, caching, CLI."""

from __future__ import annotations

import datetime as dt
import gc
import json
import threading

import numpy as np
import pytest

from tests.engine_factory import NOW, OPEN_OPP, Workspace, doc, exclusion, title_is
from unify_dash import cli, engine
from unify_dash.errors import NotFound, UnifyError, ValidationError
from unify_dash.model import levels
from unify_dash.model import settings as settings_mod
from unify_dash.store import db

CEO = exclusion("ceo", title_is("CEO"), name="CEOs")


def two_node_doc(excl: dict, *, a: bool, b: bool) -> dict:
    return doc([excl],
               rulesets=[{"id": "ra", "name": "A", "exclusions": {"ceo": a}},
                         {"id": "rb", "name": "B", "exclusions": {"ceo": b}}],
               sequences=[{"id": "sa", "name": "Seq A", "ruleset": "ra", "steps": [{"delay_days": 0}]},
                          {"id": "sb", "name": "Seq B", "ruleset": "rb", "steps": [{"delay_days": 0}]}],
               plays=[{"id": "play", "name": "Main play", "audience": None, "audience_exclusions": {},
                       "nodes": [{"id": "na", "sequence": "sa"}, {"id": "nb", "sequence": "sb"}]}])


def with_play(d: dict, **changes) -> dict:
    d["plays"][0].update(changes)
    return d


# (case, settings document, target contact kwargs, target opted out,
#  expected {node: outcome} for the target, expected blockers {(exclusion, level)}); the sequences the
#  Exclusion tab shows as blocked by an exclusion are in SEQUENCES_BLOCKED below
LEVEL_CASES = [
    ("org on and ruleset on: blocked at the sequence node", doc([CEO]), {}, False,
     {"node": "not_enrolled"}, {("ceo", "sequence")}),
    ("org off, ruleset on: enrolled", doc([exclusion("ceo", title_is("CEO"), org=False)]), {}, False,
     {"node": "enrolled"}, set()),
    ("org on, ruleset off: enrolled",
     doc([CEO], rulesets=[{"id": "default", "name": "Default", "exclusions": {"ceo": False}}]), {}, False,
     {"node": "enrolled"}, set()),
    ("ruleset does not list the exclusion: off",
     doc([CEO], rulesets=[{"id": "default", "name": "Default", "exclusions": {}}]), {}, False,
     {"node": "enrolled"}, set()),
    ("on at the audience only: excluded at audience",
     with_play(doc([exclusion("ceo", title_is("CEO"), org=False)]), audience_exclusions={"ceo": True}), {}, False,
     {"node": "excluded_at_audience"}, {("ceo", "audience")}),
    ("audience and node both on: the audience blocks first",
     with_play(doc([CEO]), audience_exclusions={"ceo": True}), {}, False,
     {"node": "excluded_at_audience"}, {("ceo", "audience")}),
    ("off at the audience, on at the sequence: not enrolled",
     with_play(doc([CEO]), audience_exclusions={"ceo": False}), {}, False,
     {"node": "not_enrolled"}, {("ceo", "sequence")}),
    ("opted out with everything off: opted out",
     doc([exclusion("ceo", title_is("CEO"), org=False)]), {}, True, {"node": "opted_out"}, set()),
    ("opted out and blocked: opt-out first", doc([CEO]), {}, True, {"node": "opted_out"}, set()),
    ("outside the audience criteria: never enters",
     with_play(doc([CEO]), audience={"field": "country", "op": "equals", "value": "FR"}), {"country": "US"},
     False, {}, set()),
    ("inside the audience criteria",
     with_play(doc([CEO]), audience={"field": "country", "op": "equals", "value": "fr "}), {"country": "FR"},
     False, {"node": "not_enrolled"}, {("ceo", "sequence")}),
    ("Email is not lets the contact through",
     doc([exclusion("ceo", title_is("CEO"), filters=[{"field": "email", "op": "not_equals",
                                                      "value": "  X@ACME.com "}])]), {}, False,
     {"node": "enrolled"}, set()),
    ("a filter that holds does not let through",
     doc([exclusion("ceo", title_is("CEO"), filters=[{"field": "email", "op": "not_equals",
                                                      "value": "other@acme.com"}])]), {}, False,
     {"node": "not_enrolled"}, {("ceo", "sequence")}),
    ("two nodes: ruleset A on, B off", two_node_doc(CEO, a=True, b=False), {}, False,
     {"na": "not_enrolled", "nb": "enrolled"}, {("ceo", "sequence")}),
    ("two nodes: both rulesets on", two_node_doc(CEO, a=True, b=True), {}, False,
     {"na": "not_enrolled", "nb": "not_enrolled"}, {("ceo", "sequence")}),
    ("company-wide: a colleague matches", doc([exclusion("ceo", title_is("CEO"), scope="company")]),
     {"title": "Engineer"}, False, {"node": "not_enrolled"}, {("ceo", "sequence")}),
    ("person scope: a colleague matching does not block", doc([CEO]), {"title": "Engineer"}, False,
     {"node": "enrolled"}, set()),
]


SEQUENCES_BLOCKED = {
    'org on and ruleset on: blocked at the sequence node': {'seq'},
    'org off, ruleset on: enrolled': set(),
    'org on, ruleset off: enrolled': set(),
    'ruleset does not list the exclusion: off': set(),
    'on at the audience only: excluded at audience': set(),
    'audience and node both on: the audience blocks first': {'seq'},
    'off at the audience, on at the sequence: not enrolled': {'seq'},
    'opted out with everything off: opted out': set(),
    'opted out and blocked: opt-out first': {'seq'},
    'outside the audience criteria: never enters': {'seq'},
    'inside the audience criteria': {'seq'},
    'Email is not lets the contact through': set(),
    'a filter that holds does not let through': {'seq'},
    'two nodes: ruleset A on, B off': {'sa'},
    'two nodes: both rulesets on': {'sa', 'sb'},
    'company-wide: a colleague matches': {'seq'},
    'person scope: a colleague matching does not block': set(),
}


def build_level_case(con, document, target_kwargs, opted):
    ws = Workspace(con)
    kwargs = {"title": "CEO", **target_kwargs}
    x = ws.contact("x@acme.com", **kwargs)
    ws.contact("boss@acme.com", title="CEO", country=kwargs.get("country"))
    ws.contact("neutral@other.com", title="Engineer", country=kwargs.get("country"))
    if opted:
        ws.opt_out("x@acme.com", source="admin")
    ws.save(document)
    return x


@pytest.mark.parametrize("case,document,target,opted,expected,blockers", LEVEL_CASES,
                         ids=[c[0] for c in LEVEL_CASES])
def test_levels(con, case, document, target, opted, expected, blockers):
    x = build_level_case(con, document, target, opted)
    ev = engine.evaluation(con)
    df = engine.entry_decisions(con, ev, "play", [x])
    assert dict(zip(df["node_id"], df["outcome"], strict=True)) == expected
    got = {(b["exclusion_id"], b["level"]) for bl in df["blocking"] for b in bl}
    assert got == blockers
    imp = engine.impact(ev, "play")
    for node in imp["nodes"]:
        outcome = expected.get(node["id"])
        if outcome in ("not_enrolled", "enrolled"):
            listed = engine.drilldown(con, ev, "play", outcome, node_id=node["id"], limit=100)
            assert "x@acme.com" in [r["email"] for r in listed["rows"]]
            assert listed["total"] == node[outcome]
    if expected:
        first = next(iter(expected.values()))
        if first in ("opted_out", "excluded_at_audience"):
            listed = engine.drilldown(con, ev, "play", first)
            assert [r["email"] for r in listed["rows"]].count("x@acme.com") == 1
    else:
        listed = engine.drilldown(con, ev, "play", "entered", limit=100)
        assert "x@acme.com" not in [r["email"] for r in listed["rows"]]
    # the Exclusion tab agrees with the decisions
    tab = engine.explain(con, "x@acme.com")
    assert tab["opted_out"] is opted
    assert {s["id"] for s in tab["sequences"] if s["blocking"]} == SEQUENCES_BLOCKED[case]
    assert all(s["blocked"] for s in tab["sequences"]) if opted else True
    ceo = next(x for x in tab["exclusions"] if x["id"] == "ceo")
    assert {s["id"] for s in ceo["blocks"]["sequences"]} == SEQUENCES_BLOCKED[case]


def test_reasons_name_the_level(con):
    x = build_level_case(con, with_play(doc([CEO]), audience_exclusions={"ceo": False}), {}, False)
    ev = engine.evaluation(con)
    rows = engine.drilldown(con, ev, "play", "not_enrolled", node_id="node")["rows"]
    row = next(r for r in rows if r["contact_id"] == x)
    assert row["reasons"] == ["CEOs (sequence Outbound: org on + ruleset Default on)"]
    ws_opted = engine.drilldown(con, ev, "play", "blocking", exclusion_id="ceo")
    assert {r["email"] for r in ws_opted["rows"]} == {"x@acme.com", "boss@acme.com"}


def test_opted_out_reason_names_the_source(con):
    build_level_case(con, doc([CEO]), {}, True)
    ev = engine.evaluation(con)
    rows = engine.drilldown(con, ev, "play", "opted_out")["rows"]
    assert rows[0]["reasons"][0] == "Opted out (admin)"
    assert rows[0]["opt_out_source"] == "admin"


# --- many exclusions -------------------------------------------------------------------------------------


def many_doc(n: int) -> dict:
    excl = [exclusion(f"x{i}", title_is(f"t{i}"), name=f"Rule {i}") for i in range(n)]
    return doc(excl)


def test_130_exclusions_every_bit_counts(con):
    ws = Workspace(con)
    for i in range(130):
        ws.contact(f"p{i}@c{i}.com", title=f"t{i}")
    ws.contact("free@nobody.com", title="none")
    ws.save(many_doc(130))
    ev = engine.evaluation(con)
    assert ev.masks.shape[1] == 3  # 130 bits need three 64-bit words
    imp = engine.impact(ev, "play")
    assert imp["not_enrolled"] == 130 and imp["enrolled"] == 1
    by_id = {x["id"]: x for x in imp["exclusions"]}
    for i in (0, 63, 64, 127, 128, 129):
        assert by_id[f"x{i}"]["matched"] == 1
        assert by_id[f"x{i}"]["blocks_alone"] == 1
    what_if = engine.impact(ev, "play", {("x129", "organisation", None): False, ("x64", "ruleset", "default"): False})
    assert what_if["enrolled"] == 3 and what_if["change"]["enrolled"] == 2
    rows = engine.drilldown(con, ev, "play", "blocks_alone", exclusion_id="x128")["rows"]
    assert [r["email"] for r in rows] == ["p128@c128.com"]
    assert rows[0]["reasons"] == ["Rule 128 (sequence Outbound: org on + ruleset Default on)"]
    tab = engine.explain(con, "p129@c129.com")
    assert [x["id"] for x in tab["exclusions"] if x["applies"]] == ["x129"]
    assert engine.overlap(ev, "play", "x129", "x129") == 1 and engine.overlap(ev, "play", "x0", "x129") == 0


def test_more_exclusions_than_supported_fail_clearly(con):
    ws = Workspace(con)
    ws.contact("a@b.com")
    n = settings_mod.MAX_EXCLUSIONS + 1
    big = settings_mod.Settings(exclusions=tuple(
        settings_mod.Exclusion(id=f"x{i}", name=f"x{i}", criteria=title_is("t")) for i in range(n)))
    with pytest.raises(ValidationError, match=rf"{n} exclusions: at most {settings_mod.MAX_EXCLUSIONS}"):
        engine.evaluate(con, settings=big)
    with pytest.raises(ValidationError, match="at most"):
        settings_mod.parse_settings(many_doc(n))


# --- counts and lists agree ------------------------------------------------------------------------------


@pytest.fixture
def mixed(con):
    """Two plays, two nodes with different rulesets, audience toggles, a company-wide rule, opt-outs."""
    ws = Workspace(con)
    titles = ["CEO", "VP Sales", "Engineer", "Intern", None]
    for i in range(60):
        dom = f"co{i % 9}.com" if i % 7 else "gmail.com"
        ws.contact(f"u{i:02d}@{dom}", title=titles[i % 5], country=["US", "FR", "DE"][i % 3])
    ws.record("sf:1", "salesforce", "co1.com")
    ws.record("hs:2", "hubspot", "co2.com", is_customer=True)
    ws.opportunity("sf:o1", "sf:1")
    for i in (3, 11, 40):
        ws.opt_out(f"u{i:02d}@co{i % 9}.com" if i % 7 else f"u{i:02d}@gmail.com", source="link")
    excl = [exclusion("open_opp", OPEN_OPP, scope="company", remove=True),
            exclusion("customer", {"field": "is_customer", "op": "is_true"}, scope="company"),
            exclusion("ceo", title_is("ceo")),
            exclusion("free", {"field": "is_free_mail", "op": "is_true"},
                      filters=[{"field": "email", "op": "not_equals", "value": "u14@gmail.com"}]),
            exclusion("fr", {"field": "country", "op": "equals", "value": "FR"}, org=False)]
    d = doc(excl,
            rulesets=[{"id": "ra", "name": "A", "exclusions": {"open_opp": True, "customer": True, "ceo": True}},
                      {"id": "rb", "name": "B", "exclusions": {"open_opp": False, "free": True, "fr": True}}],
            sequences=[{"id": "sa", "name": "Seq A", "ruleset": "ra", "steps": [{"delay_days": 0}]},
                       {"id": "sb", "name": "Seq B", "ruleset": "rb", "steps": [{"delay_days": 0}]}],
            plays=[{"id": "p1", "name": "Play 1", "audience": {"field": "country", "op": "not_equals", "value": "DE"},
                    "audience_exclusions": {"ceo": True},
                    "nodes": [{"id": "n1", "sequence": "sa"}, {"id": "n2", "sequence": "sb"}]},
                   {"id": "p2", "name": "Play 2", "audience": None, "audience_exclusions": {},
                    "nodes": [{"id": "n3", "sequence": "sb"}]}])
    ws.save(d)
    return con


TOGGLE_SETS = [
    {},
    {("ceo", "audience", "p1"): False},
    {("open_opp", "organisation", None): False, ("fr", "organisation", None): True},
    {("customer", "ruleset", "ra"): False, ("free", "audience", "p1"): True},
]


@pytest.mark.parametrize("toggles", TOGGLE_SETS, ids=range(len(TOGGLE_SETS)))
@pytest.mark.parametrize("play", ["p1", "p2"])
def test_drilldown_totals_equal_impact_counts(mixed, play, toggles):
    con = mixed
    ev = engine.evaluation(con)
    imp = engine.impact(ev, play, toggles)

    def listed(bucket, **kw):
        out = engine.drilldown(con, ev, play, bucket, toggles=toggles, limit=1000, **kw)
        assert out["total"] == len(out["rows"]) == len({r["contact_id"] for r in out["rows"]})
        return out["total"]

    for bucket in engine.COUNT_KEYS:
        if bucket in ("not_enrolled", "enrolled") and len(imp["nodes"]) > 1:
            continue
        assert listed(bucket) == imp[bucket], bucket
    for node in imp["nodes"]:
        for bucket in ("reached", "not_enrolled", "enrolled"):
            assert listed(bucket, node_id=node["id"]) == node[bucket]
    for x in imp["exclusions"]:
        for bucket in engine.EXCLUSION_KEYS:
            assert listed(bucket, exclusion_id=x["id"]) == x[bucket], (x["id"], bucket)
        assert listed("excluded_at_audience", exclusion_id=x["id"]) == x["blocking_at"]["audience"]
        for node in imp["nodes"]:
            assert listed("blocking", exclusion_id=x["id"], node_id=node["id"]) == x["blocking_at"][node["id"]]
            assert listed("blocks_alone", exclusion_id=x["id"], node_id=node["id"]) == x["released_at"][node["id"]]
    # funnel identities
    assert imp["entered"] == imp["opted_out"] + imp["excluded_at_audience"] + imp["reached"]
    for node in imp["nodes"]:
        assert node["reached"] == node["not_enrolled"] + node["enrolled"] == imp["reached"]


def test_paging_is_stable_and_complete(mixed):
    con = mixed
    ev = engine.evaluation(con)
    full = engine.drilldown(con, ev, "p2", "entered", limit=1000)["rows"]
    pages = []
    for offset in range(0, len(full), 7):
        pages.extend(engine.drilldown(con, ev, "p2", "entered", offset=offset, limit=7)["rows"])
    assert [r["contact_id"] for r in pages] == [r["contact_id"] for r in full]
    assert [r["email"] for r in full] == sorted(r["email"] for r in full)
    again = engine.drilldown(con, ev, "p2", "entered", offset=14, limit=7)["rows"]
    assert [r["contact_id"] for r in again] == [r["contact_id"] for r in full[14:21]]
    assert engine.drilldown(con, ev, "p2", "entered", offset=10_000)["rows"] == []


def test_what_if_never_touches_saved_settings(mixed):
    con = mixed
    before = con.execute("SELECT count(*), max(version) FROM settings_versions").fetchone()
    ev = engine.evaluation(con)
    saved = engine.impact(ev, "p1")
    engine.impact(ev, "p1", {("open_opp", "organisation", None): False})
    assert con.execute("SELECT count(*), max(version) FROM settings_versions").fetchone() == before
    assert engine.impact(ev, "p1") == saved


def test_impact_matches_settings_with_toggles_evaluated(mixed):
    """A what-if equals a full evaluation of the settings with the toggles applied."""
    con = mixed
    ev = engine.evaluation(con)
    for toggles in TOGGLE_SETS[1:]:
        fast = engine.impact(ev, "p1", toggles)
        slow = engine.impact(engine.evaluate(con, settings=levels.with_toggles(ev.settings, toggles)), "p1")
        for key in engine.COUNT_KEYS:
            assert fast[key] == slow[key]
        assert [n["not_enrolled"] for n in fast["nodes"]] == [n["not_enrolled"] for n in slow["nodes"]]
        assert ([(x["matched"], x["blocking"], x["blocks_alone"]) for x in fast["exclusions"]]
                == [(x["matched"], x["blocking"], x["blocks_alone"]) for x in slow["exclusions"]])


def test_impact_is_json_and_shows_state_per_level(mixed):
    ev = engine.evaluation(mixed)
    out = engine.impact(ev, "p1", {("ceo", "audience", "p1"): False})
    json.dumps(out)
    ceo = next(x for x in out["exclusions"] if x["id"] == "ceo")
    assert ceo["state"]["audience"] == {"saved": True, "what_if": False}
    assert ceo["state"]["rulesets"] == {"ra": {"saved": True, "what_if": True}, "rb": {"saved": False, "what_if": False}}
    assert ceo["state"]["nodes"]["n1"] == {"saved": True, "what_if": True}
    assert out["toggles"] == [{"exclusion_id": "ceo", "level": "audience", "target": "p1", "on": False}]
    assert ceo["change"]["blocking"] == ceo["blocking"] - ceo["saved"]["blocking"]
    n = len(out["overlap"]["exclusions"])
    assert np.array(out["overlap"]["matrix"]).shape == (n, n)


@pytest.mark.parametrize("toggles,error,match", [
    ({("nope", "organisation", None): False}, NotFound, "unknown exclusion 'nope'"),
    ({("ceo", "ruleset", "nope"): False}, NotFound, "unknown ruleset 'nope'"),
    ({("ceo", "audience", "nope"): False}, NotFound, "unknown play 'nope'"),
    ({("ceo", "sideways", None): False}, ValidationError, "unknown level"),
    ({"ceo": False}, ValidationError, "toggle key"),
])
def test_bad_toggles(mixed, toggles, error, match):
    ev = engine.evaluation(mixed)
    with pytest.raises(error, match=match):
        engine.impact(ev, "p1", toggles)


@pytest.mark.parametrize("call,match", [
    (lambda con, ev: engine.impact(ev, "nope"), "unknown play"),
    (lambda con, ev: engine.drilldown(con, ev, "p1", "matched", exclusion_id="nope"), "unknown exclusion"),
    (lambda con, ev: engine.drilldown(con, ev, "p1", "reached", node_id="n3"), "unknown node"),
    (lambda con, ev: engine.explain(con, "nobody@nowhere.com"), "unknown email"),
    (lambda con, ev: engine.overlap(ev, "p1", "ceo", "nope"), "unknown exclusion"),
])
def test_unknown_things_are_not_found(mixed, call, match):
    ev = engine.evaluation(mixed)
    with pytest.raises(NotFound, match=match):
        call(mixed, ev)


def test_bad_bucket(mixed):
    ev = engine.evaluation(mixed)
    with pytest.raises(ValidationError, match="unknown bucket"):
        engine.drilldown(mixed, ev, "p1", "sideways")
    with pytest.raises(ValidationError, match="needs an exclusion_id"):
        engine.drilldown(mixed, ev, "p1", "blocks_alone")


# --- send time --------------------------------------------------------------------------------------------

# (state, current step, opted out, exclusion matches, remove_from_active, org on, ruleset on) -> decision, reason
SEND_CASES = [
    ("queued", 0, False, False, False, True, True, "send", None),
    ("queued", 0, False, True, False, True, True, "skip", "excluded"),
    ("queued", 0, False, True, True, True, True, "skip", "excluded"),
    ("queued", 0, False, True, False, False, True, "send", None),
    ("queued", 0, False, True, False, True, False, "send", None),
    ("queued", 0, True, False, False, True, True, "skip", "opted_out"),
    ("active", 1, False, False, False, True, True, "send", None),
    ("active", 1, False, True, False, True, True, "continue", None),
    ("active", 2, False, True, True, True, True, "remove", "excluded_mid_sequence"),
    ("active", 1, False, True, True, False, True, "send", None),
    ("active", 1, True, False, False, True, True, "remove", "opted_out"),
    ("active", 1, True, True, False, True, True, "remove", "opted_out"),
    ("completed", 2, False, True, True, True, True, "none", None),
    ("unenrolled", 1, True, False, False, True, True, "none", None),
]


@pytest.mark.parametrize("state,step,opted,matches,remove,org,rs,decision,reason", SEND_CASES)
def test_send_decisions(con, state, step, opted, matches, remove, org, rs, decision, reason):
    ws = Workspace(con)
    c = ws.contact("x@acme.com", title="CEO" if matches else "Engineer")
    if opted:
        ws.opt_out("x@acme.com", source="reply")
    e = ws.enrollment(c, state=state, current_step=step)
    ws.save(doc([exclusion("ceo", title_is("CEO"), org=org, remove=remove)],
                rulesets=[{"id": "default", "name": "Default", "exclusions": {"ceo": rs}}],
                plays=[{"id": "play", "name": "P", "audience": None,
                        "audience_exclusions": {"ceo": True},  # audience rules never act at send time
                        "nodes": [{"id": "node", "sequence": "seq"}]}]))
    ev = engine.evaluation(con)
    row = engine.send_decisions(con, ev, [e]).iloc[0]
    assert (row["decision"], row["reason"]) == (decision, reason)
    assert row["will_send"] == (decision in ("send", "continue"))
    if decision in ("skip", "remove", "continue") and reason != "opted_out":
        assert [b["exclusion_id"] for b in row["blocking"]] == ["ceo"]
    if decision == "skip":
        assert row["text"].startswith("will be skipped at send time: ")


def test_send_decisions_unknown_contact_and_sequence(con):
    ws = Workspace(con)
    c = ws.contact("x@acme.com", title="CEO")
    ws.enrollment("ghost", enrollment_id="e-ghost")
    ws.enrollment(c, "retired-seq", enrollment_id="e-old")
    ws.save(doc([CEO]))
    ev = engine.evaluation(con)
    df = engine.send_decisions(con, ev).set_index("enrollment_id")
    assert df.loc["e-ghost", "decision"] == "skip" and df.loc["e-ghost", "reason"] == "unknown_contact"
    assert df.loc["e-old", "decision"] == "send"  # a sequence missing from settings has no ruleset to block
    assert engine.send_decisions(con, ev, []).empty


def test_entry_decisions_whole_audience(mixed):
    ev = engine.evaluation(mixed)
    df = engine.entry_decisions(mixed, ev, "p1")
    imp = engine.impact(ev, "p1")
    assert df["contact_id"].nunique() == imp["entered"]
    for node in imp["nodes"]:
        sub = df[df["node_id"] == node["id"]]
        assert (sub["outcome"] == "not_enrolled").sum() == node["not_enrolled"]
        assert (sub["outcome"] == "enrolled").sum() == node["enrolled"]
        assert (sub["outcome"] == "excluded_at_audience").sum() == imp["excluded_at_audience"]


# --- caching, as-of, threads -------------------------------------------------------------------------------


def test_evaluation_is_cached_per_version_generation_and_minute(mixed):
    con = mixed
    a = engine.evaluation(con)
    assert engine.evaluation(con) is a
    assert engine.evaluation(con, as_of=NOW + dt.timedelta(seconds=30)) is a
    b = engine.evaluation(con, as_of=NOW + dt.timedelta(minutes=2))
    assert b is not a
    db.bump_generation(con)
    c = engine.evaluation(con)
    assert c is not a and c.generation == a.generation + 1
    assert (a.version, a.as_of) == (1, NOW)


def test_an_evicted_evaluation_is_freed_without_waiting_for_the_collector(mixed):
    """The cache's oldest evaluation, used for a drill-down (its memoized funnel points back at it, a
    reference cycle), is freed when a new evaluation evicts it, with the automatic collector off (the
    app runs no collection after each page run)."""
    import weakref

    from unify_dash.engine import evaluator

    engine.clear_cache()
    gc.collect()
    first = engine.evaluation(mixed, as_of=NOW)
    engine.drilldown(mixed, first, "p1", "not_enrolled", limit=1)
    gone = weakref.ref(first)
    del first
    gc.disable()
    try:
        for minute in range(1, evaluator.CACHE_SIZE):
            engine.evaluation(mixed, as_of=NOW + dt.timedelta(minutes=minute))
        assert gone() is not None  # still cached
        engine.evaluation(mixed, as_of=NOW + dt.timedelta(minutes=evaluator.CACHE_SIZE))
        assert gone() is None
    finally:
        gc.enable()


def test_evaluation_from_threads_with_cursors(tmp_path):
    database = db.Database(tmp_path / "w.duckdb")
    ws = Workspace(database.cursor())
    for i in range(20):
        ws.contact(f"u{i}@acme.com", title="CEO" if i % 2 else "x")
    ws.save(doc([CEO]))
    results, errors = [], []

    def work():
        cur = database.cursor()
        try:
            ev = engine.evaluation(cur)
            results.append((id(ev), engine.impact(ev, "play")["not_enrolled"],
                            engine.drilldown(cur, ev, "play", "not_enrolled")["total"]))
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)
        finally:
            cur.close()

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    database.close()
    assert not errors
    assert len({r[0] for r in results}) == 1 and {r[1:] for r in results} == {(10, 10)}


def test_evaluation_tables_are_dropped_when_forgotten(con):
    ws = Workspace(con)
    ws.contact("a@b.com")
    ws.save(doc([CEO]))
    engine.clear_cache()

    def tables():
        return {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = ?",
                                          [engine.EVAL_DB]).fetchall()}

    ev = engine.evaluate(con)
    name = ev.table.split(".")[-1].strip('"')
    assert name in tables()
    del ev
    gc.collect()
    engine.evaluate(con)  # drops what was forgotten
    assert name not in tables()


def test_evaluation_inside_a_transaction_is_a_clear_error(con):
    ws = Workspace(con)
    c = ws.contact("a@b.com")
    e = ws.enrollment(c)
    ws.save(doc([CEO]))
    first = engine.evaluation(con)
    con.execute("BEGIN")
    assert engine.send_decisions(con, first, [e]).iloc[0]["decision"] == "send"
    db.bump_generation(con)
    later = engine.evaluation(con)  # created after this transaction first read the evaluation database
    assert later is not first
    with pytest.raises(UnifyError, match="evaluate before BEGIN"):
        engine.send_decisions(con, later, [e])
    con.execute("ROLLBACK")
    assert engine.send_decisions(con, engine.evaluation(con), [e]).iloc[0]["decision"] == "send"


def test_no_settings_is_not_found(con):
    Workspace(con).contact("a@b.com")
    with pytest.raises(NotFound, match="no settings in effect"):
        engine.evaluation(con)


# --- CLI ---------------------------------------------------------------------------------------------------


@pytest.fixture
def db_file(tmp_path):
    path = tmp_path / "w.duckdb"
    con = db.connect(path)
    ws = Workspace(con)
    ws.contact("bob@acme.com", title="CEO")
    ws.contact("amy@acme.com", title="Engineer")
    ws.record("hs:1", "hubspot", "acme.com", crm_id="77")
    ws.opportunity("hs:9876", "hs:1", crm_id="9876")
    ws.save(doc([exclusion("open_opp", OPEN_OPP, name="Open opportunity", scope="company"), CEO],
                plays=[{"id": "play", "name": "Main play", "audience": None, "audience_exclusions": {"ceo": True},
                        "nodes": [{"id": "node", "sequence": "seq"}]}]))
    con.close()
    return str(path)


def test_cli_explain_json_and_text(db_file, capsys):
    assert cli.main(["explain", " BOB@acme.com ", "--db", db_file, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["email"] == "bob@acme.com"
    opp = next(x for x in out["exclusions"] if x["id"] == "open_opp")
    assert opp["evidence"] == ["open deal 9876 in HubSpot on company record acme.com #1"]
    assert cli.main(["explain", "amy@acme.com", "--db", db_file]) == 0
    text = capsys.readouterr().out
    assert "Open opportunity: matches" in text and "open deal 9876 in HubSpot" in text


def test_cli_impact(db_file, capsys):
    assert cli.main(["impact", "--play", "play", "--db", db_file, "--json",
                     "--set", "open_opp@organisation=off", "--set", "ceo@audience=off"]) == 0
    out = json.loads(capsys.readouterr().out)
    # the CEO is still blocked at the sequence node: off at the audience does not help while the
    # ruleset level still applies
    assert out["enrolled"] == 1 and out["saved"]["enrolled"] == 0
    assert {(t["exclusion_id"], t["level"]) for t in out["toggles"]} == {("open_opp", "organisation"),
                                                                         ("ceo", "audience")}
    assert cli.main(["impact", "--play", "play", "--db", db_file, "--json", "--set", "open_opp@organisation=off",
                     "--set", "ceo@audience=off", "--set", "ceo@ruleset:default=off"]) == 0
    assert json.loads(capsys.readouterr().out)["enrolled"] == 2
    assert cli.main(["impact", "--play", "play", "--db", db_file, "--set", "open_opp@ruleset=off"]) == 0
    text = capsys.readouterr().out
    assert "not enrolled" in text and "Open opportunity" in text


@pytest.mark.parametrize("argv,message", [
    (["explain", "nobody@acme.com"], "unknown email 'nobody@acme.com'"),
    (["impact", "--play", "nope"], "unknown play 'nope'"),
    (["impact", "--play", "play", "--set", "nope@organisation=off"], "unknown exclusion 'nope'"),
    (["impact", "--play", "play", "--set", "ceo@ruleset:nope=off"], "unknown ruleset 'nope'"),
    (["impact", "--play", "play", "--set", "ceo@sideways=off"], "unknown level 'sideways'"),
    (["impact", "--play", "play", "--set", "ceo=off"], "expected EXCLUSION@LEVEL=on|off"),
    (["explain", "bob@acme.com", "--at", "yesterday"], "expected an ISO timestamp"),
])
def test_cli_errors_exit_1_without_traceback(db_file, capsys, argv, message):
    assert cli.main([*argv, "--db", db_file]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


# --- the Exclusion tab ----------------------------------------------------------------------------------------

EVIDENCE = [
    ({"field": "open_opportunities_salesforce", "op": "gt", "value": 0},
     ["open opportunity 0065e00000AbC in Salesforce on company record acme.com #2 (Expansion, amount 5000)"]),
    ({"field": "open_deals_hubspot", "op": "gt", "value": 0}, ["open deal 9876 in HubSpot on company record acme.com #1"]),
    ({"field": "won_opportunities", "op": "gte", "value": 1},
     ["won opportunity 006WON in Salesforce on company record acme.com #2"]),
    ({"field": "is_customer", "op": "is_true"}, ["customer: company record acme.com #1 in HubSpot"]),
    ({"field": "industry", "op": "equals", "value": "banking"},
     ["company record acme.com #2 in Salesforce: industry 'Banking'"]),
    ({"field": "company_records", "op": "gte", "value": 2},
     ["2 company record(s): company record acme.com #1 in HubSpot, company record acme.com #2 in Salesforce"]),
    ({"field": "title", "op": "contains", "value": "ceo"}, ["Title: 'Chief Executive (CEO)'"]),
    ({"field": "last_contacted_at", "op": "within_last_days", "value": 7}, ["Last contacted: 2026-11-24 09:00:00"]),
    ({"all": [{"field": "title", "op": "contains", "value": "ceo"},
              {"not": {"field": "country", "op": "equals", "value": "FR"}}]},
     ["Title: 'Chief Executive (CEO)'", "Country: 'US'"]),
]


@pytest.mark.parametrize("criteria,evidence", EVIDENCE, ids=[str(c) for c, _ in EVIDENCE])
def test_explain_names_the_values_that_matched(con, criteria, evidence):
    ws = Workspace(con)
    ws.contact("ceo@acme.com", title="Chief Executive (CEO)", country="US",
               last_contacted_at=NOW - dt.timedelta(days=2))
    ws.record("hs:1", "hubspot", "acme.com", crm_id="555", is_customer=True)
    ws.record("sf:2", "salesforce", "www.acme.com", crm_id="001X", industry="Banking")
    ws.opportunity("hs:9876", "hs:1", crm_id="9876")
    ws.opportunity("sf:a", "sf:2", crm_id="0065e00000AbC", name="Expansion", amount=5000)
    ws.opportunity("sf:w", "sf:2", crm_id="006WON", is_closed=True, is_won=True)
    ws.save(doc([exclusion("rule", criteria, name="The rule")]))
    x = engine.explain(con, "ceo@acme.com")["exclusions"][0]
    assert (x["state"], x["applies"], x["matched_by"]) == ("applies", True, "contact")
    assert x["evidence"] == evidence
    assert all(leaf["result"] is not None for leaf in x["leaves"])
    assert x["since"] == (NOW - dt.timedelta(days=1) + dt.timedelta(minutes=15)).isoformat(sep=" ")


def test_explain_matching_rule_that_blocks_nothing(con):
    ws = Workspace(con)
    ws.contact("ann@acme.com", title="CEO")
    ws.save(doc([exclusion("ceo", title_is("CEO"), name="Executives", org=False)]))
    tab = engine.explain(con, "ann@acme.com")
    x = tab["exclusions"][0]
    assert x["applies"] and x["blocks"] == {"sequences": [], "audiences": []} and x["let_through"] == []
    assert x["text"] == "Executives: matches: blocks nothing, off at the organisation level"
    assert tab["sequences"][0]["blocked"] is False and tab["let_through"] == []
    assert tab["plays"] == [{"id": "play", "name": "Main play", "outcome": "entered", "nodes": {"node": "enrolled"},
                             "blocking": []}]


def test_explain_is_json(mixed):
    out = engine.explain(mixed, "u01@co1.com")
    assert json.loads(json.dumps(out)) == out
    assert {"email", "contact", "opt_out", "exclusions", "sequences", "plays", "enrollments", "pending",
            "let_through", "summary", "settings_version", "as_of"} <= set(out)


# --- bench ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("toggles", TOGGLE_SETS, ids=range(len(TOGGLE_SETS)))
@pytest.mark.parametrize("play", ["p1", "p2"])
def test_the_straightforward_what_if_gives_the_same_numbers(mixed, play, toggles):
    from unify_dash.reports import bench

    ev = engine.evaluation(mixed)
    assert bench.naive_impact(mixed, ev, play, toggles) == bench._fast_numbers(engine.impact(ev, play, toggles))


def test_bench_run_reports_every_figure(tmp_path, capsys):
    from unify_dash.reports import bench

    path = tmp_path / "b.duckdb"
    con = db.connect(path)
    ws = Workspace(con)
    for i in range(80):
        ws.contact(f"u{i:02d}@co{i % 7}.com", title="CEO" if i % 3 == 0 else "Engineer")
    ws.record("sf:1", "salesforce", "co1.com")
    ws.opportunity("sf:o1", "sf:1")
    ws.save(doc([exclusion("open_opp", OPEN_OPP, scope="company"), CEO]))
    con.close()
    out = bench.run(path, repeats=5, log=lambda _line: None)
    assert {"contacts", "evaluate_s", "impact_ms", "naive_impact_ms", "explain_ms", "drilldown_ms",
            "peak_rss_mb"} <= set(out)
    assert out["contacts"] == 80 and out["naive_same_numbers"] is True and out["peak_rss_mb"] > 0


def test_bucket_groups_are_the_groups_of_the_list(mixed):
    ev = engine.evaluation(mixed)
    gids = engine.bucket_groups(ev, "p1", "not_enrolled", node_id="n1")
    listed = engine.drilldown(mixed, ev, "p1", "not_enrolled", node_id="n1", limit=1000)["rows"]
    assert sorted({r["group_id"] for r in listed}) == sorted(gids.tolist())
    assert int(ev.counts[gids].sum()) == len(listed)
