"""Play branching (node conditions: a contact goes to the first node whose condition it meets) and the
organisation setting "one active sequence per contact at a time", through the engine and the scheduler."""

from __future__ import annotations

import datetime as dt

import pytest
from engine_factory import NOW, Workspace, doc, exclusion, title_is

from unify_dash import engine, scheduler
from unify_dash.model import settings as settings_mod
from unify_dash.model import states

SEQS = [{"id": s, "name": n, "ruleset": "default",
         "steps": [{"delay_days": 0, "subject": "Hi"}, {"delay_days": 3, "subject": "Again"}]}
        for s, n in (("seq_a", "Seq A"), ("seq_b", "Seq B"), ("seq_c", "Seq C"))]
VP = {"field": "title", "op": "contains", "value": "VP"}
CFO = {"field": "title", "op": "contains", "value": "CFO"}


def _play(nodes, pid="play", audience=None):
    return {"id": pid, "name": pid.capitalize(), "audience": audience, "audience_exclusions": {}, "nodes": nodes}


def _doc(plays, *, one_active=False, exclusions=None):
    d = doc(exclusions or [exclusion("cfo", CFO)], sequences=SEQS, plays=plays)
    d["org"]["one_active_sequence"] = one_active
    return d


@pytest.fixture
def ws(con):
    return Workspace(con)


def _counts(ev, play="play"):
    return engine.impact(ev, play)


def test_settings_round_trip_node_condition_and_org_flag():
    s = settings_mod.parse_settings(_doc([_play([{"id": "n1", "sequence": "seq_a", "condition": VP},
                                                 {"id": "n2", "sequence": "seq_b"}])], one_active=True))
    assert s.one_active_sequence and s.plays[0].branching
    assert s.plays[0].nodes[0].condition == VP and s.plays[0].nodes[1].condition is None
    again = settings_mod.parse_settings(s.to_dict())
    assert again == s
    plain = settings_mod.parse_settings(doc([]))  # nothing new in a document that does not use them
    assert "one_active_sequence" not in plain.to_dict()["org"]
    assert all("condition" not in n for p in plain.to_dict()["plays"] for n in p["nodes"])


def test_a_node_condition_is_validated_with_its_path():
    bad = _doc([_play([{"id": "n1", "sequence": "seq_a", "condition": {"field": "nope", "op": "equals",
                                                                       "value": 1}}])])
    with pytest.raises(settings_mod.SettingsError) as err:
        settings_mod.parse_settings(bad)
    assert any(p.startswith("plays[0].nodes[0].condition") for p, _m in err.value.problems)


def test_branching_a_contact_matching_two_conditions_enters_only_the_first(con, ws):
    both = ws.contact("both@acme.com", title="VP and CFO")
    vp = ws.contact("vp@beta.com", title="VP Sales")
    other = ws.contact("dev@gamma.com", title="Engineer")
    ws.save(_doc([_play([{"id": "n_vp", "sequence": "seq_a", "condition": VP},
                         {"id": "n_cfo", "sequence": "seq_b", "condition": CFO}])],
                 exclusions=[exclusion("never", title_is("nobody"))]))
    ev = engine.evaluation(con)
    r = _counts(ev)
    nodes = {n["id"]: n for n in r["nodes"]}
    assert nodes["n_vp"]["reached"] == 2 and nodes["n_vp"]["enrolled"] == 2  # both@ and vp@
    assert nodes["n_cfo"]["reached"] == 0  # both@ matches CFO too, but went to the first node
    assert r["unrouted"] == 1 and r["enrolled"] == 2  # dev@ meets no condition
    dec = engine.entry_decisions(con, ev, "play")
    got = {(row.contact_id, row.node_id): row.outcome for row in dec.itertuples()}
    assert got[(both, "n_vp")] == "enrolled" and got[(both, "n_cfo")] == "not_routed"
    assert got[(vp, "n_cfo")] == "not_routed" and got[(other, "n_vp")] == "not_routed"
    unrouted = engine.drilldown(con, ev, "play", "unrouted")
    assert [x["email"] for x in unrouted["rows"]] == ["dev@gamma.com"]
    summary = scheduler.run_until(con, NOW + dt.timedelta(hours=2))
    rows = con.execute("SELECT contact_id, node_id FROM enrollments ORDER BY contact_id").fetchall()
    assert sorted(rows) == sorted([(both, "n_vp"), (vp, "n_vp")])
    assert summary["new_enrollments"] == 2


