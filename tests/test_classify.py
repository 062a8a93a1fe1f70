"""The reply classifier of issue 14: corpus, model, language routing, needs_review, CLI, latency and the
thresholds on the dev split and on the independent test split."""

from __future__ import annotations

import hashlib
import io
import json
import statistics
import time
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest
from lifecycle_factory import T0, add_contact, add_enrollment, make_workspace

from unify_dash.actions import enrollments as lifecycle
from unify_dash.classify import command, corpus, language, model, replies, semantic
from unify_dash.classify import text as text_mod
from unify_dash.classify.labels import LABELS, NEEDS_REVIEW, OPT_OUT, OTHER, OUT_OF_OFFICE, QUEUE_LABELS
from unify_dash.cli import main as cli_main
from unify_dash.errors import ValidationError

NEW_LANGUAGES = {"pl", "ja", "zh", "ko", "ru", "sv", "da", "no", "fi", "cs", "tr"}
OLD_LANGUAGES = {"en", "de", "fr", "es", "nl", "pt", "it"}

# The figures the issue asks for, asserted on held-out sets (written independently, tuned on by nothing).
MIN_RECALL = 0.98  # true opt-outs labelled opt_out or needs_review (both reach the opt-out queue)
MIN_PRECISION = 0.97  # true opt-outs among replies labelled opt_out
MIN_OTHER_ACCURACY = 0.9  # out-of-office / positive / not-now / other replies given their own label
# Held-out sets: path -> (recall, precision, other-class accuracy, max needs_review share) they must keep,
# or None while a set has not been measured yet (the test skips and says so). A set is measured once; its
# figures go here as the floor (below the issue's targets above while issue 14 is open). Once a set has
# been looked at while tuning it is spent: it becomes training material (build_reply_corpus.py, with its
# author) and leaves this table. Spent so far: test.csv (measured 2026-12-01 after round 2:
# 0.965 / 0.944 / 0.853 / 0.090) and holdout2.csv (0.907 / 0.948 / 0.802 / 0.088), training material since
# round 3; holdout3.csv (1,292 replies, 26 languages: 0.907 / 0.945 / 0.764 / 0.095) and holdout4.csv (1,613,
# 28 languages: 0.928 / 0.946 / 0.800 / 0.099), measured once after round 3, training material since round 4.
# holdout5.csv (1,685 replies, 25 languages, opt-outs without stock cue words) and holdout6.csv (1,209, 25
# languages) were written during round 4 by two helpers who never saw the classifier; measured by the lead
# before round 4 (main a32406c: 0.821 / 0.928 / 0.686 / 0.141 and 0.921 / 0.950 / 0.812 / 0.111) and once after
# it (11bdae9: 0.896 / 0.930 / 0.720 / 0.171 and 0.971 / 0.951 / 0.849 / 0.127); training material since
# round 5. holdout7.csv (1,292 replies, 24 languages, the four other classes written as carefully as the
# opt-outs) and holdout8.csv (1,138, 26 languages, mail-client shapes: forwards, disclaimers, DPO letters)
# were written during round 5 by two helpers who never saw the classifier; measured by the lead before round 5
# (main 48ee935: 0.970 / 0.908 / 0.746 / 0.093 and 0.887 / 0.904 / 0.788 / 0.132) and once after it (a8d5e78:
# 0.976 / 0.939 / 0.786 / 0.092 and 0.895 / 0.911 / 0.818 / 0.122); training material since round 6 (their
# not_now scored as not_now from round 6 on: the classifier's former `negative` is split, docs/replies.md).
# holdout9.csv (1,783 replies, 29 languages, opt-outs in each language's own idiom, not_now against plain
# declines) and holdout10.csv (1,149, 28 languages, who answers: assistants, shared inboxes, bounces, ticket
# acknowledgements, conditional opt-outs) were written during round 6 by two helpers who never saw the
# classifier; measured by the lead before round 6 (main 2223605: 0.971 / 0.908 / 0.725 / 0.147 and
# 0.931 / 0.941 / 0.781 / 0.095, not_now scored as the former `negative`) and once after it (ae41eee:
# 0.975 / 0.926 / 0.804 / 0.147 and 0.952 / 0.957 / 0.791 / 0.097), and again after round 7 (2026-12-02:
# 0.986 / 0.934 / 0.802 / 0.125 and 0.967 / 0.961 / 0.848 / 0.082); training material since round 8.
# holdout11.csv (1,580 replies, 28 languages, the messy inbox) and holdout12.csv (1,411, 28 languages,
# lookalikes on both sides) were written during round 7 by two helpers who never saw the classifier;
# measured by the lead before round 7 (main 2840edc: 0.963 / 0.940 / 0.836 / 0.142 and 0.899 / 0.926 / 0.752 /
# 0.197) and once after it (0.964 / 0.961 / 0.856 / 0.124 and 0.899 / 0.935 / 0.775 / 0.175), and again after round 8
# (2026-12-02, figures only: 0.974 / 0.971 / 0.874 / 0.121 and 0.915 / 0.947 / 0.796 / 0.172). Floors a little
# under the latest figures.
HELD_OUT_FLOORS: dict[str, tuple[float, float, float, float] | None] = {
    "tests/data/replies/holdout11.csv": (0.975, 0.97, 0.895, 0.085),
    "tests/data/replies/holdout12.csv": (0.905, 0.945, 0.835, 0.125),
    "tests/data/replies/holdout13.csv": (0.93, 0.945, 0.73, 0.215),
    "tests/data/replies/holdout14.csv": (0.94, 0.88, 0.665, 0.24),
}
SPENT = ("test", "holdout2", "holdout3", "holdout4", "holdout5", "holdout6", "holdout7", "holdout8", "holdout9",
         "holdout10")  # former held-out sets, training material since round 3 (test, holdout2), 4 (holdout3,
# holdout4), 5 (holdout5, holdout6), 6 (holdout7, holdout8) and 8 (holdout9, holdout10)


@pytest.fixture(scope="module")
def train():
    return corpus.load_split("train")


@pytest.fixture(scope="module")
def dev():
    return corpus.load_split("dev")


# --- the corpus ---------------------------------------------------------------------------------------


