"""Reply classifier: opt-out request, out-of-office, positive, negative / not now, other.

Rule-based and explainable: every label comes with the phrase that decided it (``evidence``, in the
reply's own spelling), the rule's name and a confidence. Nothing is downloaded; the rules are
declared below as data.

Pipeline (:func:`classify`):

1. **Fold** the text: Unicode compatibility form, accents removed, case folded, curly quotes and
   dashes made plain, letters repeated three or more times squeezed ("pleeease" -> "please"). Every
   folded character remembers its position in the original, so evidence is quoted as written.
2. **Strip** what the sender did not write as a request: quoted earlier messages ("On ... wrote:",
   "> " lines, "-----Original Message-----", Outlook "From: / Sent:" blocks, "Am ... schrieb",
   "Le ... a écrit", forwarded messages), the signature after "-- ", "Sent from my iPhone" and
   what follows, newsletter and mailing-list footers ("click here to unsubscribe", "To
   unsubscribe from this group ...") and legal disclaimers.
3. **Respell** a few typo-prone words ("unsubcribe", "remvoe", "plese", "emailng").
4. **Opt-out** rules run first: any request to stop emailing the recipient (or the address that
   was written to) wins over every other class, because a missed opt-out is a compliance failure.
   A rule does not count when negated ("don't unsubscribe me", "no need to remove me"), when the
   request is only temporary ("do not contact me until I'm back") or when the word is a topic
   ("unsubscribe requests", "opt-out management").
5. **Auto-reply headers / subject** (``Auto-Submitted: auto-replied``, ``X-Autoreply``,
   ``X-Autorespond``, ``Precedence: auto_reply``, "Automatic reply:", "Out of Office:", ...)
   make the reply out-of-office.
6. Otherwise out-of-office, negative and positive cues are scored; the highest score wins (ties:
   out-of-office, then negative, then positive); no cue: other.

Decisions where the brief is silent (docs/decisions.md):

* An auto-reply that asks to remove the address ("X has left the company, please remove this
  address from your list") is an **opt-out**: the request is explicit and concerns the address we
  write to. An auto-reply that only says the person left or is away is **out_of_office**.
* "Remove me from the cc, add my colleague" is an **opt-out** of the person who asked (the
  colleague is a new lead, not opted out).
* Complaints of non-consent ("I never signed up for this", "this is spam") are opt-outs.
* A GDPR access question ("where did you get my data?") is not an opt-out; an erasure or
  objection request is.
"""

from __future__ import annotations

import csv
import functools
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

OPT_OUT = "opt_out"
OUT_OF_OFFICE = "out_of_office"
POSITIVE = "positive"
NEGATIVE = "negative"
OTHER = "other"
LABELS = (OPT_OUT, OUT_OF_OFFICE, POSITIVE, NEGATIVE, OTHER)

DEFAULT_EVAL_SET = Path(__file__).resolve().parents[2] / "tests" / "data" / "replies_eval.csv"


@dataclass(frozen=True)
class Classification:
    """The label of one reply and why."""

    label: str
    evidence: str | None  # the phrase that decided, as written in the reply (or the header / subject)
    confidence: float  # 0..1, a calibrated-by-hand strength of the deciding rule
    rule: str = ""  # name of the deciding rule, e.g. "opt_out.remove_me" or "out_of_office.header"
    source: str = "body"  # where the evidence is: body | headers | subject | none


# --------------------------------------------------------------------------------------------------
# 1. Folding with an index back to the original text
# --------------------------------------------------------------------------------------------------

_CHAR_MAP = {
    "\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'", "\u201b": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2013": "-", "\u2014": "-", "\u2011": "-", "\u2010": "-", "\u2212": "-",
    "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\t": " ", "\u3000": " ",
    "\u200b": "", "\u200c": "", "\u200d": "", "\ufeff": "", "\r": "", "\u00ad": "",
}


