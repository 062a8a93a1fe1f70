"""The live CRM connectors (issue 12) against local HTTPS fakes of the Salesforce and HubSpot APIs
(tests/crm_fakes.py): pull with paging through the export loader, push of write-backs with their states,
retries honouring Retry-After, 401, idempotency, conflict resolution, opt-outs a pull cannot end, and no
token in any output."""

from __future__ import annotations

import json

import pytest
import yaml
from crm_fakes import CA, FakeHubSpot, FakeSalesforce
from workspace_factory import NOW, SETTINGS_YAML

from unify_dash.actions import crmsync, optouts
from unify_dash.cli import main
from unify_dash.connectors import http as http_mod
from unify_dash.connectors.pull import pull
from unify_dash.connectors.push import push
from unify_dash.errors import PermissionDenied, UnifyError
from unify_dash.model import roles
from unify_dash.model import settings as settings_mod
from unify_dash.store import db

SETTINGS = SETTINGS_YAML.replace("audience: {field: country, op: in, value: [US, UK, DE]}", "audience: null")
RW = SETTINGS.replace("salesforce: {field: HasOptedOutOfEmail, mode: read_only}",
                      "salesforce: {field: HasOptedOutOfEmail, mode: read_write}")
ADMIN = roles.Actor("ops", "revops")
AMY, MICHAEL = "amy@demo.net", "michael@demo.net"


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return CA(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def fakes(ca, monkeypatch):
    sf, hs = FakeSalesforce(ca), FakeHubSpot(ca)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.pem))
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.setenv("SALESFORCE_INSTANCE_URL", sf.url)
    monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", sf.token)
    monkeypatch.setenv("SALESFORCE_API_VERSION", sf.version)
    monkeypatch.setenv("HUBSPOT_API_BASE", hs.url)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", hs.token)
    monkeypatch.setenv("UNIFY_CRM_BACKOFF", "0.01")
    yield sf, hs
    sf.close()
    hs.close()


def workspace(con, settings_yaml: str = SETTINGS):
    """A workspace with settings and no records yet, its clock pinned at NOW."""
    with db.transaction(con):
        settings_mod.save_version(con, settings_mod.parse_settings(yaml.safe_load(settings_yaml)), actor="test",
                                  at=NOW, effective_at=NOW)
        db.set_clock(con, NOW)
    return con


def contact(con, email):
    cur = con.execute("SELECT * FROM contacts WHERE email = ?", [email])
    row = cur.fetchone()
    return None if row is None else dict(zip([d[0] for d in cur.description], row, strict=True))


def count(con, sql, params=None):
    return con.execute(sql, params or []).fetchone()[0]


# --- pull -----------------------------------------------------------------------------------------------


def test_a_salesforce_pull_pages_through_every_object_and_loads_them_like_the_export(con, fakes, tmp_path):
    sf, _hs = fakes
    workspace(con)
    result = pull(con, ADMIN, "salesforce")
    assert result["pull"]["records"] == {"Account": 10, "Contact": 6, "Lead": 0, "Opportunity": 20}
    # two records a page: 5 + 3 + 1 + 10 requests, each page following nextRecordsUrl
    queries = [e["path"] for e in sf.log if e["method"] == "GET"]
    assert len(queries) == 19 and sum("/query/01gFAKE" in q for q in queries) == 15
    assert all("queryAll" not in q for q in queries) and all(e["auth"] for e in sf.log)
    assert count(con, "SELECT count(*) FROM contacts") == 6
    assert count(con, "SELECT count(*) FROM opportunities WHERE crm = 'salesforce'") == 20
    amy = contact(con, AMY)
    assert amy["contact_id"] == "sf:003Hp00000BhX01IAF" and amy["sf_contact_id"] == "003Hp00000BhX01IAF"
    # the association by AccountId (the sample accounts have no website), as the export loader makes it
    assert count(con, "SELECT count(*) FROM contact_records WHERE link = 'account'") == 6
    # the same load as the export files: the settings were kept, not saved again
    assert result["settings_version"] == 1 and count(con, "SELECT count(*) FROM settings_versions") == 1
    assert db.now(con) == NOW


def test_a_pull_keeps_a_pending_settings_change_pending(con, fakes):
    import datetime as dt

    workspace(con)
    later = settings_mod.parse_settings(yaml.safe_load(SETTINGS.replace("propagation_minutes: 15",
                                                                        "propagation_minutes: 30")))
    with db.transaction(con):
        settings_mod.save_version(con, later, actor="test", at=NOW, effective_at=NOW + dt.timedelta(minutes=30))
    result = pull(con, ADMIN, "salesforce")
    assert result["settings_version"] == 1 and not result["settings_saved"]
    assert con.execute("SELECT version, effective_at FROM settings_versions ORDER BY version").fetchall() == [
        (1, NOW), (2, NOW + dt.timedelta(minutes=30))]


