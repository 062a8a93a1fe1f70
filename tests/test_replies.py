"""The reply classifier: single cases per class and per tricky pattern, and the labelled evaluation set."""

import dataclasses

import pytest

from unify_dash.classify import replies
from unify_dash.classify.replies import NEEDS_REVIEW, NOT_NOW, OPT_OUT, OTHER, OUT_OF_OFFICE, POSITIVE

NOT_OPT_OUT = "not:opt_out"  # the case is about stripping: any label but opt_out / needs_review

AR = {"Auto-Submitted": "auto-replied"}
QUOTE_EN = ("On Mon, 6 Jan 2025 at 10:00, Sam Rivera <sam@unify.example> wrote:\n"
            "> Hi Jane, worth a chat?\n>\n> Not interested? Reply \"unsubscribe\" or STOP and I'll remove you.")

# (text, headers, subject, expected label) -- phrasings that are NOT in tests/data/replies_eval.csv
CASES = [
    # --- opt-out: the brief's phrasings
    ("Please remove me", None, None, OPT_OUT),
    ("take me off your list", None, None, OPT_OUT),
    ("unsubscribe", None, None, OPT_OUT),
    ("do not contact me again", None, None, OPT_OUT),
    ("stop emailing me", None, None, OPT_OUT),
    ("STOP", None, None, OPT_OUT),
    ("not interested, remove me", None, None, OPT_OUT),
    ("opt me out", None, None, OPT_OUT),
    ("GDPR: delete my data", None, None, OPT_OUT),
    ("bitte keine E-Mails mehr", None, None, OPT_OUT),
    ("désabonnez-moi", None, None, OPT_OUT),
    ("no me escriban más", None, None, OPT_OUT),
    ("afmelden", None, None, OPT_OUT),
    ("I never asked to be on this list, remove me", None, None, OPT_OUT),
    # --- opt-out: other phrasings, casing and typos
    ("Kindly refrain from contacting me further.", None, None, OPT_OUT),
    ("Please discontinue sending me these messages.", None, None, OPT_OUT),
    ("Not interested. Don't reach out again.", None, None, OPT_OUT),
    ("Remove from list", None, None, OPT_OUT),
    ("Please do not email this address again.", None, None, OPT_OUT),
    ("I would like to be taken off your mailing list.", None, None, OPT_OUT),
    ("Why am I still getting these? I unsubscribed weeks ago.", None, None, OPT_OUT),
    ("I can't find the unsubscribe link, please just remove me.", None, None, OPT_OUT),
    ("This is harassment. Stop.", None, None, OPT_OUT),
    ("UnSuBsCrIbE", None, None, OPT_OUT),
    ("unsubscirbe", None, None, OPT_OUT),
    ("pleeease remove meee", None, None, OPT_OUT),
    ("take me of ur list", None, None, OPT_OUT),
    ("stop emailling me!!", None, None, OPT_OUT),
    ("Kindly delete my email from your database.", None, None, OPT_OUT),
    ("Bitte nehmen Sie mich aus dem Verteiler.", None, None, OPT_OUT),
    ("Ich möchte mich abmelden.", None, None, OPT_OUT),
    ("Bitte nicht mehr kontaktieren.", None, None, OPT_OUT),
    ("Merci de me retirer de vos listes.", None, None, OPT_OUT),
    ("Ne m'écrivez plus.", None, None, OPT_OUT),
    ("Por favor, quítenme de su lista.", None, None, OPT_OUT),
    ("Graag uitschrijven.", None, None, OPT_OUT),
    ("Por favor, não me enviem mais e-mails.", None, None, OPT_OUT),
    ("Vi prego di cancellarmi dalla lista.", None, None, OPT_OUT),
    ("", None, "Unsubscribe", OPT_OUT),  # a fresh subject line typed by the recipient
    ("How do I stop receiving these?", None, None, OPT_OUT),
    ("Is there a way to get off this list?", None, None, OPT_OUT),
    ("I'd rather not receive any more of these, thanks.", None, None, OPT_OUT),
    ("Kindly cease all correspondence.", None, None, OPT_OUT),
    ("Quit it", None, None, OPT_OUT),
    ("I've asked you to stop. STOP!", None, None, OPT_OUT),
    ("Pls dont email me", None, None, OPT_OUT),
    ("Please unenroll me from this campaign.", None, None, OPT_OUT),
    ("Yes please remove me", None, None, OPT_OUT),
    ("no thank you, please take my name off your list", None, None, OPT_OUT),
    ("Can you remove me from this sequence but keep me on the newsletter?", None, None, OPT_OUT),
    ("Sorry, I'm on maternity leave until April. Also please stop sending me these sales emails.", None, None, OPT_OUT),
    # --- opt-out: decisions documented in docs/decisions.md
    ("Unsubscribe my colleague john@acme.com please, he left.", None, None, OPT_OUT),
    ("Remove me from the cc, add my colleague Ana instead.", None, None, OPT_OUT),
    ("I have left ACME. Please remove this address from your mailing list.", AR, "Automatic reply: Hello", OPT_OUT),
    ("This is spam.", None, None, OPT_OUT),
    ("I never signed up for this.", None, None, OPT_OUT),
    # --- not an opt-out although opt-out words appear
    ("Don't unsubscribe me, I want these", None, None, OTHER),
    ("No need to remove me, happy to keep hearing from you.", None, None, OTHER),
    ("Thanks!\n\n" + QUOTE_EN, None, None, OTHER),
    ("Sounds good!\n\n-----Original Message-----\nFrom: Sam\nSent: Monday\nTo: Jane\nSubject: Hi\n\nReply STOP to opt out.",
     None, None, POSITIVE),
    ("Sounds good!\n\nClick here to unsubscribe from Contoso news | Manage preferences", None, None, POSITIVE),
    ("Looping in Dev.\n\nTo unsubscribe from this group and stop receiving emails from it, send an email to "
     "x+unsubscribe@googlegroups.com.", None, None, NOT_OPT_OUT),
    ("Please do not contact me until after the 15th, I'm on leave.", None, None, OUT_OF_OFFICE),
    ("Stop by anytime, we can talk at the office.", None, None, POSITIVE),
    ("What's your unsubscribe rate on cold sequences?", None, None, OTHER),
    ("Please remove Bob from the meeting invite.", None, None, OTHER),
    # a confirmed meeting is positive (the held-out authors' guide: "rescheduling an existing call"); the
    # point here is that the disclaimer's "delete it" is no opt-out
    ("See you then.\n\nIf you received this email in error, please delete it and notify the sender.", None, None, POSITIVE),
    ("Sent from my iPhone", None, None, OTHER),
    ("Am Mo., 6. Jan. 2025 um 10:00 Uhr schrieb Sam <sam@unify.example>:\n> Antworten Sie mit Abmelden.", None, None, OTHER),
    ("Merci.\n\nLe lun. 6 janv. 2025 à 10:00, Sam <sam@unify.example> a écrit :\nPour vous désabonner, cliquez ici.",
     None, None, OTHER),
    ("Me encuentro de baja por maternidad hasta mayo.", None, None, OUT_OF_OFFICE),
    ("We're opting out of outbound entirely this year.", None, None, NOT_OPT_OUT),
    ("Take me off the invite, Jenny will attend.", None, None, OTHER),
    ("Can we stop the trial early and move to a paid plan?", None, None, POSITIVE),
    ("Don't stop now, this is getting interesting!", None, None, POSITIVE),
    ("Our spam filter caught your last email, resend?", None, None, OTHER),
    ("No more than 10 seats for now, send a quote.", None, None, POSITIVE),
    ("Please remove the watermark from the PDF.", None, None, OTHER),
    ("This isn't spam, right? Looks legit.", None, None, OTHER),
    ("Bitte löschen Sie diese E-Mail, falls Sie nicht der Empfänger sind.", None, None, OTHER),
    ("Out of office: I'll be back on Monday. Unsubscribe: reply STOP", None, None, OUT_OF_OFFICE),
    # --- out of office: text
    ("I am out of the office until Monday.", None, None, OUT_OF_OFFICE),
    ("I'm on parental leave until March.", None, None, OUT_OF_OFFICE),
    ("Abwesenheitsnotiz: Ich bin ab dem 3. Mai wieder im Büro.", None, None, OUT_OF_OFFICE),
    ("Je suis en congés jusqu'au 2 janvier.", None, None, OUT_OF_OFFICE),
    ("Estoy de vacaciones hasta el lunes.", None, None, OUT_OF_OFFICE),
    ("Ik ben met vakantie tot 10 augustus.", None, None, OUT_OF_OFFICE),
    ("Estou de férias até segunda.", None, None, OUT_OF_OFFICE),
    ("Sono in ferie fino al 20 agosto.", None, None, OUT_OF_OFFICE),
    ("Jane Doe is no longer with Contoso. Please contact info@contoso.com.", None, None, OUT_OF_OFFICE),
    ("I no longer work here.", None, None, OUT_OF_OFFICE),
    ("This is an automated message. The mailbox you have written to is not monitored.", None, None, OUT_OF_OFFICE),
    ("Please note that our offices are closed for the holidays from 24 December to 2 January.", None, None,
     OUT_OF_OFFICE),
    ("Thank you for your email. I am currently travelling with limited access to email.", None, None, OUT_OF_OFFICE),
    # --- out of office: headers and subject
    ("Thanks for your email.", AR, None, OUT_OF_OFFICE),
    ("Thanks for your email.", {"auto-submitted": "Auto-Replied (vacation)"}, None, OUT_OF_OFFICE),
    ("Thanks for your email.", {"X-Autoreply": "yes"}, None, OUT_OF_OFFICE),
    ("Thanks for your email.", {"X-Autorespond": "1"}, None, OUT_OF_OFFICE),
    ("Thanks for your email.", {"Precedence": "auto_reply"}, None, OUT_OF_OFFICE),
    ("Thanks for your email.", '{"Auto-Submitted": "auto-replied"}', None, OUT_OF_OFFICE),  # headers as JSON
    ("Thanks for your email.", None, "Automatic reply: Quick question", OUT_OF_OFFICE),
    ("Thanks for your email.", None, "Out of Office: Quick question", OUT_OF_OFFICE),
    ("Thanks for your email.", None, "Réponse automatique : Question", OUT_OF_OFFICE),
    ("Thanks for your email.", {"Auto-Submitted": "no"}, None, OTHER),
    ("Mail delivery failed: mailbox unavailable.", {"Auto-Submitted": "auto-generated"}, None, OTHER),
    # --- positive
    ("sounds good, let's talk Tuesday", None, None, POSITIVE),
    ("send me more info", None, None, POSITIVE),
    ("Yes", None, None, POSITIVE),
    ("Could you share some pricing? We're interested.", None, None, POSITIVE),
    ("Gerne, passt Ihnen ein Termin am Freitag?", None, None, POSITIVE),
    ("Avec plaisir, envoyez-moi une invitation.", None, None, POSITIVE),
    # --- not now (later); a plain decline is other (round 6)
    ("not a priority this quarter", None, None, NOT_NOW),
    ("we already use a competitor", None, None, OTHER),
    ("reach out in Q3", None, None, NOT_NOW),
    ("No", None, None, OTHER),
    ("Not interested at this time.", None, None, NOT_NOW),
    ("Please don't email me until next quarter, we're mid-migration.", None, None, NOT_NOW),
    ("Kein Bedarf, danke.", None, None, OTHER),
    ("We just renewed with Apollo for two years. Feel free to check in closer to renewal.", None, None, NOT_NOW),
    ("Interesting, but we're a 5-person team. Probably overkill for us.", None, None, OTHER),
    ("Not the right time - we're mid-acquisition. But keep me posted on the product.", None, None, NOT_NOW),
    ("I'll have to pass for now, maybe circle back in the fall.", None, None, NOT_NOW),
    ("Nicht mehr relevant für uns.", None, None, OTHER),
    ("No es el momento, escríbanos en enero.", None, None, NOT_NOW),
    ("Pas intéressé.", None, None, OTHER),
    ("No nos interesa, gracias.", None, None, OTHER),
    # --- other
    ("Who is this?", None, None, OTHER),
    ("How did you get my email?", None, None, OTHER),
    ("Can you tell me what personal data you hold about me?", None, None, OTHER),
    ("", None, None, OTHER),
    (None, None, None, OTHER),
]


