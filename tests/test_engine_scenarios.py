"""Every scenario of the support article (seed/sequence-completion-and-opt-outs.txt), end to end
through the engine: decisions, counts, drill-downs and the Exclusion tab agree."""

from __future__ import annotations

import datetime as dt

import pytest
from lifecycle_factory import REVOPS

from tests.engine_factory import NOW, OPEN_OPP, Workspace, doc, exclusion, title_is
from unify_dash import engine
from unify_dash.model import levels
from unify_dash.model import settings as settings_mod


def outcome(con, email: str, play: str = "play", as_of=None) -> dict:
    ev = engine.evaluation(con, as_of=as_of)
    cid = con.execute("SELECT contact_id FROM contacts WHERE email = ?", [email]).fetchone()[0]
    df = engine.entry_decisions(con, ev, play, [cid])
    return dict(zip(df["node_id"], df["outcome"], strict=True))


def excl_tab(tab: dict, exclusion_id: str) -> dict:
    return next(x for x in tab["exclusions"] if x["id"] == exclusion_id)


def test_off_at_audience_but_on_at_sequence_blocks_at_the_node(con):
    """"an exclusion may be toggled off at the audience level but still be toggled on at the sequence
    level, which will prevent enrollment when contacts reach the sequence node"."""
    ws = Workspace(con)
    ws.contact("ann@acme.com", title="CEO")
    ws.contact("ben@acme.com", title="Engineer")
    d = doc([exclusion("ceo", title_is("CEO"), name="Executives")])
    d["plays"][0]["audience_exclusions"] = {"ceo": False}
    ws.save(d)
    assert outcome(con, "ann@acme.com") == {"node": "not_enrolled"}
    ev = engine.evaluation(con)
    imp = engine.impact(ev, "play")
    assert (imp["entered"], imp["excluded_at_audience"], imp["reached"]) == (2, 0, 2)
    assert imp["nodes"][0]["not_enrolled"] == 1
    rows = engine.drilldown(con, ev, "play", "not_enrolled")["rows"]
    assert [(r["email"], r["reasons"]) for r in rows] == [
        ("ann@acme.com", ["Executives (sequence Outbound: org on + ruleset Default on)"])]
    # the Exclusion tab shows each level's state, so the user sees which one blocks
    x = excl_tab(engine.explain(con, "ann@acme.com"), "ceo")
    assert x["levels"] == {"organisation": True, "rulesets": {"default": True}, "audiences": {"play": False}}
    assert [s["id"] for s in x["blocks"]["sequences"]] == ["seq"]
    # turning it on at the audience moves the contact up the funnel, it does not release her
    what_if = engine.impact(ev, "play", {("ceo", "audience", "play"): True})
    assert (what_if["excluded_at_audience"], what_if["nodes"][0]["not_enrolled"]) == (1, 0)


@pytest.mark.parametrize("org,ruleset,expected", [
    (True, True, "not_enrolled"),
    (True, False, "enrolled"),   # org on but ruleset off
    (False, True, "enrolled"),   # ruleset on but org off
    (False, False, "enrolled"),
])
def test_both_organisation_and_ruleset_must_be_on(con, org, ruleset, expected):
    """"Ensure exclusions are toggled on at both the organization level and within the sequence itself"."""
    ws = Workspace(con)
    ws.contact("ann@acme.com", title="CEO")
    ws.save(doc([exclusion("ceo", title_is("CEO"), org=org)],
                rulesets=[{"id": "default", "name": "Default", "exclusions": {"ceo": ruleset}}]))
    assert outcome(con, "ann@acme.com") == {"node": expected}
    tab = engine.explain(con, "ann@acme.com")
    x = excl_tab(tab, "ceo")
    assert (x["levels"]["organisation"], x["levels"]["rulesets"]["default"]) == (org, ruleset)
    assert x["applies"] is True  # it matches either way; the levels decide whether it blocks
    assert bool(x["blocks"]["sequences"]) == (expected == "not_enrolled")
    if expected == "not_enrolled":
        assert any("off in ruleset Default" in s for s in tab["let_through"])
        assert any("off at the organisation level" in s for s in tab["let_through"])


