"""The seeded demo workspace generator (unify_dash/demo.py).

One small workspace (N=500) is generated per module and read back with DuckDB; the last tests
load it with the real loader and check the story contacts through the engine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import duckdb
import pytest
import yaml

from unify_dash import engine
from unify_dash.actions import enrollments as lifecycle
from unify_dash.actions import optouts
from unify_dash.classify import replies
from unify_dash.errors import ValidationError
from unify_dash.io import demo
from unify_dash.io.load import load_workspace
from unify_dash.model import domains, settings, vocabulary
from unify_dash.reports import diagnosis

N = 500
FILES = ("contacts", "company_records", "opportunities", "enrollments", "events")


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo") / "ws"
    counts = demo.generate(folder, contacts=N, seed=42)
    assert counts["contacts"] == N
    return folder


@pytest.fixture(scope="module")
def q(ws):
    """Run SQL over the generated CSV files (views named like the files)."""
    con = duckdb.connect()
    for name in FILES:
        con.read_csv(str(ws / f"{name}.csv"), header=True).create_view(name)

    def run(sql: str, params=None):
        return con.execute(sql, params or []).fetchall()

    yield run
    con.close()


@pytest.fixture(scope="module")
def doc(ws) -> dict:
    return yaml.safe_load((ws / "settings.yaml").read_text(encoding="utf-8"))


# --- determinism and the folder ----------------------------------------------------------------------


def test_same_seed_gives_byte_identical_files(tmp_path, ws):
    again = tmp_path / "again"
    demo.generate(again, contacts=N, seed=42)
    assert _digest(again) == _digest(ws)


def test_another_seed_gives_other_bulk_data_and_the_same_story(tmp_path, ws):
    other = tmp_path / "other"
    demo.generate(other, contacts=N, seed=7)
    assert _digest(other)["contacts.csv"] != _digest(ws)["contacts.csv"]
    mine = (ws / "contacts.csv").read_text(encoding="utf-8").splitlines()
    theirs = (other / "contacts.csv").read_text(encoding="utf-8").splitlines()
    story = len(demo.STORY_EMAILS) + 1  # header + story rows come first, identical for every seed
    assert mine[:story] == theirs[:story]


def test_parquet_is_deterministic_and_holds_the_same_rows_as_csv(tmp_path, ws):
    a, b = tmp_path / "pa", tmp_path / "pb"
    demo.generate(a, contacts=N, seed=42, fmt="parquet")
    demo.generate(b, contacts=N, seed=42, fmt="parquet")
    assert _digest(a) == _digest(b)
    con = duckdb.connect()
    for name in FILES:
        diff = con.execute(
            "SELECT count(*) FROM (SELECT * FROM read_csv(?, header = true) EXCEPT ALL SELECT * FROM read_parquet(?))",
            [str(ws / f"{name}.csv"), str(a / f"{name}.parquet")]).fetchall()[0][0]
        assert diff == 0, name


def test_switching_format_leaves_one_file_per_record_kind(tmp_path):
    folder = tmp_path / "ws"
    demo.generate(folder, contacts=100, fmt="csv")
    demo.generate(folder, contacts=100, fmt="parquet")
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted([f"{n}.parquet" for n in FILES] + ["settings.yaml", "workspace.yaml"])


@pytest.mark.parametrize("kwargs", [
    {"contacts": 99}, {"contacts": 0}, {"contacts": "500"}, {"fmt": "xlsx"}, {"exclusions": 7}, {"exclusions": 25},
    {"seed": "x"},
])
def test_bad_arguments_are_refused(tmp_path, kwargs):
    with pytest.raises(ValidationError):
        demo.generate(tmp_path / "x", **{"contacts": 100, **kwargs})


def test_workspace_yaml_pins_now(ws):
    meta = yaml.safe_load((ws / "workspace.yaml").read_text(encoding="utf-8"))
    assert meta["now"] == "2026-11-26T09:00:00"


def test_cli_prints_counts_and_time(tmp_path, capsys):
    from unify_dash import cli

    assert cli.main(["demo", "--out", str(tmp_path / "w"), "--contacts", "150", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "150 contacts" in out and "events" in out and " s:" in out
    assert (tmp_path / "w" / "events.csv").exists()


# --- settings ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [8, 14, 20, 24])
def test_settings_parse_for_every_exclusion_count(tmp_path, count):
    folder = tmp_path / "ws"
    counts = demo.generate(folder, contacts=100, exclusions=count)
    parsed = settings.parse_settings(yaml.safe_load((folder / "settings.yaml").read_text(encoding="utf-8")))
    assert len(parsed.exclusions) == counts["exclusions"] == count
    assert len({e.id for e in parsed.exclusions}) == count


def test_default_settings_look_like_a_real_team(doc):
    s = settings.parse_settings(doc)
    assert 8 <= len(s.exclusions) <= 15
    by_id = {e.id: e for e in s.exclusions}
    assert by_id["open_opportunity"].criteria == {"field": "open_opportunities", "op": "gt", "value": 0}
    assert by_id["open_opportunity"].company_wide and by_id["open_opportunity"].remove_from_active_sequences
    assert by_id["current_customers"].filters == (demo.vocabulary.email_is_not(demo.LEE),)
    assert by_id["recently_contacted"].criteria["op"] == "within_last_days"
    assert not by_id["job_change"].remove_from_active_sequences
    assert any(not e.exclude_from_sequences for e in s.exclusions)
    assert demo.DNC_STORY in by_id["do_not_contact"].criteria["value"]
    # at least two rulesets that differ; 3-5 sequences of 3-5 steps; 2-4 plays of 1-2 nodes
    assert len({tuple(sorted(r.exclusions.items())) for r in s.rulesets}) >= 2
    assert 3 <= len(s.sequences) <= 5 and all(3 <= len(q.steps) <= 5 for q in s.sequences)
    assert 2 <= len(s.plays) <= 4 and all(1 <= len(p.nodes) <= 2 for p in s.plays)
    # the article's main scenario: off at the audience, on in the ruleset of the play's sequence
    play = s.play("play_enterprise")
    ruleset = s.ruleset(s.sequence(play.nodes[0].sequence).ruleset)
    assert play.audience_exclusions["open_opportunity"] is False and ruleset.is_on("open_opportunity")
    assert {m.crm: (m.field, m.mode) for m in s.crm_mapping} == {
        "salesforce": ("HasOptedOutOfEmail", "read_write"), "hubspot": ("hs_email_optout", "read_only")}


def test_name_lists_make_unique_email_parts():
    for names in (demo.FIRST_NAMES, demo.LAST_NAMES):
        keys = [demo.email_key(n) for n in names]
        assert all(keys) and len(set(keys)) == len(keys)
    assert len(demo.LAST_NAMES) % 7  # the last-name stride 7 visits every name
    words = {w1.lower() + w2 for w1 in demo.W1 for w2 in demo.W2}
    assert len(words) == len(demo.W1) * len(demo.W2)  # every company word pair is a distinct domain
    assert all(domains.is_free_mail(d) for d, _w in demo.FREE_MAIL)


# --- records -----------------------------------------------------------------------------------------


def test_ids_and_emails_are_unique_and_references_hold(q):
    assert q("SELECT count(*) = count(DISTINCT contact_id) AND count(*) = count(DISTINCT lower(email)) "
             "FROM contacts") == [(True,)]
    for table, key in [("company_records", "record_id"), ("opportunities", "opportunity_id"),
                       ("enrollments", "enrollment_id"), ("events", "event_id")]:
        assert q(f"SELECT count(*) - count(DISTINCT {key}) FROM {table}") == [(0,)], table
    assert q("SELECT count(*) FROM opportunities o ANTI JOIN company_records r USING (record_id)") == [(0,)]
    assert q("SELECT count(*) FROM enrollments e ANTI JOIN contacts c USING (contact_id)") == [(0,)]
    assert q("SELECT count(*) FROM events e ANTI JOIN contacts c ON c.contact_id = e.contact_id "
             "AND c.email = e.email") == [(0,)]
    assert q("SELECT count(*) FROM events e ANTI JOIN enrollments n USING (enrollment_id) "
             "WHERE e.enrollment_id IS NOT NULL") == [(0,)]


def test_sizes_follow_the_contact_count(tmp_path):
    n = 20_000
    counts = demo.generate(tmp_path / "ws", contacts=n)
    assert counts["contacts"] == n
    assert 0.2 < counts["company_records"] / n < 0.3  # company records ~ contacts / 4
    assert 1.2 < counts["opportunities"] / counts["company_records"] < 1.5  # ~ records * 1.3
    assert 0.55 < counts["enrollments"] / n < 0.68  # ~ contacts * 0.6
    assert 2 < counts["events"] / counts["enrollments"] < 5  # a few per enrollment


def test_domains_with_several_records_in_one_or_both_crms(q):
    rows = q("SELECT crm, website FROM company_records")
    by_domain: dict[str, list] = {}
    for crm, website in rows:
        by_domain.setdefault(domains.normalize_domain(website), []).append((crm, website))
    multi = {d: recs for d, recs in by_domain.items() if len(recs) > 1}
    assert any({c for c, _w in recs} == {"salesforce", "hubspot"} for recs in multi.values())
    assert any([c for c, _w in recs].count("salesforce") >= 2 for recs in multi.values())
    assert any(len({w for _c, w in recs}) == len(recs) for recs in multi.values())  # written differently
    assert any(recs[0][0] == "hubspot" for recs in by_domain.values() if len(recs) == 1)  # only in HubSpot
    assert any(recs[0][0] == "salesforce" for recs in by_domain.values() if len(recs) == 1)
    assert q("SELECT count(*) > 0 FROM company_records WHERE website LIKE 'https://www.%/' AND website <> lower(website)")[0][0]


@pytest.mark.parametrize("crm,closed,stage", [
    ("salesforce", False, "Negotiation/Review"), ("salesforce", True, "Closed Won"), ("salesforce", True, "Closed Lost"),
    ("hubspot", False, "appointmentscheduled"), ("hubspot", True, "closedwon"), ("hubspot", True, "closedlost"),
])
def test_open_and_closed_opportunities_in_both_crms(q, crm, closed, stage):
    assert q("SELECT count(*) FROM opportunities WHERE crm = ? AND is_closed = ? AND stage = ?",
             [crm, closed, stage])[0][0] > 0


def test_contacts_cover_crms_free_mail_job_changes_and_a_year_of_contact(q):
    (total, sf, lead, hs, both, free, jobs, customers, comp) = q(f"""
        SELECT count(*), count(sf_contact_id), count(sf_lead_id), count(hs_contact_id),
               count(*) FILTER (WHERE hs_contact_id IS NOT NULL AND coalesce(sf_contact_id, sf_lead_id) IS NOT NULL),
               count(*) FILTER (WHERE list_contains({sorted(d for d, _w in demo.FREE_MAIL)!r}, split_part(email, '@', 2))),
               count(job_changed_at),
               (SELECT count(*) FROM company_records WHERE is_customer),
               count(*) FILTER (WHERE list_contains({demo.COMPETITOR_DOMAINS!r}, split_part(email, '@', 2)))
        FROM contacts""")[0]
    assert min(sf, lead, hs, both, jobs, customers, comp) > 0
    assert 0.05 < free / total < 0.25
    lo, hi = q("SELECT min(last_contacted_at), max(last_contacted_at) FROM contacts")[0]
    assert demo.NOW - dt.timedelta(days=366) <= lo < demo.NOW - dt.timedelta(days=300)
    assert demo.NOW - dt.timedelta(days=2) < hi <= demo.NOW
    # titles like a B2B database
    titles = {t for (t,) in q("SELECT DISTINCT title FROM contacts")}
    assert {"VP Sales", "CEO", "SDR", "Head of Marketing", "Sales Intern"} <= titles


# --- enrollments and events ----------------------------------------------------------------------------


@pytest.mark.parametrize("state,reason", [
    ("queued", None), ("active", None), ("completed", "finished"), ("completed", "replied"),
    ("completed", "opted_out"), ("completed", "excluded"), ("completed", "excluded_mid_sequence"),
    ("unenrolled", "unenrolled"), ("not_enrolled", None),
])
def test_every_state_and_completion_reason(q, state, reason):
    assert q("SELECT count(*) FROM enrollments WHERE state = ? AND completion_reason IS NOT DISTINCT FROM ?",
             [state, reason])[0][0] > 0


@pytest.mark.parametrize("type_,source,label", [
    ("opt_out", "link", None), ("opt_out", "reply", None), ("opt_out", "admin", None),
    ("reply", None, "opt_out"), ("reply", None, "out_of_office"), ("reply", None, "positive"),
    ("reply", None, "not_now"), ("reply_handled", None, None), ("unenroll", None, None),
    ("exclusion_skip", None, None), ("opt_out_reversal", None, None), ("send", None, None),
    ("enroll", None, None), ("complete", None, None),
])
def test_every_event_kind(q, type_, source, label):
    assert q("SELECT count(*) FROM events WHERE type = ? AND (? IS NULL OR source = ?) AND (? IS NULL OR label = ?)",
             [type_, source, source, label, label])[0][0] > 0


def test_crm_flags_on_both_crms(q):
    sf, hs, dne = q("SELECT count(*) FILTER (WHERE sf_email_opt_out), count(*) FILTER (WHERE hs_opt_out), "
                    "count(*) FILTER (WHERE sf_do_not_email) FROM contacts")[0]
    assert sf > 0 and hs > 0 and dne > 0
    # a flag only on a contact that is in that CRM
    assert q("SELECT count(*) FROM contacts WHERE (sf_email_opt_out AND sf_contact_id IS NULL AND sf_lead_id IS NULL) "
             "OR (hs_opt_out AND hs_contact_id IS NULL)") == [(0,)]


@pytest.mark.parametrize("label", sorted(demo.REPLIES))
def test_reply_texts_are_realistic(q, label):
    texts = {t for (t,) in q("SELECT DISTINCT text FROM events WHERE type = 'reply' AND label = ?", [label])}
    assert texts and texts <= set(demo.REPLIES[label])
    if label == "opt_out":  # the story replies: Lena's (handled) and Jake's (not yet)
        assert {"Bitte keine E-Mails mehr.", "Please remove me from your list."} <= texts


def test_unhandled_opt_out_replies_wait_in_the_queue(q):
    unhandled = q("""SELECT count(*) FROM events r WHERE r.type = 'reply' AND r.label = 'opt_out'
                     AND NOT EXISTS (SELECT 1 FROM events x WHERE x.email = r.email
                                     AND x.type IN ('opt_out', 'reply_handled') AND x.occurred_at >= r.occurred_at)""")
    handled = q("SELECT count(*) FROM events WHERE type = 'reply_handled'")
    assert unhandled[0][0] > 0 and handled[0][0] > 0


def test_sends_match_the_steps_of_each_enrollment(q):
    assert q("""SELECT count(*) FROM enrollments e
                LEFT JOIN (SELECT enrollment_id, count(*) AS n, max(step) AS top FROM events WHERE type = 'send'
                           GROUP BY ALL) s USING (enrollment_id)
                WHERE coalesce(s.n, 0) <> e.current_step OR coalesce(s.top, 0) <> e.current_step""") == [(0,)]


@pytest.mark.parametrize("state,reason,event", [
    ("completed", "finished", "complete"), ("completed", "replied", "reply"), ("completed", "opted_out", "opt_out"),
    ("completed", "excluded", "exclusion_skip"), ("completed", "excluded_mid_sequence", "exclusion_skip"),
    ("unenrolled", "unenrolled", "unenroll"), ("not_enrolled", None, "exclusion_skip"),
])
def test_each_ending_has_its_event(q, state, reason, event):
    missing = q("""SELECT count(*) FROM enrollments e WHERE state = ? AND completion_reason IS NOT DISTINCT FROM ?
                   AND NOT EXISTS (SELECT 1 FROM events x WHERE x.enrollment_id = e.enrollment_id AND x.type = ?)""",
                [state, reason, event])
    assert missing == [(0,)]


def test_link_opt_outs_follow_a_send_and_completed_enrollments_end_with_complete(q):
    assert q("""SELECT count(*) FROM events o WHERE o.type = 'opt_out' AND o.source = 'link' AND NOT EXISTS (
                SELECT 1 FROM events s WHERE s.type = 'send' AND s.enrollment_id = o.enrollment_id
                AND s.occurred_at < o.occurred_at)""") == [(0,)]
    assert q("""SELECT count(*) FROM enrollments e WHERE state = 'completed' AND updated_at <> (
                SELECT max(occurred_at) FROM events x WHERE x.enrollment_id = e.enrollment_id)""") == [(0,)]


def test_times_are_consistent(q):
    now = demo.NOW
    assert q("SELECT max(occurred_at) FROM events")[0][0] <= now
    assert q("SELECT count(*) FROM enrollments WHERE state IN ('queued', 'active') AND next_step_at <= ?",
             [now]) == [(0,)]
    assert q("SELECT count(*) FROM enrollments WHERE state NOT IN ('queued', 'active') AND next_step_at IS NOT NULL") \
        == [(0,)]
    assert q("SELECT count(*) FROM enrollments WHERE enrolled_at > updated_at") == [(0,)]
    assert q("SELECT count(*) FROM opportunities WHERE created_at > ?", [now]) == [(0,)]


def test_opted_out_contacts_have_no_queued_or_active_enrollment(q):
    assert q("""SELECT count(*) FROM enrollments e JOIN contacts c USING (contact_id)
                WHERE e.state IN ('queued', 'active') AND (c.sf_email_opt_out OR c.hs_opt_out OR EXISTS (
                    SELECT 1 FROM events o WHERE o.email = c.email AND o.type = 'opt_out' AND NOT EXISTS (
                        SELECT 1 FROM events r WHERE r.email = c.email AND r.type = 'opt_out_reversal'
                        AND r.occurred_at > o.occurred_at)))""") == [(0,)]


# --- story contacts ------------------------------------------------------------------------------------


@pytest.mark.parametrize("contacts", [100, N])
def test_story_contacts_are_present_at_every_size(tmp_path, contacts):
    folder = tmp_path / "ws"
    demo.generate(folder, contacts=contacts)
    emails = duckdb.sql("SELECT list(email) FROM read_csv(?, header = true)",
                        params=[str(folder / "contacts.csv")]).fetchall()[0][0]
    assert len(emails) == contacts
    assert set(demo.STORY_EMAILS) <= set(emails)
    assert emails[:len(demo.STORY_EMAILS)] == list(demo.STORY_EMAILS)


def test_dana_has_an_open_hubspot_deal_only_on_the_second_record_of_her_domain(q):
    rows = q("""SELECT r.record_id, r.crm, count(o.opportunity_id) FILTER (WHERE NOT o.is_closed) AS open
                FROM company_records r LEFT JOIN opportunities o USING (record_id)
                WHERE r.name ILIKE 'northwind%' GROUP BY ALL ORDER BY min(r.record_id LIKE 'sf:%') DESC""")
    assert [(crm, n) for _rid, crm, n in rows] == [("salesforce", 0), ("hubspot", 1)]


# --- loaded with the real loader -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def loaded(ws):
    from unify_dash.store import db

    con = db.connect(None)
    result = load_workspace(con, ws)
    yield con, result
    con.close()


def test_the_loader_loads_the_demo(loaded):
    con, result = loaded
    assert result["contacts"] == N
    assert result["crm_opt_outs_new"] > 0
    # two free-mail contacts are never one company; linked ones take their account's domain
    rows = dict(con.execute("SELECT email, domain FROM contacts WHERE email IN (?, ?, ?)",
                            ["sam.rivera@gmail.com", "jo.baker@gmail.com", "amelia.hart@outlook.com"]).fetchall())
    assert rows == {"sam.rivera@gmail.com": None, "jo.baker@gmail.com": None,
                    "amelia.hart@outlook.com": "contoso-demo.com"}
    # the three Contoso records, written three ways, are one domain
    assert con.execute("SELECT count(*) FROM company_records WHERE domain = 'contoso-demo.com'").fetchall()[0][0] == 3


@pytest.mark.parametrize("email,source", [
    ("tom.becker@ridgeway-demo.com", "link"), ("lena.schmidt@kraftwerk-demo.de", "reply"),
    ("rachel.green@silverbirch-demo.com", "admin"), ("victor.alvarez@summitpeak-demo.com", "crm"),
    ("hannah.kim@bluefjord-demo.com", "crm"), ("carlos.ruiz@mesaverde-demo.com", None),
    ("grace.liu@oakmont-demo.com", None), ("jake.morrison@pinecrest-demo.com", None),
])
def test_story_opt_outs(loaded, email, source):
    con, _ = loaded
    s = settings.settings_at(con, demo.NOW)[1]
    status = optouts.opt_out_status(con, s, email, demo.NOW)
    assert (status["source"] if status else None) == source


def _explain(con, email) -> dict:
    return engine.explain(con, email, as_of=demo.NOW)


def _applying(report: dict) -> set[str]:
    """The exclusions that block the contact somewhere (an audience or a sequence) with the saved toggles."""
    return {e["id"] for e in report["exclusions"] if e["blocks"]["sequences"] or e["blocks"]["audiences"]}


def test_dana_is_blocked_only_by_the_open_opportunity(loaded):
    report = _explain(loaded[0], "dana@northwind-demo.com")
    assert _applying(report) == {"open_opportunity"}
    legacy = next(e for e in report["exclusions"] if e["id"] == "open_hubspot_deal")
    assert legacy["applies"] and legacy["levels"]["organisation"] is False  # matches, but off at the org level
    assert {e["id"] for e in report["exclusions"] if e["applies"]} == {"open_opportunity", "open_hubspot_deal"}


def test_kai_is_excluded_company_wide_because_his_ceo_matched(loaded):
    report = _explain(loaded[0], "kai.nakamura@brightwave-demo.com")
    assert _applying(report) == {"exec_conversation"}
    e = next(e for e in report["exclusions"] if e["id"] == "exec_conversation")
    assert e["company"]["matched_by"] == "erin.walsh@brightwave-demo.com"


def test_lee_is_let_through_by_email_is_not(loaded):
    report = _explain(loaded[0], demo.LEE)
    e = next(e for e in report["exclusions"] if e["id"] == "current_customers")
    assert e["matches"] and not e["applies"] and e["let_through_by"]
    assert _applying(report) == set()


@pytest.mark.parametrize("email,decision,exclusions", [
    ("omar.haddad@lumenfield-demo.com", "skip", {"recently_contacted"}),  # queued, will be skipped
    ("priya.raman@quantaloop-demo.com", "continue", {"recently_contacted", "job_change"}),  # no removal
    (demo.LEE, "send", set()),
])
def test_next_send_of_story_enrollments(loaded, email, decision, exclusions):
    report = _explain(loaded[0], email)
    assert _applying(report) == exclusions
    assert [e["decision"] for e in report["enrollments"]] == [decision]


def test_sofia_passes_the_audience_and_is_blocked_at_the_sequence_node(loaded):
    report = _explain(loaded[0], "sofia.mendes@harborline-demo.com")
    assert _applying(report) == {"open_opportunity"}
    e = next(e for e in report["exclusions"] if e["id"] == "open_opportunity")
    assert e["levels"]["audiences"]["play_enterprise"] is False and e["levels"]["rulesets"]["default"] is True
    assert {s["id"] for s in e["blocks"]["sequences"]} >= {"seq_vp_outbound"}


def test_tom_completed_after_the_first_step_because_of_the_link(loaded):
    out = diagnosis.diagnose_completion(loaded[0], "e-tom-1")
    assert out["pattern"] == diagnosis.PATTERN_AFTER_FIRST
    assert out["cause"] == "opt_out_link"


def test_jake_is_in_the_opt_out_reply_queue_and_lena_is_not(loaded):
    queue = set(lifecycle.opt_out_reply_queue(loaded[0], as_of=demo.NOW)["email"])
    assert "jake.morrison@pinecrest-demo.com" in queue and "lena.schmidt@kraftwerk-demo.de" not in queue


@pytest.mark.parametrize("label,text", [(label, t) for label, texts in demo.REPLIES.items() for t in texts])
def test_stored_reply_labels_are_what_the_classifier_says(label, text):
    assert replies.classify(text).label == label


def test_the_demo_database_has_the_schedulers_execution_log(tmp_path):
    """``unify-dash demo --db`` (make run): the workspace an hour before the demo clock, loaded, then the
    scheduler up to the clock. The not-enrolled story contacts have the scheduler's not_enrolled rows
    naming the exclusion that blocks them (the article's "check Execution Logs"); running the
    scheduler again over an unchanged block writes no second row."""
    import json

    from unify_dash import scheduler
    from unify_dash.store import db

    path = tmp_path / "u.duckdb"
    counts = demo.build_database(tmp_path / "ws", path, contacts=300, seed=5)
    assert counts["execution_log"] > 0
    con = db.connect(path)
    try:
        assert db.now(con) == demo.NOW

        def blocked(email: str) -> list[set[str]]:
            rows = con.execute("SELECT l.blocking FROM execution_log l JOIN contacts c USING (contact_id) "
                               "WHERE c.email = ? AND l.outcome = 'not_enrolled' AND l.play_id = 'play_enterprise' "
                               "AND l.node_id = 'ent-1'", [email]).fetchall()
            return [{b["exclusion_id"] for b in json.loads(r[0])} for r in rows]

        assert blocked("dana@northwind-demo.com") == [{"open_opportunity"}]
        assert blocked("sofia.mendes@harborline-demo.com") == [{"open_opportunity"}]
        logged = {r[0] for r in con.execute("SELECT DISTINCT c.email FROM execution_log l JOIN contacts c "
                                            "USING (contact_id)").fetchall()}
        assert len(logged & set(demo.STORY_EMAILS)) >= len(demo.STORY_EMAILS) - 3
        before = con.execute("SELECT count(*) FROM execution_log WHERE outcome = 'not_enrolled'").fetchone()[0]
        scheduler.run_until(con, demo.NOW + dt.timedelta(hours=2))
        again = con.execute("SELECT count(*) FROM execution_log l JOIN contacts c USING (contact_id) "
                            "WHERE c.email = 'dana@northwind-demo.com' AND l.node_id = 'ent-1'").fetchone()[0]
        assert again == 1
        assert con.execute("SELECT count(*) FROM execution_log WHERE outcome = 'not_enrolled'").fetchone()[0] >= before
    finally:
        con.close()


def test_explain_agrees_with_the_evaluation_for_every_contact(loaded):
    """Every contact of the demo: each leaf the Exclusion tab shows is what that leaf's SQL gives for the
    contact (evaluated here over all contacts at once, not from the evaluation's bits), and whether each
    exclusion applies follows from those leaves by the rule's definition (own criteria, or any contact of
    the domain for a company-wide one; every filter holds), as the evaluation's masks say."""
    con = loaded[0]
    ev = engine.evaluation(con, as_of=demo.NOW)
    s = ev.settings
    leaves = sorted({(vocabulary.leaf_sql(leaf, ev.as_of)[0], repr(vocabulary.leaf_sql(leaf, ev.as_of)[1])): leaf
                     for e in s.exclusions for cond in (e.criteria, *e.filters)
                     for _p, leaf in vocabulary.leaves(cond)}.items())
    sqls = [vocabulary.leaf_sql(leaf, ev.as_of) for _k, leaf in leaves]
    rows = con.execute(f"SELECT c.email, c.domain, {', '.join(q for q, _ in sqls)} "
                       f"FROM {vocabulary.base_from(ev.stats_table)} ORDER BY c.email",
                       [p for _q, ps in sqls for p in ps]).fetchall()
    value = {r[0]: {k: bool(v) for (k, _l), v in zip(leaves, r[2:], strict=True)} for r in rows}
    domain = {r[0]: r[1] for r in rows}

    def tree(email, cond):
        return vocabulary.evaluate_tree(cond, {p: value[email][(vocabulary.leaf_sql(leaf, ev.as_of)[0],
                                                                 repr(vocabulary.leaf_sql(leaf, ev.as_of)[1]))]
                                               for p, leaf in vocabulary.leaves(cond)})

    own = {(em, e.id): tree(em, e.criteria) for em in value for e in s.exclusions}
    assert len(value) == N
    checked = {"company": 0, "applies": 0}
    for email in value:
        tab = engine.explain(con, email, as_of=demo.NOW)
        for e, x in zip(s.exclusions, tab["exclusions"], strict=True):
            by_path = {leaf["path"]: leaf["result"] for leaf in x["leaves"]}
            assert by_path == {p: tree(email, leaf) for p, leaf in vocabulary.leaves(e.criteria)}, (email, e.id)
            mates = sorted(m for m in value if domain[m] is not None and domain[m] == domain[email] and own[(m, e.id)])
            matched = own[(email, e.id)] or (e.company_wide and bool(mates))
            applies = matched and all(tree(email, f) for f in e.filters)
            assert x["applies"] is applies, (email, e.id)
            checked["applies"] += applies
            if x["matched_by"] == "company":
                assert (x["company"]["matched_by"], x["company"]["contacts_matching"]) == (mates[0], len(mates))
                checked["company"] += 1
    assert checked["company"] and checked["applies"]