def test_corpus_is_large_multilingual_and_split_by_group(train, dev):
    rows = train + dev
    assert len(rows) >= 2000
    langs = {r["lang"] for r in rows}
    assert len(langs) >= 15 and OLD_LANGUAGES | NEW_LANGUAGES <= langs
    for lang in OLD_LANGUAGES | NEW_LANGUAGES:  # every class in every language
        assert {r["label"] for r in rows if r["lang"] == lang} == set(LABELS), lang
    for label in LABELS:
        assert any(r["label"] == label for r in dev) and any(r["label"] == label for r in train)
    assert not {r["group"] for r in train} & {r["group"] for r in dev}  # a reply and its wrapped copy stay together
    assert len({r["id"] for r in rows}) == len(rows)
    tags = ";".join(r["tags"] for r in rows)
    for tag in ("hard_negative", "wrapped:quote", "wrapped:outlook", "wrapped:mobile", "wrapped:disclaimer"):
        assert tag in tags


def test_corpus_errors_name_file_row_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text('text,label,headers\nhi,positive,\nstop,optout,\nyo,maybe,\nok,other,{bad\n', encoding="utf-8")
    with pytest.raises(corpus.CorpusError) as err:
        corpus.load(path)
    message = str(err.value)
    assert "row 4, column label: 'maybe'" in message and "row 5, column headers" in message
    assert "row 3" not in message  # "optout" is an accepted spelling of opt_out
    (tmp_path / "nolabel.csv").write_text("text\nhi\n", encoding="utf-8")
    with pytest.raises(corpus.CorpusError, match="missing column"):
        corpus.load(tmp_path / "nolabel.csv")


# --- the model ------------------------------------------------------------------------------------------


def test_shipped_model_is_plain_arrays_trained_on_the_current_train_split():
    with np.load(model.MODEL_PATH, allow_pickle=False) as z:  # no pickled objects inside
        assert {"vocab", "classes", "idf", "coef", "intercept", "info"} <= set(z.files)
        assert all(z[k].dtype != object for k in z.files)
    info = model.Model.info()
    digest = hashlib.sha256(corpus.SPLITS["train"].read_bytes()).hexdigest()[:16]
    assert info["train_sha256"] == digest, "train.csv changed: run scripts/train_reply_model.py"
    m = model.default_model()
    assert sorted(m.classes) == sorted(LABELS)
    p = m.predict("bitte keine e-mails mehr").probabilities
    assert abs(sum(p.values()) - 1) < 1e-9 and max(p, key=p.get) == OPT_OUT


def test_features_cover_words_bigrams_and_characters():
    f = model.features("stop emailing")
    assert f["w:stop"] == 1 and f["b:stop emailing"] == 1 and f["c: st"] == 1 and f["c:ing "] == 1
    assert model.features("配信停止")["c:停止 "] == 1  # no spaces in Japanese: character n-grams carry it


