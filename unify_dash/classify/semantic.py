"""A semantic cue that is not a phrase list: "the writer asks to stop or limit future contact".

Small per-language lexicons of *verbs* (remove, take off, stop, block, unsubscribe, delete, opt out, ...)
and *objects* (list, e-mails, contact, system, database, newsletter, ...) are matched as word-stem prefixes
on the prepared text (:func:`unify_dash.classify.text.prepare`: folded, quotes / signatures / footers
stripped); a *request* is a verb and an object within :data:`WINDOW` words of each other in one clause (in
Japanese, Chinese and Korean, which have no spaces: within :data:`CJK_WINDOW` characters). Any verb with
any object counts, so "block my email from your system", "take me out of this database", "please stop the
emails", "usuńcie mój adres z bazy" or "リストから外して" are requests without anyone having written that
phrase down. A negation just before the verb ("don't remove", "nicht löschen", "не удаляйте") marks the
request as negated.

Two readers use it:

* the model (:func:`unify_dash.classify.model.features`) gets language-independent features (``s:req``,
  ``s:verb``, ``s:obj``, ``s:req_neg``), so what it learns of a request in one language carries to the
  others;
* the review gate (:func:`unify_dash.classify.replies.classify`): a reply with a request that no rule made
  certain goes to ``needs_review`` at a lower model probability (``REQUEST_REVIEW_AT``) than one without,
  so a removal next to a decline ("we have a vendor, please take us out of your database") reaches the
  opt-out queue instead of ``other`` (``negative`` before round 6).
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass

from unify_dash.classify.text import prepare

WINDOW = 5  # words between a verb and its object (either order)
CJK_WINDOW = 12  # characters, for ja / zh / ko

# word-stem prefixes, as written (folded at import like the text). One list per concept, languages mixed:
# a stem of one language that is a common word of another would be a false cue, so stems are >= 4 letters
# unless they are whole words (marked by a trailing space).
VERBS = (
    # en
    "remov", "delet", "unsubscrib", "unsub ", "opt out", "opt-out", "optout", "take me off", "take me out", "take us off", "take us out", "take my",
    "taking me", "stop ", "stopp", "block", "blacklist", "cease", "quit ", "erase", "purge", "drop me",
    "drop us", "cancel", "discontinu", "deregist", "unlist", "exclud", "scrub", "wipe",
    # de
    "entfern", "losch", "austrag", "abmeld", "abbestell", "streich", "sperr", "aufhor", "einstell", "nehmen sie mich",
    "nimm mich", "hor auf", "horen sie auf", "horen sie bitte auf", "widerspr",
    # fr
    "supprim", "retirez", "retirer", "desinscri", "desabonn", "arret", "radiez", "radier", "effac", "enlev", "bloqu", "cess",
    # es / pt / it
    "elimin", "borra", "borre", "quitar", "quiten", "quitad", "quitame", "quitenme", "sacad", "saqu", "dar de baja", "darme de baja", "baja ", "dejen", "deja de",
    "remova", "remover", "excluir", "exclua", "descadastr", "descredenci", "parem", "pare ", "parar", "tirem",
    "tire ", "cancela", "rimuov", "toglie", "togli", "cancell", "disiscriv", "smett", "interromp", "eliminat",
    # ca (round 7; "elimin", "deixeu d" as es / it)
    "doneu-me de baixa", "doneu-nos de baixa", "donar de baixa", "donar-me de baixa", "baixa ", "esborr", "traieu",
    "treure", "treieu", "deixeu d",
    # nl
    "verwijder", "afmeld", "uitschrijv", "schrap", "haal me", "haal mij", "haal ons", "stoppen", "blokkeer",
    # pl / cs
    "usun", "wypis", "skresl", "przestan", "zablokuj", "odsubskryb", "wykresl", "odstran", "odhlas", "vymaz",
    "smaz", "vyrad", "prestan", "zablokujte", "vyskrtn",
    # ru (folded: й -> и, ё -> е)
    "удал", "отпис", "исключ", "убер", "уберит", "прекрат", "перестан", "заблокир", "вычеркн", "сотрит",
    # sv / da / no
    "ta bort", "radera", "avregistr", "avsluta", "sluta", "avanmal", "fjern", "slet", "afmeld", "afmelde", "stop med",
    "hold op", "meld meg av", "meld mig af", "avmeld", "slutt", "sperr", "slippa", "slippe",  # round 8: "slippa fler utskick"
    # fi
    "poista", "lopet", "peruut", "estaa", "estakaa", "kieltay",
    # tr
    "cikar", "sil ", "silin", "silme", "kaldir", "engelle", "durdur", "iptal",
    # round 8 (replies-langs8): uk / ro / hu / el
    "відпиш", "відписа", "видаліть", "видалить", "видалі", "прибер", "виключ", "викресл", "вилуч", "припин", "перестаньте",
    "dezabon", "scoate", "sterge", "stergeti", "eliminati", "exclude", "incetati", "opriti",
    "leiratkoz", "iratkoz", "torol", "torl", "vegyenek le", "vegyen le", "levesz", "levenn", "kivesz", "hagyjak abba",
    "απεγγρα", "διαγρα", "αφαιρε", "αφαιρεσ", "βγαλτε", "βγαλετε", "σταματ", "μπλοκαρ",
    # id
    "hapus", "keluarkan", "mengeluarkan", "menghapus", "dihapus", "berhenti", "coret",
    # vi (folded: no tone marks, đ as d)
    "xoa ", "huy dang ky", "go toi", "ngung", "loai bo",
)
OBJECTS = (
    # en
    "list", "mailing", "email", "e-mail", "emails", "mails", "mail ", "newsletter", "database", "system", "crm",
    "contact", "records", "distribution", "sequence", "outreach", "messages", "communications", "marketing",
    "address", "correspondence", "spam", "subscription", "abonnement", "suscripcion",
    "assinatura", "iscrizion", "abonament",
    # de
    "liste", "verteiler", "datenbank", "nachrichten", "werbung", "kontakt", "adresse", "mailings", "zusendung",
    # fr
    "fichier", "base de donnees", "courriel", "courriels", "messages", "adresse", "prospection", "envois",
    # es / pt / it
    "lista", "listas", "base de datos", "correo", "correos", "mensajes", "comunicaciones", "contacto", "direccion",
    "banco de dados", "cadastro", "mensagens", "contato", "endereco", "elenco", "indirizz", "messaggi",
    "comunicazioni", "anagrafic", "database",
    # ca (round 7)
    "llista", "llistes", "correu", "correus", "missatges", "base de dades", "enviaments", "butllet",
    # nl
    "lijst", "mailinglijst", "bestand", "berichten", "adres", "verzendlijst", "nieuwsbrief",
    # pl / cs
    "listy", "baz", "wiadomosc", "maile", "mailing", "korespondencj", "kontakt", "adres", "seznam", "databaz",
    "zprav", "adresu", "obchodni sdeleni",
    # ru
    "списк", "рассылк", "баз", "писем", "письма", "сообщени", "контакт", "адрес", "почт",
    # sv / da / no
    "listan", "listen", "utskick", "databas", "mejl", "e-post", "epost", "meddelanden", "nyhetsbrev",
    "registret", "registeret", "beskeder", "meldinger", "henvendelser",
    # fi
    "listalt", "listal", "rekister", "sahkopost", "viest", "postituslist", "uutiskirje", "tietokan", "yhteyst",
    # tr
    "listeniz", "listeden", "listesin", "liste", "veritaban", "e-posta", "eposta", "mesaj", "ileti", "bulten",
    "iletisim",
    # round 8: uk / ro / hu / el
    "списк", "розсил", "баз", "листів", "листи", "повідомлен", "адрес", "пошт",
    "listele", "baza de date", "emailuri", "email-uri", "mesaje", "newsletter", "adresa", "evidente",
    "listar", "listajuk", "listarol", "levelezolist", "adatbazis", "nyilvantart", "hirlevel", "leveleket", "levelek", "levelet", "levelei", "cimem",
    "λιστα", "λιστεσ", "βαση", "μηνυματ", "αλληλογραφ", "διευθυνσ", "αρχει", "επικοινων",
    "daftar", "milis", "basis data", "pesan", "alamat",
    "danh sach", "co so du lieu", "he thong", "dia chi", "thu rac",
)
# the writer as the object, just after or before the verb ("remove me", "me retirer", "меня удалите"), or
# as an enclitic ending of the verb ("quítenme", "toglietemi", "retirez-moi")
SELF = ("me ", "us ", "myself", "mich ", "uns ", "moi ", "nous ", "nos ", "mi ", "ci ", "mij ", "ons ", "mnie ",
        "nas ", "mne ", "меня ", "нас ", "mig ", "meg ", "oss ", "minut ", "meidat ", "beni ", "bizi ", "my email",
        "my address", "my e-mail", "this address", "this email", "this e-mail",
        "мене ", "engem", "minket", "με ", "μασ ", "saya ", "kami ", "toi ")
SELF_ENDINGS = ("me", "mi", "nos", "ci", "-moi", "-nous", "мся", "-ma", "-ne")
# a clause about one of these is no request to stop contact ("remove me from the meeting invite"):
# the rules and the model decide those
EXCLUDE = ("meeting", "invite", "calendar", "webinar", "attachment", "document", "invoice", "order ", "booth",
           "termin", "einladung", "kalender", "reunion", "reuniao", "riunione", "vergadering", "spotkan", "schuz",
           "встреч", "приглашени", "kalend", "mote", "mode ", "kokous", "toplanti", "davet", "file ", "slack",
           "зустріч", "запрошен", "календар", "вкладен", "sedint", "intalnir", "invitati", "atasament", "calendar",
           "megbeszel", "meghiv", "talalkoz", "naptar", "mellekl", "συναντησ", "προσκλησ", "ημερολογ", "συνημμεν",
           "rapat", "undangan", "lampiran", "kalender", "pertemuan", "loi moi", "cuoc hop", "dinh kem", "lich cua")
NEGATIONS = ("don't", "dont", "do not", "not ", "never", "no need", "nicht", "kein", "ne ", "pas ", "no ", "nao",
             "non ", "niet", "geen", "nie ", "ne-", "не ", "ikke", "ikkje", "inte", "ei ", "ala ", "ettet", "etmeyin", "yapmayin",
             "nunca", "never", "nu-", "nu ma ", "nu ne ", "nu mai ", "nem ", "δεν ", "μη ", "μην ", "jangan", "tidak ", "khong ")

# the second cue, "no more": a negated verb of sending / contacting with an adverb of "more / again / any
# longer" near it ("send ikke mere", "non inviatemi più", "älä lähetä enää", "Prosím ne присылать больше",
# "I'd rather not be contacted again"); Czech / Polish write the negation into the verb ("nepište",
# "niewysyłanie"), Turkish after its stem ("göndermeyin")
SEND = ("send", "sent ", "email", "e-mail", "mail", "write", "writing", "contact", "receiv", "hear from",
        "reach out", "schick", "schreib", "kontaktier", "erhalt", "bekomm", "zusend", "envo", "ecri", "recev",
        "sollicit", "envi", "mand", "escrib", "recib", "insist", "escrev", "contat", "receb", "invi", "scriv",
        "contatt", "ricev", "stuur", "schrijf", "ontvang", "gemaild", "wysyl", "pisa", "przysyl", "otrzym",
        "posil", "psat", "pist", "kontakt", "zasil", "присыл", "отправл", "писа", "пиши", "слать", "шлит",
        "связыва", "получа", "беспоко", "skicka", "mejla", "maila", "skriv", "modtag", "motta", "lahet",
        "kirjoit", "yhteyt", "vastaanot", "gonder", "yaz", "iletisim", "ulas",
        "пишіть", "надсила", "шліть", "присила", "отриму", "зв'яз", "турбу",
        "trimite", "scrie", "contact", "primi", "deranj", "kuld", "irjan", "irjon", "keress", "kapni", "zaklas",
        "στελν", "στειλ", "γραφ", "γραψ", "λαμβαν", "επικοινων", "ενοχλ",
        "kirim", "hubungi", "menghubungi", "mengirim", "menerima", "ganggu", "gui ", "lien he", "lien lac")
MORE = ("more ", "again", "further", "anymore", "any more", "any longer", "no longer", "ever ", "mehr ",
        "wieder", "weiter", "kunftig", "nochmal", "plus ", "encore", "desormais", "mas ", "de nuevo", "otra vez",
        "mais ", "novamente", "de novo", "piu ", "ancora", "di nuovo", "meer ", "langer", "opnieuw", "wiecej",
        "juz ", "ponownie", "kolejn", "dalej", "vic ", "dale", "znovu", "dalsi", "больше", "еще", "снова",
        "впредь", "дальше", "mer ", "igen", "langre", "fler", "mere ", "flere", "laengere", "meir", "igjen",
        "lenger", "enaa", "lisaa", "uudelleen", "jatkossa", "artik", "tekrar", "bir daha", "daha fazla",
        "більше", "знову", "din nou", "tobb", "tobbet", "tovabb", "ujra", "αλλο", "αλλα ", "ξανα", "πια ", "lagi", "nua")
NEGATED_SEND = ("nepis", "neposil", "nekontakt", "nezasil", "niewysyl", "nie wysyl", "nie pisa", "nie kontakt",
                "gonderme", "yazma", "ulasma", "iletisime gecilmesini istemiyorum", "saamatta")
CJK_VERBS = ("削除", "停止", "解除", "やめて", "止めて", "外して", "外し", "送らない", "送らないで", "不要", "拒否",
             "删除", "移除", "退订", "取消", "别再", "不要再", "停发", "拉黑", "屏蔽", "除名",
             "삭제", "제외", "중단", "그만", "빼", "거부", "해지", "차단", "취소")
CJK_OBJECTS = ("リスト", "メール", "配信", "連絡", "名簿", "データベース", "送信", "宛先",
               "名单", "列表", "邮件", "联系", "数据库", "系统", "发送", "通讯录", "邮箱",
               "목록", "리스트", "메일", "이메일", "연락", "명단", "발송", "데이터베이스", "수신")
CJK_NEGATIONS = ("しないで", "しないでください", "不用", "不要删除", "别删", "하지 마", "하지마", "말아")

# the third cue (round 6), "unwanted": an adjective of unwanted / unsolicited contact near an object of
# contact ("Your emails are not welcome", "unerwünschte Werbung per Mail", "e-mails non sollicités",
# "нежелательные письма", "迷惑メール"): a complaint, a reply with no verb of removing
UNWANTED = ("unwanted", "unwelcome", "not welcome", "unsolicited", "uninvited", "unrequested", "unasked",
            "unerwunscht", "nicht erwunscht", "unverlangt", "ungebeten", "unaufgefordert", "indesirable",
            "non sollicit", "non desir", "pas les bienvenu", "importun", "no deseado", "no solicitad", "no pedid",
            "no autorizad", "indeseado", "indesejad", "nao solicitad", "nao pedid", "nao autorizad", "indesiderat",
            "non richiest", "non sollecitat", "non gradit", "ongewenst", "ongevraagd", "niet gewenst", "niet welkom",
            "niechcian", "nieproszon", "niezamawian", "niepozadan", "nevyzadan", "nechten", "nezadouc", "nevitan",
            "нежелательн", "непрошен", "назоилив", "навязчив", "oonskad", "oombedd", "obestalld", "inte valkom",
            "uonsket", "uopfordret", "uoppfordret", "ikke velkom", "uanmodet", "ei-toivot", "ei toivot", "pyytamat",
            "tilaamat", "istenmeyen", "talep edilmemis", "izinsiz",
            "небажан", "непрошен", "nesolicitat", "nedorit", "kéretlen", "nem kert", "ανεπιθυμητ", "αζητητ", "tidak diminta", "tanpa izin")
CJK_UNWANTED = ("迷惑", "骚扰", "垃圾", "不请自来", "원치 않는", "원하지 않는", "스팸")

# the fourth cue (round 8), "erase": a verb of removing whose object is a pronoun ("delete it", "remove her",
# "bórrenlo", "usunąć go", "удалите его", "ta bort den", "poistakaa se", "silin onu") in a reply that names an
# address or another object of contact elsewhere ("Where did you get my address? Delete it.", "X has left, please
# remove her"): the pronoun stands for the address or the person
PRONOUNS = ("it ", "her ", "him ", "them ", "ihn ", "sie ", "la ", "le ", "les ", "lo ", "los ", "las ", "go ", "ja ",
            "je ", "ho ", "его ", "ее ", "их ", "den ", "det ", "dem ", "henne ", "honom ", "hende ", "ham ", "hun ",
            "se ", "sen ", "hanet ", "onu ", "onlari ", "het ", "hem ", "haar ", "-la", "-lo")
PRONOUN_ENDINGS = ("lo", "la", "los", "las", "-no", "-na")
CJK_ERASE = ("删除", "削除", "消して", "消去", "삭제", "지워", "빼 주")
CJK_ADDRESS = ("アドレス", "地址", "邮箱", "邮件", "주소", "이메일", "메일", "連絡先", "联系方式", "メール")

# "off the list please", "out of your database": the particle alone, right before an object
PARTICLES = ("off ", "out of", "outta")


def _fold(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted({prepare(w.rstrip()).s + (" " if w.endswith(" ") else "") for w in words}))


_WORD = re.compile(r"[\w'-]+", re.UNICODE)
_CLAUSE = re.compile(r"[^.!?;,\n]+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def _stem_re(stems: tuple[str, ...]) -> re.Pattern:
    """Word-start prefixes; a stem ending in a space must end a word there."""
    parts = [re.escape(s.rstrip()) + (r"\b" if s.endswith(" ") else "") for s in sorted(stems, key=len, reverse=True)]
    return re.compile(r"(?<![\w])(?:" + "|".join(parts) + ")", re.UNICODE)


@functools.lru_cache(maxsize=1)
def _patterns() -> tuple[re.Pattern, ...]:
    return (_stem_re(_fold(VERBS)), _stem_re(_fold(OBJECTS)), _stem_re(_fold(NEGATIONS)), _stem_re(_fold(SELF)),
            _stem_re(_fold(EXCLUDE)), _stem_re(_fold(PARTICLES)), _stem_re(_fold(SEND)), _stem_re(_fold(MORE)),
            _stem_re(_fold(NEGATED_SEND)), _stem_re(_fold(UNWANTED)), _stem_re(_fold(PRONOUNS)))


@dataclass(frozen=True)
class Cue:
    verb: bool  # a verb of the lexicon occurs
    obj: bool  # an object of the lexicon occurs
    request: bool  # a verb and an object in one clause, within the window, not negated
    negated: bool  # a verb and an object in one clause, with a negation just before the verb
    no_more: bool = False  # a negated verb of sending / contacting with "more / again / any longer" near it
    unwanted: bool = False  # an adjective of unwanted / unsolicited contact near an object of contact (round 6)
    erase: bool = False  # a verb of removing with a pronoun object, an object of contact elsewhere (round 8)


def _word_positions(clause: str, pattern: re.Pattern, starts: list[int]) -> list[int]:
    """Word indexes (in the clause, whose words start at ``starts``) where ``pattern`` matches."""
    return [max(bisect.bisect_right(starts, m.start()) - 1, 0) for m in pattern.finditer(clause)]


def _cjk(clause: str) -> tuple[bool, bool, bool, bool]:
    verbs = [i for v in CJK_VERBS for i in _finds(clause, v)]
    objs = [i for o in CJK_OBJECTS for i in _finds(clause, o)]
    near = any(abs(v - o) <= CJK_WINDOW for v in verbs for o in objs)
    neg = near and any(n in clause for n in CJK_NEGATIONS)
    return bool(verbs), bool(objs), near and not neg, neg


def _finds(s: str, needle: str) -> list[int]:
    out, i = [], s.find(needle)
    while i >= 0:
        out.append(i)
        i = s.find(needle, i + 1)
    return out


def _self_object(clause: str, verb_re: re.Pattern, self_re: re.Pattern, starts: list[int]) -> list[int]:
    """Word indexes of verbs whose object is the writer (next to the verb, or an enclitic ending)."""
    selves = _word_positions(clause, self_re, starts)
    out = []
    for m in verb_re.finditer(clause):
        i = max(bisect.bisect_right(starts, m.start()) - 1, 0)
        word = _WORD.match(clause, starts[i]) if starts else None
        enclitic = word is not None and len(word.group(0)) >= 6 and word.group(0).endswith(SELF_ENDINGS)
        if enclitic or any(-2 <= n - i <= 2 and n != i for n in selves):
            out.append(i)
    return out


def _latin_clause(clause: str) -> tuple[bool, bool, bool, bool]:
    """(verb, object, request, negated) of one clause of a spaced language."""
    verb_re, obj_re, neg_re, self_re, excl_re, part_re = _patterns()[:6]
    starts = [w.start() for w in _WORD.finditer(clause)]
    vs, os_ = _word_positions(clause, verb_re, starts), _word_positions(clause, obj_re, starts)
    request = negated = False
    if excl_re.search(clause):
        return bool(vs), bool(os_), False, False
    pairs = [v for v in vs if any(abs(v - o) <= WINDOW and o != v for o in os_)]
    pairs += _self_object(clause, verb_re, self_re, starts) if vs else []
    pairs += [p for p in _word_positions(clause, part_re, starts) if any(0 < o - p <= 3 for o in os_)]
    negs = _word_positions(clause, neg_re, starts) if pairs else []
    for v in pairs:
        if any(0 <= v - n <= 2 for n in negs):
            negated = True
        else:
            request = True
    return bool(vs), bool(os_), request, negated


def _no_more(clause: str) -> bool:
    """A negated verb of sending / contacting with an adverb of "more / again" within the window."""
    neg_re, send_re, more_re, negsend_re = (_patterns()[i] for i in (2, 6, 7, 8))
    if _patterns()[4].search(clause):  # a meeting, an invoice, ...
        return False
    starts = [w.start() for w in _WORD.finditer(clause)]
    mores = _word_positions(clause, more_re, starts)
    if not mores:
        return False
    sends = _word_positions(clause, negsend_re, starts)
    negs = _word_positions(clause, neg_re, starts)
    sends += [v for v in _word_positions(clause, send_re, starts) if any(-3 <= v - n <= 3 for n in negs)]
    return any(abs(v - m) <= WINDOW for v in sends for m in mores)


def _unwanted(clause: str) -> bool:
    """An adjective of unwanted / unsolicited contact within the window of an object of contact."""
    if _CJK.search(clause):
        us = [i for u in CJK_UNWANTED for i in _finds(clause, u)]
        objs = [i for o in CJK_OBJECTS for i in _finds(clause, o)]
        if any(abs(u - o) <= CJK_WINDOW for u in us for o in objs):
            return True
    unwanted_re = _patterns()[9]
    if not unwanted_re.search(clause) or _patterns()[4].search(clause):
        return False
    starts = [w.start() for w in _WORD.finditer(clause)]
    us = _word_positions(clause, unwanted_re, starts)
    objs = _word_positions(clause, _patterns()[1], starts)
    return any(abs(u - o) <= WINDOW for u in us for o in objs)


def _erase_clause(clause: str) -> bool:
    """A verb of removing whose object is a pronoun, next to it or as an enclitic ending ("bórrenlo")."""
    if _CJK.search(clause):
        return any(v in clause for v in CJK_ERASE) and not any(o in clause for o in CJK_OBJECTS + CJK_ADDRESS)
    verb_re, excl_re, pron_re = _patterns()[0], _patterns()[4], _patterns()[10]
    if excl_re.search(clause):
        return False
    starts = [w.start() for w in _WORD.finditer(clause)]
    prons = _word_positions(clause, pron_re, starts)
    for m in verb_re.finditer(clause):
        i = max(bisect.bisect_right(starts, m.start()) - 1, 0)
        word = _WORD.match(clause, starts[i]) if starts else None
        if word is not None and len(word.group(0)) >= 7 and word.group(0).endswith(PRONOUN_ENDINGS):
            return True
        if any(0 < n - i <= 2 or (-2 <= n - i < 0 and clause[starts[n]:starts[n] + 3] in ("go ", "ja ", "je ", "ho ")) for n in prons):
            return True
    return False


def _erase(s: str) -> bool:
    """:func:`_erase_clause` in some clause, and an object of contact (an address, e-mail, contact) in the text."""
    if not any(_erase_clause(m.group(0)) for m in _CLAUSE.finditer(s)):
        return False
    return bool(_patterns()[1].search(s)) or any(o in s for o in CJK_ADDRESS)


@functools.lru_cache(maxsize=8192)
def cue(s: str) -> Cue:
    """The request cue of a prepared (folded) text."""
    found = [False, False, False, False, False, False]
    for m in _CLAUSE.finditer(s):
        clause = m.group(0)
        parts = []
        unwanted = _unwanted(clause)
        if _CJK.search(clause):
            parts.append((*_cjk(clause), False, unwanted))
        if any(ch.isalpha() and not _CJK.match(ch) for ch in clause):
            parts.append((*_latin_clause(clause), _no_more(clause), unwanted))
        for p in parts:
            found = [a or b for a, b in zip(found, p, strict=True)]
    return Cue(*found, erase=_erase(s))


def features(s: str) -> list[str]:
    """The model features of the cue (``s:`` features) of a prepared text."""
    c = cue(s)
    out = []
    if c.verb:
        out.append("s:verb")
    if c.obj:
        out.append("s:obj")
    if c.request:
        out.append("s:req")
    if c.negated:
        out.append("s:req_neg")
    if c.no_more:
        out.append("s:no_more")
    if c.unwanted:
        out.append("s:unwanted")
    if c.erase:
        out.append("s:erase")
    return out


def removal_verb(phrase: str) -> bool:
    """Whether a prepared phrase holds a verb of removing / stopping (:data:`VERBS`, :data:`CJK_VERBS`) that is no
    verb of sending (:data:`SEND`) before it: "take me off", "stop sending", "отписывайте", "取消订阅", not "email me"."""
    m = _patterns()[0].search(phrase)
    at = m.start() if m else min((phrase.find(v) for v in _fold(CJK_VERBS) if v in phrase), default=-1)
    if at < 0:
        return False
    send = _send_re().search(phrase)
    return send is None or send.start() > at  # "stop sending": the verb of stopping comes first


@functools.lru_cache(maxsize=1)
def _send_re() -> re.Pattern:
    return _stem_re(_fold(SEND))