def test_turning_off_one_level_does_not_help_while_another_applies(con):
    """"Contacts may remain excluded even after adjusting settings at one level if the other level's
    settings still apply"."""
    ws = Workspace(con)
    ws.contact("ann@acme.com", title="CEO")
    d = doc([exclusion("ceo", title_is("CEO"))])
    d["plays"][0]["audience_exclusions"] = {"ceo": True}
    ws.save(d)
    ev = engine.evaluation(con)
    assert engine.impact(ev, "play", {("ceo", "audience", "play"): False})["enrolled"] == 0
    assert engine.impact(ev, "play", {("ceo", "ruleset", "default"): False})["enrolled"] == 0
    both = {("ceo", "audience", "play"): False, ("ceo", "ruleset", "default"): False}
    assert engine.impact(ev, "play", both)["enrolled"] == 1
    x = next(e for e in engine.impact(ev, "play")["exclusions"] if e["id"] == "ceo")
    assert x["blocks_alone"] == 1  # off everywhere, she is released


def test_company_wide_exclusion_through_another_contact(con):
    """"Some exclusions apply company-wide, removing all contacts from a company when any contact meets
    the exclusion criteria" - with the matching contact named as the reason."""
    ws = Workspace(con)
    ws.contact("bob@acme.com", title="CEO")
    ws.contact("amy@acme.com", title="Engineer")
    ws.contact("zed@Acme.com", title="Engineer")
    ws.contact("eve@other.com", title="Engineer")
    ws.contact("solo@gmail.com", title="Engineer")
    ws.contact("ceo2@gmail.com", title="CEO")  # free mail: not one company with solo@gmail.com
    ws.save(doc([exclusion("exec_co", title_is("CEO"), name="Companies with a CEO contact", scope="company")]))
    ev = engine.evaluation(con)
    rows = engine.drilldown(con, ev, "play", "not_enrolled")["rows"]
    assert [r["email"] for r in rows] == ["amy@acme.com", "bob@acme.com", "ceo2@gmail.com", "zed@acme.com"]
    x = excl_tab(engine.explain(con, "amy@acme.com"), "exec_co")
    assert x["matched_by"] == "company"
    assert x["company"]["text"] == "company-wide: bob@acme.com matched"
    assert x["evidence"] == ["bob@acme.com: Title: 'CEO'"]  # the value that matched, on bob
    own = excl_tab(engine.explain(con, "bob@acme.com"), "exec_co")
    assert own["matched_by"] == "contact"
    assert excl_tab(engine.explain(con, "solo@gmail.com"), "exec_co")["applies"] is False


def test_open_deal_only_in_hubspot_on_a_second_record_of_the_domain(con):
    """"Multiple records with the same domain may each have separate opportunities, and any open
    opportunity on any of these records can trigger the exclusion" - from every connected CRM."""
    ws = Workspace(con)
    ws.contact("dana@northwind.com", title="Buyer")
    ws.contact("ed@northwind.com", title="Buyer")
    ws.contact("fay@southwind.com", title="Buyer")
    ws.record("sf:001A", "salesforce", "https://www.northwind.com", crm_id="001A")
    ws.record("hs:5001", "hubspot", "northwind.com", crm_id="5001")
    ws.record("hs:5002", "hubspot", "NorthWind.com/about", crm_id="5002", name="Northwind (dup)")
    ws.opportunity("sf:006X", "sf:001A", crm_id="006X", is_closed=True)  # closed: does not count
    ws.opportunity("hs:9876", "hs:5002", crm_id="9876", name="Renewal", stage="negotiation", amount=12000)
    ws.record("sf:001B", "salesforce", "southwind.com", crm_id="001B")
    ws.save(doc([
        exclusion("open_opp", OPEN_OPP, name="Open opportunity", scope="company", remove=True),
        exclusion("open_sf", {"field": "open_opportunities_salesforce", "op": "gt", "value": 0}, name="Open SF opp"),
    ]))
    assert outcome(con, "dana@northwind.com") == {"node": "not_enrolled"}
    assert outcome(con, "fay@southwind.com") == {"node": "enrolled"}
    tab = engine.explain(con, "dana@northwind.com")
    x = excl_tab(tab, "open_opp")
    # records numbered by (crm, crm_id): hubspot 5001 #1, hubspot 5002 #2, salesforce 001A #3
    assert x["evidence"] == ["open deal 9876 in HubSpot on company record northwind.com #2 "
                             "(Renewal, negotiation, amount 12000)"]
    assert [r["label"] for r in tab["company_records"]] == [
        "company record northwind.com #1", "company record northwind.com #2", "company record northwind.com #3"]
    assert excl_tab(tab, "open_sf")["applies"] is False  # only HubSpot has an open one
    ev = engine.evaluation(con)
    assert next(e for e in engine.impact(ev, "play")["exclusions"] if e["id"] == "open_opp")["matched"] == 2


