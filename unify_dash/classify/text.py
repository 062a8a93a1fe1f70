"""Text preparation for the reply classifier: folding with an index back to the original, stripping
what the sender did not write as this reply (quoted messages, signatures, footers, disclaimers) and
respelling typo-prone words. Used by the rules (:mod:`.rules`) and the model (:mod:`.model`) alike.

* **Fold**: Unicode compatibility form, accents removed from Latin, Greek and Cyrillic letters, case
  folded, curly quotes and dashes made plain, letters repeated three or more times squeezed
  ("pleeease" -> "please"). Kana, Hangul and Han characters are kept whole (only their compatibility
  forms are unified), so that Japanese, Korean and Chinese text keeps its meaning; common Traditional
  Chinese characters are read as their Simplified form. Every folded
  character remembers its position in the original, so evidence is quoted as written.
* **Strip**: quoted earlier messages ("On ... wrote:" and its forms in 25 languages, "> " lines,
  "-----Original Message-----", Outlook "From: / Sent:" blocks in those languages, forwarded
  messages), the signature after "-- ", "Sent from my iPhone" (localized) and what follows, newsletter
  and mailing-list footers and legal disclaimers.
* **Respell** a few typo-prone words ("unsubcribe", "remvoe", "plese", "emailng").
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

# --------------------------------------------------------------------------------------------------
# 1. Folding with an index back to the original text
# --------------------------------------------------------------------------------------------------

_CHAR_MAP = {
    "\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'", "\u201b": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2013": "-", "\u2014": "-", "\u2011": "-", "\u2010": "-", "\u2212": "-",
    "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\t": " ", "\u3000": " ",
    "\u200b": "", "\u200c": "", "\u200d": "", "\ufeff": "", "\r": "", "\u00ad": "",
    # letters without a decomposition, read as their base letter (Polish, Danish / Norwegian, Turkish, ...)
    "\u0142": "l", "\u0141": "l", "\u00f8": "o", "\u00d8": "o", "\u00e6": "ae", "\u00c6": "ae",
    "\u0131": "i", "\u0111": "d", "\u0110": "d", "\u0153": "oe", "\u0152": "oe",
    # CJK punctuation, so that sentences and clauses end there as they do at ". , ! ?"
    "\u3002": ". ", "\u3001": ", ", "\uff01": "! ", "\uff1f": "? ", "\uff0c": ", ", "\uff1b": "; ",
}


# Traditional Chinese (zh-TW, zh-HK) read as Simplified: the characters of e-mail, lists, sending,
# unsubscribing, meetings and absence, so that one set of rules and n-grams reads both scripts
_TRADITIONAL = ("郵訂閱發寄請單謝聯繫絡們會時間開關產價這個來對說點與從將電話號別給裡裏再見還過後續擾騷廣告"
                "銷業務經濟資訊訊息類區處理們種體無須詢問題論議週節假離職辦公室覆復隨問候麼嗎網頁連結鏈"
                "選項設計劃劃興趣適當願謂總統長門戶帳號碼報導轉讓購買賣貨幣應該當讀過濾箱垃圾將記錄刪移除")
_SIMPLIFIED = ("邮订阅发寄请单谢联系络们会时间开关产价这个来对说点与从将电话号别给里里再见还过后续扰骚广告"
               "销业务经济资讯讯息类区处理们种体无须询问题论议周节假离职办公室复复随问候么吗网页连结链"
               "选项设计划划兴趣适当愿谓总统长门户帐号码报导转让购买卖货币应该当读过滤箱垃圾将记录删移除")
_CHAR_MAP.update({t: z for t, z in zip(_TRADITIONAL, _SIMPLIFIED, strict=True) if t != z})


@functools.lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    if ch in _CHAR_MAP:
        return _CHAR_MAP[ch]
    if ch.isascii():
        return ch.lower()
    if ord(ch) >= 0x1100 and not 0x1E00 <= ord(ch) <= 0x1FFF:  # Hangul, Kana, Han, full width: kept whole
        return unicodedata.normalize("NFKC", ch).casefold()
    decomposed = unicodedata.normalize("NFKD", ch)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


_RUN = re.compile(r"([a-z])\1{2,}")


class _Folded:
    """A folded string ``s`` with ``idx[i]`` = position in the original text of ``s[i]``."""

    __slots__ = ("s", "idx", "original")

    def __init__(self, s: str, idx: list[int], original: str):
        self.s, self.idx, self.original = s, idx, original

    @classmethod
    def of(cls, text: str) -> _Folded:
        chars: list[str] = []
        idx: list[int] = []
        for i, ch in enumerate(text):
            for c in _fold_char(ch):
                chars.append(c)
                idx.append(i)
        s = "".join(chars)
        if _RUN.search(s):  # "pleeease" -> "please", "meee" -> "me"
            keep = [True] * len(s)
            for m in _RUN.finditer(s):
                for j in range(m.start() + 1, m.end()):
                    keep[j] = False
            idx = [p for p, k in zip(idx, keep, strict=True) if k]
            s = "".join(c for c, k in zip(s, keep, strict=True) if k)
        return cls(s, idx, text)

    def pieces(self, spans: Iterable[tuple[int, int]]) -> _Folded:
        """Keep the given spans, joined by newlines (which map to no original position: -1)."""
        merged: list[list[int]] = []
        for a, b in spans:
            if a >= b:
                continue
            if merged and self.s[merged[-1][1]: a].strip(" ") == "":  # adjacent on one line: one piece
                merged[-1][1] = b
            else:
                merged.append([a, b])
        chars: list[str] = []
        idx: list[int] = []
        for a, b in merged:
            if chars:
                chars.append("\n")
                idx.append(-1)
            chars.append(self.s[a:b])
            idx.extend(self.idx[a:b])
        return _Folded("".join(chars), idx, self.original)

    def evidence(self, a: int, b: int) -> str:
        """The original text behind folded span [a, b)."""
        positions = [p for p in self.idx[a:b] if p >= 0]
        if not positions:
            return self.s[a:b].strip()
        return self.original[positions[0]: positions[-1] + 1].strip()


# --------------------------------------------------------------------------------------------------
# 2. Stripping quoted messages, signatures, footers and disclaimers
# --------------------------------------------------------------------------------------------------

_WROTE = re.compile(
    r"^\s*(?:"
    r"on\b.{0,250}\bwrote\s*:"  # Gmail / Apple Mail (en)
    r"|am\b.{0,250}\bschrieb\b.{0,250}:"  # de
    r"|le\b.{0,250}\ba ecrit\s*:"  # fr
    r"|el\b.{0,250}\bescribio\s*:"  # es
    r"|op\b.{0,250}\bschreef\b.{0,250}:"  # nl
    r"|(?:il\s+giorno\s+)?.{0,250}\bha scritto\s*:"  # it
    r"|em\b.{0,250}\bescreveu\s*:"  # pt
    r"|(?:den\b)?.{0,250}\bskrev\b.{0,250}:"  # sv / da / no
    r"|(?:w dniu\b)?.{0,250}\bnapisal(?:\(a\)|a)?\s*:"  # pl
    r"|.{0,250}\b(?:kirjoitti|napsal(?:\(a\)|a)?|yazdi|пишет|написал(?:\(а\)|а)?)\s*:"  # fi cs tr ru
    r"|.{0,250}(?:写道|寫道|작성)\s*:"  # zh ko
    r"|.{0,250}\b(?:пише|писав(?:\(ла\)|ла)?|a scris|ezt irta\b.{0,80}|εγραψε|va escriure|menulis|da viet)\s*:"  # uk ro hu el ca id vi (round 8)
    r"|.{0,250}[<(\[]?[\w.+-]+@[\w-]+\.[\w.-]+[>)\]]?.{0,40}:"  # any client: "<date> <name> <address>:"
    r")\s*$"
)
_SEPARATOR = re.compile(
    r"^\s*(?:-{2,}|_{2,}|={2,})?\s*(?:original message|ursprungliche nachricht|urspr\. nachricht|"
    r"message d'origine|mensaje original|oorspronkelijk bericht|messaggio originale|mensagem original|"
    r"forwarded message|weitergeleitete nachricht|message transfere|mensaje reenviado|"
    r"doorgestuurd bericht|messaggio inoltrato|mensagem encaminhada|oprindelig meddelelse|videresendt meddelelse|"
    r"opprinnelig melding|videresendt melding|ursprungligt meddelande|vidarebefordrat meddelande|alkuperainen viesti|"
    r"valitetty viesti|puvodni zprava|preposlana zprava|oryginalna wiadomosc|przekazana wiadomosc|orijinal ileti|"
    r"iletilen ileti|исходное сообщение|пересылаемое сообщение|元のメッセージ|転送メッセージ|原始邮件|转发的邮件|"
    r"원본 메시지|전달된 메시지|оригінальне повідомлення|початкове повідомлення|пересланий лист|mesaj original|"
    r"mesaj redirectionat|missatge original|missatge reenviat|pesan asli|pesan yang diteruskan|thu goc|thu chuyen tiep|eredeti uzenet|tovabbitott uzenet|αρχικο μηνυμα|προωθημενο μηνυμα)\s*(?:-{2,}|_{2,}|={2,})?\s*$"
    r"|^\s*begin forwarded message\s*:\s*$"
)
_HEADER_FROM = re.compile(r"^\s*\*?(?:from|von|de|van|da|fra|od|envoye par|fran|lahettaja|kimden|от|差出人|发件人|寄件者|"
                          r"보낸 ?사람|від|de la|felado|απο|dari|tu)\s*\*?\s*:\s*\S")
_HEADER_NEXT = re.compile(
    r"^\s*\*?(?:sent|date|to|cc|subject|gesendet|datum|an|betreff|envoye|a|objet|date d'envoi|enviado|"
    r"enviada em|enviado el|fecha|para|asunto|verzonden|aan|onderwerp|inviato|oggetto|assunto|data|cc|"
    r"wyslano|temat|do|skickat|till|amne|sendt|til|emne|lahetetty|vastaanottaja|aihe|odeslano|komu|predmet|"
    r"gonderildi|kime|konu|отправлено|кому|тема|дата|送信日時|宛先|件名|日付|发送时间|收件人|主题|日期|"
    r"보낸 ?날짜|받는 ?사람|제목|надіслано|дата|trimis|catre|subiect|elkuldve|cimzett|targy|σταλθηκε|προσ|θεμα|ημερομηνια|enviat|per a|assumpte|dikirim|kepada|subjek|tanggal|da gui|den|chu de)"
    r"\s*\*?\s*:"
)
_SIG_DELIM = re.compile(r"^\s*--\s*$")
_MOBILE = re.compile(
    r"^\s*(?:sent from (?:my |mail for |yahoo mail|outlook|the \w+ app)|sent with \w+|get outlook for |"
    r"von meinem .{0,30}gesendet|gesendet von (?:meinem|outlook)|envoye (?:de|depuis) (?:mon|outlook)|"
    r"enviado desde (?:mi|outlook)|verstuurd (?:vanaf|met) mijn|verzonden (?:vanaf|met) mijn|"
    r"enviado do (?:meu|outlook)|inviato da (?:iphone|ipad|outlook|il mio|dispositivo)|"
    r"wyslane z |skickat fran min|sendt fra min|lahetetty (?:iphonesta|android|outlookista)|odeslano z |"
    r"\S*'?(?:umdan|imden) gonderildi|отправлено с |(?:iphone|android)から送信|发自我的|(?:iphone|android)에서 보냄"
    r"|надіслано з |trimis de pe |\S*-?rol kuldve|σταλθηκε απο |enviat des (?:del|de) (?:meu|outlook)|dikirim dari |duoc gui tu )"
)
# A footer sentence: mailing-list, newsletter and marketing boilerplate with a link or a list address.
_FOOTER = re.compile(
    r"click (?:here|below|this link)\b.{0,40}\b(?:unsubscribe|opt[ -]?out|manage|update|preferences|stop)"
    r"|(?:tap|go) here to (?:unsubscribe|opt[ -]?out|manage)"
    r"|unsubscribe (?:here|below|at any time)\b|unsubscribe\s*:?\s*(?:https?://|www\.|<)"
    r"|(?:manage|update|change) (?:your |my )?(?:e-?mail |subscription |communication |notification )?"
    r"(?:preferences|subscriptions?|settings)\b"
    r"|you (?:are |were )?receiv(?:ed|ing) this (?:e-?mail|message|newsletter|communication|because)"
    r"|(?:to|if you (?:want|wish) to) unsubscribe from (?:this|the|our) (?:group|list|newsletter|mailing)"
    r"|\+unsubscribe@|\bunsubscribe@|list-unsubscribe"
    r"|to stop receiving (?:these |this |our |future |such )?(?:e-?mails|messages|newsletters?|notifications)?"
    r".{0,80}(?:click|unsubscribe|visit|link|here|send|https?://)"
    r"|if you (?:no longer|don'?t|do not|would (?:rather|prefer) not)(?: wish| want| like)? to receive\b"
    r".{0,80}(?:click|here|link|unsubscribe|preferences|https?://)"
    r"|want to change how you receive these"
    r"|unsubscribe\s*[:,]?\s*(?:reply|text|send|respond)\s+(?:with\s+)?[\"']?(?:stop|unsubscribe|remove)\b"
    r"|view (?:this e-?mail )?in (?:your |a )?browser|all rights reserved|\bprivacy policy\b"
    r"|klicken sie hier.{0,30}ab(?:zu)?melden|cliquez ici pour (?:vous )?(?:desabonner|desinscrire)"
    r"|haga clic aqui para (?:darse de baja|cancelar)|klik hier om (?:je |u |zich )?af te melden"
    r"|clique aqui para (?:se )?descadastrar|clicca qui per (?:disiscriverti|cancellarti)"
)
_DISCLAIMER = re.compile(
    r"confidentiality notice|\bdisclaimer\s*:|legal notice\s*:"
    r"|this (?:e-?mail|message|communication)\b.{0,80}\b(?:is|are|may (?:contain|be))\b.{0,60}"
    r"\b(?:confidential|privileged|intended (?:solely|only))"
    r"|if you (?:are not|have received this).{0,60}(?:intended recipient|in error)"
    r"|please consider the environment before printing"
    r"|diese (?:e-?mail|nachricht).{0,60}vertraulich|(?:wenn|falls) sie nicht der (?:richtige |beabsichtigte )?(?:adressat|empfanger)"
    r"|ce (?:message|courriel).{0,80}confidentiel|si vous n'etes pas (?:le )?destinataire"
    r"|este (?:mensaje|correo).{0,80}confidencial|si usted no es el destinatario"
    r"|dit (?:e-?mail)?bericht is (?:uitsluitend|vertrouwelijk)|bent u niet de geadresseerde"
    r"|esta mensagem.{0,80}confidencia|se voce nao (?:for|e) o destinatario"
    r"|questo messaggio.{0,80}riservat|se non (?:siete|sei|e) (?:il|i) destinatari"
)
# a sentence ends at . ! ? followed by a space or the end of the line (not inside "a.b@c.com", "v1.2")
_SENTENCE = re.compile(r"\S.*?(?:[.!?]+(?=\s|$)|$)")


# round 6: the outreach's own opt-out offer closing a quoted original ("click here to unsubscribe", "Afmeld her.",
# "退订"): a reply written *below* a quoted original (no "> ") starts after it
_OWN_OFFER = re.compile(
    r"unsubscribe|opt[ -]?out|afmeld|avmeld|avregistrer|abmelden|abbestell|desabonn|desinscri|darse de baja|\bbaja\b|"
    r"descadastr|disiscriv|cancellami|uitschrijv|afmelden|wypisz|odhlasit|отпис|peruuta tilaus|lopeta tilaus|"
    r"abonelik|prenumeration|avprenumer|odhlas|tilauksen|退订|配信停止|수신 ?거부"
    # round 8: "Cancelar inscrição", "zrezygnować z subskrypcji", "Peru tilaus", "отказаться от рассылки"
    r"|cancelar (?:a )?(?:inscricao|subscricao|assinatura)|cancelar (?:la )?suscripcion|zrezygnowac z (?:subskrypcji|newslettera)|"
    r"\bperu tilaus|отказаться от рассылки|desuscrib|se desinscrire|uitschrijven|abmeldung|afmelding|avmelding|avanmal")


def _below_quote(text_of: list[str], i: int) -> int | None:
    """The line a reply written below a quoted original starts at, when the quote (header block or separator at
    line ``i``, nothing written above it) closes with the outreach's own opt-out offer; else None."""
    for j in range(i + 1, len(text_of)):
        line = text_of[j].strip()
        if line and len(line) <= 120 and (_FOOTER.search(line) or _OWN_OFFER.search(line)):
            return j + 1 if any(t.strip() for t in text_of[j + 1:]) else None  # the first offer closes the quote
    return None