@functools.lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    if ch in _CHAR_MAP:
        return _CHAR_MAP[ch]
    if ch.isascii():
        return ch.lower()
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
    r"|den\b.{0,250}\bskrev\b.{0,250}:"  # sv / da / no
    r")\s*$"
)
_SEPARATOR = re.compile(
    r"^\s*(?:-{2,}|_{2,}|={2,})?\s*(?:original message|ursprungliche nachricht|urspr\. nachricht|"
    r"message d'origine|mensaje original|oorspronkelijk bericht|messaggio originale|mensagem original|"
    r"forwarded message|weitergeleitete nachricht|message transfere|mensaje reenviado|"
    r"doorgestuurd bericht|messaggio inoltrato|mensagem encaminhada)\s*(?:-{2,}|_{2,}|={2,})?\s*$"
    r"|^\s*begin forwarded message\s*:\s*$"
)
_HEADER_FROM = re.compile(r"^\s*\*?(?:from|von|de|van|da|fra|od|envoye par)\s*\*?\s*:\s*\S")
_HEADER_NEXT = re.compile(
    r"^\s*\*?(?:sent|date|to|cc|subject|gesendet|datum|an|betreff|envoye|a|objet|date d'envoi|enviado|"
    r"enviada em|enviado el|fecha|para|asunto|verzonden|aan|onderwerp|inviato|oggetto|assunto|data|cc)"
    r"\s*\*?\s*:"
)
_SIG_DELIM = re.compile(r"^\s*--\s*$")
_MOBILE = re.compile(
    r"^\s*(?:sent from (?:my |mail for |yahoo mail|outlook|the \w+ app)|sent with \w+|get outlook for |"
    r"von meinem .{0,30}gesendet|gesendet von (?:meinem|outlook)|envoye (?:de|depuis) (?:mon|outlook)|"
    r"enviado desde (?:mi|outlook)|verstuurd (?:vanaf|met) mijn|verzonden (?:vanaf|met) mijn|"
    r"enviado do (?:meu|outlook)|inviato da (?:iphone|ipad|outlook|il mio|dispositivo))"
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
    r"|diese (?:e-?mail|nachricht).{0,60}vertraulich|wenn sie nicht der (?:richtige|beabsichtigte) (?:adressat|empfanger)"
    r"|ce (?:message|courriel).{0,80}confidentiel|si vous n'etes pas (?:le )?destinataire"
    r"|este (?:mensaje|correo).{0,80}confidencial|si usted no es el destinatario"
    r"|dit (?:e-?mail)?bericht is (?:uitsluitend|vertrouwelijk)|bent u niet de geadresseerde"
    r"|esta mensagem.{0,80}confidencia|se voce nao (?:for|e) o destinatario"
    r"|questo messaggio.{0,80}riservat|se non (?:siete|sei|e) (?:il|i) destinatari"
)
# a sentence ends at . ! ? followed by a space or the end of the line (not inside "a.b@c.com", "v1.2")
_SENTENCE = re.compile(r"\S.*?(?:[.!?]+(?=\s|$)|$)")


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
    in_disclaimer = False
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
            break
        if _SEPARATOR.match(line) or _SIG_DELIM.match(line) or _MOBILE.match(line):
            break
        if re.match(r"^\s*_{8,}\s*$", line) and _HEADER_FROM.match(nxt):
            break
        if _HEADER_FROM.match(line) and any(
            _HEADER_NEXT.match(text_of[k]) for k in range(i + 1, min(i + 5, len(lines)))
        ):
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

