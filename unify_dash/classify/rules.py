"""Rules of the reply classifier: named, explainable cues per label (opt-out first), the negation,
topic, temporal and not-mail checks that cancel a cue, and the automatic-reply headers and subjects.
Each rule is data: a label, a name, a pattern over the folded text (:mod:`.text`) and a weight.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from unify_dash.classify.labels import LABELS, NOT_NOW, OPT_OUT, OTHER, OUT_OF_OFFICE, POSITIVE
from unify_dash.classify.text import _fold_char, _Folded

# --------------------------------------------------------------------------------------------------
# 4. Rules
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One named cue. ``weight`` is the confidence of an opt-out rule, or the score of a cue."""

    label: str
    name: str
    pattern: re.Pattern
    weight: float
    negatable: bool = True  # "don't <match>" / "no need to <match>" cancels it
    temporal: bool = False  # "... until I'm back" / "while I'm away" makes it temporary: not an opt-out
    topic: bool = False  # "<match> requests / rates / management" is a topic, not a request
    clause: bool = False  # the pattern must match a whole clause ("Stop.", "Remove", "BAJA")
    notes: str = ""

    @property
    def id(self) -> str:
        return f"{self.label}.{self.name}"


def _fold_pattern(p: str) -> str:
    """A pattern written with accents, Cyrillic й or Traditional / Japanese kanji, in the folded spelling the
    rules read (:func:`.text.prepare`: 現時点 -> 現时点, сейчас -> сеичас)."""
    return "".join(_fold_char(c) if not c.isascii() else c for c in p)


def _rule(label, name, weight, *patterns, **flags) -> Rule:
    return Rule(label, name, re.compile("|".join(f"(?:{p})" for p in patterns)), weight, **flags)


# vocabulary fragments (folded text: lower case, no accents)
_ME = (r"(?:me|us|myself|ourselves|my (?:e-?mail(?: address)?|address|name|details|contact(?: details| info(?:rmation)?)?"
       r"|data|information|info|account)|this (?:e-?mail(?: address)?|address|mailbox|contact|e-?mail account)"
       r"|our (?:team|company|e-?mails?|e-?mail addresses|addresses|details|domain))")
_LIST = (r"(?:(?:your|ur|yr|the|this|that|all(?: of)? your|any|all|every|future)\s+)?"
         r"(?:(?:mailing|e-?mail|e-?mailing|distribution|contact|marketing|sales|outreach|prospect(?:ing)?|newsletter|"
         r"subscriber|call|further|future)\s+)?"
         r"(?:list|lists|database|db|crm|system|records|cc|thread|distribution|sequence|sequences|cadence|campaigns?|"
         r"outreach|e-?mails?|mailings?|newsletters?|communications?|follow-?ups|contacts)")
_LIST_STRICT = (r"(?:(?:your|ur|yr|the|this|all(?: of)? your|any)\s+)?(?:(?:mailing|e-?mail|distribution|contact|"
                r"marketing|sales|outreach|prospect(?:ing)?)\s+)?(?:list|lists|database|crm|records|distribution|"
                r"system|sequence|sequences)")
_CONTACT_VERB = (r"(?:contact|e-?mail|mail|message|write(?: to)?|call|reach out to|spam|send|bother|pester|harass|"
                 r"ping|follow up with)")

# round 6: "not now" is a time to come back later (the issue's not_now); a decline without one is `other`.
# Small per-language lexicons on folded text (lower case, no accents): a future time or a "come back" verb
# (_LATER), or a "for now / at the moment" limit on the no (_FOR_NOW). scripts/relabel_reply_declines.py
# relabelled the corpus authors' former `negative` rows with the same two lexicons (docs/replies.md).
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|march|april|may|june|july|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|"
          r"nov(?:ember)?|dec(?:ember)?|januar|februar|marz|juni|juli|oktober|dezember|janvier|fevrier|mars|avril|mai|"
          r"juin|juillet|aout|septembre|octobre|novembre|decembre|enero|febrero|marzo|abril|mayo|junio|julio|agosto|"
          r"septiembre|octubre|noviembre|diciembre|janeiro|fevereiro|marco|maio|junho|julho|setembro|outubro|novembro|"
          r"dezembro|gennaio|febbraio|aprile|maggio|giugno|luglio|settembre|ottobre|dicembre|januari|februari|maart|"
          r"augustus|stycz\w+|lut\w+|marc\w+|kwie\w+|maj\w*|czerw\w+|lip\w+|sierp\w+|wrzes\w+|pazdzier\w+|"
          r"listopad\w*|grud\w+|январ\w+|феврал\w+|март\w*|апрел\w+|ма[ейя]|июн\w+|июл\w+|август\w*|сентябр\w+|"
          r"октябр\w+|ноябр\w+|декабр\w+|tammikuu\w*|helmikuu\w*|maaliskuu\w*|huhtikuu\w*|toukokuu\w*|kesakuu\w*|"
          r"heinakuu\w*|elokuu\w*|syyskuu\w*|lokakuu\w*|marraskuu\w*|joulukuu\w*|led(?:en|nu)|unor\w*|brez(?:en|nu)|"
          r"dub(?:en|nu)|kvet(?:en|nu)|cerv\w+|zari|rij(?:en|nu)|listopad\w*|prosin\w+|ocak|subat|nisan|mayis|haziran|"
          r"temmuz|agustos|eylul|ekim|kasim|aralik)")
# month names that are no other word (not "may", "march", "mars", "mai", "lat", "maj")
_MONTH_BARE = (r"(?:january|february|april|june|july|august|september|october|november|december|januar|februar|juni|"
               r"juli|oktober|dezember|janvier|fevrier|avril|juin|juillet|septembre|octobre|decembre|enero|febrero|"
               r"marzo|junio|julio|septiembre|octubre|noviembre|diciembre|janeiro|fevereiro|junho|julho|setembro|outubro|"
               r"novembro|dezembro|gennaio|febbraio|aprile|maggio|giugno|luglio|settembre|ottobre|dicembre|januari|"
               r"februari|maart|augustus|styczni\w+|lutym|marcu|kwietni\w+|czerwc\w+|lipc\w+|sierpni\w+|wrzesni\w+|"
               r"pazdziernik\w*|listopadzie|grudni\w+|tammikuu\w*|helmikuu\w*|maaliskuu\w*|huhtikuu\w*|toukokuu\w*|"
               r"kesakuu\w*|heinakuu\w*|elokuu\w*|syyskuu\w*|lokakuu\w*|marraskuu\w*|joulukuu\w*|lednu|unoru|breznu|"
               r"dubnu|kvetnu|cervnu|cervenci|zari|rijnu|listopadu|prosinci|ocak\w*|subat\w*|nisan\w*|haziran\w*|"
               r"temmuz\w*|agustos\w*|eylul\w*|ekim\w*|kasim\w*|aralik\w*)")
_SEASON = (r"(?:spring|summer|fall|autumn|winter|new year|fruhjahr|fruhling|sommer|herbst|printemps|ete|automne|"
           r"hiver|rentree|primavera|verano|otono|invierno|verao|outono|estate|autunno|inverno|voorjaar|zomer|najaar|"
           r"wiosn\w+|lat\w*|jesien\w*|zim\w+|весн\w+|лет\w+|осен\w+|зим\w+|var(?:en)?|host(?:en)?|"
           r"sommar(?:en)?|foraret|efteraret|sommeren|varen|hosten|kevaa\w*|kesa\w*|syksy\w*|talve\w*|jar[ou]|leto|"
           r"podzim|zim[eu]|ilkbahar\w*|sonbahar\w*|yaz\w*|kis\w*)")
_LATER = (
    # en
    r"\blater\b(?! bra)|\bnext (?:week|month|quarter|year|fiscal|budget|cycle|spring|summer|fall|autumn|winter|round)\b"
    r"|\b(?:in|by|after|until|till|around|before|from|for) (?:the )?(?:q[1-4]|h[12]|20[2-3]\d)\b|\bq[1-4]\b"
    rf"|\b(?:in|after|until|till|around|from|by|before|early|mid|late|end of) (?:the )?{_MONTH}\b"
    rf"|\b(?:in|after|until|till|around|over|by|this|next|the) (?:the )?{_SEASON}\b"
    r"|\b(?:in|after) (?:a |another )?(?:few|couple(?: of)?|several|\d+|two|three|four|six|nine|twelve|90) "
    r"(?:more )?(?:weeks|months|quarters|years|days)\b|\b(?:in|after) (?:a|one) (?:month|year|quarter)\b"
    r"|\bhalf a year\b|\bsix months\b|\b(?:circle|check|reach|come|get|loop|touch) back\b|\brevisit\b"
    r"|\b(?:reach out|follow up|try (?:me|us|again)|ping me|contact me|reconnect|email me|write|check in|talk)"
    r"(?: again| with me| back)?\s+(?:in|next|after|later|around|once|when|closer)\b|\btry (?:me|us) again\b"
    r"|\bkeep (?:me|us) (?:posted|in mind)\b|\bdown the (?:road|line)\b|\bin the (?:future|new year)\b"
    r"|\b(?:some|another) (?:other )?time\b|\bnot (?:right )?now\b|\bnot (?:yet|today)\b"
    r"|\bnot (?:at|for) (?:this|the) (?:time|moment)\b|\bnot this (?:year|quarter|month|time)\b"
    r"|\bnot (?:a|the) (?:good |right |best )?time\b|\bnow isn'?t a good time\b|\b(?:bad|wrong) tim(?:e|ing)\b"
    r"|\btiming\b|\bnot (?:a|our) (?:priority|focus)\b|\b(?:budgets? (?:is|are) )?(?:frozen|freeze)\b"
    r"|\b(?:don'?t|do not) have (?:the )?bandwidth\b|\bno bandwidth\b|\bmid-?(?:reorg|migration|rfp|quarter|year)"
    r"|\b(?:hold off|pause|on hold|renewal|fiscal year|once (?:we|our|the))\b|\bmaybe (?:next|in|after|when)\b",
    # de
    r"\bspater\b|\bnachst\w* (?:woche|monat|quartal|jahr|halbjahr|budget\w*)\b|\bim nachsten\b"
    rf"|\b(?:im|ab|nach|bis|anfang|mitte|ende) (?:dem |der )?(?:{_MONTH}|{_SEASON})\b|\bnochmal\w*\b|\bwieder melden\b"
    r"|\bin (?:einem|einigen|ein paar|zwei|drei|sechs|\d+) (?:monat\w*|wochen|quartal\w*|jahr\w*)\b"
    r"|\bhalben jahr\b|\bjetzt nicht\b|\bnicht (?:jetzt|der richtige zeitpunkt)\b|\bderzeit\b|\baktuell\b"
    r"|\bmomentan\b|\bim moment\b|\bzurzeit\b|\bzur zeit\b|\bvorerst\b|\bgerade (?:nicht|ungunstig|keine?)\b"
    r"|\bdieses jahr\b|\bzeitpunkt\b|\bbudgetrunde\b|\beinstellungsstopp\b|\bmelden sie sich (?:gerne )?(?:im|nach|in|wieder)\b",
    # fr
    r"\bplus tard\b|\b(?:trimestre|semestre|mois|annee|an) prochain\w*|\bprochain\w* (?:trimestre|semestre|mois|annee)\b"
    rf"|\b(?:en|apres|d'ici|a partir d[eu']|au|a la|debut|fin|mi-) ?(?:{_MONTH}|{_SEASON})\b"
    r"|\bdans (?:quelques|deux|trois|six|\d+) (?:mois|semaines|ans)\b|\bpas maintenant\b|\bpour le moment\b"
    r"|\bpour l'instant\b|\ben ce moment\b|\bactuellement\b|\bcette annee\b|\bpas le (?:bon )?moment\b"
    r"|\b(?:recontact|revenez|relancez-moi|reprenez contact)\w*",
    # es / pt / it
    r"\bmas (?:adelante|tarde)\b|\bproxim[oa] (?:trimestre|ano|mes|semestre)\b|\bel ano que viene\b"
    rf"|\b(?:en|despues de|a partir de|a finales de|a principios de|para|hacia) (?:el |la )?(?:{_MONTH}|{_SEASON})\b"
    r"|\bdentro de (?:unos|un par de|\d+|seis|tres) (?:meses|semanas)\b|\bpor (?:ahora|el momento)\b|\bde momento\b"
    r"|\ben este momento\b|\bahora (?:mismo )?no\b|\bactualmente\b|\beste ano\b|\bno es (?:el|buen) momento\b"
    r"|\bvuelv\w+ a (?:escribir|contactar|intentar)\w* (?:en|dentro|despues|mas)\b"
    r"|\bmais (?:tarde|para frente|adiante)\b|\bano que vem\b|\bno momento\b|\bpor enquanto\b|\bagora nao\b"
    r"|\bdaqui a\b|\bneste momento\b|\bnao e o (?:melhor )?momento\b"
    r"|\bpiu (?:avanti|tardi)\b|\bprossim[oa] (?:trimestre|anno|mese|semestre)\b|\bl'anno prossimo\b|\bal momento\b"
    r"|\bper (?:ora|il momento)\b|\b(?:adesso|ora) no\b|\btra (?:qualche|un paio di|sei|tre|\d+) (?:mesi|settimane)\b"
    rf"|\b(?:a|dopo|ad|in|da|verso) (?:l'|la |il )?(?:{_MONTH}|{_SEASON})\b|\bquest'anno\b|\bin questo momento\b"
    r"|\bnon e (?:il|un buon) momento\b|\bnon e una priorita\b",
    # nl
    r"\bvolgend\w* (?:jaar|kwartaal|maand|week)\b|\bna de (?:zomer|vakantie|feestdagen)\b|\bop dit moment\b"
    r"|\bmomenteel\b|\bnu (?:even )?niet\b|\bvoorlopig\b|\bover (?:een paar|enkele|zes|drie|\d+) (?:maanden|weken)\b"
    r"|\bover een (?:half )?jaar\b|\bdit jaar\b|\bniet het (?:juiste|goede) moment\b|\blater\b",
    # pl / cs / ru
    r"\bpozniej\b|\bw przyszlym (?:roku|kwartale|miesiacu|tygodniu)\b|\bza (?:kilka|pare|pol|\d+|trzy|szesc) "
    r"(?:miesiec\w*|lat\w*|roku|tygodni)\b|\bobecnie\b|\bteraz nie\b|\bna razie\b|\bw tej chwili\b|\bw tym (?:roku|momencie)\b"
    r"|\bpo (?:wakacjach|nowym roku|swietach)\b|\bnie teraz\b|\bw (?:przyszlosci)\b"
    r"|\bpozdeji\b|\bpristi\w* (?:rok|ctvrtleti|mesic|tyden)\b|\bza (?:par|nekolik|pul|\d+) (?:mesic\w*|roku|let|tydn\w*)\b"
    r"|\bted ne\b|\bv tuto chvili\b|\bmomentalne\b|\bzatim\b|\bv soucasne dobe\b|\bletos\b|\bpo prazdninach\b"
    r"|\bna (?:podzim|jare|lete)\b|\bv budoucnu\b"
    r"|позже|потом|в следующ\w+ (?:году|квартале|месяце)|через (?:несколько|пару|полгода|год|\d+|три|шесть)"
    r"|сейчас не|пока (?:не|что)|в данный момент|на данный момент|в этом году|после |весной|осенью|летом|зимой"
    r"|не сейчас|в будущем|в (?:январ|феврал|март|апрел|ма[ея]|июн|июл|август|сентябр|октябр|ноябр|декабр)\w*",
    # sv / da / no / fi / tr
    r"\bsenare\b|\bnasta (?:ar|kvartal|manad|vecka|host|var)\b|\bjust nu\b|\bfor tillfallet\b|\bi nulaget\b"
    r"|\bom (?:nagra|ett par|sex|tre|\d+) (?:manader|veckor|ar)\b|\bi (?:host|var|sommar|ar)\b|\bframover\b"
    r"|\bsenere\b|\bnaeste (?:ar|kvartal|maned|uge)\b|\blige nu\b|\bfor nuvaerende\b|\bi ojeblikket\b"
    r"|\bom (?:et par|nogle|seks|tre|\d+) maneder\b|\btil (?:foraret|efteraret|sommer|aret|host(?:en)?|varen)\b"
    r"|\bneste (?:ar|kvartal|maned|uke)\b|\bakkurat na\b|\bfor oyeblikket\b|\bikke na\b|\bna ikke\b"
    r"|\bom (?:noen|et par|seks|tre|\d+) (?:maneder|uker)\b|\bi (?:hostens?|varens?)\b"
    r"|\bmyohemmin\b|\bensi (?:vuo\w+|kuu\w*|kvartaali\w*|vuoden|viiko\w*|syksy\w*|kevaa\w*)\b|\btana vuonna\b"
    r"|\btalla hetkella\b|\bjuuri nyt\b|\btoistaiseksi\b|\bjalkeen\b|\bpaasta\b|\bsyksylla\b|\bkevaalla\b|\bei nyt\b"
    r"|\bnyt ei\b|\bdaha sonra\b|\bsonra\w*\b|\bgelecek (?:yil|ceyrek|ay|hafta|sene)\w*|\bseneye\b|\bonumuzdeki\b"
    r"|\bsu an(?:da|lik)?\b|\bsimdilik\b|\bsimdi degil\b|\bbu (?:yil|sene|donem|ceyrek)\b|\bay (?:sonra|icinde)\b",
    # ja / zh / ko
    r"後ほど|後日|来期|来年|来月|来四半期|下期|今は|現時点|今のところ|当面|改めて|また(?:ご)?連絡|以降|落ち着いたら"
    r"|ヶ月後|か月後|カ月後|今期は|今年は|時期|タイミング|春|秋|夏|冬"
    r"|以后|之后|后面|下个?季度|明年|下个月|下半年|目前|暂时|现在不|现阶段|过段时间|过几个月|再联系|年后|今年|时机|到时候"
    r"|나중에|다음 ?분기|내년|다음 ?달|지금은|현재는|당분간|이후에|후에|몇 ?달|올해는|다시 연락|하반기|시기",
    # round 8 (replies-langs8): uk / ro / hu / el
    r"пізніше|згодом|наступного (?:місяця|кварталу|року)|у наступному (?:кварталі|році|місяці)"
    r"|через (?:кілька|декілька|пару|пів|\d+|два|три|шість) (?:місяц\w*|тижн\w*|року|рок\w*)|через пів року"
    r"|після (?:літа|свят|нового року|відпустки)|зараз не|не зараз|поки що|наразі|цього року|восени|навесні|влітку|взимку"
    r"|у (?:січн|лют|берез|квітн|травн|червн|липн|серпн|вересн|жовтн|листопад|грудн)\w*|не на часі|не час\b|поверніться",
    r"\bmai tarziu\b|\b(?:trimestrul|anul|luna|saptamana) (?:urmator|viitor)\w*|\bpeste (?:cateva|doua|trei|sase|\d+) "
    r"(?:luni|saptamani|ani)\b|\bdupa (?:vara|sarbatori|vacanta|anul nou)\b|\bnu acum\b|\bacum nu\b|\bdeocamdata\b"
    r"|\bmomentan\b|\bin acest moment\b|\banul acesta\b|\b(?:in|la) toamna\b|\bla primavara\b|\bnu e momentul\b"
    r"|\bin (?:ianuarie|februarie|martie|aprilie|iunie|iulie|august|septembrie|octombrie|noiembrie|decembrie)\b|\brevenit?i\b",
    r"\bkesobb\b|\b(?:jovo|kovetkezo) (?:honapban|negyedevben|evben|ev\w*)|\bfel ev (?:mulva|mulvan)\b"
    r"|\b(?:nehany|par|ket|harom|hat|\d+) (?:honap|het|ev) (?:mulva|mulvan)\b|\b(?:nyar|unnepek|szabadsag) utan\b"
    r"|\bmost nem\b|\begyelore\b|\bjelenleg\b|\bebben az evben\b|\biden\b|\bosszel\b|\btavasszal\b|\bnyaron\b"
    r"|\b(?:januar|februar|marcius|aprilis|majus|junius|julius|augusztus|szeptember|oktober|november|december)(?:ban|ben)\b"
    r"|\bnem alkalmas\b"
    r"|\bkeressen (?:ujra|kesobb)\b",
    r"αργοτερα|επομενη (?:εβδομαδα|μηνα|χρονια)|επομενο (?:τριμηνο|εξαμηνο|ετοσ)|του χρονου"
    r"|σε (?:λιγουσ|μερικουσ|δυο|τρεισ|εξι|\d+) (?:μηνεσ|εβδομαδεσ|χρονια)|μετα (?:το καλοκαιρι|τισ γιορτεσ|τισ διακοπεσ)"
    r"|οχι τωρα|οχι ακομα|προσ το παρον|αυτη τη στιγμη|φετοσ|το φθινοπωρο|την ανοιξη|το καλοκαιρι"
    r"|τον (?:ιανουαριο|φεβρουαριο|μαρτιο|απριλιο|μαιο|ιουνιο|ιουλιο|αυγουστο|σεπτεμβριο|οκτωβριο|νοεμβριο|δεκεμβριο)"
    r"|δεν ειναι η καταλληλη στιγμη|επικοινωνηστε (?:ξανα|μαζι μου) σε",
    r"\bmes endavant\b|\bd'aqui a (?:\w+ )?(?:mesos|setmanes|anys)\b|\bel (?:trimestre|any|mes) que ve\b|\bara no\b|\bde moment\b"
    r"|\ba la tardor\b|\bal (?:gener|febrer|marc|abril|maig|juny|juliol|agost|setembre|octubre|novembre|desembre)\b"
    r"|\bdespres de l'estiu\b|\btorneu-hi\b",
    r"\bnanti\b|\b(?:kuartal|bulan|tahun) depan\b|\b(?:enam|tiga|dua|beberapa|\d+) bulan lagi\b|\bsetelah (?:liburan|lebaran|tahun baru)\b"
    r"|\bbelum waktunya\b|\bjangan sekarang\b|\buntuk saat ini\b|\bdibekukan\b"
    r"|\bbulan (?:januari|februari|maret|april|mei|juni|juli|agustus|september|oktober|november|desember)\b",
    r"\bquy sau\b|\bnam sau\b|\b(?:sau|ba|vai|hai|\d+) thang nua\b|\bsau ky nghi\b|\bchua phai luc\b|\bkhong phai bay gio\b"
    r"|\bhien tai thi chua\b|\bdong bang\b|\bthang (?:mot|hai|ba|tu|nam|sau|bay|tam|chin|muoi)\b",
)
_FOR_NOW = (rf"\b{_MONTH_BARE}\b|\b(?:om|in) (?:et |ett |een )?(?:halvt ar|halvar|half jaar|halbes jahr)\b|\b(?:tana|talle) vuo\w+"
            r"|\b(?:zmrazen\w* rozpo\w+|заморозк\w+|ansettelsesstopp|anstallningsstopp|ansaettelsesstop|rekrytointikielto|"
            r"rekrytointijaadytys|ise alim (?:durdu|donduruldu)|wstrzymane zatrudnienie|aufnahmestopp|gel des embauches)"
            r"|\bted\b|\bteraz\b|\bnu geen\b|\bnyt\b|当面|当分|当下|暂不|眼下|당장|현재는|現在は|现在は|今は|目下|\b(?:inte|ikke|ei)\b[^.!?\n]{{0,30}}\b(?:nu|na|nyt)\b|сейчас|현재|今回は見送"
            r"|\bfor now\b|\bat the moment\b|\bright now\b|\bcurrently\b|\bat (?:this|present) (?:time|stage)\b"
            r"|\bthis (?:year|quarter)\b|\bat this point\b|\bhiring freeze\b|\bfor the time being\b",
            # round 8: uk / ro / hu / el
            r"\bзараз\b|\bнаразі\b|\bdeocamdata\b|\bmomentan\b|\bacum\b|\begyelore\b|\bjelenleg\b|προσ το παρον|\bτωρα\b|\buntuk saat ini\b|\bsementara ini\b|\bhien tai\b|\bbay gio\b",)