def test_email_is_not_lets_one_contact_through(con):
    """"Add 'Email is not' and enter the specific contact's email address" (trimmed, case-insensitive)."""
    ws = Workspace(con)
    ws.contact("dana@acme.com", title="CEO")
    ws.contact("dan@acme.com", title="CEO")
    ws.save(doc([exclusion("ceo", title_is("CEO"), name="Executives",
                           filters=[{"field": "email", "op": "not_equals", "value": "  Dana@ACME.com "}])]))
    assert outcome(con, "dana@acme.com") == {"node": "enrolled"}
    assert outcome(con, "dan@acme.com") == {"node": "not_enrolled"}
    x = excl_tab(engine.explain(con, "dana@acme.com"), "ceo")
    assert (x["state"], x["applies"], x["matches"]) == ("let_through", False, True)
    assert x["let_through_by"] == ["Email is not '  Dana@ACME.com '"]
    assert "let through by filter" in x["text"]
    ev = engine.evaluation(con)
    ceo = next(e for e in engine.impact(ev, "play")["exclusions"] if e["id"] == "ceo")
    assert ceo["matched"] == 1


def test_email_is_not_on_a_company_wide_rule_lets_only_that_contact_through(con):
    ws = Workspace(con)
    ws.contact("bob@acme.com", title="CEO")
    ws.contact("amy@acme.com", title="Engineer")
    ws.save(doc([exclusion("exec_co", title_is("CEO"), scope="company",
                           filters=[{"field": "email", "op": "not_equals", "value": "BOB@acme.com"}])]))
    assert outcome(con, "bob@acme.com") == {"node": "enrolled"}
    assert outcome(con, "amy@acme.com") == {"node": "not_enrolled"}


def test_queued_contact_matching_is_skipped_at_send_time(con):
    """"Contacts may appear as 'queued' in a sequence even when they match exclusion criteria ... they will
    be automatically skipped when the sequence runs"."""
    ws = Workspace(con)
    c = ws.contact("quinn@acme.com", title="CEO")
    ok = ws.contact("ok@acme.com", title="Engineer")
    e = ws.enrollment(c, state="queued")
    e_ok = ws.enrollment(ok, state="queued")
    ws.save(doc([exclusion("ceo", title_is("CEO"), name="Executives")]))
    ev = engine.evaluation(con)
    df = engine.send_decisions(con, ev).set_index("enrollment_id")
    assert (df.loc[e, "decision"], df.loc[e, "reason"]) == ("skip", "excluded")
    assert df.loc[e_ok, "decision"] == "send"
    [enr] = engine.explain(con, "quinn@acme.com")["enrollments"]
    assert enr["state"] == "queued"
    assert enr["text"] == "will be skipped at send time: Executives (org on + ruleset Default on)"


@pytest.mark.parametrize("remove,decision,reason", [
    (True, "remove", "excluded_mid_sequence"),
    (False, "continue", None),
])
def test_active_participant_kept_or_removed(con, remove, decision, reason):
    """"When an exclusion has the 'remove from active sequences' setting enabled, contacts meeting the
    exclusion criteria will be removed from sequences mid-sequence. If this setting is not enabled,
    existing sequence participants will continue receiving emails, but new contacts ... cannot enter"."""
    ws = Workspace(con)
    active = ws.contact("act@acme.com", title="Buyer")
    new = ws.contact("new@acme.com", title="Buyer")
    ws.record("sf:1", "salesforce", "acme.com")
    ws.opportunity("sf:o1", "sf:1")  # the company just got an open opportunity
    e_active = ws.enrollment(active, state="active", current_step=1)
    e_new = ws.enrollment(new, state="queued")
    ws.save(doc([exclusion("open_opp", OPEN_OPP, name="Open opportunity", scope="company", remove=remove)]))
    ev = engine.evaluation(con)
    df = engine.send_decisions(con, ev).set_index("enrollment_id")
    assert (df.loc[e_active, "decision"], df.loc[e_active, "reason"]) == (decision, reason)
    assert df.loc[e_active, "will_send"] == (not remove)
    assert df.loc[e_new, "decision"] == "skip"  # new entries are blocked either way
    [enr] = engine.explain(con, "act@acme.com")["enrollments"]
    assert enr["text"].startswith("will be removed" if remove else "continues")