RULES: tuple[Rule, ...] = (
    # ---------------- opt-out, English ----------------
    _rule(OPT_OUT, "remove_me", 0.97,
          rf"\b(?:remove|delete|erase|drop|strike|scratch|purge)\s+{_ME}\b"),
    _rule(OPT_OUT, "take_me_off", 0.97,
          rf"\b(?:take|get|cross|strike|drop|scratch|knock)\s+{_ME}\s+(?:off|of|out)\b"),
    _rule(OPT_OUT, "remove_from_list", 0.93,
          rf"\b(?:remove|delete|unsubscribe|take)\s+(?:off|from|out of)\s+(?:of\s+)?{_LIST_STRICT}\b"),
    _rule(OPT_OUT, "remove_someone_from_list", 0.9,
          rf"\b(?:remove|delete|take|drop)\s+(?:\S+@\S+|him|her|them|[a-z]+(?:\s+[a-z]+)?)\s+(?:off|from|out of)"
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
          r"messages|these(?:\s+e-?mails)?|this|the e-?mails|your e-?mails|outreach|follow-?ups|spam)\b",
          temporal=True),
    _rule(OPT_OUT, "stop_alone", 0.93,
          r"(?:please\s+|pls\s+|plz\s+|just\s+|now\s+)?(?:stop|stopp|arret|alto|basta|para|quit|enough)"
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
    # ---------------- opt-out, German ----------------
    _rule(OPT_OUT, "de_abmelden", 0.95,
          r"\babmeld(?:en|ung)\b|\babbestell(?:en|ung)\b|\baustragen\b"
          r"|\bmelde[nt]? (?:sie |du )?(?:mich|uns)(?:(?!nicht)[^.!?\n]){0,60}?\bab\b"
          r"|\btrag(?:en|t)? (?:sie |du )?(?:mich|uns)(?:(?!nicht)[^.!?\n]){0,60}?\baus\b"),
    _rule(OPT_OUT, "de_remove", 0.95,
          r"\b(?:entfernen|loschen|loeschen|streichen) sie (?:mich|uns|meine|unsere)\b"
          r"|\b(?:nehmen|streichen|entfernen|loschen|loeschen) sie (?:mich|uns)\b.{0,40}\b(?:verteiler|liste|datenbank|"
          r"newsletter|kartei|adressliste)"
          r"|\b(?:aus|von)\s+(?:ihrem|ihrer|dem|der|diesem|dieser|ihren|eurem|eurer)\s+(?:verteiler|liste|mailingliste|"
          r"newsletter|e-?mail-?verteiler|datenbank|kontaktliste)\s+(?:\w+\s+)?(?:nehmen|entfernen|streichen|austragen|"
          r"loschen|loeschen)"
          r"|\b(?:meine|unsere) (?:daten|e-?mail-?adresse|kontaktdaten)\b.{0,40}\b(?:loschen|loeschen|entfernen)"
          r"|\bich widerspreche\b"),
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
    _rule(OPT_OUT, "fr_desabonner", 0.95, r"\bdesabonn\w*|\bdesinscri\w*|\bdesinscription\b"),
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
          r"|\bcancelar\b.{0,15}\bsuscripcion\b|\bdesuscrib\w*|\bdesinscrib\w*"),
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
          r"|\baf te melden\b"),
    _rule(OPT_OUT, "nl_remove", 0.95,
          r"\bverwijder (?:me|mij|ons|mijn (?:gegevens|e-?mailadres|adres|e-?mail|naam))\b"
          r"|\b(?:geen|niet langer) (?:e-?mails|mails|emails|berichten|nieuwsbrieven|mailtjes|mailings) meer\b"
          r"|\bgeen (?:e-?mails|mails|emails|berichten) (?:meer )?(?:ontvangen|krijgen)\b"
          r"|\bniet meer (?:\w+ )?(?:mailen|benaderen|contacteren|e-?mailen|sturen|bellen)\b"
          r"|\bgeen contact meer\b|\bstop met (?:het )?(?:mailen|e-?mailen|sturen|benaderen)\b",
          negatable=False, temporal=True),
    # ---------------- opt-out, Portuguese ----------------
    _rule(OPT_OUT, "pt_descadastrar", 0.95,
          r"\bdescadastr\w*|\bcancelar (?:a |minha |o )?(?:inscricao|assinatura|cadastro)\b|\bsair da lista\b"),
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
          r"eliminatemi|eliminarmi)\b|\bdisiscri\w*|\bdisiscrizione\b"),
    _rule(OPT_OUT, "it_no_more", 0.95,
          r"\bnon (?:mi |ci )?(?:contattate|contattatemi|scrivete|scrivetemi|inviate|mandate|contattarmi|scrivermi)\b"
          r".{0,10}\bpiu\b"
          r"|\bnon (?:voglio|desidero|vogliamo|desideriamo) (?:piu )?ricevere\b"
          r"|\bsmettete di (?:scrivermi|inviarmi|contattarmi|mandarmi|scrivere|inviare|contattare)\b"
          r"|\b(?:rimuovete|cancellate|togliete|eliminate|rimuovere|cancellare|eliminare)\s+(?:il mio|la mia|i miei|"
          r"il nostro|i nostri)\s+(?:indirizzo|email|e-?mail|nominativo|dati|contatto|contatti)\b",
          negatable=False, temporal=True),

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

    # ---------------- positive ----------------
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

    # ---------------- negative / not now ----------------
    _rule(NEGATIVE, "not_interested", 3,
          r"\bnot (?:\w+ )?interested\b|\bno interest\b|\bnot for us\b|\bnot relevant\b|\bnot (?:a|the) (?:good |right )?"
          r"(?:fit|match)\b|\bi'?ll pass\b|\bwe'?ll pass\b|\bpass on this\b|\bno,? thanks?(?: you)?\b"
          r"|\bnot something we\b|\bdon'?t need (?:it|this|that|anything)\b|\bno need for\b"
          r"|\boverkill\b|\btoo (?:small|early|expensive) for us\b",
          negatable=False),
    _rule(NEGATIVE, "not_now", 3,
          r"\bnot (?:a|our) (?:priority|focus)\b|\bnot (?:right )?now\b|\bnot at (?:this|the) (?:time|moment)\b"
          r"|\bnot (?:a )?(?:good|the right) time\b|\bnow isn'?t a good time\b|\bbad timing\b|\bmaybe (?:later|next)\b"
          r"|\b(?:reach out|circle back|check back|follow up|try (?:me |us )?(?:again )?|ping me(?: again)?|get back to me|"
          r"revisit(?: this)?|touch base|contact me|reconnect|come back)\s+(?:again\s+)?(?:in|next|after|later|around|"
          r"once)\b"
          r"|\blet'?s revisit\b|\bno budget\b|\bbudgets? (?:is|are) (?:frozen|allocated|spent|tight|cut)\b"
          r"|\b(?:don'?t|do not) have (?:the )?bandwidth\b|\bno bandwidth\b|\bhiring freeze\b",
          negatable=False),
    _rule(NEGATIVE, "have_solution", 3,
          r"\balready (?:use|using|have|work with|working with|signed|got|chose|went with|partner)\b"
          r"|\bwe'?ve (?:already )?got a solution\b|\bhappy with (?:our|them|\w+)\b|\b(?:we'?re|we are) all set\b"
          r"|\bin-?house\b|\bwent with\b|\bgo(?:ing)? with (?:another|a different)\b|\banother vendor\b"
          r"|\b(?:signed|under|locked into?) (?:a |our )?(?:[\w-]+ )?(?:contract|current vendor)\b|\blocked in(?:to)?\b"
          r"|\b(?:just )?renewed (?:with|our)\b|\bcheck in (?:closer to|later|next|again)\b",
          negatable=False),
    _rule(NEGATIVE, "wrong_person", 2,
          r"\bnot the right (?:person|contact)\b|\bwrong person\b|\bnot my (?:area|department|responsibility)\b",
          negatable=False),
    _rule(NEGATIVE, "weak", 1,
          r"\bnext (?:year|quarter)\b|\bin q[1-4]\b|\bunfortunately\b|\bafter the summer\b",
          negatable=False),
    _rule(NEGATIVE, "no", 2,
          r"(?:no|nope|nah|no thanks|no thank you|nein|nein danke|non merci|nee|nee dank je|no grazie|nao obrigado)",
          clause=True, negatable=False),
    _rule(NEGATIVE, "de_negative", 3,
          r"\bkein (?:interesse|bedarf)\b|\bderzeit nicht\b|\bnicht interessiert\b|\bim nachsten jahr\b"
          r"|\bnicht (?:mehr )?relevant\b|\bnicht der richtige zeitpunkt\b",
          negatable=False),
    _rule(NEGATIVE, "fr_negative", 3,
          r"\bpas interesse\w*|\bpas (?:pour le moment|maintenant|pour l'instant)\b|\bdeja une solution\b"
          r"|\bpas (?:de |d')(?:budget|besoin)\b|\bne (?:m'|nous )interesse pas\b|\bce n'est pas le (?:bon )?moment\b",
          negatable=False),
    _rule(NEGATIVE, "es_negative", 3,
          r"\bno (?:estamos|estoy) interesad[oa]s?\b|\bno (?:me|nos) interesa\b|\ben este momento no\b"
          r"|\bya (?:tenemos|usamos)\b|\bno es (?:el|buen) momento\b",
          negatable=False),
    _rule(NEGATIVE, "nl_negative", 3,
          r"\bgeen interesse\b|\bniet geinteresseerd\b|\bop dit moment niet\b|\bvolgend jaar\b"
          r"|\bniet het (?:juiste|goede) moment\b",
          negatable=False),
    _rule(NEGATIVE, "pt_negative", 3,
          r"\bnao (?:temos|tenho) interesse\b|\bnao (?:estamos|estou) interessad[oa]s?\b|\bno momento nao\b"
          r"|\bnao e o (?:melhor )?momento\b",
          negatable=False),
    _rule(NEGATIVE, "it_negative", 3,
          r"\bnon (?:siamo|sono) interessat[io]\b|\bnon (?:ci|mi) interessa\b|\bnon e una priorita\b|\bal momento no\b"
          r"|\briscrivetemi\b|\bnon e il momento\b",
          negatable=False),
)