# round 6: short positives without cue words ("See you then.", "Send me some times.", "Works for me", "Passt mir",
# "Ça marche", "Me parece bien", "Давайте", "Låter bra", "ぜひ", "没问题", "좋습니다"): agreeing to a time,
# asking for times or an invite, looking forward to a call; per language, on folded text. An acknowledgement
# alone ("ok", "got it", "thanks", 好的, 了解) is no positive (the held-out authors label it other).
_AGREE = (
    r"\bsee you (?:then|there|on|at|tomorrow|next)\b|\b(?:that |this |it |tuesday |monday |friday |thursday |wednesday )?"
    r"works (?:for me|for us|great|well|fine)\b|\b(?:that|this|it) works\b|\bsend (?:me |us |over )?(?:a few |some |your |a )?"
    r"(?:times|slots|availability|invite|calendar (?:invite|link)|link to book|booking link)\b|\bcount (?:me|us) in\b"
    r"|\bi'?m in\b|\blet'?s do (?:it|that|this)\b|\bgo ahead and (?:book|send|schedule)\b|\bhappy to (?:chat|talk|meet|connect|"
    r"take a (?:look|call)|hop on|jump on|learn more|see a demo)\b|\bwhat times? (?:work|suit)s?\b|\bwhen are you (?:free|available)\b"
    r"|\b(?:i'?m|i am) (?:free|available) (?:on|at|tomorrow|next|this|monday|tuesday|wednesday|thursday|friday)\b"
    r"|\blooking forward to (?:it|the call|our call|talking|chatting|meeting|speaking|the demo)\b|\bcalendly\b|\bbook(?:ed)? (?:it|a slot|me in)\b"
    r"|\bpick a (?:time|slot)\b|\bgrab (?:a|some) time\b|\bput (?:something|it|us) (?:on|in) (?:the|my|our) calendar\b",
    r"\bbis (?:dann|morgen|donnerstag|dienstag|montag|freitag|mittwoch)\b|\bpasst (?:mir|uns|gut|prima|perfekt)\b"
    r"|\b(?:schicken|senden) sie (?:mir |uns )?(?:gern(?:e)? )?(?:ein paar |einige )?(?:termin\w*|eine einladung|zeiten|slots)\b"
    r"|\bich freue mich (?:auf|darauf)\b|\bwann (?:passt es|haben sie zeit)\b|\beinverstanden\b",
    r"\bca (?:marche|me va|nous va|me convient)\b|\bd'accord pour\b|\benvoyez(?:-moi|-nous)? (?:une invitation|des creneaux|vos disponibilites)"
    r"|\bquand (?:etes-vous|seriez-vous) disponible|\ba (?:mardi|lundi|jeudi|vendredi|mercredi|demain)\b",
    r"\bme parece (?:bien|perfecto|genial)\b|\bde acuerdo\b|\bnos vemos\b|\bcuando (?:te|le) (?:viene bien|va bien)"
    r"|\benv(?:iame|ienme|ieme) (?:una invitacion|horarios|disponibilidad|unos horarios)|\bperfecto,|\bcuenta conmigo\b",
    r"\bcombinado\b|\bpode ser\b|\bme (?:manda|mande|envie) (?:um convite|horarios|uns horarios)|\bperfeito\b|\bate (?:la|entao)\b",
    r"\bva (?:bene|benissimo)\b|\bperfetto\b|\bci vediamo\b|\bmandami (?:un invito|degli orari|qualche orario)|\bd'accordo\b",
    r"\bprima[,!]|\bstuur (?:me |ons )?(?:maar )?(?:een uitnodiging|wat tijden|een paar tijden)|\btot dan\b|\bdat (?:past|werkt)\b|\bakkoord\b",
    r"\bpasuje\b|\bzgoda\b|\bdo zobaczenia\b|\bprosze (?:przeslac|wyslac) (?:zaproszenie|terminy)|\bchetnie\b|\bbrzmi dobrze\b",
    r"давайте|договорились|до встречи|пришлите (?:приглашение|время|слоты|варианты)|с удовольствием|звучит (?:хорошо|интересно)",
    r"\blater bra\b|\bdet passar\b|\bskicka (?:en inbjudan|nagra tider)|\bgarna\b"
    r"|\blyder godt\b|\bdet passer\b|\bsend (?:en invitation|nogle tider|en invitasjon|noen tider)|\bgerne\b"
    r"|\bhores bra ut\b|\bgjerne\b",
    r"\bkuulostaa hyvalta\b|\bsopii\b|\bnahdaan\b|\blaheta (?:kutsu|aikoja|muutama aika)|\bmielellaan\b"
    r"|\bzni to dobre\b|\bhodi se\b|\buvidime se\b|\bposlete (?:pozvanku|terminy)|\brad(?:a)? se\b"
    r"|\bgorusuruz\b|\bdavet (?:gonderin|gonderebilir)|\bmemnuniyetle\b|\bharika\b",
    r"ぜひ|是非|日程(?:調整|を)|候補日|招待を送|お待ちしております|楽しみにしております|都合の良い|空いて"
    r"|没问题|发个?(?:会议)?邀请|约个时间|什么时候方便|期待|安排一下|见面聊"
    r"|좋습니다|좋아요|(?<!불)가능합니다|일정(?:을 )?(?:잡|조율|보내)|초대(?:를)? 보내|뵙겠습니다|기대됩니다|시간 (?:되|괜찮)",
    # round 8: uk / ro / hu / el
    r"домовились|домовилися|(?:мені|нам) (?:підходить|зручно)|надішліть (?:мені )?(?:запрошення|кілька варіантів|варіанти часу)"
    r"|до зустрічі|з задоволенням|звучить (?:добре|цікаво)|давайте (?:поговоримо|зідзвонимося|зустрінемося|обговоримо)",
    r"\b(?:imi|ne) convine\b|\btrimiteti(?:-mi)? (?:invitatia|o invitatie|cateva variante|niste ore)|\bne (?:auzim|vedem)\b"
    r"|\bsuna bine\b|\bcu placere\b|\bhai sa (?:vorbim|ne auzim|stabilim)\b",
    r"\bduoc day\b|\bgui (?:cho toi )?(?:vai khung gio|loi moi)\b|\bhen gap\b",
    r"\bcocok (?:untuk|buat) (?:saya|kami)\b|\bkirim(?:kan)? (?:undangan\w*|beberapa pilihan waktu|jadwal\w*)|\bsampai jumpa\b",
    r"\bjo nekem\b|\bmegfelel\b|\bkuldj(?:e|enek|on) (?:a meghivot|meghivot|nehany idopontot|idopontokat|idopontot)"
    r"|\bjol hangzik\b|\bszivesen\b|\bbeszeljunk\b|\btalalkozunk\b",
    r"(?:μου|μασ) ταιριαζει|στειλτε (?:μου )?(?:την προσκληση|μια προσκληση|μερικεσ (?:διαθεσιμεσ )?ωρεσ)"
    r"|ακουγεται (?:καλο|ενδιαφερον)|ευχαριστωσ|με χαρα|ασ (?:μιλησουμε|τα πουμε|κανονισουμε)|τα λεμε",
)