def test_a_pull_leaves_deleted_salesforce_records_out(con, fakes):
    sf, _hs = fakes
    sf.record("Contact", AMY)["IsDeleted"] = True  # only queryAll would return it
    workspace(con)
    sf.fail(429, after=3)  # a rate limit half-way through the pages: retried, nothing lost
    result = pull(con, ADMIN, "salesforce")
    assert result["pull"]["retries"] == 1 and result["pull"]["records"]["Contact"] == 5
    assert contact(con, AMY) is None and count(con, "SELECT count(*) FROM contacts") == 5


def test_a_hubspot_pull_pages_with_after_and_keeps_the_salesforce_records(con, fakes):
    sf, hs = fakes
    workspace(con)
    pull(con, ADMIN, "salesforce")
    result = pull(con, ADMIN, "hubspot")
    assert result["pull"]["records"] == {"companies": 10, "contacts": 6, "deals": 20}
    gets = [e["path"] for e in hs.log if e["method"] == "GET"]
    assert sum("after=" in g for g in gets) == 4 + 2 + 9
    assert all("associations=companies" in g for g in gets if "/contacts" in g or "/deals" in g)
    amy = contact(con, AMY)  # one contact, both CRMs' ids; the Salesforce records were kept
    assert amy["contact_id"] == "sf:003Hp00000BhX01IAF" and amy["hs_contact_id"] == "51"
    assert count(con, "SELECT count(*) FROM contacts") == 6
    assert count(con, "SELECT count(*) FROM company_records") == 20
    assert count(con, "SELECT count(*) FROM opportunities") == 40
    assert count(con, "SELECT count(*) FROM contact_records WHERE link = 'account'") == 6
    assert count(con, "SELECT count(*) FROM contact_records WHERE link = 'associated_company'") == 6
    # and a second Salesforce pull keeps the HubSpot side
    pull(con, ADMIN, "salesforce")
    assert contact(con, AMY)["hs_contact_id"] == "51" and count(con, "SELECT count(*) FROM opportunities") == 40


def test_a_pull_that_would_un_opt_out_a_contact_keeps_it_opted_out(con, fakes):
    sf, _hs = fakes
    sf.record("Contact", AMY)["HasOptedOutOfEmail"] = True
    workspace(con)
    first = pull(con, ADMIN, "salesforce")
    assert first["crm_opt_outs_new"] == 1
    settings = settings_mod.settings_at(con)[1]
    assert optouts.opt_out_status(con, settings, AMY, db.now(con)) is not None
    optouts.opt_out(con, ADMIN, MICHAEL, source="admin")  # a platform opt-out the CRM never had
    sf.record("Contact", AMY)["HasOptedOutOfEmail"] = False  # cleared in Salesforce since
    pull(con, ADMIN, "salesforce")
    assert contact(con, AMY)["sf_email_opt_out"] is False  # the CRM's word is mirrored ...
    for email in (AMY, MICHAEL):  # ... but no recorded opt-out ends: only a documented reversal does
        assert optouts.opt_out_status(con, settings, email, db.now(con)) is not None


def test_a_pull_checks_the_role_and_the_configuration(con, fakes, monkeypatch):
    workspace(con)
    with pytest.raises(PermissionDenied):
        pull(con, roles.Actor("m", "manager"), "salesforce")
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN")
    with pytest.raises(UnifyError, match="set HUBSPOT_ACCESS_TOKEN"):
        pull(con, ADMIN, "hubspot")
    assert count(con, "SELECT count(*) FROM contacts") == 0


def test_tls_is_verified_against_the_configured_ca(con, fakes, monkeypatch, tmp_path):
    workspace(con)
    other = CA(tmp_path)  # a CA that did not sign the fake's certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(other.pem))
    with pytest.raises(UnifyError, match="cannot verify the TLS certificate of Salesforce"):
        pull(con, ADMIN, "salesforce")
    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fakes[0].url and other.pem))
    with pytest.raises(UnifyError, match="cannot verify"):
        pull(con, ADMIN, "salesforce")


# --- push -----------------------------------------------------------------------------------------------


def pulled(con, settings_yaml=RW):
    workspace(con, settings_yaml)
    pull(con, ADMIN, "salesforce")
    pull(con, ADMIN, "hubspot")
    return con