@pytest.mark.parametrize("text, headers, subject, expected", CASES, ids=[f"{c[3]}:{(c[0] or c[2] or '')[:40]}"
                                                                          for c in CASES])
def test_classify_cases(text, headers, subject, expected):
    c = replies.classify(text, headers, subject)
    if expected == NOT_OPT_OUT:
        assert c.label not in (OPT_OUT, NEEDS_REVIEW), c
    else:
        assert c.label == expected, c


@pytest.mark.parametrize("text, headers, subject, evidence, rule", [
    ("Hi,\n\nPlease REMOVE me from your list.\n\nThanks", None, None, "REMOVE me", "opt_out.remove_me"),
    ("Désabonnez-moi", None, None, "Désabonnez", "opt_out.fr_desabonner"),
    ("Bitte KEINE E-Mails mehr!", None, None, "KEINE E-Mails mehr", "opt_out.de_no_more"),
    ("plese remvoe me", None, None, "remvoe me", "opt_out.remove_me"),
    ("Thanks", AR, None, "Auto-Submitted: auto-replied", "out_of_office.header"),
    ("Thanks", None, "Out of Office: Re: Hi", "Out of Office:", "out_of_office.subject"),
    ("Sounds good, let's talk Tuesday.", None, None, "Sounds good", "positive.interest"),
    ("Who is this?", None, None, "Who is this?", "model.other"),
    ("", None, None, None, "other.no_cue"),
])
def test_evidence_is_quoted_as_written(text, headers, subject, evidence, rule):
    c = replies.classify(text, headers, subject)
    assert (c.evidence, c.rule) == (evidence, rule)
    assert 0 < c.confidence <= 1
    assert (c.language is None) == (not text)  # a language guess for every reply with letters