RULES: tuple[Rule, ...] = (
    # ---------------- opt-out, English ----------------
    _rule(OPT_OUT, "remove_me", 0.97,
          rf"\b(?:remove|removing|delete|deleting|erase|erasing|drop|strike|scratch|purge)\s+{_ME}\b"),
    _rule(OPT_OUT, "take_me_off", 0.97,
          rf"\b(?:take|taking|get|getting|cross|strike|drop|scratch|knock)\s+{_ME}\s+(?:off|of|out)\b"),
    _rule(OPT_OUT, "remove_from_list", 0.93,
          rf"\b(?:remove|delete|unsubscribe|take)\s+(?:off|from|out of)\s+(?:of\s+)?{_LIST_STRICT}\b"),
    _rule(OPT_OUT, "remove_someone_from_list", 0.9,
          rf"\b(?:remove|delete|take|drop)\s+(?:\S+@\S+|him|her|them|[a-z]+(?:\s+[a-z]+){0,3})\s+(?:\w+\s+)?(?:off|from|out of)"
          rf"\s+(?:of\s+)?{_LIST_STRICT}\b",
          notes="someone asks to remove an address (a departed colleague, the mailbox we wrote to)"),
    _rule(OPT_OUT, "get_off_list", 0.95,
          rf"\b(?:get|be|stay|keep me|go)\s+off\s+(?:of\s+)?{_LIST_STRICT}\b"),
    _rule(OPT_OUT, "unenroll_me", 0.93,
          r"\b(?:un-?enrol+|de-?enrol+|deregister|de-?register)\s+(?:me|us)\b",
          notes="the recipient does not know our words: 'unenroll me' asks to stop the e-mails"),
    _rule(OPT_OUT, "be_removed", 0.95,
          r"\b(?:be|get|been|being)\s+(?:removed|taken off|deleted|erased|unsubscribed|opted out|struck off)\b"),
    _rule(OPT_OUT, "unsubscribe", 0.95,
          r"\bun-?\s?subscrib(?:e|ed|es|ing)\b|\bunsub\b", topic=True),
    _rule(OPT_OUT, "opt_out", 0.95,
          r"\bopt(?:ed|ing|s)?[\s-]?(?:me\s+|us\s+)?out\b(?!\s+of\s+(?!(?:your|these|this|that|the|all|any|future|"
          r"everything|e-?mails|emails|mailings|communications?|marketing|further|it|them)\b))", topic=True),
    _rule(OPT_OUT, "still_not_removed", 0.95,
          r"\b(?:still|yet)\s+(?:not|haven'?t been|have not been|not been)\s+(?:unsubscribed|removed|taken off)\b"
          r"|\bwhy (?:am i|are we|is my \w+) (?:still )?(?:not )?(?:unsubscribed|removed|getting these|receiving)\b",
          negatable=False),
    _rule(OPT_OUT, "do_not_contact", 0.97,
          rf"\b(?:do not|don'?t|dont|never|stop to)\s+(?:ever\s+)?(?:again\s+)?{_CONTACT_VERB}\s+(?:me|us|this (?:address|"
          rf"e-?mail(?: address)?|mailbox|account|inbox)|my (?:e-?mail|address|inbox))\b"
          rf"|\b(?:do not|don'?t|dont|never)\s+(?:ever\s+)?(?:reach out|contact|e-?mail|write|follow up|message)\s+"
          rf"(?:again|anymore|any more|in (?:the )?future)\b"
          rf"|\brefrain from (?:contacting|e-?mailing|emailing|sending|writing|messaging|calling)\b"
          rf"|\blose my (?:e-?mail|number|address|details|contact)\b"
          rf"|\b(?:do not|don'?t|dont|never)\s+(?:send|forward)\s+(?:me|us)\s+(?:any\s+)?(?:more|further|other|"
          rf"these|your)?\s*(?:e-?mails|messages|mails|emails|newsletters?|communications?)\b",
          negatable=False, temporal=True),
    _rule(OPT_OUT, "do_not_want", 0.95,
          r"\b(?:do not|don'?t|dont|no longer|never|not)\s+(?:want|wish|care|like)\s+(?:to\s+)?(?:receive|get (?:these|your|any|"
          r"more|further|e-?mails|messages)|hear from (?:you|your|anyone)|be (?:contacted|e-?mailed|emailed|called|"
          r"on (?:your|this|the|any) (?:mailing )?list|included|bothered|spammed))\b"
          r"|\b(?:do not|don'?t|dont) want (?:your|these|any (?:more|further)) (?:e-?mails|messages|emails)\b"
          r"|\b(?:rather|prefer(?: to)?|prefer) not (?:to )?(?:receive|get (?:these|your|any|more|further)|be (?:contacted|"
          r"e-?mailed|emailed)|hear from)\b",
          negatable=False, temporal=True),
    _rule(OPT_OUT, "stop_emailing", 0.97,
          r"\b(?:stop|stopped|quit|cease|halt|end|discontinue)\s+(?:all\s+)?(?:(?:e-?|cold[ -]?)?mailing|emailing|contacting|messaging|writing"
          r"|sending(?: me| us)?|spamming|reaching out|bothering|harass(?:ing)?|following up|pinging|calling|"
          r"pestering)\b"
          r"|\b(?:stop|quit)\s+(?:receiving|getting)\s+(?:these|this|your|e-?mails|emails|messages|them|any)\b"
          r"|\b(?:stop|cease|halt|end|discontinue)\s+(?:all\s+)?(?:further\s+|future\s+)?(?:contact|correspondence|communications?|e-?mails|emails|"
          r"messages|these(?:\s+e-?mails)?|this|the e-?mails|your e-?mails|outreach|follow-?ups|spam)\b"
          r"|\b(?:stop|cease|halt|end|pause|kill)\s+(?:the |this |your |these |that )?(?:automated |automatic |e-?mail )?"
          r"(?:sequence|sequences|campaign|campaigns|cadence|drip|mailings?|newsletters?)\b",
          temporal=True),
    _rule(OPT_OUT, "stop_alone", 0.93,
          # round 8: "You can stop now.", "Ma basta!", "Halt.", "Please discontinue." (a bare stop with a lead-in)
          r"(?:(?:ma|but|oh|ok|okay|so|ya|ja|jetzt|maintenant|ahora)\s+)?"
          r"(?:(?:can|could|would|will) you\s+|you (?:can|may|could) (?:just )?)?(?:please\s+|pls\s+|plz\s+|just\s+|now\s+|kindly\s+)?"
          r"(?:stop|stopp|arret|alto|basta|para|quit|enough|go away|get lost|f(?:uck|\*+)? off|piss off|back off|no more|"
          r"halt|discontinue|cease|desist|cease and desist|that'?s enough|chega|genug|assez|dosc|hou op|"
          r"отстаньте|хватит|прекратите|стоп|stop (?:hiermee|ermee|damit|avec ca|con esto|com isso|con questo|z tym|"
          r"s tim|med det|med dette|tama|bunu))"
          r"(?:\s+(?:it|now|please|pls|this|that|already|thanks|thank you|immediately|asap))*",
          clause=True),
    _rule(OPT_OUT, "remove_alone", 0.93,
          r"(?:please\s+|pls\s+|plz\s+|kindly\s+)?(?:remove|delete|unsubscribe|opt[\s-]?out|take off|cancel|baja|"
          r"de baja|afmelden|abmelden|descadastrar|desinscription|desabonnement)"
          r"(?:\s+(?:me|us|please|pls|thanks|thx|asap|now|immediately|it|por favor|gracias|bitte|danke|svp|graag|aub))*",
          clause=True),
    _rule(OPT_OUT, "no_more", 0.93,
          r"\bno\s+(?:more|further)\s+(?:e-?mails|emails|mails|messages|follow-?ups|contact|outreach|spam|"
          r"communications?|newsletters?)\b",
          temporal=True),
    _rule(OPT_OUT, "leave_me_alone", 0.9, r"\bleave\s+(?:me|us)\s+alone\b"),
    _rule(OPT_OUT, "cease_and_desist", 0.95, r"\bcease and desist\b"),
    _rule(OPT_OUT, "spam_complaint", 0.8,
          r"\b(?:this is|that'?s|it'?s|its|this is just|is|are)\s+(?:just\s+|pure\s+|total\s+)?spam\b"
          r"|\breport(?:ing)? (?:you|this) (?:as|for) spam\b"),
    _rule(OPT_OUT, "never_consented", 0.8,
          r"\b(?:never|didn'?t|did not|don'?t recall|do not recall)\s+(?:ever\s+)?(?:sign(?:ed|ing)?\s+up|subscrib(?:e|ed|ing)|"
          r"opt(?:ed|ing)?[\s-]?in|consent(?:ed)?(?: to)?|gave (?:you )?(?:my )?(?:permission|consent))\b"
          r"|\bnever asked to be (?:on|added)\b",
          negatable=False),
    _rule(OPT_OUT, "gdpr_erasure", 0.95,
          r"\b(?:delete|erase|remove|purge|wipe|destroy)\s+(?:all\s+)?(?:of\s+)?(?:my|our)\s+(?:personal\s+)?"
          r"(?:data|details|information|info|contact (?:details|info(?:rmation)?)|records?|e-?mail(?: address)?|address)\b"
          r"|\berasure\b|\bright to (?:be forgotten|erasure|object)\b|\bforget me\b"
          r"|\b(?:gdpr|dsgvo|rgpd|lgpd|ccpa)\b.{0,60}\b(?:delet|eras|remov|object|opt|loschen|supprim|elimin|verwijder|"
          r"apag|cancell)"),
    _rule(OPT_OUT, "do_not_contact_list", 0.95,
          r"\b(?:add|put|mark|flag|set|place)\s+(?:me|us|this (?:address|e-?mail)|my (?:e-?mail|address|record|name))\s+"
          r"(?:to|on|as|in|into)\s+(?:your\s+|the\s+|a\s+)?(?:do[- ]not[- ](?:contact|e-?mail|call|mail)|dnc|suppression|"
          r"opt[- ]?out|blocked|block|unsubscribe)\b"
          r"|\bmark (?:me|us|my \w+) as (?:do[- ]not[- ]\w+|dnc|unsubscribed|opted[- ]out)\b"
          r"|\bremoval request\b|\brequest(?:ing)? (?:for )?removal\b|\b(?:blacklist|suppress) (?:me|us|my (?:e-?mail|address))\b"),
    _rule(OPT_OUT, "enough", 0.93,
          r"\benough (?:with|of) (?:the|these|this|your|all the|all these) (?:\w+[- ])?(?:e-?mails|emails|mails|messages|"
          r"follow-?ups|spam|outreach|sequences?)\b"
          r"|\bgenug (?:mit )?(?:den |diesen |ihren )?(?:e-?mails|mails|nachrichten)\b|\b(?:uz )?dost (?:tech|techto) "
          r"(?:e-?mailu|zprav)\b|\briittaa (?:jo )?(?:naista|naita) (?:viesteista|sahkoposteista|viesteja)\b"
          r"|\bdosc (?:tych|juz) (?:maili|wiadomosci|e-?maili)\b|\byeter artik\b|\bnu racker det\b|\bnu er det nok\b"
          r"|\bna far det vaere nok\b|\bya basta de\b|\bchega de (?:e-?mails|mensagens)\b|\bbasta (?:email|e-?mail|mail|messaggi)\b"
          r"|\bhou (?:eens )?op met (?:die |deze |je |uw )?(?:mails|e-?mails)\b|\bca suffit (?:avec )?(?:ces|vos|les)\b",
          negatable=False),
    _rule(OPT_OUT, "spam_complaint_any", 0.8,
          r"\b(?:marked|marking|flagged|reported|reporting|report) (?:this |you |it |your \w+ )?(?:as|for|to) "
          r"(?:spam|junk|the ftc|ftc)\b|\bmarked as spam\b|\b(?:ftc|can-?spam)\b"
          r"|\b(?:c'est du|det har ar|det er|dette er|to jest|tohle je|to je|das ist|dit is|esto es|isso e|isto e|questo e|"
          r"questa e|tama on|bu) (?:\w+ )?(?:spam|roskapostia)\b"),
    _rule(OPT_OUT, "spam_marked_any", 0.9,
          r"\b(?:markiert|gemeldet|signale|marque|gemarkeerd|gemeld|marcado|marcad[oa]s?|marquei|segnalato|"
          r"contrassegnato|oznaczyl\w*|zglosil\w*|oznacil\w*|nahlasil\w*|merkitsin|ilmoitin|markerat|rapporterat|"
          r"markeret|rapporteret|markert|rapportert|meldt|isaretledim|bildirdim|пометил\w*|отметил\w*|пожаловал\w*)\b"
          r".{0,40}\b(?:spam\w*|junk|skrappost|soppelpost|roskapost\w*|lixo|nevyzadan\w*|спам\w*|istenmeyen)"
          r"|\b(?:spam|junk|skrappost|soppelpost|roskapost\w*|спам)\w*\b.{0,12}\b(?:markiert|gemeldet|gemarkeerd|"
          r"marcado|segnalato|oznaczon\w*|oznacen\w*|merkitty|markerad|markeret|markert|isaretlendi|пометил\w*)\b"
          r"|\b(?:this (?:message|e-?mail|mail) is|(?:diese|die) (?:nachricht|e-?mail|mail) ist|ce (?:message|mail|courriel) "
          r"est|este (?:mensaje|correo) es|esta mensagem e|questo messaggio e|dit bericht is|ta wiadomosc (?:jest|to)|"
          r"wiadomosc jest|tato zprava je|tama viesti on|meddelandet ar|denne (?:meddelelse|meldingen|e-?mailen|mailen) er|"
          r"bu (?:ileti|mesaj|e-?posta) (?:bir )?|это (?:сообщение|письмо) ?-?)\s*(?:\w+\s+)?(?:junk|spam\w*|skrap\w*|"
          r"soppelpost|roskapostia|nevyzadana|istenmeyen|lixo)\b"
          r"|(?:迷惑メール|スパム)(?:として|に)?(?:報告|通報|登録|設定|指定)|これは(?:迷惑メール|スパム)"
          r"|(?:标记|標記|举报|舉報)(?:为|為|成)?垃圾|是垃圾(?:邮件|郵件)|스팸(?:으로)?\s?(?:신고|처리|등록|보고)|스팸\s?메일로\s?\S*\s?보고"
          r"|스팸입니다",
          negatable=False),
    _rule(OPT_OUT, "remove_me_more_any", 0.93,
          r"\b(?:удалите|уберите|исключите) (?:меня|нас)\b|\bотпишитесь\b(?! из (?:приглашени|встреч|календар|чата|групп))"
          r"|\bwypisac (?:mnie|nas)\b|\bwypiszcie\b"
          r"|\b(?:rimuovete|togliete|cancellate|eliminate)\b.{0,40}\b(?:dai vostri (?:invii|elenchi|contatti)|dalle vostre "
          r"(?:liste|comunicazioni|email))"
          r"|\b(?:removam|retirem|tirem|excluam)\b.{0,40}\b(?:dos (?:seus|vossos) (?:envios|contatos|contactos|e-?mails))"
          r"|\bta bort\b.{0,40}\bfran (?:era|ert|er|ditt|dina) \w+|\bfjern\b.{0,40}\bfra (?:jeres|deres|dine) \w+"
          r"|\b(?:peru|perua|perun|peruutan|peruuttaa|perukaa)\b (?:\w+ )?(?:tilaus|tilauksen|tilaukseni)\b|\bhaluan pois\b"
          r"|\b(?:seznam\w*|databaz\w*|list\w*)\b.{0,40}\bpryc\b|\bchci (?:z \w+ )?pryc\b"
          r"|\b(?:jeg vil|jag vill|ich will|ik wil) (?:\w+ )?(?:af|av|bort|runter|eraf)\s*(?:[.!]|$)",
          negatable=False, topic=True),
    _rule(OPT_OUT, "no_more_mail_any", 0.93,
          r"\bnechci (?:\w+ ){0,3}dostavat\b|\bnechci (?:tyhle|tyto|ty|vase) (?:e-?maily|zpravy)\b"
          r"|\bstop(?:pe)? med at (?:sende|skrive|maile)\b"
          r"|\baufhor\w*\b.{0,30}\bzu (?:schicken|senden|schreiben|mailen|kontaktieren)\b"
          r"|\b(?:entfernen|loschen|loeschen|streichen) sie\b.{0,50}\b(?:aus|von) (?:ihren|ihrer|ihrem|allen) (?:\w+ )?"
          r"(?:listen|liste|verteilern?|datenbank|newslettern?)\b"
          r"|\b(?:f(?:uck|\*+)? off|piss off|go away|get lost|back off|enough)\s+with (?:these|your|the|all|this) (?:\w+ )?"
          r"(?:e-?mails|emails|messages|spam|crap)\b"
          r"|\bnot (?:get|receive|be getting) (?:these|them|your e-?mails|any more e-?mails|e-?mails) any ?more\b"
          r"|\bdejar de (?:enviarme|escribirme|contactarme|mandarme)\b"
          r"|\bei enaa (?:viesteja|sahkoposteja|postia|maileja)\b|\ben halua (?:naita|noita|teidan) (?:\w+ )?"
          r"(?:viesteja|sahkoposteja|maileja)\b|\bpoistamaan minut\b"
          r"|\bbasta con (?:queste|le vostre|tutte queste) (?:email|e-?mail|mail|messaggi)\b|\bniente piu (?:email|e-?mail|mail|messaggi)\b"
          r"|\bvil ikke ha (?:noe )?mer fra (?:dere|deg)\b"
          r"|\bdosc (?:juz )?(?:tych )?(?:maili|wiadomosci|e-?maili)\b|\bnie chce (?:tych|waszych|panstwa|wiecej) "
          r"(?:maili|wiadomosci|e-?maili)\b"
          r"|\bне связывайтесь\b|\bбольше никаких (?:писем|рассылок|сообщений)\b|\botpishite\b|\bne pishite\b"
          r"|\binga fler (?:mejl|mail|e-?post|utskick)\b|\bvill inte ha (?:de har|dessa|era|fler) (?:mejl|mejlen|mail|mailen|utskick)\b"
          r"|\b(?:bu|sizin|bu tur) (?:e-?postalari|mailleri|epostalari|mesajlari) istemiyorum\b|\bcikarilma(?:mi|yi)\b"
          r"|\bistenmeyen (?:e-?posta|ileti)\b.{0,20}\bbildir\w*|\breportad[oa]s? (?:\w+ )*?como lixo\b"
          r"|\b(?:ce|cet) (?:courriel|e-?mail|message|mail) est indesirable\b"
          r"|더\s?이상\s?(?:메일|이메일|연락)(?:은|는|이|을|를)?\s?(?:필요\s?없|보내지|받지|원하지)",
          negatable=False, temporal=True),
    _rule(OPT_OUT, "unsubscribe_imperative_any", 0.93,
          r"\bmeld (?:deg|meg|dig|mig) av\b|\bafmeld\b|\bavprenumerera\w*|\bcancelar (?:a )?subscricao\b"
          r"|\bpoistu postituslistalta\b|\bzrusit odber\w*|\bcancella (?:l'|la mia )?iscrizione\b",
          topic=True),
    _rule(OPT_OUT, "direct_marketing_objection", 0.95,
          r"\b(?:i object|object to|objecting to|widerspreche|m'oppose|je m'oppose|me opongo|mi oppongo|maak bezwaar|"
          r"sprzeciwiam|oponho|oponho-me|vastustan|itiraz ediyorum|nesouhlasim|motsatter mig|gor indsigelse)\b"
          r".{0,120}\b(?:marketing|werbung|werbezweck\w*|prospection|publicidad|pubblicit\w*|reklam\w*|mercadotecnia|"
          r"art(?:icle|ikel|iculo|icolo|igo|\.)?\s*21)"
          r"|\bart(?:icle|ikel|iculo|icolo|igo|\.)?\s*21\b.{0,120}\b(?:object|widersprech\w*|m'oppose|opongo|oppongo|"
          r"bezwaar|sprzeciw\w*|oponho|opposition)"),
    _rule(OPT_OUT, "remove_from_your_list_any", 0.93,
          r"\b(?:remove|delete|take|verwijder|haal|rimuovete|rimuovere|togliete|retirez|retirer|supprimez|eliminen|eliminar|"
          r"quiten|saquen|removam|remover|retirem|tirem|entfernen sie|streichen sie|nehmen sie)\b.{0,60}\b"
          r"(?:from|off|van|uit|dalla|dai|de|des|da|aus|von)\s+(?:your|the|this|all|any|uw|jullie|je|de|vostra|vostre|"
          r"vostri|la|vos|votre|su|sus|la|sua|suas|da|ihrem|ihrer|ihren|dem|der)\s+(?:\w+\s+)?(?:list|lists|database|"
          r"mailing list|distribution|outreach|crm|lijst|bestand|mailinglijst|lista|liste|listes|envois|verteiler|"
          r"datenbank|base|cadastro|mailing)\b"),
    _rule(OPT_OUT, "want_off", 0.93,
          r"\b(?:want|wanna|would like|need|have) (?:to (?:get|be) )?(?:off|out of|removed from) (?:this|your|the|these|all|"
          r"any|all of your) (?:\w+ )?(?:list|lists|e-?mails|mailing|mailings|sequence|sequences|thing|distribution)\b"
          r"|\bi want out\b|\bmake (?:these|this|them|it|the e-?mails|these e-?mails|your e-?mails) (?:\w+ )?stop\b"
          r"|\b(?:i said|i asked you to|i told you to|asked you to|told you to) stop\b"
          r"|\b(?:don'?t|do not|dont|never) (?:contact|e-?mail|write to|call|message) (?:anyone|anybody|any of us|people|"
          r"our (?:team|staff|employees|people)) (?:at|from|in|of)\b"
          r"|\b(?:delete|erase|remove|purge|wipe) (?:all )?(?:the )?(?:personal )?(?:data|information|info|details) "
          r"(?:you (?:hold|have|keep|store)|held|stored) (?:on|about) (?:me|us)\b"
          r"|\bcancel (?:my|our|this) subscription\b|\bmy (?:e-?mail|address)\b.{0,60}\b(?:remove|delete|erase) it\b",
          temporal=True),
    _rule(OPT_OUT, "dont_follow_up", 0.9,
          r"\b(?:don'?t|do not|dont|please don'?t|no more) follow(?:[- ]?ups?|ing up)?\b(?!(?:\s+up)?\s+(?:on(?! (?:this|that|it|me|us)\b)|with (?:the|this|my "
          r"colleague)|about))", negatable=False, temporal=True),
    _rule(OPT_OUT, "still_receiving_any", 0.93,
          r"\b(?:abgemeldet|unsubscribed|desinscrit\w*|desabonne\w*|uitgeschreven|afgemeld|de baja|descadastr\w*|"
          r"disiscritt\w*|wypisal\w*|odhlasil\w*|отписал\w*|отписыва\w*|avregistrera\w*|afmeldt|avmeldt)\b.{0,80}"
          r"\b(?:immer noch|noch immer|still|toujours|nog steeds|todavia|sigo|ainda|ancora|nadal|stale|все ещ\w*|"
          r"всё ещ\w*|а письма|fortfarande|stadig|fortsatt|yha)\b"),
    _rule(OPT_OUT, "leave_alone_any", 0.9,
          r"\blass(?:en sie|t)? (?:mich|uns) in ruhe\b|\blaissez[- ](?:moi|nous) tranquilles?\b|\bdejen?(?:me|nos) en paz\b"
          r"|\blasciate(?:mi|ci) in pace\b|\b(?:me|nos) deixem em paz\b|\bdeixem-me em paz\b|\bdajcie mi spokoj\b"
          r"|\bnechte me (?:byt|na pokoji)\b|\blat (?:mig|meg) vara\b|\bjattakaa minut rauhaan\b|\bbeni rahat birakin\b"
          r"|\bоставьте (?:меня|нас) в покое\b"),
    _rule(OPT_OUT, "never_consented_any", 0.8,
          r"\bnie (?:die |meine )?(?:erlaubnis|einwilligung|zustimmung)\b|\bnunca (?:le )?(?:di|dei|he dado) (?:mi )?"
          r"(?:permiso|consentimiento|autorizacao|consentimento)\b|\bjamais (?:donne|accepte|consenti)\b"
          r"|\bnigdy nie (?:wyrazil\w*|zapisywal\w*|zapisal\w*|zgodzil\w*)\b|\bнико(?:гда)? не (?:подписывал\w*|давал\w* согласи\w*)"),
    _rule(OPT_OUT, "remove_from_list_verb_final", 0.93,
          r"\b(?:van|uit) (?:de|jullie|uw|je|het) (?:\w+ )?(?:lijst|bestand|mailinglijst|database|verzendlijst) "
          r"(?:te )?(?:halen|afhalen|verwijderen|schrappen|te halen|te verwijderen)\b"
          r"|\bser (?:removid[oa]|eliminad[oa]|borrad[oa]|excluid[oa]|retirad[oa]|dad[oa] de baja)\b"
          r"|\bessere (?:rimoss[oa]|cancellat[oa]|tolt[oa])\b|\bvymaz\w* (?:mych|meho|osobnich|me)\b"
          r"|\bradera (?:mina|min|mig)\b|\b(?:adresimi|verilerimi|bilgilerimi|beni)\b.{0,40}\bsil(?:in|iniz)?\b"
          r"|\bverilerimin silinmesi\w*|\bunterlassen sie\b.{0,30}(?:kontakt|mails|e-?mails|nachrichten|werbung|zusendung)"
          r"|\bkontaktieren sie (?:mich|uns) (?:nie(?:mals)?|nicht) (?:wieder|mehr)\b"
          r"|\bno vuelvan? a (?:contactar|escribir|enviar|mandar)\w*|\bno (?:contactarme|escribirme|enviarme|molestarme)\b"
          r"|\bcess(?:ez|er) de (?:me |m'|nous )?(?:contacter|ecrire|envoyer|solliciter|relancer)"
          r"|\bne (?:me |m'|nous )?(?:recontactez|contactez|ecrivez|envoyez|sollicitez|relancez) (?:plus|pas|jamais)\b",
          negatable=False, temporal=True),
    _rule(OPT_OUT, "remove_from_list_any_language", 0.93,
          r"\b(?:remove|delete|take|verwijder\w*|haal|halen|rimuov\w+|togli\w+|retir\w+|supprim\w+|elimin\w+|quit\w+|saq\w+|"
          r"borr\w+|remov\w+|tir\w+|exclu\w+|entfern\w+|streich\w+|nehmen|usun\w+|wykresl\w+|odstran\w+|vyrad\w+|smaz\w+|"
          r"fjern\w*|slet\w*|ta (?:\w+ )?bort|radera|stryk|poista\w*|удал\w+|убер\w+|исключ\w+|cikar\w*|sil\w*)\b.{0,60}?"
          r"(?:\b(?:van|uit) (?:de|jullie|uw|je|het) (?:\w+ )?(?:lijst|bestand|mailinglijst|database)"
          r"|\b(?:dalla|dalle|dai|dal) (?:vostra |vostre |vostri |vostro )?(?:lista|liste|mailing|database|elenco)"
          r"|\bde (?:vos |votre |la |cette )?(?:listes?|fichiers?|base de donnees|envois|mailing)\b"
          r"|\bde (?:su|sus|la|esta|vuestra)s? (?:\w+ )?(?:lista|listas|base de datos)\b"
          r"|\b(?:da|dessa|desta|de sua|da sua) (?:\w+ )?(?:lista|base|cadastro)\b"
          r"|\bz (?:listy|bazy|waszej (?:listy|bazy)|panstwa (?:listy|bazy)|mailingu)\b"
          r"|\bze? (?:seznamu|databaze|vaseho seznamu|vasi databaze)\b"
          r"|\bfra (?:listen|listene|databasen|jeres \w+|deres \w+)\b|\bfran (?:listan|listorna|registret|er \w+|ert \w+)\b"
          r"|\b(?:listalta|listoilta|rekisterista|postituslistalta)\b"
          r"|\bиз (?:списка|рассылки|базы|вашего списка|вашей базы|вашей рассылки)"
          r"|\b(?:listeden|listenizden|veritabanindan|veritabaninizdan)\b)"),
    _rule(OPT_OUT, "cjk_more", 0.93,
          r"個人情報(?:を)?(?:削除|消去)|配信(?:を)?(?:止め|やめ)|(?:명단|리스트|목록|메일링)에서.{0,12}(?:빼|삭제|제외)"
          r"|구독(?:을|를)?\s?(?:취소|해지)|개인\s?정보(?:를)?\s?삭제|删除(?:我的)?个人信息|刪除(?:我的)?個人資料",
          negatable=False),
    # ---------------- opt-out, German ----------------
    _rule(OPT_OUT, "de_abmelden", 0.95,
          r"\babmeld(?:en|ung)\b|\babbestell(?:en|ung)\b|\baustragen\b"
          r"|\bmelde[nt]? (?:sie |du )?(?:mich|uns)(?:(?!nicht)[^.!?\n]){0,60}?\bab\b"
          r"|\btrag(?:en|t)? (?:sie |du )?(?:mich|uns)(?:(?!nicht)[^.!?\n]){0,60}?\baus\b", topic=True),
    _rule(OPT_OUT, "de_remove", 0.95,
          r"\b(?:entfernen|loschen|loeschen|streichen) sie (?:mich|uns|meine|unsere)\b"
          r"|\b(?:nehmen|streichen|entfernen|loschen|loeschen) sie (?:mich|uns)\b.{0,40}\b(?:verteiler|liste|datenbank|"
          r"newsletter|kartei|adressliste)"
          r"|\b(?:aus|von)\s+(?:ihrem|ihrer|dem|der|diesem|dieser|ihren|eurem|eurer)\s+(?:verteiler|liste|mailingliste|"
          r"newsletter|e-?mail-?verteiler|datenbank|kontaktliste)\s+(?:\w+\s+)?(?:nehmen|entfernen|streichen|austragen|"
          r"loschen|loeschen)"
          r"|\b(?:meine|unsere) (?:daten|e-?mail-?adresse|kontaktdaten)\b.{0,40}\b(?:loschen|loeschen|entfernen)"
          r"|\bich widerspreche\b|\bloschung (?:meiner|unserer) (?:daten|e-?mail|adresse|kontaktdaten)\b"
          r"|\b(?:schicken|senden) sie (?:mir|uns) (?:bitte )?(?:nichts|keine \w+) mehr\b"),
    _rule(OPT_OUT, "de_no_more", 0.95,
          r"\bkeine\s+(?:weiteren\s+)?(?:e-?mails|mails|emails|nachrichten|werbung|newsletter|kontaktaufnahmen?|anrufe|"
          r"werbemails)\s+mehr\b"
          r"|\b(?:mochte|mochten|will|wollen|wunsche)\s+keine\s+(?:weiteren\s+)?(?:e-?mails|mails|nachrichten|werbung|"
          r"informationen|newsletter|kontaktaufnahmen?)\b"
          r"|\b(?:nicht mehr|nie wieder|nie mehr)\s+(?:\w+\s+)?(?:kontaktieren|anschreiben|schreiben|mailen|anrufen|"
          r"belastigen|zu schreiben)\b"
          r"|\bkontaktieren sie (?:mich|uns)\b.{0,20}\bnicht\b"
          r"|\bschreiben sie (?:mir|uns)\b.{0,20}\bnicht mehr\b"
          r"|\bhor(?:en sie|t) auf\b.{0,30}\b(?:schreiben|mailen|kontaktieren|senden|zu schreiben|anzuschreiben)\b",
          negatable=False, temporal=True),
    # ---------------- opt-out, French ----------------
    _rule(OPT_OUT, "fr_desabonner", 0.95, r"\bdesabonn\w*|\bdesinscri\w*|\bdesinscription\b", topic=True),
    _rule(OPT_OUT, "fr_no_more", 0.95,
          r"\bne plus (?:me |m'|nous )?(?:contacter|ecrire|envoyer|recevoir|solliciter|relancer)\b"
          r"|\bne (?:me |m'|nous )?(?:contactez|ecrivez|envoyez|sollicitez|relancez) plus\b"
          r"|\b(?:ne|n') ?(?:souhaite|veux|desire|voulons|souhaitons) (?:plus|pas) (?:recevoir|etre (?:contacte|sollicite))"
          r"|\barretez de (?:m'|me |nous )?\w+"
          r"|\bplus de (?:mails|e-?mails|emails|messages|relances)\b",
          negatable=False, temporal=True),
    _rule(OPT_OUT, "fr_remove", 0.95,
          r"\b(?:retirez|supprimez|enlevez|effacez|rayez)[- ](?:moi|nous)\b"
          r"|\b(?:me|nous) (?:retirer|supprimer|enlever|rayer|desinscrire)\b"
          r"|\b(?:retirez|supprimez|enlevez|effacez|retirer|supprimer|effacer)\s+(?:mes|mon|nos|notre)\s+"
          r"(?:donnees|coordonnees|adresse|informations|e-?mail|contact)"),
    # ---------------- opt-out, Spanish ----------------
    _rule(OPT_OUT, "es_baja", 0.95,
          r"\b(?:dar|darme|darnos|dame|denme|deme|den|darse|darte|doy|dé|de)\s+de\s+baja\b(?!\s+por\s+(?:maternidad|"
          r"paternidad|enfermedad))"
          r"|\bbaja de (?:la|su|esta|vuestra) lista\b"
          r"|\bcancelar\b.{0,15}\bsuscripcion\b|\bdesuscrib\w*|\bdesinscrib\w*", topic=True),
    _rule(OPT_OUT, "es_no_more", 0.95,
          r"\bno (?:me|nos) (?:escriban|escribas|escriba|contacten|contactes|contacte|envien|envies|envie|manden|mandes|"
          r"molesten|vuelvan a)\b"
          r"|\bno (?:quiero|deseo|queremos|deseamos) (?:seguir )?recibir\b"
          r"|\bdejen? de (?:enviarme|escribirme|contactarme|mandarme|enviar|escribir|contactar)\b"
          r"|\bno mas (?:correos|e-?mails|mensajes)\b",
          negatable=False, temporal=True),
    _rule(OPT_OUT, "es_remove", 0.95,
          r"\b(?:eliminen|borren|eliminar|borrar|supriman|suprimir|quiten|quitar)\s+(?:mis|mi|nuestros|nuestro)\s+"
          r"(?:datos|correo|direccion|e-?mail|informacion)"
          r"|\b(?:quitenme|sacarme|sacadme|saquenme|quitarme|eliminenme|borrenme|eliminadme|borradme)\b"),
    # ---------------- opt-out, Dutch ----------------
    _rule(OPT_OUT, "nl_afmelden", 0.95,
          r"\bafmeld(?:en|ing)\b|\bmeld (?:me|mij|ons) (?:\w+ )?af\b|\buitschrijv\w*|\bschrijf (?:me|mij|ons) (?:\w+ )?uit\b"
          r"|\baf te melden\b|\bafgemeld (?:te )?worden\b|\bhaal (?:me|mij|ons) (?:\w+ ){0,2}(?:van|uit) (?:de|jullie|uw|je|het) "
          r"(?:lijst|bestand|mailinglijst|database|verzendlijst)\b|\blaat (?:me|mij|ons) (?:\w+ )?met rust\b", topic=True),
    _rule(OPT_OUT, "nl_remove", 0.95,
          r"\bverwijder (?:me|mij|ons|mijn (?:gegevens|e-?mailadres|adres|e-?mail|naam))\b"
          r"|\b(?:geen|niet langer) (?:e-?mails|mails|emails|berichten|nieuwsbrieven|mailtjes|mailings) meer\b"
          r"|\bgeen (?:e-?mails|mails|emails|berichten) (?:meer )?(?:ontvangen|krijgen)\b"
          r"|\bniet meer (?:\w+ )?(?:mailen|benaderen|contacteren|e-?mailen|sturen|bellen)\b"
          r"|\bgeen contact meer\b|\bstop met (?:het )?(?:mailen|e-?mailen|sturen|benaderen)\b",
          negatable=False, temporal=True),
    # ---------------- opt-out, Portuguese ----------------
    _rule(OPT_OUT, "pt_descadastrar", 0.95,
          r"\bdescadastr\w*|\bcancelar (?:a |minha |o )?(?:inscricao|assinatura|cadastro)\b|\bsair da lista\b", topic=True),
    _rule(OPT_OUT, "pt_remove", 0.95,
          r"\b(?:me |nos )?(?:removam|remova|removem|retirem|tirem|tire|retire|excluam|exclua)(?:-me|-nos)?\b.{0,40}"
          r"\b(?:lista|listas|cadastro|base|mailing|contatos)\b"
          r"|\b(?:apaguem|excluam|removam|deletem|apagar|excluir|eliminem)\s+(?:os )?(?:meus|nossos)\s+dados\b"
          r"|\bnao (?:quero|desejo|queremos) (?:mais )?receber\b"
          r"|\bnao (?:me |nos )?(?:enviem|mandem|contatem|contactem|escrevam|mande|envie) mais\b"
          r"|\bparem de (?:me |nos )?(?:enviar|mandar|contatar|contactar|escrever)\b",
          negatable=False, temporal=True),
    # ---------------- opt-out, Italian ----------------
    _rule(OPT_OUT, "it_disiscrivere", 0.95,
          r"\b(?:cancellatemi|cancellami|cancellarmi|rimuovetemi|rimuovimi|rimuovermi|toglietemi|toglimi|togliermi|"
          r"eliminatemi|eliminarmi)\b|\bdisiscri\w*|\bdisiscrizione\b", topic=True),
    _rule(OPT_OUT, "it_no_more", 0.95,
          r"\bnon (?:mi |ci )?(?:contattate|contattatemi|scrivete|scrivetemi|inviate|mandate|contattarmi|scrivermi)\b"
          r".{0,10}\bpiu\b"
          r"|\bnon (?:voglio|desidero|vogliamo|desideriamo) (?:piu )?ricevere\b"
          r"|\bsmettete di (?:scrivermi|inviarmi|contattarmi|mandarmi|scrivere|inviare|contattare)\b"
          r"|\b(?:rimuovete|cancellate|togliete|eliminate|rimuovere|cancellare|eliminare)\s+(?:il mio|la mia|i miei|"
          r"il nostro|i nostri)\s+(?:indirizzo|email|e-?mail|nominativo|dati|contatto|contatti)\b",
          negatable=False, temporal=True),

    # ---------------- opt-out, Polish (folded: no diacritics, l for l-stroke) ----------------
    _rule(OPT_OUT, "pl_wypisz", 0.95,
          r"\bwypisz(?:cie)? (?:mnie|nas)\b|\b(?:chce|prosze|chcialbym|chcialabym|chcemy) (?:sie |mnie |nas )?wypisac\b"
          r"|\bwypisuje (?:sie|nas)\b|\bprosze (?:o )?(?:mnie |nas )?wypisa(?:c|nie)\b"
          r"|\brezygnuj\w* z (?:subskrypcji|newslettera|otrzymywania|mailingu|wiadomosci)"
          r"|\b(?:usun|usuncie|usunac|usuniecie|wykresl|wykreslcie|wykreslic) (?:mnie|nas|moj\w* (?:adres\w*|e-?mail\w*|dan\w*)"
          r"|moich danych)\b", topic=True),
    _rule(OPT_OUT, "pl_no_more", 0.95,
          r"\bnie (?:wysylajcie|wysylaj|przysylajcie|przesylajcie|piszcie|pisz|kontaktujcie|wysylac|przesylac|pisac|"
          r"kontaktowac)\b.{0,30}\b(?:wiecej|juz|mi|mnie|do mnie|ze mna|maili|wiadomosci)\b"
          r"|\b(?:wiecej|juz) (?:sie )?(?:ze mna |do mnie )?(?:sie )?nie (?:kontaktowac|kontaktujcie|pisac|piszcie|wysylac)"
          r"|\bprzesta(?:ncie|n|c) (?:do mnie |mi |nam )?(?:pisac|wysylac|przysylac|spamowac)\b"
          r"|\bnie chce (?:juz |wiecej )?(?:otrzymywac|dostawac)\b|\bnie zycze sobie (?:kontaktu|wiadomosci|maili)\b"
          r"|\bsprzeciwiam sie\b.{0,80}\b(?:marketing|przetwarzani)",
          negatable=False, temporal=True),
    # ---------------- opt-out, Japanese / Chinese / Korean (kept whole by the folding) ----------------
    _rule(OPT_OUT, "ja_haishin_teishi", 0.95,
          r"配信(?:を)?(?:停止|解除|中止)|(?:購読|登録|メルマガ)(?:を)?解除|(?:送らない|送信しない|連絡しない|送ってこない)で"
          r"|(?:リスト|名簿|配信先|配信対象|宛先)から(?:削除|外し|外して|除外)|(?:迷惑メール|スパム)(?:として)?(?:報告|通報)"
          r"|営業(?:メール|の連絡)?(?:は)?お断り|今後の(?:ご)?連絡は(?:不要|お断り|ご遠慮)",
          topic=True, negatable=False, temporal=True),
    _rule(OPT_OUT, "zh_tuiding", 0.95,
          r"退订|退訂|取消订阅|取消訂閱|拒收|(?:不要|别|別|勿|请勿|請勿)(?:再)?(?:给我|給我)?(?:发|發|寄|联系|聯繫|联络|打扰)"
          r"|停止(?:发送|發送|发邮件|寄送)|(?:从|從).{0,8}(?:列表|名单|名單|邮件列表)(?:中|里|裡)?(?:删除|移除|删掉|去掉|刪除|移出)"
          r"|(?:移出|移除|删除)(?:邮件)?(?:名单|名單|列表)|垃圾邮件.{0,8}(?:举报|投诉)|(?:举报|投诉).{0,4}垃圾",
          topic=True, negatable=False, temporal=True),
    _rule(OPT_OUT, "ko_susin_geobu", 0.95,
          r"수신(?:을|를)?\s?거부|구독\s?(?:취소|해지)|(?:보내지|연락하지|연락을 하지|메일하지)\s?(?:마|말)|(?:명단|리스트|목록|메일링)에서\s?(?:빼|삭제|제외)"
          r"|스팸(?:으로)?\s?신고|광고\s?(?:메일)?\s?사절|그만\s?(?:좀\s?)?보내",
          topic=True, negatable=False, temporal=True),
    # ---------------- opt-out, Russian (folded: i for short i, e for yo) ----------------
    _rule(OPT_OUT, "ru_otpisat", 0.95,
          r"\bотпиш(?:ите|и)\b|\bотписат(?:ь|ься)\b|\bотписыва\w*|\b(?:удалите|удалить|уберите) (?:меня|нас|мои|мои|мой)\b"
          r".{0,40}(?:рассылк|списк|баз|данн|адрес|контакт)"
          r"|\bне (?:пишите|присылаите|отправляите|шлите|беспокоите)\b|\bне (?:связываться|беспокоить)\b"
          r"|\b(?:прекратите|перестаньте|хватит) (?:мне )?(?:писать|слать|присылать|спамить|отправлять)\b|\bхватит спамить\b"
          r"|\bэто спам\b",
          negatable=False, temporal=True, topic=True),
    # ---------------- opt-out, Swedish / Danish / Norwegian (folded) ----------------
    _rule(OPT_OUT, "sv_avregistrera", 0.95,
          r"\bavregistrera (?:mig|oss)\b|\bavsluta (?:min |mitt )?(?:prenumeration\w*|utskick\w*)|\bstryk (?:mig|oss)\b"
          r"|\bta bort (?:mig|oss|min (?:e-?postadress|adress|mejladress))\b|\bsluta (?:skicka|maila|mejla|kontakta)\b"
          r"|\bvill inte (?:ha|fa) (?:fler|nagra fler|mer) (?:mejl|mail|e-?post|utskick)\b|\bkontakta (?:mig|oss) inte\b"
          r"|\bhor inte av (?:er|dig) (?:mer|igen)\b",
          negatable=False, temporal=True, topic=True),
    _rule(OPT_OUT, "da_no_afmeld", 0.95,
          r"\b(?:afmeld|avmeld) (?:mig|meg|os|oss)\b|\bafmeldes\b|\bmeld (?:meg|oss) av\b"
          r"|\bfjern (?:mig|meg|os|oss)\b|\b(?:slet|slett) (?:min|mine|meg|e-?postadressen min|personopplysningene mine|personoplysninger\w*)\b"
          r"|\bstop med at (?:sende|skrive|maile|kontakte)\b|\bslutt a (?:sende|maile|kontakte|skrive)\b"
          r"|\bikke kontakt (?:mig|meg|os|oss)\b|\bkontakt (?:mig|meg|os|oss) ikke\b"
          r"|\b(?:onsker|vil) ikke (?:at |a )?(?:modtage|motta|have|ha) flere\b|\bvil ikke kontaktes\b"
          r"|\bavslutte abonnementet\b|\b(?:send|sende) ikke flere\b|\bikke send flere\b",
          negatable=False, temporal=True, topic=True),
    # ---------------- opt-out, Finnish / Czech / Turkish (folded) ----------------
    _rule(OPT_OUT, "fi_poista", 0.95,
          r"\bpoista(?:kaa)? minut\b|\bpoistakaa (?:sahkopostiosoitteeni|osoitteeni|henkilotietoni|tietoni)\b"
          r"|\balkaa (?:enaa )?(?:lahettako|ottako|kirjoittako)\b|\blopettakaa (?:viestien|sahkopostien|spammaaminen|"
          r"lahettaminen|postitus)\w*|\ben halua (?:enaa )?(?:viesteja|sahkoposteja|postia|markkinointia)\b"
          r"|\b(?:peru|perua|perun|peruutan|peruuttaa) (?:tilaus|tilauksen|tilaukseni)\b",
          negatable=False, temporal=True, topic=True),
    _rule(OPT_OUT, "cs_odhlasit", 0.95,
          r"\bodhlas(?:te|it)\b(?! se na)|\bodhlaste me\b|\b(?:odstrante|vymazte|vyradte|smazte) (?:me|nas|muj|moje|nase)\b"
          r"|\bnepiste mi\b|\bneposilejte (?:mi|nam)\b|\bprestante (?:mi |nam )?(?:posilat|psat)\b|\bnechci dostavat\b"
          r"|\b(?:uz )?(?:me|nas) nekontaktujte\b|\bnekontaktujte (?:me|nas)\b|\bzruste (?:mi )?odber\b",
          negatable=False, temporal=True, topic=True),
    _rule(OPT_OUT, "tr_abonelik", 0.95,
          r"\babonelikten cik(?:mak|ar|arin|artin|ariniz)?\b|\babonelig(?:imi|i) (?:iptal|sonlandir)\w*"
          r"|\bliste(?:nizden|den|mizden) cikar\w*|\bbeni (?:listeden|listenizden|veritabaninizdan|listenizden) (?:cikar|sil)\w*"
          r"|\b(?:gondermeyin|gondermeyiniz|atmayin|atmayiniz)\b|\b(?:gondermeyi|atmayi) birakin\b"
          r"|\b(?:bir daha )?iletisime gecmeyin\b|\b(?:daha fazla )?e-?posta almak istemiyorum\b|\brahatsiz etmeyin\b",
          negatable=False, temporal=True, topic=True),

    # ---------------- out of office ----------------
    _rule(OUT_OF_OFFICE, "absent", 3,
          r"\bout of (?:the )?office\b|\bout-of-office\b|\booo\b|\bauto(?:matic)?[- ]?(?:reply|response)\b"
          r"|\bautoreply\b|\babsence message\b",
          negatable=False),
    _rule(OUT_OF_OFFICE, "leave", 3,
          r"\bon (?:(?:annual|parental|maternity|paternity|sick|medical|study|compassionate|garden|extended|family|"
          r"shared parental|bereavement) )?leave\b|\b(?:sick|annual|parental|maternity|paternity) leave\b"
          r"|\bon (?:holiday|holidays|vacation|sabbatical|pto|annual leave|a business trip|business travel)\b"
          r"|\bat a conference\b|\bon the road\b",
          negatable=False),
    _rule(OUT_OF_OFFICE, "left_company", 3,
          r"\b(?:has|have|i'?ve|had)\s+left\s+(?:the\s+(?:company|business|organi[sz]ation|firm|team)|[a-z0-9&.-]+"
          r"(?:\s+[a-z0-9&.-]+)?\s*(?:[.,;]|$))"
          r"|\bno longer (?:with|at|works? (?:at|for|with|here|there)|working (?:at|for|here|there)|employed|part of)\b"
          r"|\b(?:mailbox|e-?mail address|inbox|account) is no longer (?:monitored|active|in use|being monitored)\b"
          r"|\bno longer (?:monitored|in use)\b|\b(?:is|are) not (?:being )?monitored\b|\bunmonitored\b"
          r"|\bautomated (?:message|response|reply)\b|\boffices? (?:is|are|will be) closed\b"
          r"|\bclosed for the (?:holidays?|holiday season|summer|break)\b",
          negatable=False),
    _rule(OUT_OF_OFFICE, "away", 2,
          r"\b(?:limited|no|intermittent|restricted|sporadic) access to (?:my )?e-?mails?\b|\bintermittent access\b"
          r"|\baway from (?:the office|my desk|my e-?mail|the desk)\b"
          r"|\b(?:i'?m|i am|currently|will be)\s+(?:currently\s+)?(?:away|travell?ing|out|offline|unavailable|off)\b"
          r"|\b(?:will|shall) (?:be )?(?:back|return(?:ing)?|respond|reply) (?:on|in|after|to the office|when|upon|"
          r"as soon as)\b"
          r"|\b(?:returning|return on|back on|back in the office|back in the new year|back monday|back tuesday)\b"
          r"|\b(?:when|upon|after) (?:i|my) (?:return|am back|get back)\b|\bwhen i'?m back\b"
          r"|\bnot be (?:checking|reading|monitoring|responding to) (?:my )?e-?mails?\b"
          r"|\b(?:will not|won'?t) be (?:forwarded|read)\b|\bno laptop\b"
          r"|\bfor (?:urgent|immediate) (?:matters|enquiries|inquiries|requests|issues|assistance|questions)\b"
          r"|\bif (?:it'?s|this is|your (?:matter|request) is) urgent\b|\bin urgent cases\b",
          negatable=False),
    _rule(OUT_OF_OFFICE, "de_absent", 3,
          r"\babwesenheitsnotiz\b|\bnicht im (?:buro|buero|hause|haus)\b|\babwesend\b|\bim urlaub\b"
          r"|\bin (?:elternzeit|mutterschutz|urlaub)\b|\bausser haus\b|\bwieder erreichbar\b|\burlaubsbedingt\b"
          r"|\bkeinen zugriff auf\b|\bin dringenden fallen\b|\bwieder im (?:buro|buero)\b",
          negatable=False),
    _rule(OUT_OF_OFFICE, "fr_absent", 3,
          r"\babsente? du bureau\b|\ben conges?\b|\bconge (?:maternite|paternite|parental|maladie)\b"
          r"|\bmessage d'absence\b|\bje suis absente?\b|\bde retour le\b|\ba mon retour\b|\bserai de retour\b"
          r"|\ben vacances\b|\breponse automatique\b|\bdemande urgente\b",
          negatable=False),
    _rule(OUT_OF_OFFICE, "es_absent", 3,
          r"\bfuera de la oficina\b|\b(?:de|en) vacaciones\b|\bde baja por (?:maternidad|paternidad|enfermedad)\b"
          r"|\b(?:permiso|licencia|baja) (?:de|por) (?:maternidad|paternidad)\b|\bestare de vuelta\b|\bregresare\b"
          r"|\bacceso limitado\b|\ben caso de urgencia\b|\brespuesta automatica\b|\bausente\b",
          negatable=False),
    _rule(OUT_OF_OFFICE, "nl_absent", 3,
          r"\bafwezig\b|\bniet op kantoor\b|\b(?:met|op) vakantie\b|\b(?:ouderschaps|zwangerschaps|bevallings)verlof\b"
          r"|\bweer (?:bereikbaar|aanwezig|op kantoor|terug)\b|\bwordt niet doorgestuurd\b|\bautomatisch antwoord\b"
          r"|\bafwezigheidsbericht\b",
          negatable=False),
    _rule(OUT_OF_OFFICE, "pt_absent", 3,
          r"\bfora do escritorio\b|\bde ferias\b|\blicenca[- ](?:maternidade|paternidade)\b|\bestarei de volta\b"
          r"|\bem caso de urgencia\b|\bresposta automatica\b|\bacesso limitado\b",
          negatable=False),
    _rule(OUT_OF_OFFICE, "it_absent", 3,
          r"\bfuori (?:ufficio|sede)\b|\bin ferie\b|\bcongedo (?:parentale|di maternita|di paternita|per maternita)\b"
          r"|\brientrero\b|\bsaro di ritorno\b|\bper urgenze\b|\brisposta automatica\b|\bassente\b",
          negatable=False),

    _rule(OUT_OF_OFFICE, "pl_absent", 3,
          r"\b(?:jestem|przebywam) (?:na (?:urlopie|zwolnieniu|l4)|poza biurem|w podrozy)\b|\bna urlopie (?:macierzynskim|"
          r"rodzicielskim|wypoczynkowym)\b|\bpoza biurem\b|\bodpowiedz automatyczna\b|\bnie pracuje juz\b"
          r"|\bpo (?:moim )?powrocie\b|\bograniczonym dostepem\b", negatable=False),
    _rule(OUT_OF_OFFICE, "cjk_absent", 3,
          r"不在にして|休暇(?:を|中)|出張中|退職(?:いた|し)|自動返信|休業|産休|育休|夏季休暇|年末年始|"
          r"休假|不在办公室|出差|已离职|离职|自动回复|放假|产假|休產假|自動回覆|"
          r"휴가\s?중|부재\s?중|출장\s?중|퇴사|자동\s?(?:회신|응답)|출산\s?휴가|육아\s?휴직|복귀", negatable=False),
    _rule(OUT_OF_OFFICE, "ru_absent", 3,
          r"\bв отпуске\b|\bнет в офисе\b|\bкомандировк\w*|\bбольше не работает\b|\bавтоответ\w*|\bдекрет\w*"
          r"|\bвне офиса\b|\bограничен\w* доступ\w*", negatable=False),
    _rule(OUT_OF_OFFICE, "nordic_absent", 3,
          r"\bpa semester\b|\bsemester till\b|\binte pa kontoret\b|\bforaldraledig\b|\bhar slutat\b|\bautomatiskt svar\b"
          r"|\btjansteresa\b|\bholder ferie\b|\bpa ferie\b|\bferie (?:til|indtil)\b|\bikke pa kontoret\b|\bpa barsel\b"
          r"|\bbarselsorlov\b|\bforeldrepermisjon\b|\bpermisjon\b|\bikke laengere ansat\b|\bhar sluttet\b|\bautosvar\b"
          r"|\bautomatisk svar\b|\bforretningsrejse\b|\bpa reise\b|\blomalla\b|\bpoissa toimistolta\b|\baitiyslomalla\b"
          r"|\bisyyslomalla\b|\bei enaa tyoskentele\b|\bautomaattinen vastaus\b|\btyomatkalla\b", negatable=False),
    _rule(OUT_OF_OFFICE, "cs_tr_absent", 3,
          r"\bna dovolene\b|\bmimo kancelar\b|\bmaterske\b|\brodicovske\b|\bnepracuje\b|\bautomaticka odpoved\b"
          r"|\bsluzebni ceste\b|\bizindeyim\b|\bizinde\w*|\bofis disinda\w*|\bcalismiyor\b|\botomatik yanit\b"
          r"|\bis seyahatinde\w*|\bdogum izn\w*|\byillik izn\w*", negatable=False),
    # round 8: sick or in hospital, in every language (an absence: "Bin krankgeschrieben, melde mich nächste Woche"
    # is out of office, not a time to come back; out-of-office wins a tie with not_now)
    _rule(OUT_OF_OFFICE, "sick", 3, _fold_pattern(
          r"\b(?:i'?m|i am|currently|am) (?:off |out )?sick\b|\boff sick\b|\bin (?:the )?hospital\b|\bkrankgeschrieben\b"
          r"|\b(?:bin|ist|bin gerade|bin derzeit) krank\b|\bim krankenhaus\b|\ben arret maladie\b|\bhospitalise\w*|\bde baja medica\b"
          r"|\bestoy enferm[oa]\b|\bhospitalizad[oa]\b|\bestou doente\b|\bde atestado\b|\binternad[oa]\b|\bin malattia\b"
          r"|\bin ospedale\b|\b(?:ben|is) ziek\b|\bziek thuis\b|\bin het ziekenhuis\b|\bna zwolnieniu\b|\bjestem chor[ya]\b"
          r"|\bw szpitalu\b|\b(?:jsem|je) (?:\w+ ){0,3}nemocn[aáy]\b|\bv nemocnici\b|\bpracovni neschopnost\w*|\bна больничном\b"
          r"|\bв больнице\b|\bболею\b|\bsjukskriven\b|\bsjukskrivning\b|\bsygemeldt\b|\ber syg\b|\bsykmeldt\b|\bsjukmeld\w*"
          r"|\ber syk\b|\bsairauslomalla\b|\bsairaana\b|\bsairaalassa\b|\bhastay[iı]m\b|\braporluyum\b|\bhastanede\w*"
          r"|体調不良|入院|病假|住院|병가|입원"), negatable=False),

    # ---------------- positive ----------------
    # round 8: a calendar's "X has accepted this invitation" (the meeting the outreach asked for is on)
    _rule(POSITIVE, "accepted_invitation", 3, _fold_pattern(
          r"\bhas accepted (?:this|your|the) (?:invitation|invite|meeting)\b|\bhat (?:diese|die|ihre|deine) einladung angenommen\b"
          r"|\ba accepte (?:cette|votre|l')\s?invitation\b|\bha aceptado (?:esta|la|su|tu) invitacion\b"
          r"|\baceitou (?:este|o|esse|seu) convite\b|\bha accettato (?:questo|il|l')\s?invito\b"
          r"|\bheeft (?:deze|de|je|uw) uitnodiging geaccepteerd\b|\bzaakceptowal\w* (?:to |twoje |pana |pani )?zaproszenie\b"
          r"|\bprijal\w* (?:tuto |vasi |vase )?pozvan\w*|\bпринял\w* (?:это |ваше )?приглашение\b"
          r"|\bhar accepterat (?:den har |din )?inbjudan\b|\bhar accepteret (?:denne |din )?invitation\b"
          r"|\bhar godtatt (?:denne |din )?invitasjonen\b|\bhyvaksyi (?:taman |kutsun|kokouskutsun)\w*|\bdaveti kabul etti\b"
          r"|招待を承諾|出席を承諾|已接受(?:此|您的)?邀请|接受了(?:您的|此)?邀请|초대를 수락"), negatable=False),
    _rule(POSITIVE, "meeting", 2,
          r"\blet'?s (?:talk|chat|connect|meet|set up|schedule|find|do it|do a|hop|jump|book|discuss|get|speak)\b"
          r"|\b(?:book|schedule|set up|arrange|set|find)\s+(?:a |some |up a )?(?:call|meeting|demo|time|chat|session|"
          r"\d+ minutes)\b"
          r"|\b(?:mon|tues|wednes|thurs|fri)day\b.{0,30}\b(?:works|is fine|suits|is good|at \d)"
          r"|\bworks for me\b|\bi'?m free\b|\bfree (?:on|at|next|this|tomorrow)\b|\bavailable (?:on|at|next|this|"
          r"tomorrow)\b|\bdo you have (?:\d+|some|a few) (?:minutes|min|mins|time)\b|\bcalendly\b|\bmy calendar\b"
          r"|\bcall me\b|\bsend (?:me |us )?(?:an? )?(?:calendar )?invite\b|\bhow (?:about|does) (?:mon|tue|wed|thu|"
          r"fri|next|tomorrow)\b|\bwe can (?:talk|chat|meet|discuss)\b|\blooking forward\b"),
    _rule(POSITIVE, "interest", 2,
          r"\bsounds (?:good|great|interesting|promising|useful)\b"
          r"|\b(?:i'?m|i am|we'?re|we are|i'?d be|we'?d be|would be)\s+(?:very\s+|definitely\s+|quite\s+|really\s+|"
          r"potentially\s+)?interested\b"
          r"|\binterested in (?:learning|hearing|seeing|a demo|talking|trying|the)\b|\btell me more\b"
          r"|\b(?:happy|glad|keen|open) to (?:chat|talk|connect|meet|take a look|jump|hop|learn|discuss|explore)\b"
          r"|\bwould (?:love|like|be happy|be glad) to (?:chat|talk|learn|see|hear|meet|connect|discuss|try|get)\b"
          r"|\bwant to hear more\b|\bgreat timing\b|\btimely\b|\bcount me in\b|\blet'?s do it\b"
          r"|\bwe'?d like (?:a|to)\b|\bmove quickly\b|\bloop in\b"),
    _rule(POSITIVE, "info_request", 2,
          r"\bsend (?:me |us )?(?:over )?(?:some |more |the |a |your )?(?:more )?(?:info|information|details|deck|"
          r"pricing|price list|prices|proposal|quote|case stud(?:y|ies)|brochure|overview|one-pager|materials?|"
          r"recording|slides)\b"
          r"|\b(?:what|how much) (?:would|does|will|is) (?:this|it|the) (?:cost|pricing|price)\b|\bquote for\b"
          r"|\bcan you share\b|\b(?:send|share) (?:me |us )?(?:a |the )?(?:proposal|quote)\b"),
    _rule(POSITIVE, "weak", 1,
          r"\bdemo\b|\bpricing\b|\btrial\b|\binteresting\b|\babsolutely\b|\bsure\b"),
    _rule(POSITIVE, "yes", 2,
          r"(?:yes|yeah|yep|sure|absolutely|definitely|ja|oui|si|sim|ja graag|volentieri|gerne|claro|certo)"
          r"(?:\s+(?:please|thanks|thank you|bitte|gerne|graag|por favor))*",
          clause=True),
    _rule(POSITIVE, "de_positive", 2,
          r"\bklingt (?:gut|interessant|spannend)\b|\bgerne\b|\blassen sie uns\b|\btermin\b|\btelefonieren\b"
          r"|\bmehr informationen\b|\binteressiert\b"),
    _rule(POSITIVE, "fr_positive", 2,
          r"\bca m'interesse\b|\bavec plaisir\b|\bvolontiers\b|\bje suis disponible\b|\bun appel\b"
          r"|\bprenons rendez-vous\b|\bm'envoyer (?:une|de la|plus d'|des)\s*\w+"),
    _rule(POSITIVE, "es_positive", 2,
          r"\bme interesa\b|\bpodemos hablar\b|\bsuena bien\b|\bmas informacion\b|\bagendar\b|\breunion\b"
          r"|\bnos interesa\b"),
    _rule(POSITIVE, "nl_positive", 2,
          r"\bklinkt goed\b|\bgraag\b|\bmeer informatie\b|\bafspraak\b|\binteressant\b"),
    _rule(POSITIVE, "pt_positive", 2,
          r"\btenho interesse\b|\btemos interesse\b|\bmarcar uma reuniao\b|\bmais informacoes\b|\bpodemos conversar\b"),
    _rule(POSITIVE, "it_positive", 2,
          r"\bmi interessa\b|\bci interessa\b|\bpossiamo sentirci\b|\bvolentieri\b|\bpiu informazioni\b"
          r"|\bfissare una call\b"),

    # round 6: a short yes without the cue words above: a confirmation, a time, "send me times / an invite"
    _rule(POSITIVE, "agree", 2, *map(_fold_pattern, _AGREE)),
    # ---------------- not now: later, a time to come back (round 6: LATER) ----------------
    _rule(NOT_NOW, "later", 3, *map(_fold_pattern, _LATER), negatable=False),
    _rule(NOT_NOW, "for_now", 2, *map(_fold_pattern, _FOR_NOW), negatable=False),
    # ---------------- a decline: other (round 6; was "negative") ----------------
    # round 8: "neither now nor later" is a decline, not a time to come back (weight above not_now's two cues)
    _rule(OTHER, "not_now_nor_later", 6, _fold_pattern(
          r"\bneither now nor (?:later|ever|in the future)\b|\bnot now(?:,)? (?:and )?not (?:later|ever)\b|\bnot now or (?:later|ever)\b"
          r"|\b(?:derzeit|jetzt|aktuell|momentan) nicht und auch (?:spater |kunftig |in zukunft )?nicht\b"
          r"|\bnu niet en (?:ook )?later (?:ook )?niet\b|\bni ahora ni (?:despues|mas adelante|en el futuro|nunca)\b"
          r"|\bnem agora nem (?:depois|no futuro|mais tarde|nunca)\b|\bne ora ne (?:in futuro|dopo|mai|piu avanti)\b"
          r"|\bni maintenant ni (?:plus tard|jamais|a l'avenir)\b|\bani teraz,? ani (?:pozniej|w przyszlosci|nigdy)\b"
          r"|\bani ted,? ani (?:pozdeji|v budoucnu|nikdy)\b|\bни сейчас,? ни (?:потом|позже|в будущем)\b|\bи вряд ли будем\b"
          r"|\bvarken nu eller (?:senare|framover|nagonsin)\b|\bhverken nu eller (?:senere|fremover)\b"
          r"|\bverken na eller (?:senere|seinare|i framtiden)\b|\bei nyt eika (?:myohemmin|tulevaisuudessa|koskaan)\b"
          r"|\bne simdi ne (?:de )?(?:sonra|ileride)\b|以后也不会|将来也不会|今後も(?:予定は)?(?:ありません|ございません)"
          r"|앞으로도 (?:계획이 )?없"), negatable=False),
    _rule(OTHER, "not_interested", 3,
          r"\bnot (?:\w+ )?interested\b|\bno interest\b|\bnot for us\b|\bnot relevant\b|\bnot (?:a|the) (?:good |right )?"
          r"(?:fit|match)\b|\bi'?ll pass\b|\bwe'?ll pass\b|\bpass on this\b|\bno,? thanks?(?: you)?\b"
          r"|\bnot something we\b|\bdon'?t need (?:it|this|that|anything)\b|\bno need for\b"
          r"|\boverkill\b|\btoo (?:small|early|expensive) for us\b|\bno budget\b|\bunfortunately\b",
          negatable=False),
    _rule(OTHER, "have_solution", 3,
          r"\balready (?:use|using|have|work with|working with|signed|got|chose|went with|partner)\b"
          r"|\bwe'?ve (?:already )?got a solution\b|\bhappy with (?:our|them|\w+)\b|\b(?:we'?re|we are) all set\b"
          r"|\bin-?house\b|\bwent with\b|\bgo(?:ing)? with (?:another|a different)\b|\banother vendor\b"
          r"|\b(?:signed|under|locked into?) (?:a |our )?(?:[\w-]+ )?(?:contract|current vendor)\b|\blocked in(?:to)?\b"
          r"|\b(?:just )?renewed (?:with|our)\b",
          negatable=False),
    _rule(OTHER, "wrong_person", 2,
          r"\bnot the right (?:person|contact)\b|\bwrong person\b|\bnot my (?:area|department|responsibility)\b",
          negatable=False),
    _rule(OTHER, "no", 2,
          r"(?:no|nope|nah|no thanks|no thank you|nein|nein danke|non merci|nee|nee dank je|no grazie|nao obrigado)",
          clause=True, negatable=False),
    _rule(OTHER, "de_decline", 3,
          r"\bkein (?:interesse|bedarf)\b|\bnicht interessiert\b|\bnicht (?:mehr )?relevant\b",
          negatable=False),
    _rule(OTHER, "fr_decline", 3,
          r"\bpas interesse\w*|\bdeja une solution\b|\bpas (?:de |d')(?:budget|besoin)\b|\bne (?:m'|nous )interesse pas\b",
          negatable=False),
    _rule(OTHER, "es_decline", 3,
          r"\bno (?:estamos|estoy) interesad[oa]s?\b|\bno (?:me|nos) interesa\b|\bya (?:tenemos|usamos)\b",
          negatable=False),
    _rule(OTHER, "nl_decline", 3, r"\bgeen interesse\b|\bniet geinteresseerd\b", negatable=False),
    _rule(OTHER, "pt_decline", 3,
          r"\bnao (?:temos|tenho) interesse\b|\bnao (?:estamos|estou) interessad[oa]s?\b", negatable=False),
    _rule(OTHER, "it_decline", 3,
          r"\bnon (?:siamo|sono) interessat[io]\b|\bnon (?:ci|mi) interessa\b", negatable=False),
)