def test_push_writes_each_opt_out_once_and_a_second_push_writes_nothing(con, fakes):
    sf, hs = fakes
    pulled(con)
    optouts.opt_out(con, ADMIN, AMY, source="admin")
    optouts.opt_out(con, ADMIN, MICHAEL, source="link")
    assert len(crmsync.pending_writebacks(con)) == 4  # two contacts x two read & write CRMs
    result = push(con, ADMIN)
    assert result["crms"]["salesforce"]["sent"] == 2 and result["crms"]["hubspot"]["sent"] == 2
    [patch] = [e for e in sf.writes()]
    assert patch["body"]["allOrNone"] is False
    assert sorted(r["id"] for r in patch["body"]["records"]) == ["003Hp00000BhX01IAF", "003Hp00000COX02IAH"]
    assert all(r["HasOptedOutOfEmail"] is True and r["attributes"] == {"type": "Contact"}
               for r in patch["body"]["records"])
    assert sf.record("Contact", AMY)["HasOptedOutOfEmail"] is True
    assert sorted(e["path"].split("/")[4] for e in hs.writes()) == [AMY, MICHAEL]
    assert hs.contact(AMY)["properties"]["hs_email_optout"] == "true"
    wb = crmsync.writebacks(con)
    assert set(wb["status"]) == {"sent"} and set(wb["attempts"]) == {1} and wb["sent_at"].notna().all()
    assert contact(con, AMY)["sf_email_opt_out"] is True and contact(con, AMY)["hs_opt_out"] is True
    writes = len(sf.writes()) + len(hs.writes())
    again = push(con, ADMIN)
    assert again["crms"] == {} and len(sf.writes()) + len(hs.writes()) == writes
    assert crmsync.conflicts(con).empty


def test_a_partly_refused_batch_marks_each_record_by_its_own_result(con, fakes):
    sf, _hs = fakes
    pulled(con)
    sf.refuse["003Hp00000COX02IAH"] = "Opt-outs need a reason code"
    optouts.opt_out(con, ADMIN, AMY, source="admin")
    optouts.opt_out(con, ADMIN, MICHAEL, source="admin")
    result = push(con, ADMIN, "salesforce")
    assert result["crms"]["salesforce"] == {"pending": 2, "sent": 1, "failed": 1, "requests": 1, "retries": 0}
    wb = crmsync.writebacks(con).set_index("email")
    assert wb.loc[AMY][wb.loc[AMY]["crm"] == "salesforce"]["status"].item() == "sent"
    michael = wb.loc[MICHAEL][wb.loc[MICHAEL]["crm"] == "salesforce"]
    assert michael["status"].item() == "failed"
    assert michael["last_error"].item() == "FIELD_CUSTOM_VALIDATION_EXCEPTION: Opt-outs need a reason code"
    assert result["failures"] == [{"crm": "salesforce", "email": MICHAEL, "crm_id": "003Hp00000COX02IAH",
                                   "error": "FIELD_CUSTOM_VALIDATION_EXCEPTION: Opt-outs need a reason code"}]
    assert len(crmsync.pending_writebacks(con)) == 2  # HubSpot's, not asked for


def test_503_then_success_is_retried_after_the_retry_after_it_asks_for(con, fakes):
    sf, _hs = fakes
    pulled(con)
    optouts.opt_out(con, ADMIN, AMY, source="admin")
    sf.fail(503, retry_after="1")
    sf.fail(429)
    start = len(sf.log)
    result = push(con, ADMIN, "salesforce")
    assert result["crms"]["salesforce"]["sent"] == 1 and result["crms"]["salesforce"]["retries"] == 2
    tries = sf.log[start:]
    assert [e["status"] for e in tries] == [503, 429, 200]
    assert tries[1]["at"] - tries[0]["at"] >= 0.95  # Retry-After: 1 honoured
    assert tries[2]["at"] - tries[1]["at"] < 0.9  # no Retry-After: the short test backoff


def test_retry_after_as_an_http_date_and_a_cap():
    assert http_mod.retry_after_seconds("2") == 2.0
    assert http_mod.retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert http_mod.retry_after_seconds("soon") is None