def test_training_script_fits_a_model_that_reads_replies(tmp_path, train):
    pytest.importorskip("sklearn")
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "scripts" / "train_reply_model.py"
    spec = importlib.util.spec_from_file_location("train_reply_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    small = tmp_path / "small.csv"
    rows = [r for r in train if r["lang"] in ("en", "de") and not r["id"].endswith("w")]
    import csv

    with open(small, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["id", "text", "label", "lang"])
        w.writeheader()
        for r in rows:
            w.writerow({k: r[k] for k in ("id", "text", "label", "lang")})
    out = tmp_path / "m.npz"
    assert module.main(["--train", str(small), "--out", str(out), "--C", "4"]) == 0
    m = model.Model.load(out)
    assert m.predict("please unsubscribe me from this list").label == OPT_OUT
    assert model.Model.info(out)["train_rows"] == str(len(rows))


# --- language routing and needs_review ---------------------------------------------------------------


@pytest.mark.parametrize("text, code, known", [
    ("Bitte nehmen Sie mich aus Ihrem Verteiler, danke.", "de", True),
    ("配信停止をお願いします", "ja", True),
    ("请不要再给我发邮件", "zh", True),
    ("수신거부합니다", "ko", True),
    ("Пожалуйста, удалите меня из рассылки.", "ru", True),
    ("STOP", None, True),  # too short to be sure of anything: not routed
    ("أرجو إزالتي من القائمة البريدية", "ar", False),
    ("Kérem, töröljenek a levelezőlistáról, köszönöm szépen.", "hu", True),  # round 8: first-class
    ("Xin vui lòng xóa tôi khỏi danh sách gửi thư của các bạn.", "vi", True),  # round 8: first-class
    ("Παρακαλώ διαγράψτε με από τη λίστα σας.", "el", True),
])
def test_language_detection(text, code, known):
    lang = language.detect(text)
    assert lang.known is known
    if code:
        assert lang.code == code


@pytest.mark.parametrize("text", ["أرجو إزالتي من القائمة البريدية", "בבקשה הסירו אותי מרשימת התפוצה שלכם, תודה רבה.",
                                  "กรุณาลบฉันออกจากรายชื่ออีเมลของคุณ"])
def test_a_language_the_classifier_does_not_know_goes_to_review(text):
    c = replies.classify(text)
    assert (c.label, c.rule.startswith("review.language_")) == (NEEDS_REVIEW, True)


# round 8: "Please spare my inbox." left this list: the refit reads it as an opt-out at 0.81 (main: 0.79), opt_out.model
@pytest.mark.parametrize("text", ["Your emails are not welcome."])
def test_a_plausible_opt_out_that_no_rule_makes_certain_goes_to_review(text):
    c = replies.classify(text)
    assert c.label == NEEDS_REVIEW and c.rule == "review.model"
    gate = replies.REVIEW_AT_BY_LANGUAGE.get(c.language, replies.REVIEW_AT)
    if replies._asks_to_stop(semantic.cue(text_mod.prepare(text).s)):  # "not welcome": the unwanted cue's lower gate
        gate = replies.REQUEST_REVIEW_AT
    assert gate <= c.confidence <= replies.MODEL_OPT_OUT_AT
    assert c.evidence  # the clause the model read as an opt-out, as written


@pytest.mark.parametrize("text", ["I have had it with these emails.", "I am done with these emails.", "Kindly spare me from this."])
def test_an_opt_out_the_model_is_sure_of_is_an_opt_out(text):
    c = replies.classify(text)
    assert (c.label, c.rule) == (OPT_OUT, "opt_out.model") and c.confidence >= replies.MODEL_OPT_OUT_AT
    assert c.evidence


@pytest.mark.parametrize("text", ["No me escribas hasta después de las fiestas, por favor.",
                                  "Bitte hören Sie nicht auf, mir diese Tipps zu schicken!"])
def test_the_model_alone_never_opts_out_a_reply_limited_in_time_or_that_wants_more(text):
    assert replies.classify(text).label != OPT_OUT


# the issue's phrasings (not copied from the corpus): each must reach the opt-out queue
@pytest.mark.parametrize("text", [
    "Would you mind removing me from this list?", "I want off your mailing list.", "Make these emails stop!",
    "Please add me to your do not contact list.", "Mark me as do-not-contact, thanks.", "Removal request.",
    "Enough with the emails.", "Go away.", "I said STOP.", "Don't follow up.",
    "Please remove everyone at Fabrikam from your database.", "Please remove Jane Miller from your mailing list.",
    "Not interested. Please take me off your list.", "I've marked your emails as spam.",
    "I have reported this to the FTC.", "I object to direct marketing under Art. 21 GDPR.",
    "Nehmen Sie mich bitte aus Ihrem Verteiler.", "Graag uitschrijven voor deze mails.",
    "Por favor, quítenme de su lista de correos.", "Por favor me removam da lista.",
    "Proszę mnie wypisać.", "配信停止をお願いいたします。", "请退订。", "수신거부 부탁드립니다.", "Отпишите меня от рассылки.",
    "Avregistrera mig från nyhetsbrevet.", "Afmeld mig venligst.", "Meld meg av listen.", "Poistakaa minut listalta.",
    "Odhlaste mě, prosím.", "Lütfen beni listenizden çıkarın.",
])
def test_issue_phrasings_reach_the_queue(text):
    assert replies.classify(text).label in QUEUE_LABELS


@pytest.mark.parametrize("text, headers", [
    ("Does your platform support one-click unsubscribe links?", None),
    ("Heads up: your unsubscribe link is broken. I don't want to unsubscribe though, keep them coming.", None),
    ("I'm out of the office until Monday and will reply when I'm back.\n\nUnsubscribe", {"Auto-Submitted": "auto-replied"}),
    ("Please remove me from any meeting invites for this project.", None),
])
def test_issue_false_opt_outs_are_not_opted_out(text, headers):
    assert replies.classify(text, headers).label != OPT_OUT


def test_out_of_office_footer_unsubscribe_is_not_an_opt_out_but_a_lone_one_is():
    ooo = "I am on annual leave until 3 June with no access to email.\n\nUnsubscribe"
    assert replies.classify(ooo).label == OUT_OF_OFFICE
    assert replies.classify("Unsubscribe").label == OPT_OUT
    assert replies.classify("Not interested.\n\nUnsubscribe").label == OPT_OUT


# --- the opt-out queue -------------------------------------------------------------------------------


def test_needs_review_replies_wait_on_the_opt_out_queue(con):
    make_workspace(con)
    c = add_contact(con, "ann@acme.com")
    add_enrollment(con, c, "seq1", state="active", current_step=1, enrollment_id="en-ann", next_step_at=T0)
    add_contact(con, "ben@acme.com")
    out = lifecycle.record_reply(con, "ann@acme.com", "Your emails are not welcome.", at=T0, sequence_id="seq1")
    lifecycle.record_reply(con, "ben@acme.com", "Sounds good, let's talk Tuesday.", at=T0)
    assert out["label"] == NEEDS_REVIEW
    q = lifecycle.opt_out_reply_queue(con, as_of=T0)
    assert list(q["event_id"]) == [out["event_id"]] and list(q["label"]) == [NEEDS_REVIEW]
    assert lifecycle.QUEUE_LABELS == QUEUE_LABELS


# --- the CLI -----------------------------------------------------------------------------------------


def test_cli_classify_plain_lines(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("Please remove me\n配信停止してください\n\n"))
    assert cli_main(["classify"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["label"] for o in out] == [OPT_OUT, OPT_OUT, "other"]
    assert [o["language"] for o in out[:2]] == ["en", "ja"]
    assert set(out[0]) == {"label", "confidence", "language", "evidence", "rule", "source"}
    assert out[0]["evidence"] == "remove me"


def test_cli_classify_jsonl_with_headers_and_subject(monkeypatch, capsys):
    lines = [{"text": "Thanks for your email.", "headers": {"Auto-Submitted": "auto-replied"}},
             {"text": "", "subject": "Unsubscribe"}, {"text": "Sounds good, call me Tuesday"}]
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(json.dumps(x) + "\n" for x in lines)))
    assert cli_main(["classify", "--jsonl"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["label"] for o in out] == [OUT_OF_OFFICE, OPT_OUT, "positive"]
    assert out[0]["source"] == "headers" and out[1]["source"] == "subject"


def test_cli_classify_reports_every_bad_line_and_prints_nothing(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO('{"text": "ok"}\nnot json\n{"subject": "x"}\n{"text": "a", "headers": 3}\n'))
    assert cli_main(["classify", "--jsonl"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "stdin line 2: not JSON" in captured.err and "stdin line 3" in captured.err and "line 4, field headers" in captured.err
    with pytest.raises(ValidationError):
        command.cli_classify(Namespace(jsonl=True), stdin=io.StringIO("[1]\n"), stdout=io.StringIO())


# --- speed ---------------------------------------------------------------------------------------------


def test_classification_is_fast_and_the_model_small(dev):
    replies.classify("warm up: load the model and the language identifier")
    times = []
    for r in dev[:300]:
        t = time.perf_counter()
        replies.classify(r["text"], r["headers"], r["subject"])
        times.append(time.perf_counter() - t)
    assert statistics.median(times) < 0.005  # 5 ms
    assert model.MODEL_PATH.stat().st_size < 5 * 1024 * 1024


# --- figures -------------------------------------------------------------------------------------------


def test_dev_split_figures(dev):
    """The dev split is what rules and thresholds were chosen on, so this is a regression guard, not a
    measure of generalisation (that is scripts/eval_replies.py --cross-author and the held-out sets)."""
    r = replies.evaluate(dev)
    assert r.opt_out_recall >= MIN_RECALL and r.opt_out_precision >= MIN_PRECISION
    assert r.review_share <= 0.08  # round 6: 0.073 (holdout7 / holdout8 in dev; per-language thresholds re-chosen by LOAO)
    assert r.other_accuracy >= 0.85  # below the issue's 0.9 on this (harder, larger) dev split: docs/benchmarks.md#reply-classifier


@pytest.mark.parametrize("held_out", sorted(HELD_OUT_FLOORS) or [pytest.param(None, marks=pytest.mark.skip(
    reason="no held-out set is measured yet: the lead enters the fresh sets in HELD_OUT_FLOORS"))])
def test_held_out_sets_keep_the_measured_level(held_out):
    """The held-out sets are written independently of this classifier; nothing is tuned on them. They
    must not get worse than the measured figures; the issue's targets (MIN_*) are not met yet
    (docs/benchmarks.md#reply-classifier)."""
    path = Path(__file__).resolve().parent.parent / held_out
    if not path.exists():
        pytest.skip(f"{held_out} is not in this tree")
    floors = HELD_OUT_FLOORS[held_out]
    if floors is None:
        pytest.skip(f"{held_out} has not been measured yet: put its first figures in HELD_OUT_FLOORS")
    r = replies.evaluate(corpus.load(path))
    recall, precision, other, review = floors
    # figures only, no reply texts: nobody should tune on a held-out set from a failure message
    figures = (f"{held_out}: recall {r.opt_out_recall:.3f}, precision {r.opt_out_precision:.3f}, other-class "
               f"accuracy {r.other_accuracy:.3f}, needs_review share {r.review_share:.3f} "
               f"(scripts/eval_replies.py --csv {held_out})")
    assert r.opt_out_recall >= recall, figures
    assert r.opt_out_precision >= precision, figures
    assert r.other_accuracy >= other, figures
    assert r.review_share <= review, figures


def test_spent_held_out_sets_are_training_material_with_their_author(train, dev):
    """test.csv and holdout2.csv ... holdout10.csv were measured once or twice each and are training
    material now: every row is in train or dev under its author, and no held-out table still names them."""
    import csv

    rows = train + dev
    for author in SPENT:
        with open(corpus.DATA / "replies" / f"{author}.csv", newline="", encoding="utf-8") as fh:
            n = sum(1 for _ in csv.DictReader(fh))
        assert sum(r["author"] == author for r in rows) == n, author
        assert not any(Path(path).stem == author for path in HELD_OUT_FLOORS)
    authors = {r["author"] for r in rows}
    assert {"corpus", "eval", "test", "holdout2", "holdout3", "holdout4", "holdout5", "holdout6", "holdout7",
            "holdout8", "holdout9", "holdout10", "r3", "r4"} <= authors
    assert all(r["author"] for r in rows)


def test_cross_author_evaluation_holds_out_each_author(capsys):
    """scripts/eval_replies.py --cross-author: a model per held-out author, fitted on the others only."""
    pytest.importorskip("sklearn")
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "scripts" / "eval_replies.py"
    spec = importlib.util.spec_from_file_location("eval_replies", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = [r for r in corpus.load_split("dev") if r["lang"] in ("en", "de") and r["author"] in ("test", "holdout2", "r3")]
    shipped = model.default_model()
    records = module.cross_author(rows, C=4.0, min_df=1)
    assert sorted(x["id"] for x in records) == sorted(r["id"] for r in rows)  # every row held out once
    figures = module.summarise(records, 4.0, 1, False)
    assert set(figures) == {"test", "holdout2", "r3"}
    for author, f in figures.items():
        assert f["n"] == sum(r["author"] == author for r in rows) and 0 <= f["recall"] <= 1
    thresholds = module.calibrate(records)
    assert set(thresholds) == {"en", "de"} and all(t in module.GRID for t in thresholds.values())
    out = capsys.readouterr().out
    assert "leave-one-author-out" in out and "\nmin " in out and "\nmean " in out and "per language" in out
    assert model.default_model() is shipped  # the shipped model is back after the evaluation


# --- round 2 (issue 14): cases named in the issue, in several languages (not copied from the corpus) ---


@pytest.mark.parametrize("text", [
    "Ich habe diese Nachricht als Spam markiert.", "Jeg har markert denne e-posten som søppelpost.",
    "Oznaczyłam to jako spam.", "Tämä viesti on roskapostia.", "这封邮件是垃圾邮件，我已经举报垃圾了。",
    "Rimuovete tutta la nostra azienda dai vostri elenchi.", "Уберите меня из вашей рассылки, пожалуйста.",
    "Niente più email per favore.", "Inga fler mejl till den här adressen.", "더 이상 이메일 받지 않겠습니다.",
])
def test_spam_complaints_and_removals_in_other_languages_are_opt_outs(text):
    assert replies.classify(text).label == OPT_OUT


@pytest.mark.parametrize("text", [
    "No quiero darme de baja, solo cambiar mi dirección.", "Je ne veux pas me désinscrire, je lis votre newsletter.",
    "Non voglio disiscrivermi, continuate a mandarmi la newsletter.", "Odhlásit se nechci, jen upozorňuji na chybu.",
    "Abonelikten çıkmak istemiyorum, sadece adresimi güncelleyin.", "Does your platform let subscribers unsubscribe in one click?",
    "¿Su herramienta gestiona las bajas automáticamente?", "You have been unsubscribed successfully.",
])
def test_declined_unsubscribes_and_product_questions_are_not_opt_outs(text):
    assert replies.classify(text).label != OPT_OUT


@pytest.mark.parametrize("text", ["Unzustellbar: Die Adresse wurde nicht gefunden.", "Сообщение не доставлено.",
                                  "Undeliverable: 550 5.1.1 User unknown"])
def test_bounces_are_other(text):
    c = replies.classify(text)
    assert (c.label, c.rule) == (OTHER, "other.bounce")


@pytest.mark.parametrize("text", ["Returned mail: see transcript for details. 550 5.1.1 <a.b@example.com>: no such user",
                                  "Die Zustellung ist fehlgeschlagen, das Postfach des Empfängers ist voll."])
def test_delivery_reports_beyond_undeliverable_are_bounces(text):
    c = replies.classify(text)
    assert (c.label, c.rule) == (OTHER, "other.bounce")


@pytest.mark.parametrize("text,headers", [
    ("This is an automated response. Your request #55120 has been received and an agent will get back to you.", None),
    ("Automatische Antwort: Wir haben Ihre Anfrage erhalten (Vorgangsnummer 2231).", {"Auto-Submitted": "auto-replied"}),
    ("Your message to Kim Lee was read on Monday, 9 March 2026 14:20.", None),
    ("I use a challenge-response filter: please verify you are a person at the link below.", {"Auto-Submitted": "auto-replied"}),
    ("お問い合わせを受け付けました。受付番号は 4410 です。", None),
])
def test_system_notices_that_say_nobody_is_away_are_other(text, headers):
    """Round 7: a ticket acknowledgement, read receipt or challenge-response filter is no absence (every independent
    author labels it other), header or not."""
    c = replies.classify(text, headers=headers)
    assert (c.label, c.rule) == (OTHER, "other.system_notice")


@pytest.mark.parametrize("text", ["Automatic reply: I am on leave until 3 April. Your ticket #55 is noted.",
                                  "Réponse automatique : je suis en congés jusqu'au 12 mai."])
def test_an_absence_in_an_automatic_reply_stays_out_of_office(text):
    assert replies.classify(text, headers={"Auto-Submitted": "auto-replied"}).label == OUT_OF_OFFICE
    assert replies.classify(text).label == OUT_OF_OFFICE


@pytest.mark.parametrize("text", ["Please don't unsubscribe me, I read every one of these.",
                                  "Не удаляйте меня из рассылки, мне интересно.",
                                  "Ikke fjern meg fra listen, jeg leser dem gjerne."])
def test_a_removal_in_the_negative_imperative_is_no_certain_opt_out(text):
    assert replies.classify(text).label != OPT_OUT


@pytest.mark.parametrize("text", ["Please don't email me again.", "Never contact me again.", "Не пишите мне больше.",
                                  "Why don't you just remove me from your list?"])
def test_a_negated_verb_of_sending_is_still_an_opt_out(text):
    assert replies.classify(text).label == OPT_OUT


def test_signing_off_a_training_or_moving_to_a_new_address_is_no_certain_opt_out():
    assert not replies.classify("Ich melde mich vom Workshop am Freitag ab, leider keine Zeit.").rule.startswith("opt_out.")
    assert not replies.classify("Please stop writing to this address and use my new address kim@new.example.").rule.startswith(
        "opt_out.")


def test_every_corpus_row_names_its_source(train, dev):
    import csv

    for split in ("train", "dev"):
        with open(corpus.SPLITS[split], newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        assert rows and all(r["source"] for r in rows), split
        public = [r for r in rows if "knadh/listmonk@" in r["source"] or "roundcube/roundcubemail@" in r["source"]]
        assert len({r["lang"] for r in public}) == 18, split  # real translations in every language


# --- round 3: general fixes (not copied from the corpus) ------------------------------------------------


@pytest.mark.parametrize("text", ["請不要再寄郵件給我。", "請將我從郵件名單中移除。", "取消訂閱，謝謝。"])
def test_traditional_chinese_reads_like_simplified(text):
    assert replies.classify(text).label == OPT_OUT


@pytest.mark.parametrize("text", [
    "I hit unsubscribe by accident last week, could you re-add me?", "Je me suis désinscrite par erreur, pouvez-vous me réinscrire ?",
    "Me descadastrei sem querer, podem me incluir de novo?", "我不小心退订了，请帮我重新订阅。",
    "How do you handle unsubscribes for contacts synced from HubSpot?", "Please stop writing to my old address, use ana@newco.example instead.",
])
def test_re_adds_product_questions_and_address_changes_are_not_certain_opt_outs(text):
    assert replies.classify(text).label != OPT_OUT


@pytest.mark.parametrize("text", [
    "Please delete my colleague Dana too.", "Entfernen Sie bitte auch meinen Kollegen Max.",
    "Bitte nicht weiter nachfassen.", "Følg ikke opp igjen, takk.", "Ingen reklame tak.", "PARE", "Lopeta.",
    "Je ne souhaite plus être contacté.",
])
def test_round_three_request_forms_are_opt_outs(text):
    assert replies.classify(text).label == OPT_OUT


@pytest.mark.parametrize("text", ["Bis nach den Feiertagen bitte nicht mehr nachfassen.", "春节前先别联系我。"])
def test_a_request_limited_in_time_before_it_is_not_a_certain_opt_out(text):
    assert replies.classify(text).label != OPT_OUT


def test_review_thresholds_per_language_stay_in_the_calibrated_range():
    assert set(replies.REVIEW_AT_BY_LANGUAGE) == OLD_LANGUAGES | NEW_LANGUAGES
    assert all(0.3 <= t <= 0.7 for t in replies.REVIEW_AT_BY_LANGUAGE.values())
    assert replies.MODEL_OPT_OUT_AT > max(replies.REVIEW_AT_BY_LANGUAGE.values())
    # a language added since the table, and a neighbour, go to review no later than the table's lowest, nor
    # later than the language a neighbour is read through (Malay through Indonesian)
    from unify_dash.classify import language
    for code in language.ADDED_ROUND8:
        assert replies.review_threshold(code) <= min(replies.REVIEW_AT_BY_LANGUAGE.values())
    for code, parent in language.NEIGHBOURS.items():
        assert replies.review_threshold(code) <= min(replies.NEIGHBOUR_REVIEW_AT, replies.review_threshold(parent))
    assert replies.review_threshold("ms") == replies.review_threshold("id") == replies.ADDED_LANGUAGE_REVIEW_AT


@pytest.mark.parametrize("text", ["I never asked for these emails, take me off."])
def test_non_consent_with_a_request_is_an_opt_out(text):
    assert replies.classify(text).label == OPT_OUT


# --- round 4: the semantic request cue, a removal next to a decline, languages outside the 18 ----------

@pytest.mark.parametrize("text", [
    "Kindly erase my contact details from your records.",
    "Just scrub me from the distribution, cheers",
    "off your mailing list, thx",
    "Get my address out of your system.",
    "Bitte entfernen Sie meine Adresse aus Ihrem Verteiler.",
    "Supprimez mes coordonnées de votre fichier, merci.",
    "Quitad mi correo de vuestra lista.",
    "Usuńcie mój adres z waszej bazy.",
    "Удалите мою почту из вашего списка.",
    "Fjern adressen min fra registeret.",
    "配信リストから私を外してください",
    "请从邮件列表中删除我",
    "메일 목록에서 제외해 주세요",
])
def test_semantic_request_cue_reads_verb_and_object_in_any_language(text):
    from unify_dash.classify import semantic
    from unify_dash.classify import text as text_mod

    c = semantic.cue(text_mod.prepare(text).s)
    assert c.request and not c.negated, text
    assert "s:req" in model.features(text_mod.prepare(text).s)


@pytest.mark.parametrize("text", [
    "Please don't remove me from the list, I like the newsletter.",
    "Can you remove me from the meeting invite on Friday?",
    "Send me the pricing by email.",
    "Quite a few emails came in while I was away.",
    "I'm off next week, email me after that.",
    "Entfernen Sie mich bitte aus der Einladung zum Termin.",
    "会議の招待から外してください",
])
def test_semantic_request_cue_is_not_a_request_here(text):
    from unify_dash.classify import semantic
    from unify_dash.classify import text as text_mod

    assert not semantic.cue(text_mod.prepare(text).s).request, text


@pytest.mark.parametrize("text", [
    "We work with another agency already. Please delete my address from your records.",
    "Non è il momento e comunque cancellate il mio indirizzo dalla vostra lista.",
    "Ya tenemos una solución; por favor borren mis datos de su base.",
    "Já usamos outra ferramenta, por favor removam meu e-mail do cadastro de vocês.",
    "Нам не нужно, уберите мой адрес из вашей базы рассылки.",
])
def test_a_removal_next_to_a_decline_reaches_the_queue(text):
    assert replies.classify(text).label in QUEUE_LABELS, text


@pytest.mark.parametrize("text, code", [
    ("בבקשה תפסיקו לשלוח לי הודעות", "he"),
    ("من فضلكم توقفوا عن إرسال الرسائل إلي", "ar"),
    ("कृपया मुझे और ईमेल न भेजें", "hi"),
    ("กรุณาหยุดส่งอีเมลถึงฉัน", "th"),
])
def test_a_language_outside_the_eighteen_goes_to_review(text, code):
    c = replies.classify(text)
    assert c.label in QUEUE_LABELS and c.language == code, (text, c)


def test_letters_only_other_languages_write_decide_the_language():
    assert language.detect("Hủy đăng ký").code == "vi" and language.detect("Hủy đăng ký").known  # round 8: first-class
    assert language.detect("Відпишіть мене").code == "uk" and language.detect("Відпишіть мене").known  # round 8
    assert language.detect("Abonelikten çıkmak istiyorum, teşekkürler").known  # Turkish ş is not Romanian
    assert language.detect("Odhlaste ma prosim").known  # Slovak: a neighbour the model reads (cs)


# --- round 5: an auto-reply's own unsubscribe offer, localized auto-reply subjects ------------------------

@pytest.mark.parametrize("text, subject", [
    ("Ich bin bis Montag im Urlaub.\nNewsletter abbestellen | Impressum", None),
    ("I am on parental leave until March.\nUnsubscribe from Harborline marketing emails: harborline.com/prefs", None),
    ("Nos bureaux sont fermés pour les fêtes.\nPour ne plus recevoir nos communications, cliquez sur Se désabonner.",
     "Réponse automatique : Rendez-vous"),
    ("설 연휴 기간 동안 휴무입니다.\n수신을 원하지 않으시면 [수신거부]를 클릭하세요.", "자동 회신: 제안"),
    ("Toimistomme on suljettuna joulun ajan.\nJos et halua enää uutiskirjettämme, peru tilaus tästä.", "Poissa: Re: Demo"),
    ("Офис закрыт на праздники.\nЧтобы отказаться от рассылки, нажмите «Отписаться».", "Автоматический ответ: Вопрос"),
])
def test_an_auto_replys_own_unsubscribe_offer_is_no_opt_out(text, subject):
    c = replies.classify(text, None, subject)
    assert c.label == OUT_OF_OFFICE, (text, c)


@pytest.mark.parametrize("text, subject", [
    ("I am on leave until Monday. Please unsubscribe me from your newsletter.", "Automatic reply: Re: intro"),
    ("Ich bin im Urlaub. Bitte nehmen Sie mich aus Ihrem Newsletter, hier ist meine Adresse.", "Abwesenheitsnotiz: Re"),
    ("Jen no longer works here. Please remove her from your lists and do not email this address again.", None),
    ("Unsubscribe from this newsletter.", None),
])
def test_a_request_in_an_auto_reply_is_still_an_opt_out(text, subject):
    assert replies.classify(text, None, subject).label == OPT_OUT, text


@pytest.mark.parametrize("subject", ["자동 회신: 제안", "Fraværende: Kort spørgsmål", "Poissa: Re: Demo",
                                     "Nepřítomnost: Re: Demo", "Автоматический ответ: Вопрос", "自動返信: ご提案",
                                     "Otomatik yanıt: teklif", "Autosvar: Uppföljning"])
def test_localized_auto_reply_subjects(subject):
    assert replies._auto_reply({}, subject) is not None, subject
    assert replies._auto_reply({}, "Re: " + subject.split(":")[1].strip()) is None



def test_the_former_negative_label_still_displays_and_is_never_an_opt_out(tmp_path):
    """Round 6 split `negative` into not_now / other: a stored `negative` of an older workspace still has its
    own name on the metrics page, never reaches the opt-out queue, and a corpus that still says it is refused
    with the file and row."""
    from unify_dash.actions import enrollments
    from unify_dash.classify import labels
    from unify_dash.reports import metrics

    assert labels.FORMER_NEGATIVE not in labels.OUTPUTS and labels.FORMER_NEGATIVE not in labels.QUEUE_LABELS
    assert labels.FORMER_NEGATIVE not in enrollments.QUEUE_LABELS
    assert metrics.label("replies", labels.FORMER_NEGATIVE) not in (labels.FORMER_NEGATIVE, metrics.label("replies", "other"))
    assert metrics.label("replies", labels.NOT_NOW) != labels.NOT_NOW
    path = tmp_path / "old.csv"
    path.write_text("text,label\nNot now.,not_now\nNo thanks.,negative\n", encoding="utf-8")
    with pytest.raises(corpus.CorpusError, match=r"row 3, column label: 'negative' was split"):
        corpus.load(path)


# --- round 8: general fixes (kinds read on holdout9 / holdout10; sentences written here) -----------------


@pytest.mark.parametrize("text", [
    "Could you stop sending the monthly bills to this inbox? Use payables@acme.example from now on.",
    "Bitte senden Sie die Rechnungen nicht mehr an diese Adresse, sondern an buchhaltung@firma.example.",
    "Bitte beenden Sie die automatische Verlängerung des Vertrags.",
    "Quit phoning my mobile, a message is enough.",
    "Dejen de mandar las facturas en papel.",
    "Stop the automatic renewal of my contract, please.",
])
def test_a_removal_of_something_that_is_no_mailing_is_no_certain_opt_out(text):
    """An invoice, phone calls, a contract or its renewal, an event (rules._NOT_MAILING): not the e-mails. The
    model and the review gate decide. (A cc stays an opt-out of the writer: docs/decisions.md.)"""
    assert not replies.classify(text).rule.startswith("opt_out."), text


@pytest.mark.parametrize("text", [
    "Remove me from the cc on the contract thread.", "Stop sending me invoices and newsletters.",
    "Remove me from your mailing list and stop calling my phone.", "Stop emailing me about the event.",
])
def test_a_mailing_named_next_to_the_other_thing_is_still_an_opt_out(text):
    assert replies.classify(text).label == OPT_OUT, text


@pytest.mark.parametrize("text", [
    "Avregistrera mig inte, jag läser allt.", "Fjern meg ikke fra listen, takk.",
    "Beni bültenden çıkarmayın, okuyorum.", "수신거부하지 마세요, 계속 받고 싶어요.",
    "Lad være med at afmelde mig, jeg læser dem.",
])
def test_a_removal_negated_after_the_verb_is_no_certain_opt_out(text):
    assert not replies.classify(text).rule.startswith("opt_out."), text


@pytest.mark.parametrize("text", ["Bana artık e-posta göndermeyin.", "Benimle tekrar iletişime geçmeyin.",
                                  "Lütfen beni listeden çıkarın."])
def test_the_turkish_negative_imperative_of_sending_is_still_an_opt_out(text):
    assert replies.classify(text).label == OPT_OUT, text


@pytest.mark.parametrize("text", [
    "Please don't email me for the next couple of weeks, we are closing the quarter.",
    "Proszę nie pisać do mnie do końca stycznia.", "Ne m'écrivez plus avant la rentrée, merci.",
    "Не пишите мне до конца месяца.", "Prosím nepište mi až do března.", "这段时间先别发邮件了。",
])
def test_a_request_limited_in_time_after_it_is_no_certain_opt_out_in_any_rule(text):
    assert replies.classify(text).label != OPT_OUT, text


def test_remove_me_before_the_next_one_is_still_an_opt_out():
    assert replies.classify("Not for us. Remove me before you send the next one.").label == OPT_OUT


@pytest.mark.parametrize("text", [
    "¿Vuestra plataforma permite que un contacto se dé de baja de una sola campaña?",
    "La vostra piattaforma gestisce le disiscrizioni dei nostri clienti?",
    "御社のツールで配信停止の一括処理はできますか。",
])
def test_a_question_about_the_products_unsubscribe_is_no_certain_opt_out(text):
    assert not replies.classify(text).rule.startswith("opt_out."), text


def test_a_reply_below_an_unquoted_original_after_a_wrote_line_is_read():
    text = ("Il giorno lun 7 dic 2026 alle ore 10:00 Sam <sam@vendor.example> ha scritto:\nCiao Paola,\nha tempo "
            "per una chiamata?\n\nClicca qui per disiscriverti.\n\nNon scrivetemi più, grazie.")
    assert replies.clean(text).strip().startswith("non scrivetemi")
    assert replies.classify(text).label == OPT_OUT


@pytest.mark.parametrize("text", ["Who gave you my e-mail address? Delete it, please.",
                                  "Skąd macie mój adres? Proszę go usunąć.", "Откуда у вас мой e-mail? Удалите его."])
def test_the_erase_cue_reads_a_pronoun_that_stands_for_the_address(text):
    assert semantic.cue(text_mod.prepare(text).s).erase
    assert replies.classify(text).label in QUEUE_LABELS, text


def test_the_erase_cue_needs_an_object_of_contact_and_no_attachment():
    assert not semantic.cue(text_mod.prepare("Please delete the attachment, it is too big.").s).erase
    assert not semantic.cue(text_mod.prepare("The file was wrong, delete it.").s).erase


# --- round 8: Ukrainian, Romanian, Hungarian, Greek and Catalan are first-class -----------------------------

@pytest.mark.parametrize("text, code", [
    ("Будь ласка, відпишіть мене від усіх ваших розсилок.", "uk"),
    ("Прошу більше не надсилати мені листів.", "uk"),
    ("Vă rog să mă scoateți din lista voastră de contacte.", "ro"),
    ("Nu mai doresc să primesc mesaje de la voi.", "ro"),
    ("Kérem, ne küldjenek nekem több hírlevelet.", "hu"),
    ("A címemet kérem töröljék az adatbázisukból.", "hu"),
    ("Σας παρακαλώ, διαγράψτε με από όλες τις λίστες σας.", "el"),
    ("Σταματήστε να μου στέλνετε προσφορές.", "el"),
    ("No m'envieu més publicitat, si us plau.", "ca"),
    ("Deixeu d'escriure'ns, gràcies.", "ca"),
    ("Tolong hapus saya dari milis Anda, terima kasih.", "id"),
    ("Jangan hubungi saya lagi.", "id"),
    ("Vui lòng hủy đăng ký cho tôi, cảm ơn.", "vi"),
    ("Đừng gửi thư quảng cáo cho tôi nữa.", "vi"),
])
def test_round8_languages_have_certain_opt_out_rules(text, code):
    c = replies.classify(text)
    neighbours = {k for k, v in language.NEIGHBOURS.items() if v == code}  # py3langid reads some Indonesian as Malay
    assert c.label == OPT_OUT and (c.language == code or c.language in neighbours), (text, c)
    assert c.rule.startswith("opt_out.") and c.rule != "opt_out.model", (text, c)
    assert language.detect(text).known


@pytest.mark.parametrize("text", [
    "Не відписуйте мене, я читаю ці листи.", "Я не хочу відписуватися від розсилки.",
    "Nu mă dezabonați, citesc fiecare număr.", "Nu vreau să mă dezabonez de la newsletter.",
    "Ne iratkoztassanak le, olvasom a leveleiket.", "Nem akarok leiratkozni a hírlevélről.",
    "Μη με απεγγράψετε, διαβάζω τα νέα σας.", "Δεν θέλω να απεγγραφώ από το newsletter.",
    "No em doneu de baixa, llegeixo tots els butlletins.", "No vull donar-me de baixa del butlletí.",
    "Jangan hapus saya dari daftar, saya suka membaca newsletter Anda.", "Saya tidak mau berhenti berlangganan newsletter ini.",
    "Đừng xóa tôi khỏi danh sách, tôi đọc mọi bản tin.", "Tôi không muốn hủy đăng ký bản tin này.",
    # limited in time: no certain opt-out either
    "Не пишіть мені до кінця тижня, будь ласка.", "Nu-mi mai scrieți până la sfârșitul lunii.",
    "Μη μου στέλνετε μέχρι τέλος του μήνα.", "No m'envieu més correus fins al setembre.",
    "Jangan kirim email sampai akhir bulan, kami sedang audit.", "Đừng gửi email cho tôi đến hết tháng này.",
    "Vui lòng xóa tôi khỏi lời mời họp thứ Sáu.",  # vi: no rule; the model sends it to review
    "Видаліть мене із запрошення на нараду в п'ятницю.",  # uk: review from 0.25 (ADDED_LANGUAGE_REVIEW_AT)
])
def test_round8_negated_or_temporary_requests_are_no_certain_opt_out(text):
    c = replies.classify(text)
    assert c.label != OPT_OUT, (text, c)


@pytest.mark.parametrize("text", [
    "Vă rog să mă scoateți din invitația la ședința de vineri.",
    "Kérem, vegyenek ki a pénteki megbeszélés meghívójából.",
    "Παρακαλώ βγάλτε με από την πρόσκληση της συνάντησης της Παρασκευής.",
    "Si us plau, traieu-me de la invitació a la reunió de divendres.",
    "Tolong hapus saya dari undangan rapat hari Jumat.",
])
def test_round8_removal_from_a_meeting_is_not_an_opt_out(text):
    assert replies.classify(text).label not in QUEUE_LABELS, text


@pytest.mark.parametrize("text, code", [
    ("Я у відпустці до 3 травня.\n\nЩоб відписатися від нашої розсилки, натисніть тут: www.firma.ua/unsubscribe", "uk"),
    ("Május 3-ig szabadságon vagyok.\n\nHa le szeretne iratkozni hírlevelünkről, kattintson ide: www.ceg.hu/leiratkozas", "hu"),
    ("Sunt în concediu până pe 10 iunie și nu citesc emailurile.", "ro"),
    ("Είμαι εκτός γραφείου μέχρι τη Δευτέρα.", "el"),
    ("Resposta automàtica: sóc fora de l'oficina fins dilluns.", "ca"),
    ("Balasan otomatis: saya sedang cuti sampai 15 April.\n\nUntuk berhenti berlangganan newsletter kami, klik di sini.", "id"),
    ("Trả lời tự động: tôi đang nghỉ phép đến ngày 15 tháng 4.\n\nĐể hủy đăng ký bản tin, bấm vào đây: www.congty.vn/huy", "vi"),
])
def test_round8_out_of_office_with_its_own_unsubscribe_footer(text, code):
    c = replies.classify(text)
    assert c.label == OUT_OF_OFFICE and (c.language == code or language.NEIGHBOURS.get(c.language) == code), (text, c)


@pytest.mark.parametrize("reply, quoted", [
    ("Дякую, отримав.", "вт, 4 бер. 2025 р. о 09:14 Sam Rivera <sam@unify.example> пише:\n> Щоб відписатися, дайте відповідь СТОП."),
    ("Mulțumesc, am primit.", "Pe mar., 4 mar. 2025 la 09:14, Sam Rivera <sam@unify.example> a scris:\n> Dezabonați-vă aici."),
    ("Köszönöm.", "Sam Rivera <sam@unify.example> ezt írta (időpont: 2025. márc. 4., K, 9:14):\n> Ha nem szeretne több levelet, "
                  "válaszoljon LEIRATKOZÁS szóval."),
    ("Ευχαριστώ.", "Στάλθηκε από το iPhone μου\n\nΣτις Τρί 4 Μαρ 2025 στις 9:14 π.μ., ο/η Sam Rivera <sam@unify.example> "
                   "έγραψε:\n> Αν δεν θέλετε άλλα email, απαντήστε ΔΙΑΓΡΑΦΗ."),
    ("Gràcies.", "El dt., 4 de març 2025 a les 9:14, Sam Rivera (<sam@unify.example>) va escriure:\n> Responeu BAIXA."),
    ("Terima kasih.", "Dikirim dari iPhone saya\n\nPada tanggal Sel, 4 Mar 2025 pukul 09.14 Sam Rivera <sam@unify.example> menulis:\n"
                      "> Jika tidak ingin menerima email lagi, balas BERHENTI."),
    ("Cảm ơn.", "Vào Th 3, 4 thg 3, 2025 vào lúc 09:14 Sam Rivera <sam@unify.example> đã viết:\n> Nếu không muốn nhận email nữa, hãy "
                "trả lời HỦY."),
])
def test_round8_quote_headers_and_mobile_footers_are_stripped(reply, quoted):
    text = f"{reply}\n\n{quoted}"
    assert replies.clean(text).strip() == replies.clean(reply).strip()
    assert replies.classify(text).label not in QUEUE_LABELS


@pytest.mark.parametrize("text", ["Повідомлення не вдалося доставити: адреса не існує.", "Mesajul nu a putut fi livrat destinatarului.",
                                  "Kézbesíthetetlen üzenet: a címzett nem található.", "Δεν ήταν δυνατή η παράδοση του μηνύματος.",
                                  "No s'ha pogut lliurar el missatge.", "Pesan tidak dapat dikirim ke alamat tujuan.",
                                  "Không thể gửi thư đến địa chỉ này."])
def test_round8_bounces_are_other(text):
    c = replies.classify(text)
    assert (c.label, c.rule) == (OTHER, "other.bounce"), (text, c)