def test_classification_is_frozen_and_labels_are_declared():
    c = replies.classify("unsubscribe")
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.label = OTHER  # type: ignore[misc]
    assert replies.LABELS == (OPT_OUT, OUT_OF_OFFICE, POSITIVE, NOT_NOW, OTHER)
    assert {r.label for r in replies.RULES} <= set(replies.LABELS)
    assert len({r.id for r in replies.RULES}) == len(replies.RULES)  # rule ids are unique


@pytest.mark.parametrize("text, kept, dropped", [
    ("Sounds good.\n\n" + QUOTE_EN, "sounds good", "unsubscribe"),
    ("Ok.\n\nOn Tue, Mar 4, 2025 at 9:14 AM Sam Rivera <\nsam@unify.example> wrote:\n\nReply STOP to opt out.", "ok",
     "stop"),
    ("Ok.\n\n________________________________\nFrom: Sam\nSent: Tuesday\nTo: Jane\nSubject: Hi\n\nunsubscribe", "ok",
     "unsubscribe"),
    ("Ok.\n\nVon: Sam\nGesendet: Dienstag\nAn: Jane\nBetreff: Hallo\n\nAbmelden", "ok", "abmelden"),
    ("Ok.\n\n---------- Forwarded message ---------\nFrom: Sam\n\nunsubscribe", "ok", "unsubscribe"),
    ("Ok.\n-- \nJane\nStop guessing.", "ok", "guessing"),
    ("Ok.\nSent from my iPhone\n\nunsubscribe", "ok", "unsubscribe"),
    ("Ok. You are receiving this email because you signed up. Click here to unsubscribe.", "ok", "receiving"),
    ("Ok.\n\nCONFIDENTIALITY NOTICE: this email is confidential.\nIf received in error delete it.\n\nJane", "jane",
     "delete"),
    ("> unsubscribe\nSounds good", "sounds good", "unsubscribe"),  # bottom posting keeps the new text
    ("Email me at jane.doe@contoso.com, thanks.", "jane.doe@contoso.com, thanks", "\n"),
])
def test_clean_strips_quotes_signatures_footers(text, kept, dropped):
    cleaned = replies.clean(text)
    assert kept in cleaned
    assert dropped not in cleaned