def test_a_401_is_one_error_line_and_the_write_backs_stay_pending(con, fakes, capsys, tmp_path):
    sf, _hs = fakes
    path = tmp_path / "w.duckdb"
    fcon = db.connect(path)
    pulled(fcon)
    optouts.opt_out(fcon, ADMIN, AMY, source="admin")
    fcon.close()
    sf.token = "another-token"  # the one we send has expired
    assert main(["crm", "push", "--crm", "salesforce", "--db", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: Salesforce refused the access token (HTTP 401: ")
    assert "SALESFORCE_ACCESS_TOKEN" in err[0]
    fcon = db.connect(path)
    assert set(crmsync.writebacks(fcon, email=AMY)["status"]) == {"pending"}
    fcon.close()


def test_a_401_half_way_keeps_what_the_crm_accepted_and_the_rest_pending(con, fakes):
    _sf, hs = fakes
    pulled(con)
    optouts.opt_out(con, ADMIN, AMY, source="admin")
    optouts.opt_out(con, ADMIN, MICHAEL, source="admin")
    hs.fail(401, after=1)  # the token is revoked after the first contact
    with pytest.raises(http_mod.AuthError, match="HubSpot refused the access token"):
        push(con, ADMIN, "hubspot")
    wb = crmsync.writebacks(con)
    hubspot = wb[wb["crm"] == "hubspot"].set_index("email")["status"].to_dict()
    assert sorted(hubspot.values()) == ["pending", "sent"]
    assert push(con, ADMIN, "hubspot")["crms"]["hubspot"] == {"pending": 1, "sent": 1, "failed": 0,
                                                               "requests": 1, "retries": 0}


def test_a_reversal_is_written_to_salesforce_and_refused_for_hubspot_with_where_to_change_it(con, fakes):
    sf, hs = fakes
    pulled(con)
    optouts.opt_out(con, ADMIN, AMY, source="admin")
    push(con, ADMIN)
    optouts.reverse_opt_out(con, roles.Actor("sue", "support"), AMY, permission_by="Amy Taylor",
                            permission_at=NOW, evidence="ticket 42")
    posts = len(hs.writes())
    result = push(con, ADMIN)
    assert result["crms"]["salesforce"]["sent"] == 1 and sf.record("Contact", AMY)["HasOptedOutOfEmail"] is False
    assert result["crms"]["hubspot"]["failed"] == 1 and len(hs.writes()) == posts  # nothing sent to HubSpot
    [failure] = result["failures"]
    assert failure["crm"] == "hubspot" and "change it on the contact's record in HubSpot" in failure["error"]


# --- conflicts ------------------------------------------------------------------------------------------


def test_conflicts_are_fixed_by_pushing_the_platforms_opt_out(con, fakes):
    sf, hs = fakes
    pulled(con)
    optouts.opt_out(con, ADMIN, AMY, source="admin")
    con.execute("DELETE FROM crm_writebacks")  # as in the demo: opted out, nothing written back
    assert list(crmsync.conflicts(con)["email"]) == [AMY]
    queued = crmsync.queue_conflict_writebacks(con, ADMIN)
    assert queued["contacts"] == 1 and sorted(w["crm"] for w in queued["writebacks"]) == ["hubspot", "salesforce"]
    assert crmsync.conflicts(con).empty  # a pending write-back is fixing it
    push(con, ADMIN)
    assert sf.record("Contact", AMY)["HasOptedOutOfEmail"] is True
    assert hs.contact(AMY)["properties"]["hs_email_optout"] == "true"
    assert crmsync.conflicts(con).empty
    assert crmsync.queue_conflict_writebacks(con, ADMIN)["writebacks"] == []  # nothing left to fix
    actions = [r[0] for r in con.execute("SELECT action FROM audit_log ORDER BY \"at\", audit_id").fetchall()]
    assert "crm.resolve" in actions and "crm.writebacks" in actions and "crm.pull" in actions


def test_a_read_only_mapping_says_why_nothing_is_pushed(con, fakes):
    pulled(con, SETTINGS)  # Salesforce read-only, HubSpot read & write
    optouts.opt_out(con, ADMIN, AMY, source="admin")
    ro = crmsync.readonly_disagreements(con)
    assert list(ro["email"]) == [AMY] and list(ro["crm"]) == ["Salesforce"]
    queued = crmsync.queue_conflict_writebacks(con, ADMIN)
    assert all(w["crm"] == "hubspot" for w in queued["writebacks"])
    with pytest.raises(PermissionDenied):
        crmsync.queue_conflict_writebacks(con, roles.Actor("s", "support"))


# --- the command line, and no secret anywhere ------------------------------------------------------------


def test_the_verbs_print_summaries_and_json_and_never_the_token(fakes, tmp_path, capsys):
    sf, hs = fakes
    path = tmp_path / "cli.duckdb"
    con = db.connect(path)
    workspace(con, RW)
    con.close()
    assert main(["crm", "pull", "salesforce", "--db", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("pulled salesforce: Account 10, Contact 6, Lead 0, Opportunity 20 records in 19 requests")
    assert main(["crm", "pull", "hubspot", "--db", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["pull"]["records"]["contacts"] == 6 and data["contacts"] == 6
    assert main(["optout", AMY, "--source", "admin", "--db", str(path)]) == 0
    sf.fail(503, retry_after="0")
    assert main(["crm", "push", "--db", str(path), "--json"]) == 0
    pushed = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert pushed["crms"]["salesforce"]["sent"] == 1 and pushed["crms"]["hubspot"]["sent"] == 1
    assert main(["crm", "push", "--db", str(path)]) == 0
    assert capsys.readouterr().out.strip() == "nothing to push: no pending write-back"
    hs.token = "revoked"
    assert main(["crm", "pull", "hubspot", "--db", str(path)]) == 1
    printed = capsys.readouterr()
    con = db.connect(path)
    stored = " ".join(str(r) for t in ("audit_log", "events", "crm_writebacks", "meta")
                      for r in con.execute(f"SELECT * FROM {t}").fetchall())
    con.close()
    for token in (FakeSalesforce.token, "revoked"):
        assert token not in printed.out + printed.err and token not in stored


def test_crm_resolve_queues_and_pushes_the_conflicts(fakes, tmp_path, capsys):
    sf, _hs = fakes
    path = tmp_path / "resolve.duckdb"
    con = db.connect(path)
    pulled(con)
    optouts.opt_out(con, ADMIN, AMY, source="admin")
    optouts.opt_out(con, ADMIN, MICHAEL, source="admin")
    con.execute("DELETE FROM crm_writebacks")
    con.close()
    assert main(["crm", "resolve", "--email", MICHAEL, "--db", str(path)]) == 0
    assert capsys.readouterr().out.strip() == "queued 2 write-back(s) for 1 conflict(s)"
    assert main(["crm", "resolve", "--push", "--db", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["contacts"] == 1 and result["writebacks"] == 2  # Amy's; Michael's were queued already
    assert result["push"]["crms"]["salesforce"]["sent"] == 2
    assert sf.record("Contact", AMY)["HasOptedOutOfEmail"] is True
    assert main(["crm", "resolve", "--as", "manager", "--db", str(path)]) == 1
    assert "may not crm.sync" in capsys.readouterr().err


# --- the CRM sync page ----------------------------------------------------------------------------------


def test_the_crm_page_pulls_pushes_and_fixes_a_conflict(fakes, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    sf, hs = fakes
    path = tmp_path / "app.duckdb"
    con = db.connect(path)
    workspace(con, RW)
    con.close()
    monkeypatch.setenv("UNIFY_DB", str(path))
    monkeypatch.setenv("UNIFY_USER", "tester")
    monkeypatch.delenv("UNIFY_ROLE", raising=False)
    root = __import__("pathlib").Path(__file__).resolve().parent.parent
    at = AppTest.from_file(str(root / "app.py"), default_timeout=120)
    at.session_state["ui.role"] = "revops"
    at.run()
    at.switch_page("unify_dash/app/pages/crm.py").run()
    assert not at.exception, [e.message for e in at.exception]
    at.button(key="crm.pull.salesforce").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(s.value.startswith("pulled salesforce: Account 10, Contact 6") for s in at.success)
    at.button(key="crm.pull.hubspot").click().run()
    assert any(s.value.startswith("pulled hubspot: companies 10, contacts 6, deals 20") for s in at.success)
    con = db.connect(path)
    optouts.opt_out(con, ADMIN, AMY, source="admin")
    con.execute("DELETE FROM crm_writebacks")  # opted out, nothing written back: a conflict
    db.bump_generation(con)
    optouts.opt_out(con, ADMIN, MICHAEL, source="admin")  # two pending write-backs
    con.close()
    at.run()
    assert any("2 pending" in m.value for m in at.markdown)
    at.button(key="crm.push").click().run()
    assert not at.error, [e.value for e in at.error]
    assert sf.record("Contact", MICHAEL)["HasOptedOutOfEmail"] is True
    assert hs.contact(MICHAEL)["properties"]["hs_email_optout"] == "true"
    at.button(key="crm.resolve").click().run()
    assert not at.error, [e.value for e in at.error]
    assert any("2 write-backs queued for 1 contact" in s.value for s in at.success)
    assert sf.record("Contact", AMY)["HasOptedOutOfEmail"] is True
    assert any("No conflict" in s.value for s in at.success)
    con = db.connect(path)
    assert set(crmsync.writebacks(con)["status"]) == {"sent"}
    con.close()