# round 3 (replies-train3): request forms of every language the corpus authors wrote differently
_REMOVE_VERB = (r"(?:remove|delete|togliete|rimuovete|cancellate|haal|verwijder\w*|usun\w*|wypisz\w*|"
                r"ta (?:ocksa |aven )?bort|tag (?:ogsa )?bort|fjern\w*|poista\w*|quit(?:a|en|ad|ar|enme|adme|ame)|"
                r"sa(?:ca|quen|cad|car)|elimin\w*|retir(?:ez|er|ar|e|en|ad|em|a)|supprim\w*|entfern\w*|streich\w*|"
                r"nehmen sie|удалит\w*|уберит\w*|исключит\w*|vyrad\w*|odstran\w*|smaz\w*|silin\w*|silmek|"
                r"cikar\w*|tirem|removam|exclua\w*|excluir|excluam|exclude)")
_COLLEAGUE = (r"(?:colleague|colleagues|coworker|co-worker|assistant|collega|colleghi|kolleg\w*|kolega\w*|companer\w*|"
              r"colega\w*|collegue\w*|collaborateurs|kollega\w*|коллег\w*|asistent\w*|assistente|medarbejder\w*|medarbetar\w*|"
              r"everyone|everybody|iedereen|personal|personeel|mitarbeiter\w*|herkes\w*|wszystkich|всех|employees|staff|"
              r"funcionarios|empleados|dipendenti|medewerkers|ansatte|anstallda|tyontekij\w*|zamestnanc\w*|"
              r"pracownik\w*|сотрудник\w*|calisan\w*)")
