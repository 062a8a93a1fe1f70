"""Build the labelled reply corpus: tests/data/replies/train.csv and dev.csv.

Sources (all in the repository):

* ``tests/data/replies/src/<lang>.txt``: hand-written replies, one a line, ``LABEL| text`` with LABEL one
  of O (opt_out), A (out_of_office), P (positive), N (not_now: later), X (other, a plain decline too; round 6:
  scripts/relabel_reply_declines.py split the former N = negative); ``!`` after the label marks a
  hard case; ``\\n`` is a line break.
* ``tests/data/replies_eval.csv``: the 402 labelled replies of the first classifier (kept as they are).
* ``tests/data/replies/test.csv`` and ``holdout2.csv`` (round 3), ``holdout3.csv`` and ``holdout4.csv``
  (round 4), ``holdout5.csv`` and ``holdout6.csv`` (round 5), ``holdout7.csv`` and ``holdout8.csv`` (round 6):
  written by other authors as held-out sets, each measured once (docs/benchmarks.md) and now
  training material, kept as written.

Every row names its ``author`` (who wrote it: ``corpus`` for src/ and the public phrases built on it,
``eval``, ``test``, ``holdout2`` ... ``holdout8``, ``r3`` / ``r4`` for the round-3 / round-4
replies of src/<lang>.r3.txt / .r4.txt, ``r7`` / ``r8l`` for src/<lang>.r7.txt / .r8.txt (round 8: the
languages made first-class, uk, ro, hu, el, ...), ``public`` for real public text);
``scripts/eval_replies.py --cross-author`` trains on all authors but one and measures on that one.

Every hand-written reply is written once as typed and once "wrapped" as a mail client sends it: a
greeting and a sign-off in its language, and one of: the quoted outreach message under a localized
"... wrote:" line, a localized Outlook header block, a localized "Sent from my iPhone", a legal
disclaimer; out-of-office replies get an ``Auto-Submitted`` header half of the time. A reply and its
wrapped copy share a group; whole groups go to train (80 %) or dev (20 %) by a hash of the group, so
the split never depends on the classifier. Fresh held-out sets (holdout9, holdout10, ...) are written
independently and are not read here.

    python scripts/build_reply_corpus.py          # rewrites train.csv and dev.csv
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "tests" / "data" / "replies" / "src"
OUT = ROOT / "tests" / "data" / "replies"
EVAL_SET = ROOT / "tests" / "data" / "replies_eval.csv"
CODES = {"O": "opt_out", "A": "out_of_office", "P": "positive", "N": "not_now", "X": "other"}
COLUMNS = ["id", "text", "headers", "subject", "label", "lang", "tags", "group", "source", "author"]
SPENT = {"test": OUT / "test.csv", "holdout2": OUT / "holdout2.csv",  # former held-out sets, now training
         "holdout3": OUT / "holdout3.csv", "holdout4": OUT / "holdout4.csv",  # round 4
         "holdout5": OUT / "holdout5.csv", "holdout6": OUT / "holdout6.csv",  # round 5
         "holdout7": OUT / "holdout7.csv", "holdout8": OUT / "holdout8.csv",  # round 6
         "holdout9": OUT / "holdout9.csv", "holdout10": OUT / "holdout10.csv"}  # round 8
PHRASES = SRC / "public_phrases.csv"
DEV_SHARE = 0.2

OUTREACH = {
    "en": "Hi, quick question about your pipeline reviews. Worth a 15 minute chat?\n\n"
          "If you'd rather not hear from me, reply STOP or unsubscribe here.",
    "de": "Hallo, kurze Frage zu Ihren Pipeline-Reviews. Lohnt sich ein kurzes Gespräch?\n\n"
          "Sie möchten keine E-Mails mehr? Antworten Sie mit ABMELDEN.",
    "fr": "Bonjour, une question rapide sur vos revues de pipeline. Un appel de 15 minutes ?\n\n"
          "Pour ne plus recevoir nos e-mails, répondez STOP.",
    "es": "Hola, una pregunta rápida sobre su pipeline. ¿Hablamos 15 minutos?\n\n"
          "Si no desea recibir más correos, responda BAJA.",
    "nl": "Hoi, korte vraag over jullie pipeline. Zin in een gesprek van 15 minuten?\n\n"
          "Geen mails meer? Antwoord met AFMELDEN.",
    "pt": "Olá, uma pergunta rápida sobre o seu pipeline. Podemos falar 15 minutos?\n\n"
          "Para não receber mais e-mails, responda SAIR.",
    "it": "Ciao, una domanda veloce sulla vostra pipeline. Ci sentiamo 15 minuti?\n\n"
          "Per non ricevere più email, rispondi CANCELLAMI.",
    "pl": "Dzień dobry, krótkie pytanie o Państwa pipeline. Czy znajdzie Pan 15 minut?\n\n"
          "Jeśli nie chce Pan otrzymywać wiadomości, proszę odpisać STOP.",
    "ja": "お世話になっております。パイプライン管理について15分ほどお話しできませんか。\n\n"
          "配信停止をご希望の場合は「停止」とご返信ください。",
    "zh": "您好，想就贵司的销售管道管理简单交流15分钟，方便吗？\n\n如不想再收到邮件，请回复“退订”。",
    "ko": "안녕하세요, 파이프라인 관리에 대해 15분 정도 이야기 나눌 수 있을까요?\n\n"
          "수신을 원하지 않으시면 '수신거부'라고 회신해 주세요.",
    "ru": "Здравствуйте! Короткий вопрос о вашей воронке продаж. Найдёте 15 минут?\n\n"
          "Чтобы отписаться, ответьте СТОП.",
    "sv": "Hej, en snabb fråga om er pipeline. Har du 15 minuter?\n\n"
          "Vill du inte ha fler mejl? Svara AVREGISTRERA.",
    "da": "Hej, et hurtigt spørgsmål om jeres pipeline. Har du 15 minutter?\n\n"
          "Vil du ikke modtage flere mails, så svar AFMELD.",
    "no": "Hei, et raskt spørsmål om pipelinen deres. Har du 15 minutter?\n\n"
          "Vil du ikke motta flere e-poster, svar AVMELD.",
    "fi": "Hei, nopea kysymys myyntiputkestanne. Ehtisitkö 15 minuutin puheluun?\n\n"
          "Jos et halua enää viestejä, vastaa LOPETA.",
    "cs": "Dobrý den, rychlý dotaz k vaší pipeline. Máte 15 minut?\n\n"
          "Pokud nechcete dostávat další e-maily, odpovězte ODHLÁSIT.",
    "tr": "Merhaba, satış hattınızla ilgili kısa bir sorum var. 15 dakikanız var mı?\n\n"
          "Daha fazla e-posta almak istemiyorsanız DUR yazarak yanıtlayın.",
    # round 8 (author r8l)
    "uk": "Добрий день! Коротке питання про вашу воронку продажів. Знайдете 15 хвилин?\n\n"
          "Щоб відписатися, дайте відповідь СТОП.",
    "ro": "Bună ziua, o întrebare scurtă despre pipeline-ul dumneavoastră. Aveți 15 minute?\n\n"
          "Dacă nu mai doriți emailuri, răspundeți cu DEZABONARE.",
    "hu": "Jó napot, egy gyors kérdés az értékesítési folyamatukról. Lenne 15 perce?\n\n"
          "Ha nem szeretne több levelet, válaszoljon LEIRATKOZÁS szóval.",
    "el": "Καλημέρα, μια γρήγορη ερώτηση για το pipeline σας. Έχετε 15 λεπτά;\n\n"
          "Αν δεν θέλετε άλλα email, απαντήστε ΔΙΑΓΡΑΦΗ.",
    "ca": "Hola, una pregunta ràpida sobre el vostre pipeline. Teniu 15 minuts?\n\n"
          "Si no voleu rebre més correus, responeu BAIXA.",
    "id": "Halo, pertanyaan singkat tentang pipeline penjualan Anda. Ada waktu 15 menit?\n\n"
          "Jika tidak ingin menerima email lagi, balas BERHENTI.",
    "vi": "Xin chào, một câu hỏi nhanh về quy trình bán hàng của bạn. Bạn có 15 phút không?\n\n"
          "Nếu không muốn nhận email nữa, hãy trả lời HỦY.",
}
# languages with no quoted-outreach forms above (round 7: Catalan, author r7): wrapped with greeting and sign-off, and
# a disclaimer half of the time (the classifier strips no Catalan "va escriure:" quote)
GREETING_ONLY: dict[str, tuple[str, str]] = {}  # round 8: Catalan is wrapped like the others (its "va escriure:")
GREETING = {"en": "Hi Sam,", "de": "Hallo Sam,", "fr": "Bonjour Sam,", "es": "Hola Sam,", "nl": "Hoi Sam,",
            "pt": "Olá Sam,", "it": "Ciao Sam,", "pl": "Dzień dobry,", "ja": "Sam様", "zh": "您好，",
            "ko": "안녕하세요,", "ru": "Здравствуйте,", "sv": "Hej Sam,", "da": "Hej Sam,", "no": "Hei Sam,",
            "fi": "Hei Sam,", "cs": "Dobrý den,", "tr": "Merhaba Sam,",
            "uk": "Добрий день,", "ro": "Bună ziua,", "hu": "Kedves Sam!", "el": "Καλημέρα Sam,", "ca": "Hola Sam,", "id": "Halo Sam,", "vi": "Chào anh Sam,"}
SIGNOFF = {"en": "Thanks,\nJordan Lee\nVP Sales | Northwind", "de": "Viele Grüße\nJonas Weber",
           "fr": "Cordialement,\nClaire Petit", "es": "Saludos,\nLucía Romero", "nl": "Groet,\nDaan Bakker",
           "pt": "Abraço,\nJoão Souza", "it": "Saluti,\nGiulia Conti", "pl": "Pozdrawiam,\nKatarzyna Wójcik",
           "ja": "よろしくお願いいたします。\n佐藤", "zh": "谢谢\n李明", "ko": "감사합니다.\n박지훈 드림",
           "ru": "С уважением,\nОльга Иванова", "sv": "Mvh\nLina Berg", "da": "Venlig hilsen\nMads Jensen",
           "no": "Mvh\nNora Hansen", "fi": "Terveisin\nAino Korhonen", "cs": "S pozdravem\nJana Dvořáková",
           "tr": "Saygılarımla,\nEce Demir", "uk": "З повагою,\nОлена Шевченко", "ro": "Cu stimă,\nAndrei Ionescu",
           "hu": "Üdvözlettel:\nKovács Péter", "el": "Με εκτίμηση,\nΓιώργος Νικολάου", "ca": "Salutacions,\nMontse Ferrer",
           "id": "Salam,\nDewi Lestari", "vi": "Trân trọng,\nTrần Thị Lan"}
WROTE = {
    "en": "On Tue, 4 Mar 2025 at 09:14, Sam Rivera <sam@unify.example> wrote:",
    "de": "Am Di., 4. März 2025 um 09:14 Uhr schrieb Sam Rivera <sam@unify.example>:",
    "fr": "Le mar. 4 mars 2025 à 09:14, Sam Rivera <sam@unify.example> a écrit :",
    "es": "El mar, 4 mar 2025 a las 9:14, Sam Rivera (<sam@unify.example>) escribió:",
    "nl": "Op di 4 mrt 2025 om 09:14 schreef Sam Rivera <sam@unify.example>:",
    "pt": "Em ter., 4 de mar. de 2025 às 09:14, Sam Rivera <sam@unify.example> escreveu:",
    "it": "Il giorno mar 4 mar 2025 alle ore 09:14 Sam Rivera <sam@unify.example> ha scritto:",
    "pl": "W dniu wt., 4 mar 2025 o 09:14 Sam Rivera <sam@unify.example> napisał(a):",
    "ja": "2025年3月4日(火) 9:14 Sam Rivera <sam@unify.example>:",
    "zh": "Sam Rivera <sam@unify.example> 于2025年3月4日周二 09:14写道：",
    "ko": "2025년 3월 4일 (화) 오전 9:14, Sam Rivera <sam@unify.example>님이 작성:",
    "ru": "вт, 4 мар. 2025 г. в 09:14, Sam Rivera <sam@unify.example>:",
    "sv": "Den tis 4 mars 2025 kl 09:14 skrev Sam Rivera <sam@unify.example>:",
    "da": "Den tir. 4. mar. 2025 kl. 09.14 skrev Sam Rivera <sam@unify.example>:",
    "no": "tir. 4. mar. 2025 kl. 09:14 skrev Sam Rivera <sam@unify.example>:",
    "fi": "ti 4.3.2025 klo 9.14 Sam Rivera (sam@unify.example) kirjoitti:",
    "cs": "út 4. 3. 2025 v 9:14 odesílatel Sam Rivera <sam@unify.example> napsal:",
    "tr": "Sam Rivera <sam@unify.example>, 4 Mar 2025 Sal, 09:14 tarihinde şunu yazdı:",
    "uk": "вт, 4 бер. 2025 р. о 09:14 Sam Rivera <sam@unify.example> пише:",
    "ro": "Pe mar., 4 mar. 2025 la 09:14, Sam Rivera <sam@unify.example> a scris:",
    "hu": "Sam Rivera <sam@unify.example> ezt írta (időpont: 2025. márc. 4., K, 9:14):",
    "el": "Στις Τρί 4 Μαρ 2025 στις 9:14 π.μ., ο/η Sam Rivera <sam@unify.example> έγραψε:",
    "ca": "El dt., 4 de març 2025 a les 9:14, Sam Rivera (<sam@unify.example>) va escriure:",
    "id": "Pada tanggal Sel, 4 Mar 2025 pukul 09.14 Sam Rivera <sam@unify.example> menulis:",
    "vi": "Vào Th 3, 4 thg 3, 2025 vào lúc 09:14 Sam Rivera <sam@unify.example> đã viết:",
}
OUTLOOK = {  # From / Sent / To / Subject as Outlook writes them in each language
    "en": ("From", "Sent", "To", "Subject"), "de": ("Von", "Gesendet", "An", "Betreff"),
    "fr": ("De", "Envoyé", "À", "Objet"), "es": ("De", "Enviado", "Para", "Asunto"),
    "nl": ("Van", "Verzonden", "Aan", "Onderwerp"), "pt": ("De", "Enviada em", "Para", "Assunto"),
    "it": ("Da", "Inviato", "A", "Oggetto"), "pl": ("Od", "Wysłano", "Do", "Temat"),
    "ja": ("差出人", "送信日時", "宛先", "件名"), "zh": ("发件人", "发送时间", "收件人", "主题"),
    "ko": ("보낸 사람", "보낸 날짜", "받는 사람", "제목"), "ru": ("От", "Отправлено", "Кому", "Тема"),
    "sv": ("Från", "Skickat", "Till", "Ämne"), "da": ("Fra", "Sendt", "Til", "Emne"),
    "no": ("Fra", "Sendt", "Til", "Emne"), "fi": ("Lähettäjä", "Lähetetty", "Vastaanottaja", "Aihe"),
    "cs": ("Od", "Odesláno", "Komu", "Předmět"), "tr": ("Kimden", "Gönderildi", "Kime", "Konu"),
    "uk": ("Від", "Надіслано", "Кому", "Тема"), "ro": ("De la", "Trimis", "Către", "Subiect"),
    "hu": ("Feladó", "Elküldve", "Címzett", "Tárgy"), "el": ("Από", "Στάλθηκε", "Προς", "Θέμα"),
    "ca": ("De", "Enviat", "Per a", "Assumpte"), "id": ("Dari", "Dikirim", "Kepada", "Subjek"),
    "vi": ("Từ", "Đã gửi", "Đến", "Chủ đề"),
}
MOBILE = {"en": "Sent from my iPhone", "de": "Von meinem iPhone gesendet", "fr": "Envoyé de mon iPhone",
          "es": "Enviado desde mi iPhone", "nl": "Verstuurd vanaf mijn iPhone", "pt": "Enviado do meu iPhone",
          "it": "Inviato da iPhone", "pl": "Wysłane z iPhone'a", "ja": "iPhoneから送信", "zh": "发自我的iPhone",
          "ko": "iPhone에서 보냄", "ru": "Отправлено с iPhone", "sv": "Skickat från min iPhone",
          "da": "Sendt fra min iPhone", "no": "Sendt fra min iPhone", "fi": "Lähetetty iPhonesta",
          "cs": "Odesláno z iPhonu", "tr": "iPhone'umdan gönderildi", "uk": "Надіслано з iPhone",
          "ro": "Trimis de pe iPhone-ul meu", "hu": "iPhone-ról küldve", "el": "Στάλθηκε από το iPhone μου",
          "ca": "Enviat des del meu iPhone", "id": "Dikirim dari iPhone saya",
          "vi": "Được gửi từ iPhone của tôi"}
DISCLAIMER = ("CONFIDENTIALITY NOTICE: This e-mail is confidential and intended solely for the addressee. "
              "If you have received it in error, please delete it and notify the sender.")


def _h(*parts: str) -> int:
    return int(hashlib.sha256("|".join(parts).encode()).hexdigest()[:8], 16)


def wrap(text: str, lang: str, label: str, key: str) -> tuple[str, dict | None, str]:
    """A wrapped copy of ``text`` (greeting, sign-off, one of quote / outlook / mobile / disclaimer)."""
    if lang in GREETING_ONLY:
        kind = ("signed", "disclaimer")[_h(key, "kind") % 2]
        hello, bye = GREETING_ONLY[lang]
        body = f"{hello}\n\n{text}\n\n{bye}" + ("\n\n" + DISCLAIMER if kind == "disclaimer" else "")
        hdr = {"Auto-Submitted": "auto-replied"} if label == "out_of_office" and _h(key, "hdr") % 2 == 0 else None
        return body, hdr, kind
    kind = ("quote", "outlook", "mobile", "disclaimer")[_h(key, "kind") % 4]
    body = f"{GREETING[lang]}\n\n{text}\n\n{SIGNOFF[lang]}"
    quoted = OUTREACH[lang]
    if kind == "quote":
        body += "\n\n" + WROTE[lang] + "\n" + "\n".join("> " + line if line else ">" for line in quoted.split("\n"))
    elif kind == "outlook":
        f, s, t, subj = OUTLOOK[lang]
        body += (f"\n\n________________________________\n{f}: Sam Rivera <sam@unify.example>\n"
                 f"{s}: 4.3.2025 09:14\n{t}: Jordan <jordan@northwind.example>\n{subj}: Pipeline\n\n{quoted}")
    elif kind == "mobile":
        body = f"{text}\n\n{MOBILE[lang]}\n\n{WROTE[lang]}\n{quoted}"
    else:
        body += "\n\n" + DISCLAIMER
    headers = None
    if label == "out_of_office" and _h(key, "hdr") % 2 == 0:
        headers = {"Auto-Submitted": "auto-replied"}
    return body, headers, kind


def _split(group: str) -> str:
    return "dev" if _h(group, "split") % 1000 < DEV_SHARE * 1000 else "train"


def read_sources() -> list[dict]:
    """Hand-written rows of ``src/<lang>.txt`` and ``src/<lang>.<part>.txt`` (more of the same language),
    each as typed and wrapped."""
    rows: list[dict] = []
    for path in sorted(SRC.glob("*.txt")):
        lang, _, part = path.stem.partition(".")
        prefix = f"{lang}-{part}" if part else lang
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            code, sep, text = line.partition("|")
            hard = code.endswith("!")
            code = code.rstrip("!").strip()
            if not sep or code not in CODES:
                raise SystemExit(f"{path}:{n}: expected 'LABEL| text' with LABEL one of {''.join(CODES)}")
            text = text.strip().replace("\\n", "\n")
            label = CODES[code]
            group = f"{prefix}-{n:03d}"
            tags = ["hard_negative" if label != "opt_out" else "hard"] if hard else []
            source = f"hand:tests/data/replies/src/{path.name}:{n}"
            rows.append({"id": f"{group}", "text": text, "headers": None, "subject": None, "label": label,
                         "lang": lang, "tags": ";".join(tags), "group": group, "source": source})
            body, headers, kind = wrap(text, lang, label, group)
            rows.append({"id": f"{group}w", "text": body, "headers": headers, "subject": None, "label": label,
                         "lang": lang, "tags": ";".join([*tags, f"wrapped:{kind}"]), "group": group,
                         "source": source + "+wrapped"})
    return rows


def read_phrases() -> dict[str, dict[str, tuple[str, str]]]:
    """lang -> key -> (text, source) of src/public_phrases.csv (scripts/extract_reply_phrases.py)."""
    out: dict[str, dict[str, tuple[str, str]]] = {}
    with open(PHRASES, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            out.setdefault(r["lang"], {})[r["key"]] = (r["text"], r["source"])
    return out


def public_rows(hand: list[dict]) -> list[dict]:
    """Replies built around real translations (listmonk, Roundcube locale files):

    * an out-of-office of ``src`` with a newsletter footer ("Don't want to receive these e-mails?
      Unsubscribe") -> out_of_office; with the localized "Out of Office" label as its subject;
    * a positive / not-now / other reply of ``src`` above a quoted newsletter footer -> its own label;
    * any reply of ``src`` with a company signature whose footer has the newsletter unsubscribe line;
    * "This message is junk." / "Reported as junk." (a spam complaint), "Unsubscribe", "Unsubscribe
      from all future e-mails" typed as the reply -> opt_out;
    * a list server's "You have unsubscribed successfully." -> other.
    """
    phrases = read_phrases()
    rows: list[dict] = []
    typed = [r for r in hand if not r["id"].endswith("w")]
    for r in typed:
        p = phrases.get(r["lang"], {})
        unsub, help_ = p.get("listmonk:email.unsub"), p.get("listmonk:email.unsubHelp")
        if not (unsub and help_):
            continue
        footer = f"{help_[0]} {unsub[0]}"
        src = f"{r['source']}+{unsub[1]}+{help_[1]}"
        if r["label"] == "out_of_office":
            vac = p.get("roundcube:vacation")
            subject = f"{vac[0]}: Re: Pipeline" if vac and _h(r["id"], "subj") % 2 else None
            rows.append({**r, "id": r["id"] + "f", "text": f"{r['text']}\n\n--\n{footer}", "subject": subject,
                         "tags": "ooo_footer_unsubscribe", "source": src + (f"+{vac[1]}" if subject else "")})
        elif _h(r["id"], "quote") % 3 == 1:  # a company signature with a newsletter footer
            rows.append({**r, "id": r["id"] + "s", "text": f"{r['text']}\n\n{SIGNOFF[r['lang']]}\n\n{DISCLAIMER}\n"
                         f"Newsletter: {footer}", "tags": "legal_disclaimer_unsubscribe", "source": src})
        elif r["label"] in ("positive", "not_now", "other") and _h(r["id"], "quote") % 3 == 0:
            quote = "\n".join("> " + line for line in (OUTREACH[r["lang"]].split("\n")[0], "", footer))
            rows.append({**r, "id": r["id"] + "q", "text": f"{r['text']}\n\n{WROTE[r['lang']]}\n{quote}",
                         "tags": "quoted_optout_in_quote", "source": src})
    for lang, p in phrases.items():
        made = []
        for key in ("roundcube:buttonjunk", "roundcube:reportedasjunk", "listmonk:email.unsub",
                    "listmonk:public.unsubFull", "listmonk:public.unsubscribeTitle"):
            if key in p:
                made.append((key, "opt_out", p[key][0].rstrip(".。") + ("" if lang in ("ja", "zh") else "."), p[key][1]))
        if "roundcube:buttonjunk" in p and "listmonk:email.unsub" in p:
            made.append(("junk+unsub", "opt_out", f"{p['roundcube:buttonjunk'][0]}. {p['listmonk:email.unsub'][0]}!",
                         f"{p['roundcube:buttonjunk'][1]}+{p['listmonk:email.unsub'][1]}"))
        for key in ("listmonk:public.unsubbedInfo",):
            if key in p:
                made.append((key, "other", p[key][0], p[key][1]))
        for key, label, text, source in made:
            group = f"pub-{lang}-{key.split(':')[-1]}"
            tag = {"opt_out": "public_phrase", "other": "list_server_notice"}[label]
            rows.append({"id": group, "text": text, "headers": None, "subject": None, "label": label, "lang": lang,
                         "tags": tag, "group": group, "source": source})
            body, headers, kind = wrap(text, lang, label, group)
            rows.append({"id": group + "w", "text": body, "headers": headers, "subject": None, "label": label,
                         "lang": lang, "tags": f"{tag};wrapped:{kind}", "group": group, "source": source + "+wrapped"})
    return rows


def read_eval_set() -> list[dict]:
    with open(EVAL_SET, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for r in rows:
        out.append({"id": f"eval-{r['id']}", "text": r["text"],
                    "headers": json.loads(r["headers"]) if r["headers"] else None,
                    "subject": r["subject"] or None, "label": r["label"], "lang": r["lang"],
                    "tags": r["tags"], "group": f"eval-{r['group']}", "source": "hand:tests/data/replies_eval.csv"})
    return out


def read_spent() -> list[dict]:
    """The rows of the former held-out sets, as their authors wrote them (labels as written: since round 6
    the classes are the issue's, not_now included; test.csv's former negatives were split by
    scripts/relabel_reply_declines.py)."""
    out = []
    for author, path in SPENT.items():
        with open(path, newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                label = r["label"]
                tags = r.get("kind") or ";".join(t.strip() for t in (r.get("source") or "").split(";")[1:] if t.strip())
                rid = f"{author}-{r['id']}"
                out.append({"id": rid, "text": r["text"].replace("\r\n", "\n"), "headers": None,
                            "subject": r["subject"] or None, "label": label, "lang": r["language"],
                            "tags": tags, "group": rid, "source": f"{author}:tests/data/replies/{path.name}#{r['id']}",
                            "author": author})
    return out


def _author(r: dict) -> str:
    if r.get("author"):
        return r["author"]
    if r["source"].startswith("hand:tests/data/replies_eval.csv"):
        return "eval"
    if ".r3.txt:" in r["source"].split("+")[0]:  # src/<lang>.r3.txt: round 3, other styles
        return "r3"
    if ".r4.txt:" in r["source"].split("+")[0]:  # src/<lang>.r4.txt: round 4, requests without cue words
        return "r4"
    if ".r7.txt:" in r["source"].split("+")[0]:  # src/<lang>.r7.txt: round 7, system notices, Catalan, thin kinds
        return "r7"
    if ".r8.txt:" in r["source"].split("+")[0]:  # src/<lang>.r8.txt: round 8, ten more languages (replies-langs8)
        return "r8l"
    return "corpus"


def main() -> int:
    hand = read_sources()
    rows = hand + public_rows(hand) + read_eval_set() + read_spent()
    rows = [{**r, "author": _author(r)} for r in rows]
    ids = [r["id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise SystemExit("duplicate ids")
    for split in ("train", "dev"):
        path = OUT / f"{split}.csv"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
            w.writeheader()
            n = 0
            for r in rows:
                if _split(r["group"]) != split:
                    continue
                w.writerow({**r, "headers": json.dumps(r["headers"], ensure_ascii=False) if r["headers"] else ""})
                n += 1
        print(f"{path.relative_to(ROOT)}: {n} replies")
    return 0


if __name__ == "__main__":
    sys.exit(main())