def test_classify_many_matches_classify_and_keeps_order():
    texts = ["unsubscribe", "Sounds good, let's talk", None, "unsubscribe", "Who is this?"]
    assert replies.classify_many(texts) == [replies.classify(t).label for t in texts]
    labels = replies.classify_many(["Thanks", "Thanks"], headers=[AR, None], subjects=[None, "Out of Office: x"])
    assert labels == [OUT_OF_OFFICE, OUT_OF_OFFICE]
    with pytest.raises(ValueError):
        replies.classify_many(["a", "b"], headers=[None])


def test_duckdb_udfs_label_replies_in_sql(con):
    replies.register_udfs(con)
    replies.register_udfs(con)  # idempotent
    con.execute("CREATE TEMP TABLE r (id INTEGER, text VARCHAR, headers VARCHAR, subject VARCHAR)")
    rows = [(1, "Please remove me", None, None), (2, "Thanks", '{"X-Autoreply": "yes"}', None),
            (3, "Sounds good, let's talk", None, "Re: Hi"), (4, None, None, "Automatic reply: Hi"), (5, None, None, None)]
    con.executemany("INSERT INTO r VALUES (?, ?, ?, ?)", rows)
    got = con.execute("SELECT id, reply_label(text), reply_label_full(text, headers, subject), "
                      "reply_evidence(text, headers, subject) FROM r ORDER BY id").fetchall()
    assert got == [
        (1, OPT_OUT, OPT_OUT, "remove me"),
        (2, OTHER, OUT_OF_OFFICE, "X-Autoreply: yes"),
        (3, POSITIVE, POSITIVE, "Sounds good"),
        (4, OTHER, OUT_OF_OFFICE, "Automatic reply:"),
        (5, OTHER, OTHER, None),
    ]