RULES = (*RULES,
    _rule(OPT_OUT, "colleague_off_any", 0.9,
          rf"\b{_REMOVE_VERB}\b(?:\s+\S+){{0,4}}\s+{_COLLEAGUE}\b",
          r"(?:同事|同僚|동료)[^.!?\n]{0,20}(?:删除|移除|删掉|削除|外して|삭제|빼)",
          temporal=True),
    _rule(OPT_OUT, "no_follow_up_any", 0.9,
          r"\bnicht (?:mehr |weiter |weiterhin |wieder )?nach(?:fassen|haken)\b|\bkein(?:e)? (?:weiteres? )?nachfassen\b"
          r"|\bfolj inte upp\b|\bfolg(?:e)? ikke (?:op|opp)\b|\bikke folg (?:op|opp)\b|\bniet (?:meer )?opvolgen\b"
          r"|\bne (?:me |nous )?relancez (?:pas|plus)\b|\bne plus (?:me |nous )?relancer\b"
          r"|\bno (?:me |nos )?(?:hagan|haga|den) (?:mas )?seguimiento\b|\bnon (?:mi |ci )?ricontattate\b"
          r"|\bnao (?:me |nos )?(?:contatem|procurem) (?:mais|novamente)\b|\bnie kontaktujcie sie (?:ze mna )?wiecej\b"
          r"|\bdo not contact\s*(?:[.!\n]|$)|\bdon'?t contact (?:me|us) again\b"
          r"|\bne (?:souhaite|veux|desire|voulons|souhaitons) (?:pas|plus) (?:etre )?(?:re)?contacte\w*"
          r"|\bno (?:deseo|quiero|deseamos) (?:ser|volver a ser) contactad\w*|\bnao (?:desejo|quero) (?:ser|voltar a ser) contactad\w*"
          r"|\bnon (?:desidero|voglio) (?:essere|piu essere) (?:ri)?contattat\w*"
          r"|\b(?:mochte|will|wollen|mochten) nicht (?:mehr |weiter )?kontaktiert werden\b"
          r"|\bwil niet (?:meer )?(?:benaderd|gecontacteerd) worden\b"
          r"|\blad vaere med at (?:skrive|sende|maile|kontakte)\b|\bno (?:me |nos )?(?:vuelvas|vuelvan|vuelva) a "
          r"(?:escribir|contactar|enviar|mandar)\b|\bnon serve che (?:mi |ci )?(?:ricontatt|contatt|scriv)\w*"
          r"|\b(?:prosze )?nie (?:pisac|wysylac|przysylac)\b(?! (?:teraz|dzis|w tym))"
          r"|\b(?:ich sagte|ich habe gesagt|j'ai dit|dije|eu disse|ho detto|ik zei|powiedzial\w*|rekl\w* jsem|sanoin|"
          r"dedim|я сказал\w*|jag sa|jeg sa(?:gde)?)\s+(?:stop\w*|arrete\w*|basta|para|pare|ne)\b"
          r"|(?:메일|이메일|연락)(?:은|는|을|를)?\s?(?:받고\s?싶지\s?않|원하지\s?않)"
          r"|不要再跟进|别再跟进|不用再跟进|フォローアップは不要|후속\s?연락(?:은|을)?\s?(?:하지|마)",
          negatable=False, temporal=True),
    _rule(OPT_OUT, "no_more_ads_any", 0.9,
          r"\bingen (?:mer |fler |flere )?reklam(?:e|er)?\b|\bikke (?:mere|mer|flere) reklame\b|\bkeine werbung\b"
          r"|\bpas de pub(?:licite)?\b|\bgeen reclame\b|\bniente pubblicita\b|\bbasta pubblicita\b|\bzadne reklamy\b"
          r"|\bbez reklam\b|\bei mainoksia\b|\breklam istemiyorum\b|\bникакой рекламы\b|\bticari ileti istemiyorum\b"
          r"|\bnie wyrazam zgody na (?:otrzymywanie|przesylanie)\b|広告メールは不要|不要广告|광고\s?메일\s?(?:사절|거부)",
          negatable=False, temporal=True),
    _rule(OPT_OUT, "one_word_any", 0.93,
          r"(?:please\s+)?(?:pare|parem|dur|durdurun|stopp|slutt|sluta|lopeta|lopettakaa|prestante|przestancie|"
          r"cancellazione|cancellami|cancellatemi|wypisac|wypisz|odhlasit|odhlaste|avmeld|afmeld|avregistrera|"
          r"uitschrijven|desinscrire|desabonner|descadastro|abmeldung|austragen|otpisat\w*|отписаться|отпишите|"
          r"解除|配信解除|配信停止|退订|退訂|수신거부|수신\s?거부)"
          r"(?:\s+(?:please|pls|thanks|thx|grazie|dzieki|dziekuje|obrigado|obrigada|danke|merci|tack|takk|tak|kiitos|"
          r"tesekkurler|dekuji|спасибо|prosim|prosze|por favor|per favore|lutfen|bitte|svp|graag))*",
          clause=True),
    # round 8: "from now on, no need to send me these" (以后 / 今后 is "hereafter" here, not "later"), "今後のご案内は
    # ご遠慮ください": on all 24,227 corpus rows these hit 21 and 61 opt-outs and nothing else
    _rule(OPT_OUT, "zh_hereafter_no_more", 0.9,
          _fold_pattern(r"(?:以后|今后|以後|今後)[^。.!?？！]{0,8}(?:不用|不要|别|不必|無需|无需)[^。.!?？！]{0,6}(?:发|寄|联系|推送|打扰)")),
    _rule(OPT_OUT, "ja_hereafter_decline", 0.9,
          _fold_pattern(r"今後[^。.!?？！]{0,15}(?:ご遠慮|控えて|不要です|結構です|送らないで|送付しないで|停止して)")),
)

