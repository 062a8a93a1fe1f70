"""One vocabulary of counts: every Metrics family and every engine count has its unit, and the pages say it."""

from __future__ import annotations

from test_app import assert_ok, open_app, open_linked, reader, shared_db, texts  # noqa: F401 - fixtures

from unify_dash.reports import metrics, units


def test_every_metrics_family_has_its_unit():
    assert set(metrics.FAMILY_LABELS) == set(units.FAMILIES)
    assert units.of_family("state") is units.ENROLLMENTS and units.of_family("completed") is units.ENROLLMENTS
    assert units.of_family("opt_outs") is units.CONTACTS and units.ENGINE is units.CONTACTS
    assert units.CONTACTS.of(1) == "1 contact" and units.ENROLLMENTS.of(3000) == "3,000 enrollments"
    assert units.titled("Enrolled", units.ENROLLMENTS) == "Enrolled (enrollments)"
    assert "counts twice" in units.legend(units.ENROLLMENTS)


def test_play_view_and_metrics_say_what_they_count(reader):  # noqa: F811 - the fixture
    play = open_app("play")
    assert "contacts = each person counted once" in texts(play)
    assert "would be enrolled there now" in texts(play)
    page = open_app("metrics")
    assert_ok(page)
    shown = texts(page)
    assert "Not Enrolled counts contacts now" in shown and "enrollment records" in shown
    helps = {m.label: m.help for m in page.metric}
    assert "enrollments" in helps["Enrolled"] and "Contacts" in helps["Not Enrolled"]


def test_metrics_lists_the_contacts_one_active_sequence_holds(reader):  # noqa: F811 - the fixture
    from unify_dash import engine
    from unify_dash.reports import playview

    ev = engine.evaluation(reader)
    play = next(p for p in ev.settings.plays if engine.impact(ev, p.id)["active_elsewhere"])
    imp = engine.impact(ev, play.id)
    node = next(n for n in imp["nodes"] if n["active_elsewhere"])
    reasons = playview.not_enrolled_reasons(imp)
    row = reasons[reasons["custom"] == f"{node['id']}|@active_elsewhere"].iloc[0]
    assert row["contacts"] == node["active_elsewhere"] and row["reason"] == "One active sequence at a time"
    assert playview.reason_bucket(row["custom"].partition("|")[2]) == (
        "active_elsewhere", None, "One active sequence at a time")
    nd, _, reason = row["custom"].partition("|")  # the row's link: what selecting it in the bar table sets
    at = open_linked("metrics", play=play.id, list=f"now:not_enrolled:not_enrolled:{nd}:{reason}")
    assert_ok(at)
    assert f"One active sequence at a time: {node['active_elsewhere']:,} contact" in texts(at)
