"""System notices that are no absence (round 7): a ticket or request acknowledgement, a read receipt, a
challenge-response filter asking the sender to verify, a delivery notification.

They are written by a machine, often as an "automatic reply", so the out-of-office cues ("automatic reply",
"automated response", "réponse automatique", "自動返信") and the ``Auto-Submitted`` header used to make them
``out_of_office``. Every independent corpus author labels them ``other`` (the person did not say they are away:
docs/replies.md, "Round 7"), so the classifier does too, unless the reply also says the person is away (an absence
cue other than the generic "automatic reply": "on leave until", "im Urlaub", "休暇中") or holds a positive cue.

Not a list of sentences: small per-language lexicons of the *kinds* (a ticket / case / request number, "we have
received your request / message", "your message was read", "verify that you are a person", "approved senders"),
written in each language's own spelling and folded at first use like the text (:func:`.text.prepare`).
"""

from __future__ import annotations

import functools
import re

from unify_dash.classify.text import prepare

# phrases as written (folded at first use); matched at a word start (any position in ja / zh / ko)
NOTICES = (
    # ticket / case / request acknowledgements
    "ticket #", "ticket number", "ticket no", "ticket id", "ticket-nr", "ticketnummer", "ticket n°", "ticket nº",
    "ticket č", "case number", "case #", "case id", "case no", "request number", "request #", "reference number",
    "support request", "your request has been", "your request was",
    "your message has been received", "your email has been received", "your enquiry has been", "your inquiry has been",
    "we have received your", "we've received your", "we received your", "this is to confirm that we",
    "has been assigned to", "an agent will", "a member of our team will",

    "ihre anfrage ist", "ihre anfrage wurde", "ihre nachricht ist bei uns", "ihre e-mail ist bei uns", "vorgangsnummer",
    "anfragenummer", "wir haben ihre anfrage", "wir haben ihre nachricht", "wir haben ihre e-mail",
    "nous avons bien reçu votre", "nous avons reçu votre", "votre demande a été", "votre demande a bien été",
    "numéro de dossier", "numéro de demande", "numéro de ticket",
    "hemos recibido su", "hemos recibido tu", "su solicitud ha sido", "tu solicitud ha sido", "número de caso",
    "número de solicitud", "número de ticket",
    "recebemos sua", "recebemos a sua", "recebemos o seu", "sua solicitação foi", "número do protocolo", "protocolo nº",
    "número de protocolo", "abbiamo ricevuto la sua", "abbiamo ricevuto la tua", "abbiamo ricevuto il suo",
    "la sua richiesta è stata", "numero di pratica", "numero di ticket",
    "we hebben je aanvraag", "we hebben uw aanvraag", "we hebben je bericht", "we hebben uw bericht", "uw verzoek is",
    "je verzoek is", "ticketnummer",
    "otrzymaliśmy twoją", "otrzymaliśmy twoje", "otrzymaliśmy pana", "otrzymaliśmy pani", "otrzymaliśmy państwa",
    "zgłoszenie nr", "numer zgłoszenia", "twoje zgłoszenie",
    "vaši žádost jsme", "vaši zprávu jsme", "obdrželi jsme vaši", "obdrželi jsme váš", "číslo požadavku", "číslo tiketu",
    "vi har tagit emot ditt", "vi har tagit emot din", "vi har mottagit ditt", "vi har mottagit din", "ärendenummer",
    "ditt ärende",
    "vi har modtaget din", "vi har modtaget jeres", "sagsnummer", "din henvendelse er",
    "vi har mottatt din", "vi har mottatt henvendelsen", "saksnummer", "henvendelsen din er",
    "olemme vastaanottaneet", "olemme vastaanottanut", "tikettinumero", "tapausnumero",
    "talebiniz alın", "talebiniz alındı", "mesajınız alın", "mesajınızı aldık", "talebinizi aldık", "destek talebi",
    "talep numarası", "kayıt numarası",
    "ваше обращение", "ваша заявка", "ваше письмо получено", "номер обращения", "номер заявки", "номер тикета",

    "お問い合わせを受け付け", "受付番号", "チケット番号", "お問い合わせ番号", "受け付けました", "受付いたしました",
    "已收到您的", "我们已收到", "工单号", "工单编号", "工單", "受理编号",
    "문의가 접수", "문의를 접수", "접수되었습니다", "접수 번호", "접수번호", "티켓 번호",
    # read receipts
    "read receipt", "was read on", "has been read", "was read at", "return receipt", "lesebestätigung", "wurde gelesen",
    "accusé de lecture", "a été lu", "confirmación de lectura", "fue leído", "ha sido leído", "confirmação de leitura",
    "foi lida", "foi lido", "conferma di lettura", "è stato letto", "è stata letta", "leesbevestiging", "is gelezen",
    "potwierdzenie przeczytania", "została przeczytana", "został przeczytany", "potvrzení o přečtení", "byla přečtena",
    "läskvitto", "har lästs", "har blivit läst", "læsekvittering", "er blevet læst", "lesebekreftelse", "er lest",
    "ble lest", "lukukuittaus", "on luettu", "okundu bilgisi", "okunmuştur", "okundu:", "уведомление о прочтении",
    "было прочитано", "прочитано:", "开封確認", "開封確認", "開封されました", "已读回执", "已讀回執", "已被阅读",
    "읽음 확인", "읽음 확인:", "수신 확인:",
    # challenge-response filters / sender verification
    "verify that you are", "verify you are", "confirm that you are a", "confirm you are a", "sender verification",
    "approved senders", "approved sender list", "allowlist", "whitelist", "challenge-response", "spam filter",
    "anti-spam", "quarantined", "captcha", "not a robot", "absenderverifizierung", "bestätigen sie, dass sie",
    "spamfilter", "liste blanche", "vérifier que vous", "confirmer que vous", "lista blanca", "verificar que",
    "filtro antispam", "filtro anti-spam", "lista branca", "verifique que", "lista bianca", "verificare che",
    "witte lijst", "bevestigen dat u", "biała lista", "potwierdzić, że", "filtr antyspamowy", "ověření odesílatele",
    "potvrďte, že", "vitlista", "bekräfta att du", "hvidliste", "bekræft, at du", "hviteliste", "bekreft at du",
    "roskapostisuodatin", "vahvista, että", "beyaz liste", "spam filtresi", "doğrulayın", "белый список",
    "подтвердите, что вы", "спам-фильтр", "ホワイトリスト", "送信者認証", "白名单", "发件人验证", "验证您", "화이트리스트",
    "발신자 인증", "스팸 필터",
)