def _strip(f: _Folded) -> _Folded:
    """Keep only what the sender wrote as this reply (see the module docstring)."""
    s = f.s
    lines: list[tuple[int, int]] = []
    pos = 0
    for line in s.split("\n"):
        lines.append((pos, pos + len(line)))
        pos += len(line) + 1
    text_of = [s[a:b] for a, b in lines]

    kept: list[tuple[int, int]] = []
    in_disclaimer = below = False
    i = 0
    while i < len(lines):
        a, b = lines[i]
        line = text_of[i]
        nxt = text_of[i + 1] if i + 1 < len(lines) else ""
        stripped = line.strip()
        if not stripped:
            in_disclaimer = False
            i += 1
            continue
        if in_disclaimer:
            i += 1
            continue
        if stripped.startswith(">") or stripped.startswith("|"):
            i += 1
            continue
        wrote = _WROTE.match(line) or (nxt and _WROTE.match(line + " " + nxt) and not _WROTE.match(nxt))
        if wrote:
            # Header of a quote: drop it; if the quote is "> "-prefixed, text after it (bottom posting)
            # is kept, otherwise everything below is the earlier message.
            j = i + (1 if _WROTE.match(line) else 2)
            while j < len(lines) and not text_of[j].strip():
                j += 1
            if j < len(lines) and text_of[j].lstrip().startswith(">"):
                i = j
                continue
            resume = _below_quote(text_of, i) if not kept and not below else None
            if resume is not None:  # round 8: "Il giorno … ha scritto:", the unquoted original, then the reply
                i, below = resume, True
                continue
            break
        quote = (_SEPARATOR.match(line) or (re.match(r"^\s*_{8,}\s*$", line) and _HEADER_FROM.match(nxt))
                 or (_HEADER_FROM.match(line) and any(_HEADER_NEXT.match(text_of[k])
                                                      for k in range(i + 1, min(i + 5, len(lines))))))
        if quote and not kept and not below:
            resume = _below_quote(text_of, i)
            if resume is not None:  # the reply is written below the quoted original
                i, below = resume, True
                continue
        if quote or _SIG_DELIM.match(line) or _MOBILE.match(line):
            break
        # sentence level: footers are dropped, a disclaimer drops the rest of its paragraph
        for m in _SENTENCE.finditer(line):
            sa, sb = m.span()
            sentence = line[sa:sb]
            if not sentence.strip():
                continue
            if _DISCLAIMER.search(sentence):
                in_disclaimer = True
                break
            if _FOOTER.search(sentence):
                continue
            kept.append((a + sa, a + sb))
        i += 1
    return f.pieces(kept)