def test_branching_no_fall_through_a_blocked_contact_stays_not_enrolled_at_its_node(con, ws):
    """The condition picks the node; an exclusion there makes it Not Enrolled, never another branch."""
    ws.contact("vp.cfo@acme.com", title="VP, CFO")
    ws.save(_doc([_play([{"id": "n_vp", "sequence": "seq_a", "condition": VP},
                         {"id": "n_all", "sequence": "seq_b"}])]))  # cfo exclusion on in default
    r = _counts(engine.evaluation(con))
    nodes = {n["id"]: n for n in r["nodes"]}
    assert nodes["n_vp"]["not_enrolled"] == 1 and nodes["n_all"]["reached"] == 0
    assert r["not_enrolled"] == 1 and r["enrolled"] == 0
    ex = {e["id"]: e for e in r["exclusions"]}["cfo"]
    assert ex["blocking_at"] == {"audience": 0, "n_vp": 1, "n_all": 0}
    assert ex["blocks_alone"] == 1 and ex["released_at"]["n_vp"] == 1


def test_without_conditions_every_node_as_before(con, ws):
    ws.contact("a@acme.com", title="VP")
    ws.save(_doc([_play([{"id": "n1", "sequence": "seq_a"}, {"id": "n2", "sequence": "seq_b"}])]))
    r = _counts(engine.evaluation(con))
    assert [n["enrolled"] for n in r["nodes"]] == [1, 1] and r["unrouted"] == 0
    assert r["active_elsewhere"] == 0


def test_one_active_sequence_blocks_and_is_explained(con, ws):
    busy = ws.contact("busy@acme.com", title="VP")
    ws.contact("free@beta.com", title="VP")
    ws.enrollment(busy, "seq_c", state="active", current_step=1, play_id=None, node_id=None)
    ws.save(_doc([_play([{"id": "n1", "sequence": "seq_a"}])], one_active=True,
                 exclusions=[exclusion("never", title_is("nobody"))]))
    ev = engine.evaluation(con)
    r = _counts(ev)
    assert r["nodes"][0]["enrolled"] == 1 and r["nodes"][0]["not_enrolled"] == 1
    assert r["nodes"][0]["active_elsewhere"] == 1 and r["active_elsewhere"] == 1
    rows = engine.drilldown(con, ev, "play", "active_elsewhere", node_id="n1")["rows"]
    assert [x["email"] for x in rows] == ["busy@acme.com"]
    assert rows[0]["blocking"][0]["reason"] == "active_elsewhere"
    assert states.BLOCK_REASONS["active_elsewhere"] in rows[0]["reasons"][0] and "Seq C" in rows[0]["reasons"][0]
    dec = engine.entry_decisions(con, ev, "play", [busy]).iloc[0]
    assert dec["outcome"] == "not_enrolled" and dec["blocking"][0]["reason"] == "active_elsewhere"
    x = engine.explain(con, "busy@acme.com")
    play = x["plays"][0]
    assert play["nodes"] == {"n1": "not_enrolled"}
    assert any("One active sequence at a time" in line and "Seq C" in line for line in x["summary"])
    # without the setting the same contact would enter
    ws.save(_doc([_play([{"id": "n1", "sequence": "seq_a"}])], one_active=False,
                 exclusions=[exclusion("never", title_is("nobody"))]), at=NOW - dt.timedelta(hours=1),
            effective_at=NOW - dt.timedelta(minutes=30))
    assert _counts(engine.evaluation(con))["nodes"][0]["enrolled"] == 2