# round 8 (replies-langs8): Ukrainian, Romanian, Hungarian and Greek first-class; each kind of rule the 18 languages
# have, written as they are spelled (folded by _fold_pattern: no accents, Greek final sigma as σ, Ukrainian ї as і)
_REMOVE_VERB_R8 = (r"(?:видаліть|видалить|приберіть|виключіть|вилучіть|scoateti|stergeti|eliminati|excludeti|torol\w*"
                   r"|traieu|esborreu|elimineu|suprimiu|hapus|keluarkan|xoa"
                   r"|διαγραψτε|αφαιρεστε|βγαλτε)")
_COLLEAGUE_R8 = (r"(?:колег\w*|співробітник\w*|працівник\w*|усіх|всіх|colega\w*|colegul\w*|angajat\w*|toti|kolleg\w*"
                 r"|munkatars\w*|osszes|συναδελφ\w*|υπαλληλ\w*|ολουσ|company|companya|rekan|karyawan|staf|semua|dong nghiep|nhan vien|toan bo)")
RULES = (*RULES,
    _rule(OPT_OUT, "uk_vidpysaty", 0.95, *map(_fold_pattern, (
          r"\bвідпиш(?:іть|и)\b|\bвідписати (?:мене|нас)\b|\bвідписку\b"
          r"|\b(?:прибрати|видалити|виключити|відписати) мене\b|\bмене (?:прибрати|видалити|виключити|відписати)\b"
          r"|\b(?:видаліть|видалить|приберіть|виключіть|викресліть|вилучіть|зніміть) (?:мене|нас|мою|мої|мій|нашу|наші)\b",
          r"\bне (?:пишіть|надсилайте|шліть|присилайте|турбуйте|контактуйте|телефонуйте)\b"
          r"|\b(?:припиніть|перестаньте|досить|годі) (?:мені |нам )?(?:писати|надсилати|слати|присилати|спамити|турбувати)\b"
          r"|\bне хочу (?:більше )?отримувати\b|\bне (?:зв'язуйтеся|зв'язуватися|контактувати)\b"
          r"|\bне треба (?:більше )?(?:слати|писати|надсилати)\b|\bне надсилати (?:мені|нам)\b|\bдосить (?:вже )?(?:листів|спаму|розсилок)\b",
          r"\bце спам\b|\bяк спам\b|\bзаперечую проти\b")),
          negatable=False, temporal=True, topic=True),
    _rule(OPT_OUT, "ro_dezabonare", 0.95,
          r"(?<!nu ma )(?<!nu ne )\bdezabonati(?:-ma|-ne)?\b|\bajunge cu (?:\w+ )?(?:emailuri|mesaje|spam)\w*|\bsa (?:ma|ne) (?:dezabonati|scoateti|stergeti|eliminati|excludeti)\b"
          r"|\b(?:scoateti|stergeti|eliminati|excludeti)-(?:ma|ne)\b"
          r"|\b(?:scoateti|stergeti|eliminati) (?:adresa|datele|numele) (?:mea|mele|meu|noastra|noastre)\b"
          r"|\bnu(?:-mi| imi| ne| ma| mi)? mai (?:trimiteti|scrieti|contactati|deranjati)\b|\bincetati sa\b"
          r"|\bnu (?:mai )?(?:doresc|vreau|dorim|vrem) sa (?:mai )?primesc\w*|\bnu (?:mai )?doresc (?:publicitate|emailuri|mesaje)\b"
          r"|\bnu (?:mai )?(?:doresc|vreau) sa (?:fiu|mai fiu) contactat\w*|\b(?:acesta|asta|mesajul|emailul) (?:este|e) spam\b|\bca spam\b|\bma opun\b",
          negatable=False, temporal=True, topic=True),
    _rule(OPT_OUT, "hu_leiratkozas", 0.95,
          r"\biratkoztass(?:on|anak)? le\b|\bleiratkoztat(?:ni|nanak|nal)\b|\bleiratkozom\b"
          r"|\btorol(?:jenek|jek|jon|je)\b(?:\s+\S+){0,4}?\s+(?:a |az )?(?:\w+ )?(?:listar|listaj|adatbazis|nyilvantartas|"
          r"cimlist|levelezolist|rendszer)\w*"
          r"|\btorol(?:jenek|jek|jon) (?:engem|minket|az e-?mail ?cimem|a cimem|az adataim|a szemelyes adataim)\w*"
          r"|\bvegyenek le\b|\bvegyen le\b|\blevennenek\b|\bkikeruljek\b"
          r"|\bne (?:kuldjenek|kuldjon|irjanak|irjon|keressenek|keressen|zaklassanak|zaklasson)\b"
          r"|\bhagyj(?:ak|a) abba\b|\bnem kerek (?:tobb|tobbet|semmilyen|reklam)\w*|\bnem (?:szeretnek|akarok|kivanok) (?:tobb|tobbet|tovabbi)\b"
          r"|\bne vegyek fel\b.{0,20}\bkapcsolat|\beleg (?:mar )?(?:ezekbol a |a )?level\w*|\btorol(?:jenek|jek) (?:kezzel|ki)\b|\bez spam\b|\bspamkent\b|\btiltakozom\b",
          negatable=False, temporal=True, topic=True),
    _rule(OPT_OUT, "el_apeggrafi", 0.95, *map(_fold_pattern, (
          r"(?:απεγγραψτε|διαγραψτε|αφαιρεστε|βγαλτε) (?:με|μασ)\b|(?:να )?(?:με|μασ) (?:διαγραψετε|αφαιρεσετε|βγαλετε|απεγγραψετε)\b"
          r"|(?:διαγραψτε|αφαιρεστε|βγαλτε) (?:τη διευθυνση μου|το email μου|τα (?:προσωπικα )?(?:μου )?δεδομενα)|(?<!δεν )θελω να απεγγραφω",
          r"μη(?:ν)? (?:μου|μασ) (?:στελνετε|ξαναστειλετε|ξαναγραψετε|γραφετε)|μη(?:ν)? (?:με|μασ) (?:ξαναενοχλησετε|ενοχλειτε|ενοχλησετε)"
          r"|μην επικοινωνησετε|σταματηστε να (?:μου |μασ )?(?:στελνετε|γραφετε)|δεν (?:θελω|επιθυμω) να (?:λαμβανω|δεχομαι)"
          r"|δεν (?:θελω|επιθυμω) (?:αλλα|αλλεσ|διαφημιστικα)",
          r"ειναι spam|ωσ ανεπιθυμητο|αντιτιθεμαι|φτανει (?:πια )?με τα (?:email|μηνυματα|μειλ)")),
          negatable=False, temporal=True, topic=True),
    _rule(OPT_OUT, "ca_baixa", 0.95,
          r"\bdoneu-(?:me|nos) de baixa\b|(?<!no )\b(?:em|ens) doneu de baixa\b|(?<!no )\b(?:voldria|vull|volem) donar-(?:me|nos) de baixa\b"
          r"|\b(?:esborreu|traieu|elimineu|suprimiu|treieu)(?:-me|-nos| la meva adreca| les meves dades| el meu correu)\b"
          r"|\b(?:em|ens) (?:podrieu|podeu|voleu) (?:treure|esborrar|donar de baixa)\b|\bque (?:em|ens) (?:traguessiu|esborressiu)\b"
          r"|\bno (?:m'|em |ens )?envieu (?:mes|cap)\b|\bno m'envieu\b|\bdeixeu d'(?:enviar|escriure)\w*"
          r"|\bno (?:vull|volem) (?:rebre (?:cap|mes)|publicitat)\b|\bno (?:em|ens) torneu a (?:escriure|contactar|enviar)\b"
          r"|\bno (?:em |ens )?contacteu\b|\bno (?:em|ens) molesteu\b|\bcorreu brossa\b|\bcom a brossa\b|\bm'oposo\b"
          r"|\bprou (?:correus|missatges)\b|\bsuprimiu-les\b",
          negatable=False, temporal=True, topic=True),
    _rule(OPT_OUT, "id_berhenti", 0.95,
          r"\bberhenti(?:kan)? (?:langganan|berlangganan)\b|\bunsubscribe(?:kan)? saya\b"
          r"|\b(?:hapus|keluarkan|coret|copot)(?:lah)? (?:saya|sy|kami|email saya|alamat saya|data (?:pribadi )?saya|nama saya)\b"
          r"|\b(?:mengeluarkan|menghapus) (?:saya|kami)\b|\bsaya dihapus\b"
          r"|\bjangan (?:kirim|kirimi|mengirim|hubungi|menghubungi|ganggu|email|spam)\w*\b"
          r"|\bberhenti (?:mengirim|menghubungi|mengirimi|spam)\w*|\btidak (?:mau|ingin) (?:menerima|dihubungi|dikirimi|iklan)\w*"
          r"|\bini spam\b|\bsebagai spam\b|\bkeberatan data saya\b|\bcukup sudah dengan (?:email|pesan)\w*",
          negatable=False, temporal=True, topic=True),
    _rule(OPT_OUT, "vi_huy_dang_ky", 0.95,
          r"\bhuy dang ky\b|\b(?:xoa|go|loai)(?: bo)? (?:toi|chung toi|email cua toi|dia chi (?:email )?cua toi|"
          r"du lieu (?:ca nhan )?cua toi)\b|\brut ten\b"
          r"|\b(?:dung|khong duoc) (?:gui|lien he|lien lac|lam phien|nhan tin)\b|\bngung (?:gui|lien he|lien lac)\b"
          r"|\bdung lien he voi toi\b|\btoi khong muon (?:nhan|duoc lien he)\b|\bkhong muon nhan\b"
          r"|\bla thu rac\b|\bphan doi viec\b",
          negatable=False, temporal=True, topic=True),
    _rule(OPT_OUT, "colleague_off_r8", 0.9,
          _fold_pattern(rf"\b{_REMOVE_VERB_R8}\b(?:\s+\S+){{0,4}}\s+{_COLLEAGUE_R8}\b"),
          _fold_pattern(rf"\b{_COLLEAGUE_R8}\b(?:\s+\S+){{0,5}}\s+{_REMOVE_VERB_R8}\b"),
          temporal=True),
    _rule(OPT_OUT, "said_stop_r8", 0.9,
          _fold_pattern(r"\b(?:я сказав|я сказала|am spus|azt mondtam|ειπα|he dit|saya bilang|sudah saya bilang|toi da noi)\s*,?\s+(?:stop|стоп|σταματηστε)\b"),
          negatable=False, temporal=True),
    _rule(OPT_OUT, "no_more_ads_r8", 0.9,
          _fold_pattern(r"\b(?:не надсилати мені рекламу|без реклами|nu doresc publicitate|fara publicitate|nem kerek reklamot"
                        r"|δεν επιθυμω διαφημιστικα|οχι διαφημισεισ)\b"),
          negatable=False, temporal=True),
    _rule(OPT_OUT, "one_word_r8", 0.93,
          _fold_pattern(r"(?:відписатися|відписка|відпишіть|dezabonare|dezabonati-ma|leiratkozas|leiratkozom|απεγγραφη|διαγραφη"
                        r"|baixa|donar-me de baixa|berhenti berlangganan|berhenti|huy dang ky)"
                        r"(?:\s+(?:будь ласка|дякую|va rog|multumesc|mersi|kerem|koszonom|παρακαλω|ευχαριστω|si us plau|gracies|tolong|terima kasih|cam on|vui long))*"),
          clause=True),
    _rule(OUT_OF_OFFICE, "r8_absent", 3, *map(_fold_pattern, (
          r"у відпустці|у відрядженні|немає в офісі|не в офісі|поза офісом|автоматична відповідь|автовідповідь"
          r"|більше не працює|декретн\w* відпустц\w*|на лікарняному|обмежен\w* доступ\w*|після повернення|коли повернуся",
          r"\bin concediu\b|\bin afara biroului\b|\bin delegatie\b|\braspuns automat\b|\bnu mai lucreaza\b"
          r"|\bconcediu (?:de maternitate|medical|de odihna)\b|\bacces limitat\b|\bla (?:intoarcere|revenire)\b|\bcand revin\b",
          r"\bszabadsagon\b|\bnem vagyok az irodaban\b|\birodan kivul\b|\bhivatalon kivul\b|\bautomatikus valasz\b"
          r"|\buzleti uton\b|\bmar nem dolgozik\b|\bszulesi szabadsag\w*|\bbetegszabadsag\w*|\bkorlatozott\b.{0,25}\bhozzaferes\w*"
          r"|\bvisszateresem utan\b",
          r"αυτοματη απαντηση|εκτοσ γραφειου|σε αδεια|σε αναρρωτικη|αδεια μητροτητασ|επαγγελματικο ταξιδι"
          r"|περιορισμενη προσβαση|δεν εργαζεται πλεον|οταν επιστρεψω",
          r"\bresposta automatica\b|\bfora de l'oficina\b|\bsoc fora\b|\bde vacances\b|\bde baixa per (?:maternitat|paternitat|malaltia)\b"
          r"|\bviatge de feina\b|\bacces limitat\b|\bquan torni\b|\bja no treballa\b",
          r"\bbalasan otomatis\b|\bdi luar kantor\b|\bsedang cuti\b|\bcuti (?:melahirkan|sakit|tahunan)\b|\bdinas luar\b"
          r"|\bsudah tidak bekerja\b|\bakses (?:email )?terbatas\b|\bsetelah kembali\b|\bsaya cuti\b",
          r"\btra loi tu dong\b|\bnghi phep\b|\bkhong co mat tai van phong\b|\bdi cong tac\b|\bnghi thai san\b|\bnghi om\b"
          r"|\bkhong con lam viec\b|\btruy cap email han che\b|\bkhi quay lai\b")), negatable=False),
    _rule(POSITIVE, "r8_positive", 2, *map(_fold_pattern, (
          r"(?<!не )цікаво|мені цікаво|(?<!не )цікавить|комерційну пропозицію|скільки (?:це )?коштує"
          r"|розкажіть (?:детальніше|більше)",
          r"\bsunt interesat\w*|\bsuntem interesati\b|\bsuna interesant\b|\bo oferta\b|\bcat costa\b|\bspuneti-mi mai multe\b"
          r"|\bmai multe detalii\b|\bputem face\b",
          r"(?<!nem )\berdekel\b|\berdekes\b|\barajanlat\w*|\bdemot\b|\bmennyibe kerul\b|\bmondjon tobbet\b",
          r"(?<!δεν )(?<!δεν με )(?<!δεν μασ )ενδιαφερ\w*|μια προσφορα|ποσο κοστιζει|πειτε μου περισσοτερα",
          r"(?<!no )\bm'interessa\b|\bsona be\b|\bem va be\b|\benvieu-me (?:la proposta|algunes hores|hores|la invitacio)"
          r"|\bfem una trucada\b|\bparlem-ne\b|\bexpliqueu-me\w*",
          r"\b(?:saya|kami) tertarik\b|(?<!tidak )\bmenarik\b|\bpenawaran harga\b|\bberapa biaya\w*|\bceritakan lebih\b"
          r"|\bmari kita (?:bicara|telepon|diskusi)\b|\bkedengarannya bagus\b",
          r"\btoi quan tam\b|\bthu vi\b|\bbao gia\b|\bchi phi\b.{0,30}\bbao nhieu\b|\bcho toi biet them\b|\bnghe hay\b"))),
    _rule(OTHER, "r8_decline", 3, *map(_fold_pattern, (
          r"не цікав\w*|(?:уже|вже) є (?:постачальник|рішення)|у нас (?:уже|вже) є|не та людина|не за адресою",
          r"\bnu (?:ma|ne) intereseaza\b|\bnu (?:sunt|suntem) interesat\w*|\bavem deja\b|\bnu sunt persoana potrivita\b",
          r"\bnem erdekel\w*|\bnem erdekes\b|\bmar van (?:szolgaltato|megoldas|partner)\w*|\bnem en vagyok az illetekes\b",
          r"δεν (?:με|μασ) ενδιαφερει|δεν ενδιαφερομαι|εχουμε ηδη|δεν ειμαι το καταλληλο ατομο",
          r"\bno (?:m'|ens )interessa\b|\bja tenim (?:proveidor|una solucio)\b|\bno soc la persona\b",
          r"\btidak tertarik\b|\bsudah punya (?:vendor|solusi)\b|\bbukan orang yang tepat\b",
          r"\bkhong quan tam\b|\bda co nha cung cap\b|\bkhong phai nguoi phu trach\b")), negatable=False),
)

