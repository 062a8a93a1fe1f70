"""One vocabulary of counts: every Metrics family and every engine count has its unit, and the pages say it."""

from __future__ import annotations

from test_app import assert_ok, open_app, reader, shared_db, template_db, texts  # noqa: F401 - fixtures

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