def test_one_active_the_demo_story_three_sequences_at_once_no_longer_happens(con, ws):
    """Three nodes (two Plays) that all want the same contact at one tick: one first email, the others
    wait with the reason and follow once the first sequence has ended."""
    c = ws.contact("lead@acme.com", title="VP")
    plays = [_play([{"id": "a1", "sequence": "seq_a"}, {"id": "a2", "sequence": "seq_b"}], pid="pa"),
             _play([{"id": "b1", "sequence": "seq_c"}], pid="pb")]
    ws.save(_doc(plays, one_active=True, exclusions=[exclusion("never", title_is("nobody"))]))
    scheduler.run_until(con, NOW + dt.timedelta(hours=1))
    got = dict(con.execute("SELECT node_id, state FROM enrollments WHERE contact_id = ?", [c]).fetchall())
    assert got == {"a1": "active", "a2": "not_enrolled", "b1": "not_enrolled"}  # step 1 went out at once
    sends = con.execute("SELECT count(*) FROM events WHERE type = 'send'").fetchone()[0]
    assert sends == 1
    log = con.execute("SELECT blocking FROM execution_log WHERE outcome = 'not_enrolled'").fetchall()
    assert len(log) == 2 and all("active_elsewhere" in b for (b,) in log)
    # seq_a has 2 steps (0 and 3 days): once it finishes, the next sequence follows, one at a time
    scheduler.run_until(con, NOW + dt.timedelta(days=5))
    got = dict(con.execute("SELECT node_id, state FROM enrollments WHERE contact_id = ?", [c]).fetchall())
    assert got == {"a1": "completed", "a2": "active", "b1": "not_enrolled"}
    active = con.execute(f"SELECT count(*) FROM enrollments WHERE contact_id = ? AND state IN {states.ACTIVE_SQL}",
                         [c]).fetchone()[0]
    assert active == 1


TITLES = ["VP Sales", "CFO", "VP, CFO", "Engineer", "Head of Growth", ""]


@pytest.mark.parametrize("seed", range(4))
def test_branching_partitions_reached_and_lists_match_counts(con, seed):
    """Every contact that reached a branching Play goes to one node or is unrouted; each count's list has
    that many contacts (the same selection), with one active sequence on and busy contacts."""
    import random

    rnd = random.Random(seed)
    ws = Workspace(con)
    ids = [ws.contact(f"p{i}@d{i % 7}.com", title=rnd.choice(TITLES)) for i in range(60)]
    for cid in rnd.sample(ids, 15):
        ws.enrollment(cid, rnd.choice(["seq_a", "seq_b", "seq_c"]), state=rnd.choice(["queued", "active"]),
                      play_id=None, node_id=None)
    conds = [VP, CFO, {"field": "title", "op": "is_empty"}, None]
    nodes = [{"id": f"n{k}", "sequence": rnd.choice(["seq_a", "seq_b", "seq_c"]),
              **({"condition": c} if c else {})} for k, c in enumerate(rnd.sample(conds, 3))]
    ws.save(_doc([_play(nodes)], one_active=True, exclusions=[exclusion("cfo", CFO), exclusion("eng", title_is(
        "Engineer"))]))
    ev = engine.evaluation(con)
    r = engine.impact(ev, "play")
    assert sum(n["reached"] for n in r["nodes"]) + r["unrouted"] == r["reached"]
    for n in r["nodes"]:
        assert n["enrolled"] + n["not_enrolled"] == n["reached"] and n["active_elsewhere"] <= n["not_enrolled"]
        for bucket in ("reached", "not_enrolled", "active_elsewhere", "enrolled"):
            assert engine.drilldown(con, ev, "play", bucket, node_id=n["id"], limit=0)["total"] == n[bucket]
    assert r["enrolled"] == sum(n["enrolled"] for n in r["nodes"])  # one node each: contacts = enrollments
    dec = engine.entry_decisions(con, ev, "play")
    assert (dec[dec["outcome"] != "not_routed"].groupby("contact_id").size() <= 1).all()
    assert (dec["outcome"] == "enrolled").sum() == r["enrolled"]