# ---------------------------------------------------------------------------------------------------
# The labelled evaluation set (tests/data/replies_eval.csv); figures printed by scripts/eval_replies.py
# ---------------------------------------------------------------------------------------------------

# Thresholds (justified in docs/decisions.md): a missed opt-out is a compliance failure, so
# recall is held highest; opting out someone who did not ask loses pipeline, so precision is high too.
MIN_OPT_OUT_RECALL = 0.97
MIN_OPT_OUT_PRECISION = 0.95
MIN_ACCURACY = 0.85


@pytest.fixture(scope="module")
def eval_rows():
    return replies.load_eval_set()


def test_eval_set_is_large_varied_and_split(eval_rows):
    assert len(eval_rows) >= 250
    assert {r["label"] for r in eval_rows} == set(replies.LABELS)
    assert {r["split"] for r in eval_rows} == {"dev", "holdout"}
    holdout = sum(r["split"] == "holdout" for r in eval_rows) / len(eval_rows)
    assert 0.25 <= holdout <= 0.35
    for label in replies.LABELS:  # every class in both splits
        assert {r["split"] for r in eval_rows if r["label"] == label} == {"dev", "holdout"}
    assert {"en", "de", "fr", "es", "nl", "pt", "it"} <= {r["lang"] for r in eval_rows}
    tags = ";".join(r["tags"] for r in eval_rows)
    for tag in ("quoted:", "footer", "disclaimer", "hard_negative", "typo", "header", "mobile"):
        assert tag in tags
    # a core message and its wrapped variants never straddle the two splits
    groups = {}
    for r in eval_rows:
        groups.setdefault(r["group"], set()).add(r["split"])
    assert all(len(s) == 1 for s in groups.values())
    assert len({r["id"] for r in eval_rows}) == len(eval_rows)


@pytest.mark.parametrize("split", ["all", "dev", "holdout"])
def test_eval_thresholds(eval_rows, split):
    rows = eval_rows if split == "all" else [r for r in eval_rows if r["split"] == split]
    report = replies.evaluate(rows)
    missed = [(e["id"], e["text"][:80]) for e in report.errors if e["label"] == OPT_OUT]
    assert report.opt_out_recall >= MIN_OPT_OUT_RECALL, missed  # opt_out or needs_review: on the queue
    assert report.opt_out_precision >= MIN_OPT_OUT_PRECISION
    assert report.accuracy >= MIN_ACCURACY


def test_evaluate_counts_a_confusion_matrix():
    rows = [{"text": "unsubscribe", "label": OPT_OUT}, {"text": "Who is this?", "label": OPT_OUT},
            {"text": "remove me", "label": OTHER}, {"text": "Sounds good, let's talk", "label": POSITIVE}]
    r = replies.evaluate(rows)
    assert r.confusion[OPT_OUT] == {OPT_OUT: 1, OUT_OF_OFFICE: 0, POSITIVE: 0, NOT_NOW: 0, OTHER: 1, NEEDS_REVIEW: 0}
    assert r.per_class[OPT_OUT]["precision"] == 0.5 and r.per_class[OPT_OUT]["recall"] == 0.5
    assert r.opt_out_precision == 0.5 and r.opt_out_recall == 0.5 and r.review_share == 0.0
    assert r.accuracy == 0.5 and len(r.errors) == 2


def test_eval_script_prints_figures_and_exits_zero(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "scripts" / "eval_replies.py"
    spec = importlib.util.spec_from_file_location("eval_replies", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main([]) == 0
    out = capsys.readouterr().out
    for needle in ("=== dev:", "opt-out recall", "precision", "needs_review share", "confusion", "review",
                   "per language", "missed opt-outs"):
        assert needle in out
    assert module.main(["--split", "eval"]) == 0
    assert "=== eval:" in capsys.readouterr().out