_BY_LABEL = {label: tuple(r for r in RULES if r.label == label) for label in LABELS}

# text just before a match that cancels it ("don't", "no need to", "I didn't", "please do not", ...)
_NEGATOR = re.compile(
    r"(?:\b(?:don'?t|dont|do not|didn'?t|didnt|did not|doesn'?t|does not|won'?t|will not|wouldn'?t|would not|"
    r"no need to|not|never|nicht|ne|n'|no|non|nao|niet|geen|kein)\b"
    r"(?:\s+(?:want|wish|need|mean|intend|plan|ask|asking|asked|going|you|for|to|me|mi|nos|us|please|pls|ever|"
    r"actually|really|even|yet|bitte|sie|mich|have|want you|wanna|gonna))*\s*)$"
)
# the same match used as a noun: "unsubscribe requests", "opt-out management"
_TOPIC = re.compile(
    r"\s*(?:[- ]?)(?:requests?|rates?|features?|management|handling|process(?:es|ing)?|flows?|compliance|"
    r"functionality|logic|api|webhooks?|events?|data|metrics|workflows?|links? (?:in|on) (?:your|our) (?:product|tool|"
    r"platform)|pages?|forms?|tracking|automation|reporting|lists? (?:for|of) (?:our|my) )\b"
)
# "remove me from the meeting invite": a meeting, a project or a document, not the e-mails
_NOT_MAIL = re.compile(
    r"(?:\s+(?:off|from|of|out of))?\s+(?:the|this|that|your|our|tomorrow'?s|today'?s|next|my)\s+(?:\w+\s+)?"
    r"(?:meeting|invite|invitation|calendar|call|agenda|project|event|zoom|teams call|doc|document|spreadsheet|"
    r"slack|channel|whatsapp|group chat)\b(?!\s+(?:list|mailing))"
)
# a request limited in time is not an opt-out ("do not contact me until I'm back")
_TEMPORAL = re.compile(
    r"\b(?:until|till|til|while|whilst|during|before|this week|today|for now|for the moment|for a (?:few|couple)|"
    r"bis|wahrend|jusqu'|pendant|hasta|mientras|tot|tijdens|ate|enquanto|fino a|durante)\b"
)
_CLAUSE_BOUNDARY = re.compile(r"[.!?;,:\n()\"]|\s-\s|\b(?:but|aber|mais|pero|maar|ma|mas|however)\b")
_SENTENCE_END = re.compile(r"[.!?;\n]")
_CLAUSE_SPLIT = re.compile(r"[^.!?;,:\n()\"]+")


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
                if body and rule.pattern.fullmatch(body):
                    hits.append(_Hit(rule, a + lead, a + lead + len(body)))
            continue
        for m in rule.pattern.finditer(s):
            a, b = m.span()
            if rule.negatable and _NEGATOR.search(s[_clause_start(s, a): a]):
                continue
            if rule.topic and _TOPIC.match(s, b):
                continue
            if rule.label == OPT_OUT and _NOT_MAIL.match(s, b):
                continue
            if rule.temporal:
                end = _SENTENCE_END.search(s, b)
                if _TEMPORAL.search(s[b: end.start() if end else len(s)]):
                    continue
            hits.append(_Hit(rule, a, b))
    return hits