# --------------------------------------------------------------------------------------------------
# 3. Respelling typo-prone words
# --------------------------------------------------------------------------------------------------

# canonical word -> maximum edit distance (optimal string alignment); first letter must agree.
_RESPELL = {
    "unsubscribe": 2, "unsubscribed": 2, "unsubscribing": 2,
    "remove": 1, "removed": 1, "emailing": 1, "contacting": 1, "please": 1, "interested": 1,
    "desabonner": 2, "abmelden": 1, "afmelden": 1, "uitschrijven": 2, "disiscrivermi": 2,
    "descadastrar": 2,
}
# real words that are one edit away from a canonical word and must stay as they are
_KNOWN = frozenset(
    "remote removal removes remover reprove emailed emails mailing contract contacts contacted contact "
    "pleased pleas plead pleasure interest interests interesting interestingly unsubscriber resubscribe "
    "abmeldung afmelding afmelder".split()
)


def _osa(a: str, b: str, limit: int) -> int:
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


@functools.lru_cache(maxsize=8192)
def _respell_word(word: str) -> str | None:
    if len(word) < 4 or word in _RESPELL or word in _KNOWN:
        return None
    best, best_d = None, 99
    for canon, limit in _RESPELL.items():
        if canon[0] != word[0] or abs(len(canon) - len(word)) > limit:
            continue
        d = _osa(word, canon, limit)
        if d <= limit and d < best_d:
            best, best_d = canon, d
    return best