_BY_LABEL = {label: tuple(r for r in RULES if r.label == label) for label in LABELS}

# text just before a match that cancels it ("don't", "no need to", "I didn't", "please do not", ...)
_NEGATOR = re.compile(
    r"(?:\b(?:don'?t|dont|do not|didn'?t|didnt|did not|doesn'?t|does not|won'?t|will not|wouldn'?t|would not|"
    r"no need to|not|never|nicht|ne|n'|no|non|nao|niet|geen|kein|nem|δεν|μη|μην|tidak|jangan|khong)\b"
    r"(?:\s+(?:want|wish|need|mean|intend|plan|ask|asking|asked|going|you|for|to|me|mi|nos|us|please|pls|ever|"
    r"actually|really|even|yet|bitte|sie|mich|have|want you|wanna|gonna))*\s*)$"
)
# a wish negated just before an unsubscribe word, in any language: "no quiero darme de baja", "non voglio
# disiscrivermi", "nechci se odhlásit", "я не хочу отписываться", "我不想退订"; or just after it in Turkish,
# Japanese and Korean ("abonelikten çıkmak istemiyorum", "配信停止はしないで", "수신거부하지 않을게요")
_NEG_WANT_BEFORE = re.compile(
    r"(?:\b(?:no (?:quiero|deseo|queremos|pretendo|necesito)|non (?:voglio|vogliamo|desidero|intendo)|"
    r"nao (?:quero|queremos|desejo|pretendo|preciso)|ne (?:veux|souhaite|voulons|souhaitons|desire) pas|"
    r"(?:mochte|will|wollen|mochten|muss) (?:mich |uns )?(?:gar |doch )?nicht|(?:wil|willen|hoef) (?:me |mij |ons )?niet|"
    r"nechci|nechceme|nie chce|nie chcemy|(?:vil|onsker) ikke|vill inte|en (?:halua|aio)|emme halua|"
    r"no (?:me |nos )?(?:voy|vamos) a|nao (?:me |nos )?(?:vou|vamos)|ne (?:vais|vas|allons) pas(?: me| nous)?|"
    r"не хочу|не хотим|не надо|не буду|не стану|(?:don'?t|do not|didn'?t|did not) (?:want|wish|intend|mean|need) to|"
    r"(?:don'?t|do not|please don'?t)(?: \w+)?|не хочу|не хочемо|не треба|nu (?:vreau|doresc|vrem|dorim)|nem (?:akarok|szeretnek|kivanok)"
    r"|δεν (?:θελω|θελουμε|επιθυμω)|no (?:vull|volem|voldria|desitjo)|tidak (?:mau|ingin)|khong muon)\b(?:\s+\w+){0,2}\s*"
    r"|(?:不想|不要|不用|不打算|不会|並不想|并不想)(?:帮我|幫我|给我)?\s*)$")
_NEG_WANT_AFTER = re.compile(
    r"^\s*(?:\w+\s+)?(?:istemiyorum|istemiyoruz|istemem|niyetim yok)\b|^\s*(?:\w+\s+)?(?:mochte|will|werde) ich (?:mich |uns )?nicht\b"
    r"|^\s*не (?:буду|стану|хочу)\b|^\s*(?:は|を)?\s*しなくて|^\s*(?:se |si |sie )?(?:nechci|nechceme|nie chce)\b"
    r"|^\s*(?:は|を)?\s*(?:しないで|しません|したくない|希望しません|不要です)"
    r"|^\s*(?:는|은|를|을)?\s*(?:하지\s?않|안\s?할|원하지\s?않)")
# a wish negated just before a request in any language ("je ne veux pas me désinscrire", "jag vill inte ...")
_NEG_WANT_STRICT = re.compile(
    r"\b(?:no (?:quiero|deseo|queremos)|non (?:voglio|vogliamo|desidero)|nao (?:quero|queremos|desejo)|"
    r"ne (?:veux|souhaite|voulons|souhaitons|vais|vas|allons) pas|(?:mochte|will|wollen|mochten) (?:mich |uns )?(?:gar |doch )?nicht|"
    r"no (?:me |nos )?(?:voy|vamos) a|nao (?:me |nos )?(?:vou|vamos)|(?:wil|willen) (?:me |mij |ons )?niet|nechci|nechceme|nie chce|nie chcemy|(?:vil|onsker) ikke|vill inte|"
    r"en halua|emme halua|не хочу|не хотим|(?:don'?t|do not|didn'?t|did not) (?:want|wish|intend|mean) to"
    r"|не хочемо|nu (?:vreau|doresc|vrem|dorim)|nem (?:akarok|szeretnek)|δεν (?:θελω|θελουμε|επιθυμω)|no (?:vull|volem|voldria)|tidak (?:mau|ingin)|khong muon)\b"
    r"(?:\s+\w+){0,2}\s*$")
# a sentence that holds a request word but is no request of the writer: a question about a product's
# unsubscribe feature or about the writer's recipients, a list server's notice, a disclaimer, "add me back"
_NOT_A_REQUEST = re.compile(
    r"(?:\b(?:tool|tools|product|platform|software|app|feature|api|plugin|integration|herramienta|strumento|ferramenta|"
    r"outil|werkzeug|narzedz\w*|nastroj\w*|verktyg\w*|vaerktoj\w*|verktoy\w*|tyokalu\w*|arac\w*|инструмент\w*|"
    r"платформ\w*|alat|kontak|pelanggan|menangani|cong cu|nen tang|xu ly|recipients|subscribers|customers|clients|users|leads|prospects|empfanger|abonnenten|destinataires|"
    r"abonnes|destinatarios|suscriptores|destinatari|iscritti|contacts|contatos|contactos|contatti|kontakte|kontakty|"
    r"kontakter|yhteystie\w*|kisiler\w*|контакт\w*|gerez|gestite|gestionais|gestionan|funciona|handle[sd]?|handling|"
    r"verwaltet|behandelt|hanterar|handterer|sincroniz\w*|synchroni\w*|synced|sync"
    # round 8: "platform" in the other languages, and a question in ja / zh / ko that ends without a question mark
    # ("¿Su plataforma permite darse de baja …?", "La vostra piattaforma gestisce le disiscrizioni?", "…できますか。")
    r"|plataforma|piattaforma|plateforme|plattform|gestisce|gestiona|gerencia)\b"
    r"|ツール|機能|工具|平台|功能|툴|기능|플랫폼|处理|處理|처리|処理|同步|연락처|联系人|連絡先|솔루션|系统|システム)"
    r"[^.!?\n]*(?:\?|(?:か|吗|嗎|나요|까요|습니까)\s*(?:[.\n]|$))"
    r"|\b(?:you have (?:been )?(?:successfully )?unsubscribed|you'?ve been unsubscribed|successfully unsubscribed|"
    r"vous (?:vous )?(?:etes|avez ete) desabonne\w*|du har (?:nu )?(?:blivit )?avprenumerer\w*|"
    r"if you (?:have )?received (?:this|it) (?:e-?mail |message )?(?:in error|by mistake)|add (?:me|us) back|"
    r"re-?subscribe|sign (?:me|us) (?:back )?up again|re-?add\w*|reinscri\w*|riaggiung\w*|reiscriv\w*|"
    r"incluir de novo|(?:me |nos )?incluam de novo|volver a (?:suscribir|anadir|agregar)\w*|wieder (?:aufnehmen|hinzufugen|eintragen)|"
    r"opnieuw (?:toevoegen|inschrijven|aanmelden)|lisaa (?:minut|meidat) takaisin|tilbage pa listen|tilbake pa listen|"
    r"tillbaka pa listan|znovu (?:pridat|prihlasit)|tekrar ekle\w*|ponownie (?:dodac|zapisac|dopisac)|"
    r"by (?:mistake|accident)|par erreur|if you (?:need|want|wish|would like) to (?:be )?(?:unsubscribe|removed|opt)\w*|"
    r"if your (?:e-?mail|message|request|enquiry|inquiry) (?:concerns|is about|relates to)|"
    r"(?:when|if|once|after) (?:they|a contact|contacts|someone|people|a user|users|recipients|a recipient|a lead|leads) "
    r"(?:\w+ ){0,2}(?:unsubscribe|opt out|opts? out)\w*|(?:can|could|how do|how can) (?:i|we) (?:remove|delete|exclude) "
    r"(?:a|an|the|our|my) (?:contact|lead|prospect|user|record|recipient)s?|"
    r"sem querer|por (?:error|engano)|per errore|versehentlich|per ongeluk|"
    r"vahingossa|omylem|yanlislikla|ved en fejl|ved en feil|av misstag|przez pomylke|по ошибке|случайно|"
    r"old (?:e-?mail )?address|ancienne adresse|vecchio indirizzo|e-?mail antigo|endereco antigo|direccion antigua|"
    r"alte (?:e-?mail-?)?adresse|oude (?:e-?mail)?adres|stary adres|starou adresu|gamle adresse|gamla adress\w*|"
    r"vanha\w* (?:sahkoposti)?osoit\w*|eski adres\w*|старый адрес|старую почту"
    # round 7: a move to a new address ("nicht mehr an diese Adresse, sondern an die neue", "tylko na nowy")
    r"|(?:my |the |a )?new (?:e-?mail )?address|neue (?:e-?mail-?)?adresse|nouvelle adresse|nueva direccion|novo endereco"
    r"|nuovo indirizzo|nieuwe (?:e-?mail)?adres|(?:tylko )?na nowy|nowy adres|novou adresu|nova adresa|ny (?:e-?post)?adress?e?"
    r"|uusi\w* osoit\w*|uuteen osoitteeseen|yeni adres\w*|новый адрес|новую почту|на новый)\b"
    r"|已成功退订|您已成功|해지가\s?완료|不小心|误操作|誤って|間違えて|실수로|重新(?:加|订阅|添加)|再登録|다시\s?(?:추가|구독)|旧邮箱|旧地址|旧アドレス|이전\s?주소")


# the same match used as a noun: "unsubscribe requests", "opt-out management"
_TOPIC = re.compile(
    r"\s*(?:[- ]?)(?:requests?|rates?|features?|management|handling|process(?:es|ing)?|flows?|compliance|"
    r"functionality|logic|api|webhooks?|events?|data|metrics|workflows?|links? (?:in|on) (?:your|our) (?:product|tool|"
    r"platform)|links?|buttons?|options?|footers?|pages?|forms?|tracking|automation|reporting|lists? (?:for|of) (?:our|my) )\b"
)
# "lien de désinscription", "enlace para darse de baja", "link di disiscrizione": a link, not a request
_TOPIC_BEFORE = re.compile(r"\b(?:enlace|enlaces|lien|liens|link|links|bouton|botao|boton|pulsante|knop|odkaz|odkazu|"
                           r"linkki|lenke|lenken|lank|lanken|baglanti|ссылк\w*|lien ket|duong dan)\s+(?:\w+\s+){0,2}$"
                           r"|\b(?:handle|handles|handling|manage|manages|process|processes|track|tracks|support|supports|"
                           r"count|counts|measure|das|beim|zum|reduce|reducing|lower|fewer|less|prevent|avoid|"
                           r"minimi[sz]e|cut|les|des|vos|nos|leurs|gerent|gerer|gere|gestionan|gestionar|gestiscono|"
                           r"gerem|beheren|verwalten)\s+(?:\w+[- ]\w+\s+|\w+\s+)?$")
# the same match used as a noun in Japanese / Chinese / Korean: "配信停止のリンク", "退订链接", "수신거부 링크"
_TOPIC_CJK = re.compile(r"\s*(?:を|は)\s*(?:自動|一括|どう|どのように|処理|管理)|\s*(?:は|の)?\s*こちら|\s*(?:の|的)?\s*(?:リンク|管理|機能|設定|方法|率|链接|鏈接|功能|管理|设置|率|吗|嗎|링크|기능|관리|설정|방법|률)")
# "remove me from the meeting invite" in any language: a meeting word in the rest of the sentence and
# no word for a list or for e-mails there
_MEETING_ANY = re.compile(
    r"meeting|invit|calendar|agenda|zaprosz|spotkan|kalendarz|招待|会議|ミーティング|邀请|会议|日历|초대|회의|일정|"
    r"приглашен|встреч|календар|motesinbjudan|inbjudan|inbjudn|modeindkald|moteinnkall|kokouskutsu|kalenter|pozvank|schuzk|"
    r"kalendar|toplanti|davet|reunion|riunion|invito|convite|reuniao|uitnodiging|vergadering|einladung|besprechung|"
    r"conference|dinner|lunch|webinar|party|survey|watermark|integration|trial"
    # round 7: a training or a course the writer signs off from ("Wypisuję się ze szkolenia w czwartek")
    r"|szkoleni|training|workshop|seminar|schulung|formation|formazione|\bcurso|cursus|kurz|kurs|обучени|курс|研修|培训|교육"
    # round 8 (replies-langs8): uk / ro / hu / el / ca / id / vi (folded)
    r"|\breunio\b|undangan|\brapat\b|pertemuan|kalender saya|loi moi hop|cuoc hop|lich cua toi|зустріч|запрошен|нарад|sedint|intalnir|megbeszel|meghiv|talalkoz|naptar|συναντησ|προσκλησ|ημερολογ|συσκεψ")

# round 8: other things than the e-mails a removal or a stop can be about: invoices and bills sent to the
# address, phone calls, an event, a contract or its renewal ("stop sending the invoices to this address", "stop
# calling my mobile", "Stop mit abonnement ved næste fornyelse", "自動更新を解約"). Not a cc: "remove me from the cc"
# stays an opt-out of the writer (docs/decisions.md), although most independent authors label it `other`.
# (in the clause after the match, with no word for a list or for e-mails there)
_NOT_MAILING = re.compile(_fold_pattern(
    r"\bbills?\b|invoice|factur|fattur|faktur|rechnung|boleto|\blaskut\b|\blaskuj|paperilask|\bfatura|счет(?:а|ов)?\b|счет-фактур|"
    r"請求書|发票|發票|청구서|"
    r"\b(?:mobile|cell ?phone|cell|phone|handy|telefon\w*|mobil|mobilen|mobilni|mobilu|kannyk\w*|puhelin\w*|телефон\w*|"
    r"мобильн\w*)\b|手机|电话|電話|携帯|휴대폰|전화|\bevents?\b|\beventet\b|evenement|evenemang|veranstaltung|tapahtum|"
    r"etkinli|мероприяти|イベント|活动|活動|행사|renewal|fornyels|fornyel|fornying|verlangerung|renouvellement|"
    r"renovacion|renovacao|rinnovo|verlenging|odnowieni|prodlouzeni|uusiutu|yenileme|продлени|自動更新|自动续费|续费|갱신|"
    r"\bcontract|vertrag|\bcontrat|contrato|contratto|\bumow|smlouv|sopimu|\bkontrakt|\bavtal|sozlesme|договор|契約|合同|계약"
))
_CC = re.compile(r"\b(?:b?cc|kopi|kopian|kopien|kopia|kopii|kopie|copie|copia|kopio\w*)\b")  # a cc: docs/decisions.md
_LIST_ANY = re.compile(
    r"list|mail|newsletter|database|datenbank|verteiler|rassylk|рассылк|списк|名单|名單|列表|邮件|リスト|配信|メール|명단|"
    r"메일|bestand|bulten|lista|liste|registr|odber|tilaus|розсилк|листів|адресу|baza de date|adatbazis|λιστ|βαση δεδομενων|daftar|milis|danh sach")