def test_change_not_in_effect_during_the_propagation_delay(con):
    """"Changes to exclusion settings ... may take 15-30 minutes to propagate before affecting new
    enrollment attempts"; sends use the settings in effect at send time."""
    ws = Workspace(con)
    c = ws.contact("pat@acme.com", title="CEO")
    e = ws.enrollment(c, state="queued")
    ws.save(doc([exclusion("ceo", title_is("CEO"), name="Executives")]))
    current = settings_mod.settings_at(con, NOW)[1]
    off = levels.with_toggles(current, {("ceo", "ruleset", "default"): False})
    version = settings_mod.apply(con, REVOPS, off, note="let executives in", at=NOW)
    effective = NOW + dt.timedelta(minutes=15)
    before, after = NOW + dt.timedelta(minutes=14), effective + dt.timedelta(minutes=1)

    assert outcome(con, "pat@acme.com", as_of=before) == {"node": "not_enrolled"}
    assert outcome(con, "pat@acme.com", as_of=after) == {"node": "enrolled"}
    assert engine.evaluation(con, as_of=before).version == version - 1
    assert engine.evaluation(con, as_of=after).version == version
    skip = engine.send_decisions(con, engine.evaluation(con, as_of=before), [e]).iloc[0]["decision"]
    send = engine.send_decisions(con, engine.evaluation(con, as_of=after), [e]).iloc[0]["decision"]
    assert (skip, send) == ("skip", "send")
    # the Exclusion tab shows the pending change and when it takes effect
    [pending] = engine.explain(con, "pat@acme.com", as_of=before)["pending"]
    assert pending["version"] == version and pending["effective_at"] == effective.isoformat(sep=" ")
    assert pending["changes_answer"] is True
    assert pending["changes"] == ["sequence Outbound: blocked -> not blocked",
                                  "play Main play, node Outbound: not enrolled -> enrolled"]
    assert engine.explain(con, "pat@acme.com", as_of=after)["pending"] == []


@pytest.mark.parametrize("how", ["link", "reply", "admin", "crm_event", "crm_flag", "contact_id_only"])
def test_opt_out_beats_every_toggle(con, how):
    """Opt-out is global and permanent: removed from all active sequences, can enter none."""
    ws = Workspace(con)
    kwargs = {"sf_email_opt_out": True} if how == "crm_flag" else {}
    c = ws.contact("olive@acme.com", title="Engineer", **kwargs)
    if how in ("link", "reply", "admin"):
        ws.opt_out("olive@acme.com", source=how)
    elif how == "crm_event":
        ws.opt_out("olive@acme.com", source="crm")
    elif how == "contact_id_only":
        ws.event("opt_out", contact_id=c, source="admin")
    queued = ws.enrollment(c, state="queued")
    active = ws.enrollment(c, "seq", state="active", current_step=2)
    # nothing matches her and every exclusion is off everywhere
    ws.save(doc([exclusion("ceo", title_is("CEO"), org=False)],
                rulesets=[{"id": "default", "name": "Default", "exclusions": {"ceo": False}}],
                crm_mapping={"salesforce": {"field": "HasOptedOutOfEmail", "mode": "read_only"}}))
    ev = engine.evaluation(con)
    assert outcome(con, "olive@acme.com") == {"node": "opted_out"}
    all_on = {("ceo", "organisation", None): True, ("ceo", "ruleset", "default"): True}
    assert engine.impact(ev, "play", all_on)["opted_out"] == 1
    df = engine.send_decisions(con, ev).set_index("enrollment_id")
    assert (df.loc[queued, "decision"], df.loc[queued, "reason"]) == ("skip", "opted_out")
    assert (df.loc[active, "decision"], df.loc[active, "reason"]) == ("remove", "opted_out")
    tab = engine.explain(con, "olive@acme.com")
    source = {"crm_event": "crm", "crm_flag": "crm", "contact_id_only": "admin"}.get(how, how)
    assert tab["opt_out"]["source"] == source
    assert tab["opt_out"]["text"].startswith(f"Opted out ({source})")
    assert tab["let_through"] == ["nothing but a reversal of the opt-out with the contact's documented permission"]
    assert all(s["blocked"] for s in tab["sequences"])


def test_opt_out_reversal_with_permission_ends_it(con):
    ws = Workspace(con)
    ws.contact("rita@acme.com")
    ws.opt_out("rita@acme.com", source="admin", at=NOW - dt.timedelta(days=3))
    ws.event("opt_out_reversal", email="rita@acme.com", at=NOW - dt.timedelta(days=1), detail="permission")
    ws.save(doc([exclusion("ceo", title_is("CEO"))]), at=NOW - dt.timedelta(days=10))
    assert outcome(con, "rita@acme.com") == {"node": "enrolled"}
    # as of before the reversal, she was opted out
    assert outcome(con, "rita@acme.com", as_of=NOW - dt.timedelta(days=2)) == {"node": "opted_out"}