_WORD = re.compile(r"[a-z]+")


def _respell(f: _Folded) -> _Folded:
    s = f.s
    out: list[str] = []
    idx: list[int] = []
    last = 0
    changed = False
    for m in _WORD.finditer(s):
        fix = _respell_word(m.group())
        if fix is None:
            continue
        changed = True
        a, b = m.span()
        out.append(s[last:a])
        idx.extend(f.idx[last:a])
        out.append(fix)
        idx.extend(f.idx[a + min(k, b - a - 1)] for k in range(len(fix)))
        last = b
    if not changed:
        return f
    out.append(s[last:])
    idx.extend(f.idx[last:])
    return _Folded("".join(out), idx, f.original)



def prepare(text: str | None) -> _Folded:
    """The reply as the classifier reads it, with the index back to the original."""
    return _respell(_strip(_Folded.of(text or "")))


def clean(text: str | None) -> str:
    """The reply as the classifier reads it: folded, without quotes, signatures, footers, disclaimers."""
    return prepare(text).s.strip()


def original_text(f: _Folded) -> str:
    """The kept text as the sender wrote it (accents, case and script intact), pieces joined by newlines."""
    out: list[str] = []
    last = None
    for p in f.idx:
        if p < 0 or p == last:
            if p < 0 and out and out[-1] != "\n":
                out.append("\n")
            continue
        if last is not None and p > last + 1 and out and out[-1] != "\n":
            out.append(" ")
        out.append(f.original[p])
        last = p
    return "".join(out).strip()