@functools.lru_cache(maxsize=1)
def _pattern() -> re.Pattern:
    folded = sorted({prepare(w).s.strip() for w in NOTICES if prepare(w).s.strip()}, key=len, reverse=True)
    latin = [re.escape(w) for w in folded if not re.search(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]", w[:1])]
    cjk = [re.escape(w) for w in folded if re.search(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]", w[:1])]
    return re.compile(r"(?<![\w])(?:" + "|".join(latin) + ")|" + "|".join(cjk), re.UNICODE)

# the generic "automatic reply" wording of the out-of-office cues: it says a machine answered, not that anyone is away
GENERIC_AUTO = re.compile(
    r"(?:this is an? )?auto(?:matic|mated)?[- ]?(?:reply|response|message|answer|confirmation|acknowledge?ment)s?"
    r"|autoreply|automatic(?:ally)? (?:generated|sent)|reponse automatique|respuesta automatica|resposta automatica"
    r"|risposta automatica|automatisch antwoord|automatische antwort|odpowiedz automatyczna|automatiskt svar"
    r"|automatisk svar|autosvar|automaattinen vastaus|automaticka odpoved|otomatik yanit|автоответ\w*"
    r"|автоматически\w* ответ|自动回复|自動返信|自动返信|自動回覆|자동\s?(?:회신|응답)")

def find(s: str) -> re.Match | None:
    """The first notice phrase in a prepared text, or None."""
    return _pattern().search(s)

def is_generic_auto(phrase: str) -> bool:
    """Whether an out-of-office cue's matched text is only the generic "automatic reply" wording."""
    return GENERIC_AUTO.fullmatch(phrase.strip(" .,:;!-")) is not None