# --------------------------------------------------------------------------------------------------
# 5. Headers and subject
# --------------------------------------------------------------------------------------------------

_AUTO_SUBJECT = re.compile(
    r"^\s*(?:automatic reply|auto(?:matic)?[- ]?reply|autoreply|auto-?response|auto|out of (?:the )?office|ooo|"
    r"abwesend|abwesenheitsnotiz|abwesenheit|automatische antwort|reponse automatique|absence|absent|"
    r"respuesta automatica|fuera de la oficina|ausencia|automatisch antwoord|afwezig|afwezigheid|"
    r"risposta automatica|fuori ufficio|resposta automatica|ausente)\s*:"
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


# --------------------------------------------------------------------------------------------------
# 6. classify
# --------------------------------------------------------------------------------------------------


def clean(text: str | None) -> str:
    """The reply as the classifier reads it: folded, without quotes, signatures, footers, disclaimers."""
    return _respell(_strip(_Folded.of(text or ""))).s.strip()


def classify(text: str | None, headers: Mapping | str | None = None, subject: str | None = None) -> Classification:
    """Label one reply. ``headers`` is a mapping (or a JSON object string) of e-mail headers, any case."""
    f = _respell(_strip(_Folded.of(text or "")))
    h = _header_map(headers)

    # 1. opt-out wins: the strongest opt-out rule that matched
    hits = _hits(f, _BY_LABEL[OPT_OUT])
    if hits:
        best = max(hits, key=lambda x: (x.rule.weight, -x.start, x.end - x.start))
        return Classification(OPT_OUT, f.evidence(best.start, best.end), best.rule.weight, best.rule.id, "body")
    # an opt-out typed in a fresh subject line ("Unsubscribe", "Remove me") with an empty or short body
    if subject and not _REPLY_SUBJECT.match(subject) and not _AUTO_SUBJECT.match(_Folded.of(subject).s):
        fs = _respell(_Folded.of(subject))
        shits = _hits(fs, _BY_LABEL[OPT_OUT])
        if shits:
            best = max(shits, key=lambda x: x.rule.weight)
            return Classification(OPT_OUT, fs.evidence(best.start, best.end), round(best.rule.weight - 0.05, 2),
                                  best.rule.id, "subject")

    # 2. automatic replies by header or subject
    auto = _auto_reply_header(h)
    if auto and auto[1] == "reply":
        return Classification(OUT_OF_OFFICE, auto[0], 0.98, "out_of_office.header", "headers")
    if subject:
        m = _AUTO_SUBJECT.match(_Folded.of(subject).s)
        if m:
            return Classification(OUT_OF_OFFICE, subject[: m.end()].strip(), 0.95, "out_of_office.subject", "subject")

    # 3. scored cues
    scores: dict[str, float] = {}
    best_hit: dict[str, _Hit] = {}
    for label in (OUT_OF_OFFICE, NEGATIVE, POSITIVE):
        seen: set[str] = set()
        for hit in _hits(f, _BY_LABEL[label]):
            if hit.rule.name in seen:  # a rule counts once
                continue
            seen.add(hit.rule.name)
            scores[label] = scores.get(label, 0) + hit.rule.weight
            current = best_hit.get(label)
            if current is None or (hit.rule.weight, -hit.start) > (current.rule.weight, -current.start):
                best_hit[label] = hit  # the strongest cue; among equals, the first in the reply
    if scores:
        order = {OUT_OF_OFFICE: 0, NEGATIVE: 1, POSITIVE: 2}
        label = min(scores, key=lambda k: (-scores[k], order[k]))
        runner_up = max([v for k, v in scores.items() if k != label], default=0)
        confidence = min(0.9, 0.5 + 0.1 * scores[label]) - (0.15 if runner_up else 0.0)
        hit = best_hit[label]
        return Classification(label, f.evidence(hit.start, hit.end), round(confidence, 2), hit.rule.id, "body")
    if auto:  # auto-generated (a bounce, a notification) with no absence wording
        return Classification(OTHER, auto[0], 0.7, "other.auto_generated", "headers")
    return Classification(OTHER, None, 0.5, "other.no_cue", "none")


@functools.lru_cache(maxsize=65536)
def _label_cached(text: str | None) -> str:
    return classify(text).label


def classify_many(texts: Iterable[str | None], headers: Iterable | None = None,
                  subjects: Iterable[str | None] | None = None) -> list[str]:
    """Labels for many replies (same order). Identical texts are classified once."""
    texts = list(texts)
    if headers is None and subjects is None:
        return [_label_cached(t) for t in texts]
    hs = list(headers) if headers is not None else [None] * len(texts)
    ss = list(subjects) if subjects is not None else [None] * len(texts)
    if not (len(hs) == len(ss) == len(texts)):
        raise ValueError("texts, headers and subjects must have the same length")
    return [classify(t, h, s).label for t, h, s in zip(texts, hs, ss, strict=True)]


def register_udfs(con) -> None:
    """Register DuckDB scalar functions (vectorised over Arrow batches):

    * ``reply_label(text)`` -> label
    * ``reply_label_full(text, headers_json, subject)`` -> label
    * ``reply_evidence(text, headers_json, subject)`` -> the deciding phrase (NULL for "other")

    ``SELECT event_id, reply_label(text) FROM events WHERE type = 'reply'``.
    """
    import pyarrow as pa

    try:
        from duckdb.sqltypes import VARCHAR
    except ImportError:  # duckdb < 1.4
        from duckdb.typing import VARCHAR

    def _label(texts):
        return pa.array(classify_many(texts.to_pylist()), type=pa.string())

    def _label_full(texts, hdrs, subjects):
        return pa.array([classify(t, h, s).label for t, h, s in
                         zip(texts.to_pylist(), hdrs.to_pylist(), subjects.to_pylist(), strict=True)], type=pa.string())

    def _evidence(texts, hdrs, subjects):
        return pa.array([classify(t, h, s).evidence for t, h, s in
                         zip(texts.to_pylist(), hdrs.to_pylist(), subjects.to_pylist(), strict=True)], type=pa.string())

    import duckdb

    for name, fn, arity in (("reply_label", _label, 1), ("reply_label_full", _label_full, 3),
                            ("reply_evidence", _evidence, 3)):
        try:
            con.remove_function(name)
        except duckdb.InvalidInputException:  # not registered on this connection yet
            pass
        # "special" null handling: a NULL text with auto-reply headers is still an out-of-office
        con.create_function(name, fn, [VARCHAR] * arity, VARCHAR, type="arrow", null_handling="special")


# --------------------------------------------------------------------------------------------------
# 7. Evaluation against the labelled set
# --------------------------------------------------------------------------------------------------


def load_eval_set(path: str | Path = DEFAULT_EVAL_SET) -> list[dict]:
    """Rows of the labelled set: id, text, headers (dict or None), subject, label, split, lang, tags."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["headers"] = json.loads(row["headers"]) if row.get("headers") else None
        row["subject"] = row.get("subject") or None
        if row["label"] not in LABELS:
            raise ValueError(f"{path}: row {row['id']}: unknown label {row['label']!r}")
    return rows


@dataclass
class EvalReport:
    n: int
    accuracy: float
    per_class: dict[str, dict[str, float]]  # label -> precision, recall, f1, support, predicted
    confusion: dict[str, dict[str, int]]  # true -> predicted -> count
    errors: list[dict] = field(default_factory=list)  # rows with predicted label and evidence

    def metric(self, label: str, name: str) -> float:
        return self.per_class[label][name]


def evaluate(rows: Sequence[Mapping]) -> EvalReport:
    """Classify every row and compare with its label."""
    confusion = {t: {p: 0 for p in LABELS} for t in LABELS}
    errors: list[dict] = []
    for row in rows:
        c = classify(row["text"], row.get("headers"), row.get("subject"))
        confusion[row["label"]][c.label] += 1
        if c.label != row["label"]:
            errors.append({**row, "predicted": c.label, "evidence": c.evidence, "rule": c.rule})
    per_class = {}
    for label in LABELS:
        tp = confusion[label][label]
        support = sum(confusion[label].values())
        predicted = sum(confusion[t][label] for t in LABELS)
        precision = tp / predicted if predicted else 1.0
        recall = tp / support if support else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support,
                            "predicted": predicted}
    n = len(rows)
    correct = sum(confusion[label][label] for label in LABELS)
    return EvalReport(n, correct / n if n else 1.0, per_class, confusion, errors)