# politeness and "also" words that people insert into a request ("Hören Sie bitte auf", "Graag mij ...");
# the opt-out rules also read the reply without them
FILLERS = re.compile(
    r"\b(?:please|pls|plz|kindly|bitte|doch|mal|auch|graag|alsjeblieft|aub|ook|svp|s'il vous plait|aussi|por favor|"
    r"tambien|tambem|per favore|per cortesia|anche|prosze|rowniez|tez|prosim|lutfen|venligst|vennligst|ogsa|"
    r"vanligen|snalla|aven|ocksa|ystavallisesti|myos|пожалуиста|также|тоже|"
    r"будь ласка|також|теж|va rog|te rog|kerem|legyen szives|παρακαλω|επισησ|si us plau|tambe|tolong|mohon|juga|vui long|lam on|xin hay)\b[ ,]*")  # round 8: uk ro hu el ca id vi


def drop(f: _Folded, pattern: re.Pattern = FILLERS) -> _Folded:
    """``f`` without the matches of ``pattern`` (positions in the original are kept)."""
    chars: list[str] = []
    idx: list[int] = []
    last = 0
    for m in pattern.finditer(f.s):
        chars.append(f.s[last:m.start()])
        idx.extend(f.idx[last:m.start()])
        last = m.end()
    if not last:
        return f
    chars.append(f.s[last:])
    idx.extend(f.idx[last:])
    return _Folded("".join(chars), idx, f.original)