def test_the_exclusion_tab_names_one_active_sequence_and_branches(con, ws):
    from unify_dash.reports import contactview

    busy = ws.contact("busy@acme.com", title="VP")
    ws.enrollment(busy, "seq_c", state="queued", play_id=None, node_id=None)
    ws.save(_doc([_play([{"id": "n_cfo", "sequence": "seq_b", "condition": CFO},
                         {"id": "n_all", "sequence": "seq_a"}])], one_active=True,
                 exclusions=[exclusion("never", title_is("nobody"))]))
    s = settings_mod.settings_at(con)[1]
    [(name, words)] = contactview.play_lines(s, engine.explain(con, "busy@acme.com"))
    assert "Seq B: not this branch" in words and "Seq A: Not Enrolled" in words
    assert "One active sequence at a time: already in sequence Seq C" in words


def test_one_active_the_next_sequence_follows_within_one_run(con, ws):
    """In one scheduler run (the evaluation reused between ticks), a contact waiting for one active
    sequence enters the next one after the first has ended, never while it runs."""
    c = ws.contact("lead@acme.com", title="VP")
    seqs = [{**SEQS[0], "steps": [{"delay_days": 0, "subject": "Hi"}, {"delay_days": 1, "subject": "Again"}]},
            SEQS[1], SEQS[2]]
    d = _doc([_play([{"id": "a1", "sequence": "seq_a"}], pid="pa"), _play([{"id": "b1", "sequence": "seq_b"}],
                                                                          pid="pb")],
             one_active=True, exclusions=[exclusion("never", title_is("nobody"))])
    d["sequences"] = seqs
    ws.save(d)
    summary = scheduler.run_until(con, NOW + dt.timedelta(days=4))
    rows = {n: (st, at, up) for n, st, at, up in con.execute(
        "SELECT node_id, state, enrolled_at, updated_at FROM enrollments WHERE contact_id = ?", [c]).fetchall()}
    assert rows["a1"][0] == "completed" and rows["b1"][0] in ("active", "completed")
    assert rows["b1"][1] >= rows["a1"][2]  # entered b1 once a1 had ended
    assert summary["advances"] >= 1  # the evaluation moved on incrementally (busy contacts recomputed)


@pytest.mark.parametrize("one_active", [False, True])
def test_the_bench_straightforward_what_if_agrees_with_branching_and_one_active(con, ws, one_active):
    """The bench's reference (every rule's SQL over all contacts) counts what impact counts, node conditions
    and one active sequence at a time included, for several toggle sets."""
    from unify_dash.reports import bench

    for i, title in enumerate(["VP Sales", "CFO", "VP Finance", "Engineer", "CFO", "VP Ops", None, "Intern"]):
        cid = ws.contact(f"u{i}@co{i % 3}.com", title=title)
        if i % 3 == 0:
            ws.enrollment(cid, ["seq_a", "seq_b", "seq_c"][i % 2], state="active", current_step=1,
                          play_id=None, node_id=None)
    plays = [_play([{"id": "n1", "sequence": "seq_a", "condition": VP}, {"id": "n2", "sequence": "seq_b"}]),
             _play([{"id": "m1", "sequence": "seq_c"}], pid="other")]
    ws.save(_doc(plays, one_active=one_active,
                 exclusions=[exclusion("cfo", CFO), exclusion("intern", title_is("intern"))]))
    ev = engine.evaluation(con)
    for play in ("play", "other"):
        for toggles in ({}, {("cfo", "organisation", None): False}, {("intern", "audience", play): True}):
            fast = bench._fast_numbers(engine.impact(ev, play, toggles))
            assert bench.naive_impact(con, ev, play, toggles) == fast
    if one_active:
        assert engine.impact(ev, "play")["active_elsewhere"] > 0