# "remove me from the meeting invite": a meeting, a project or a document, not the e-mails
_NOT_MAIL = re.compile(
    r"(?:\s+(?:off|from|of|out of))?\s+(?:the|this|that|your|our|tomorrow'?s|today'?s|next|my)\s+(?:\w+\s+){0,2}"
    r"(?:meeting|invite|invitation|calendar|call|agenda|project|event|zoom|teams call|doc|document|spreadsheet|"
    r"slack|channel|whatsapp|group chat)\b(?!\s+(?:list|mailing))"
)
# a request limited in time is not an opt-out ("do not contact me until I'm back")
_TEMPORAL = re.compile(
    r"\b(?:until|while|whilst|during|before(?! (?:you|u|anyone|someone|somebody|the next|another|any)\b)|this week|today|for now|for the moment|for a (?:few|couple)|"
    r"bis|wahrend|jusqu'|pendant|hasta|mientras|tot|tijdens|ate|enquanto|fino a|durante|for etter|innan|ennen|kadar"
    # round 8: "for the next few months", "avant la fin des vacances", "przed Nowym Rokiem", "do końca miesiąca",
    # "až do Nového roku", "до конца праздников", "tills efter nyår", "indtil", "inntil", "asti", "antes de", "prima di"
    r"|for the (?:next|coming)|over the (?:next|coming)|avant|przed|do konca|az do|do konce|до конца|до (?:нового|праздник\w*)|"
    r"tills|fram till|indtil|inntil|asti|saakka|antes de|antes do|antes da|prima d\w*|vor (?:dem|der|ende)|voor (?:het|de) (?:eind|einde))\b"
    r"|(?:节|節|假|年|月|底)前|まで|까지|这段时间|這段時間|这阵子|先别|先不要|暂时|暫時|当面|しばらく|당분간|잠시"
    # round 8 (replies-langs8): uk / ro / hu / el / ca / id / vi
    r"|\b(?:поки|доки|до кінця|pana (?:la|pe|in)|cat timp|amig|vegeig|\w+ vegeig|μεχρι|οσο|fins (?:a|al|que)|sampai|hingga|selama|den het|cho den|tam thoi)\b"
)
# ... or limited in time before the request ("until the holidays are over, don't write", "春节前先别联系我")
_TEMPORAL_BEFORE = re.compile(
    r"\b(?:until|till|bis (?:nach|zum|zur|ende)|jusqu'?(?:a|au|apres)|hasta (?:despues|el|la|que)|fino a|ate (?:o|a|depois)|"
    r"tot (?:na|de|het)|do konca|до конца|до окончания|до (?:нового года|праздников|весны|осени|января|сентября)|"
    r"for etter|fore|innan|ennen|(?:ocak|subat|yilbasi|bayram)\w* (?:kadar|sonrasina)|kadar)\b"
    r"|(?:节|節|假|年|月|底)前|まで|까지|이후에|후에|这段时间|這段時間|这阵子|暂时|暫時|当面|しばらく|당분간"
    r"|\b(?:до кінця|pana la|vegeig|μεχρι|fins (?:a|al|que)|sampai|hingga|den het|cho den)\b")  # round 8 (replies-langs8)
# round 8: the negation right after a removal, in the languages that put it there: Swedish / Danish / Norwegian
# after the verb and its object ("Avregistrera mig inte", "Fjern mig ikke"), the Turkish negative imperative
# suffix ("listeden çıkarmayın"), Korean "하지 말아 주세요" / "하지 마세요"
_NEG_AFTER = re.compile(r"\s*(?:inte|ikke|ikkje)\b|\s*(?:하지\s?말|하지\s?마|말아)")
_NEG_INSIDE = re.compile(r"\w+\s+(?:\w+\s+)?(?:mig|meg|oss|os|dem|ham|henne|hende|honom)\s+(?:inte|ikke|ikkje)\b")
_NEG_SUFFIX_TR = re.compile(r"\w{3,}(?:ma|me)(?:yin|yiniz|yınız|sın|sin|sinlar)$")
_CLAUSE_BOUNDARY = re.compile(r"[.!?;,:\n()\"]|\s-\s|\b(?:but|aber|mais|pero|maar|ma|mas|however)\b")
_SENTENCE_END = re.compile(r"[.!?;\n]")
_CLAUSE_SPLIT = re.compile(r"[^.!?;,:\n()\"]+")


# round 7: a removal or stop verb in the negative imperative, the clause opening with the negation ("Don't take me
# off, I like these updates", "Ne me retirez pas", "Не отписывайте меня", "Älkää poistako minua", "Ikke slutt å
# sende", "别取消订阅我"): the writer asks to stay. A verb of sending keeps its negation as a request ("Don't email me"):
# only the verbs of removing / stopping of :data:`.semantic.VERBS` count here.
_NEG_IMPERATIVE = re.compile(
    r"^\s*(?:(?:please|pls|bitte|por favor|per favore|s'il (?:vous|te) plait|prosze|пожалуйста|请|請)\s*,?\s*)?"
    r"(?:don'?t|do not|never|ne|no|nao|non|не|nie|ikke|ikkje|alkaa|ala|lad vaere med at|lad vaer med at|别|不要|請不要|请不要"
    r"|nu ma|nu ne|nu mai|nu-mi|μη|μην|jangan|dung)"
    r"(?:\s+(?:me|mi|us|nous|nos|меня|mnie|meg|mig|minua|meita|ever|even|just|yet|мене|нас|ma|ne|με|μασ|saya|kami))*\s*$")


def negated_removal(s: str, a: int, b: int) -> bool:
    """Whether the opt-out match ``s[a:b]`` is a removal / stop verb in the negative imperative (above)."""
    if not _NEG_IMPERATIVE.match(s[_clause_start(s, a): a]):
        return False
    from unify_dash.classify import semantic  # (semantic reads text only; imported here to keep rules light)

    return semantic.removal_verb(s[a:b])


def negated_after(s: str, a: int, b: int) -> bool:
    """Whether the opt-out match ``s[a:b]``, a verb of removing / stopping (not of sending: "Kontakta mig inte
    igen" is a request), is negated right after its verb and object (:data:`_NEG_AFTER`, :data:`_NEG_INSIDE`:
    "Fjern meg ikke fra listen"), or its last word carries the Turkish negative imperative ("çıkarmayın", not
    "göndermeyin")."""
    word = "".join(s[max(0, b - 30): b].split()[-1:] + [re.match(r"\w*", s[b:]).group()])
    if not (_NEG_AFTER.match(s, b) or _NEG_INSIDE.match(s[a:b]) or _NEG_SUFFIX_TR.search(word)):
        return False
    from unify_dash.classify import semantic

    return semantic.removal_verb(s[a:b] + s[b: b + len(word)])


def _clause_end(s: str, pos: int) -> int:
    m = _CLAUSE_BOUNDARY.search(s, pos)
    return m.start() if m else len(s)


def _clause_start(s: str, pos: int) -> int:
    start = 0
    for m in _CLAUSE_BOUNDARY.finditer(s, 0, pos):
        start = m.end()
    return start


@dataclass
class _Hit:
    rule: Rule
    start: int
    end: int


def _hits(f: _Folded, rules: Sequence[Rule]) -> list[_Hit]:
    s = f.s
    hits: list[_Hit] = []
    clauses = None
    for rule in rules:
        if rule.clause:
            if clauses is None:
                clauses = [(m.start(), m.end()) for m in _CLAUSE_SPLIT.finditer(s)]
            for a, b in clauses:
                chunk = s[a:b]
                lead = len(chunk) - len(chunk.lstrip(" '*-_"))
                body = chunk.strip(" '*-_")
                if body and rule.pattern.fullmatch(body) and s[a - 1: a] != '"':  # not a quoted word ("stop")
                    hits.append(_Hit(rule, a + lead, a + lead + len(body)))
            continue
        for m in rule.pattern.finditer(s):
            a, b = m.span()
            if rule.negatable and _NEGATOR.search(s[_clause_start(s, a): a]):
                continue
            if rule.topic and (_NEG_WANT_BEFORE.search(s[_clause_start(s, a): a]) or _NEG_WANT_AFTER.match(s[b: b + 30])):
                continue
            if rule.label == OPT_OUT:
                if _NEG_WANT_STRICT.search(s[_clause_start(s, a): a]) or negated_removal(s, a, b):
                    continue
                start = max((m2.end() for m2 in _SENTENCE_END.finditer(s, 0, a)), default=0)
                stop = _SENTENCE_END.search(s, b)
                if _NOT_A_REQUEST.search(s[start: stop.end() if stop else len(s)]):
                    continue
            if rule.topic and (_TOPIC.match(s, b) or _TOPIC_CJK.match(s, b) or _TOPIC_BEFORE.search(s[max(0, a - 40): a])):
                continue
            if rule.label == OPT_OUT and _NOT_MAIL.match(s, b):
                continue
            if rule.label == OPT_OUT:
                end = _SENTENCE_END.search(s, b)
                rest = s[b: end.start() if end else len(s)]
                if _MEETING_ANY.search(rest) and not _LIST_ANY.search(rest):
                    continue
                clause = s[b: _clause_end(s, b)]
                if _NOT_MAILING.search(clause) and not _LIST_ANY.search(s[a:b] + clause) and not _CC.search(clause):
                    continue  # "stop sending the invoices to this address", "stop calling my mobile"
                if _MEETING_ANY.search(s[a:b]) and not _LIST_ANY.search(s[a:b] + rest):  # "melde mich vom webinar ab"
                    continue
                if negated_after(s, a, b):  # "Avregistrera mig inte", "listeden çıkarmayın", "수신거부 하지 말아주세요"
                    continue
            if rule.temporal or rule.label == OPT_OUT:  # round 8: every opt-out rule (was: 27 flagged)
                end = _SENTENCE_END.search(s, b)
                if _TEMPORAL.search(s[b: end.start() if end else len(s)]) or _TEMPORAL_BEFORE.search(
                        s[max((m2.end() for m2 in _SENTENCE_END.finditer(s, 0, a)), default=0): a]):
                    continue
            hits.append(_Hit(rule, a, b))
    return hits


def declined_unsubscribe(f: _Folded) -> bool:
    """True when the reply says, in any language, that the writer does *not* want to unsubscribe ("No quiero
    darme de baja", "non voglio disiscrivermi", "配信停止はしないでください"): an unsubscribe word cancelled by a
    negated wish just before or after it. Such a reply is not sent to review on the model's word alone."""
    s = f.s
    keep = _KEEP_GETTING.search(s)
    if keep:  # "don't stop now, this is getting interesting", "sigan enviándome el boletín"
        return True
    for rule in _BY_LABEL[OPT_OUT]:
        if not rule.topic:
            if any(negated_removal(s, *m.span()) or negated_after(s, *m.span()) for m in rule.pattern.finditer(s)):
                return True  # "Don't take me off, I like these updates", "Ta inte bort mig" / "Fjern mig ikke"
            continue
        for m in rule.pattern.finditer(s):
            a, b = m.span()
            if negated_removal(s, a, b) or negated_after(s, a, b):
                return True
            if keep or _NEG_WANT_BEFORE.search(s[_clause_start(s, a): a]) or _NEG_WANT_AFTER.match(s[b: b + 30]):
                return True
    return False


def limited_in_time(f: _Folded) -> bool:
    """True when the reply limits something in time ("until March", "nach den Feiertagen", "春节前"): then the
    model alone never makes it an opt-out."""
    return bool(_TEMPORAL.search(f.s) or _TEMPORAL_BEFORE.search(f.s) or _AFTER_TIME.search(f.s))


# "after the holidays", "nach dem Jahresabschluss", "después de las fiestas": a time, not a request
_AFTER_TIME = re.compile(
    r"\b(?:after|nach|apres|despues de|dopo|depois d|na (?:de|het)|po|efter|etter|jalkeen|sonra\w*|после)\b"
    r"(?:\s+\w+){0,3}\s+(?:holidays?|feiertage\w*|ferien|fetes|vacances|fiestas|vacaciones|feste|ferie|ferias|"
    r"vakantie|feestdagen|swietach|svatcich|helgerna|helligdagene|jul|jule\w*|pyhien|bayram\w*|праздник\w*|"
    r"jahresabschluss|quarter|q[1-4]|january|january|januar|janvier|enero|gennaio|janeiro|new year|neujahr|"
    r"summer|sommer|ete|verano|estate|verao|zomer|lato|leto|kesan|yaz\w*)\b"
    r"|(?:节|節|假|年)后|休み明け|以降|연휴\s?(?:이후|후)")


# the writer wants to keep getting the e-mails ("but I want to stay subscribed", "sigan enviándome el boletín")
_KEEP_GETTING = re.compile(
    r"\b(?:(?:don'?t|do not|never) stop(?: now| sending| emailing| writing)?|ikke slutt a sende|sluta inte skicka|"
    r"(?:horen sie|hort|hor) (?:bitte )?nicht auf|n'arretez pas|niet stoppen|no (?:dejen|dejes|paren) de|non smettete|"
    r"nao parem de|nie przestawajcie|neprestavejte|ikke stop med|ala lopeta|durmayin|не прекращайте|"
    r"(?:want|like|wish|happy) to (?:keep|continue) (?:getting|receiving|hearing from you)|still want (?:to (?:get|receive)|these|them|the)"
    r"|want to stay (?:subscribed|on)|(?:je )?veux rester inscrit\w*|continuez a (?:m'|me )?envoyer|sigan (?:enviandome|mandandome)"
    r"|seguir recibiendo|continuate a (?:mandarmi|inviarmi)|continuem (?:enviando|a enviar|mandando)"
    r"|weiterhin (?:den newsletter|erhalten|bekommen|zuschicken|schicken)|stuur (?:de nieuwsbrief )?(?:gewoon )?door"
    r"|gondermeye devam edin|(?:fortsaet|fortsett|fortsatt|fortsatt att|fortsatt a) (?:med at |a |att )?(?:sende|skicka|fa|motta)"
    r"|wysylajcie dalej|posilejte (?:mi )?(?:\w+ )?dal|lahettakaa (?:\w+ )?edelleen|haluan edelleen saada"
    r"|продолжайте (?:присылать|отправлять))\b"
    r"|继续(?:给我)?(?:发|订阅)|还想继续|계속\s?받고\s?싶|引き続き(?:受け取り|購読)|購読は続け")


# a delivery failure (bounce) in the reply's own text, in the corpus languages
BOUNCE = re.compile(
    r"\b(?:undeliverable|delivery (?:status notification|has failed|failed)|could not be delivered|mail delivery failed"
    r"|mailer-daemon|user unknown|address not found|unzustellbar|nicht zugestellt|echec de (?:la )?remise|non remis"
    r"|no se pudo entregar|no entregado|nao (?:foi possivel )?entregue|non (?:e stato )?recapitat\w*|onbestelbaar"
    r"|niet (?:worden )?afgeleverd|nie (?:mozna|mozemy|udalo sie) dostarczyc|niedostarczon\w*|nelze (?:dorucit|doručit)"
    r"|nedoruceno|ei voitu toimittaa|kunne ikke leveres|kunde inte levereras|kunne ikke leveres|teslim edilemedi"
    r"|не (?:доставлено|удалось доставить)"
    # round 7: the wording of delivery reports beyond "undeliverable" (folded)
    r"|returned mail|delivery failure|failure notice|message (?:was )?not delivered|(?:could not|couldn'?t|unable to) deliver (?:your |the |this )?(?:message|e-?mail|mail)"
    r"|recipient address rejected|no such (?:user|mailbox|recipient)|mailbox (?:is )?(?:full|unavailable|not found|does not exist)"
    r"|(?:address|recipient|user) (?:does not|doesn'?t) exist|(?:550|554|552) 5\.\d\.\d|5\.1\.1|permanent (?:error|failure)"
    r"|zustellung (?:\w+ )?(?:fehlgeschlagen|gescheitert)|konnte nicht zugestellt|postfach (?:\w+ ){0,3}voll|adresse (?:existiert nicht|unbekannt)"
    r"|impossible de (?:remettre|distribuer)|adresse (?:introuvable|inconnue)|boite (?:aux lettres )?pleine"
    r"|error (?:de|en la) entrega|buzon lleno|direccion no existe|falha (?:na|de) entrega|caixa (?:postal )?cheia"
    r"|mancata consegna|impossibile consegnare|casella piena|bezorging mislukt|kon niet worden bezorgd|mailbox vol"
    r"|blad dostarczenia|skrzynka (?:jest )?pelna|nepodarilo se doruc\w*|chyba doruceni|leverans misslyckades"
    r"|kunne ikke (?:afleveres|leveres)|levering mislykkedes|toimitus epaonnistui|viestia ei voitu toimittaa"
    r"|iletilemedi|teslimat (?:hatasi|basarisiz)|ошибка доставки|адрес не существует|ящик переполнен)\b"
    r"|配信できませんでした|送信できませんでした|无法投递|無法投遞|退信|전송(?:에)?\s?실패|전달되지\s?않았습니다"
    r"|配信不能|宛先不明|邮件投递失败|投递失败|收件人不存在|배달\s?실패|수신자를 찾을 수 없"
    # round 8: uk / ro / hu / el / ca / id / vi (folded)
    r"|\bне вдалося доставити\b|\bне доставлено\b|\bnu a putut fi (?:livrat|trimis)\w*|\bnelivrabil\w*|\bkezbesithetetlen\w*"
    r"|\bnem sikerult kezbesiteni\b|δεν ηταν δυνατη η παραδοση|αδυναμια παραδοσησ|\bno s'ha pogut (?:lliurar|entregar)\b|\btidak dapat dikirim\b|\bgagal terkirim\b|\bkhong the gui\b|\bkhong gui duoc\b")


# --------------------------------------------------------------------------------------------------
# 5. Headers and subject
# --------------------------------------------------------------------------------------------------

_AUTO_SUBJECT = re.compile(
    r"^\s*(?:automatic reply|auto(?:matic)?[- ]?reply|autoreply|auto-?response|auto|out of (?:the )?office|ooo|"
    r"abwesend|abwesenheitsnotiz|abwesenheit|automatische antwort|reponse automatique|absence|absent|"
    r"respuesta automatica|fuera de la oficina|ausencia|automatisch antwoord|afwezig|afwezigheid|"
    r"risposta automatica|fuori ufficio|resposta automatica|ausente|"
    # round 5: the localized "Automatic reply" / "Out of office" of the other eleven languages (folded)
    r"message d'absence|nicht im buro|niet op kantoor|fuori sede|fora do escritorio|"
    r"odpowiedz automatyczna|autoodpowiedz|nieobecnosc|automatiskt svar|automatisk svar|autosvar|franvaro|"
    r"fravaer|fravaerende|ikke pa kontoret|ej pa kontoret|automaattinen vastaus|poissa|lomavastaaja|"
    r"poissaoloilmoitus|automaticka odpoved|nepritomnost|mimo kancelar|otomatik yanit|ofis disinda|"
    r"автоматически[йи] ответ|автоответ|нет на месте|отсутствую|自動応答|自動返信|自动回复|自動回覆|不在通知|不在|"
    r"автоматична відповідь|автовідповідь|поза офісом|raspuns automat|in afara biroului|automatikus valasz|"
    r"hivatalon kivul|irodan kivul|αυτοματη απαντηση|εκτοσ γραφειου|fora de l'oficina|balasan otomatis|di luar kantor|tra loi tu dong|"
    r"자동 ?회신|자동 ?응답|부재 ?중(?: 자동 ?응답)?)\s*:"
)
_REPLY_SUBJECT = re.compile(r"^\s*(?:re|aw|sv|vs|antw|r|rif|res|ref|fw|fwd|wg|tr|rv|enc)\s*(?:\[\d+\])?\s*:", re.I)


def _header_map(headers) -> dict[str, str]:
    if not headers:
        return {}
    if isinstance(headers, str):
        try:
            headers = json.loads(headers)
        except ValueError:
            return {}
        if not isinstance(headers, Mapping):
            return {}
    return {str(k).strip().lower(): str(v).strip() for k, v in headers.items() if v is not None}


def _auto_reply_header(h: dict[str, str]) -> tuple[str, str] | None:
    """(evidence, kind) when headers say the message is an automatic reply; kind 'reply' or 'generated'."""
    value = h.get("auto-submitted", "").lower()
    if value.startswith("auto-replied"):
        return f"Auto-Submitted: {h['auto-submitted']}", "reply"
    for key, label in (("x-autoreply", "X-Autoreply"), ("x-autorespond", "X-Autorespond"),
                       ("x-autorespond-to", "X-Autorespond"), ("x-auto-reply", "X-Auto-Reply")):
        v = h.get(key, "").lower()
        if v and v not in ("no", "false", "0"):
            return f"{label}: {h[key]}", "reply"
    precedence = h.get("precedence", "").lower().replace("-", "_")
    if precedence == "auto_reply":
        return f"Precedence: {h['precedence']}", "reply"
    if value and value != "no":
        return f"Auto-Submitted: {h['auto-submitted']}", "generated"
    return None

