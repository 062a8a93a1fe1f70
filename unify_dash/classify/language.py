"""Which language a reply is written in, and whether the classifier knows it.

The writing system decides first (Hangul: Korean; kana: Japanese; Han alone: Chinese; Greek: Greek, covered
since round 8; Arabic, Hebrew, Thai, Devanagari, ...: a language the classifier does not cover). Latin and
Cyrillic text goes to py3langid (a PyPI package that ships its model; nothing is fetched), with normalised
probabilities, unless letters that only one language writes decide first (Slovak ľ ĺ ŕ, Serbian, ...: not
covered; Vietnamese ơ ư đ and its tone marks, Ukrainian і ї є ґ, Hungarian ő ű, Romanian ș ț ă: covered since round 8). Close relatives of a covered
language (Slovak, Afrikaans, Galician, ...: :data:`NEIGHBOURS`) count as covered: the model reads them. A language counts as *unknown* only when the identifier is sure of it (probability >=
:data:`SURE`) on a text long enough to be sure (>= :data:`MIN_LETTERS` letters): a short "STOP" that
py3langid calls Slovenian is not routed anywhere.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

# the languages the corpus (tests/data/replies) and so the model cover
# round 8 (branch replies-langs8): first-class, with rules and hand-written replies (author r8l); not yet in the
# calibrated per-language review thresholds (replies.REVIEW_AT_BY_LANGUAGE), so they use the lowest one
ADDED_ROUND8 = ("uk", "ro", "hu", "el", "ca", "id", "vi")
SUPPORTED = ("en", "de", "fr", "es", "nl", "pt", "it", "pl", "ja", "zh", "ko", "ru", "sv", "da", "no", "fi", "cs", "tr",
             *ADDED_ROUND8)
ALIASES = {"nb": "no", "nn": "no"}
SURE = 0.95
MIN_LETTERS = 25

# script name (first word of the Unicode character name) -> language when it identifies one alone
_SCRIPT_LANG = {"HANGUL": "ko", "HIRAGANA": "ja", "KATAKANA": "ja", "ARABIC": "ar", "HEBREW": "he", "GREEK": "el",
                "THAI": "th", "DEVANAGARI": "hi", "BENGALI": "bn", "TAMIL": "ta", "GEORGIAN": "ka", "ARMENIAN": "hy",
                "ETHIOPIC": "am", "GUJARATI": "gu", "TELUGU": "te", "KANNADA": "kn", "MALAYALAM": "ml", "KHMER": "km",
                "LAO": "lo", "MYANMAR": "my", "SINHALA": "si", "GURMUKHI": "pa"}


# letters that only one language writes (round 8: vi, uk, hu, ro are covered now) (Vietnamese first: it shares ă with Romanian, đ with
# Croatian); two of them (one in a short reply) make the language surely not covered
_LETTER_LANG = (("vi", frozenset("ơưđ") | frozenset(chr(c) for c in range(0x1EA0, 0x1EFA))),
                ("uk", frozenset("іїєґ")), ("be", frozenset("ў")), ("sr", frozenset("ђћљњџј")),
                ("mk", frozenset("ѓќѕ")), ("hu", frozenset("őű")), ("ro", frozenset("șțţă")),
                ("sk", frozenset("ľĺŕ")), ("is", frozenset("ðþ")), ("lv", frozenset("āēīūļņķģ")),
                ("lt", frozenset("ėįų")), ("hr", frozenset("đ")))
# relatives of a covered language that the model reads well enough (py3langid's guess on short text)
NEIGHBOURS = {"sk": "cs", "af": "nl", "fy": "nl", "gl": "es", "ms": "id", "lij": "it", "lb": "de", "nn": "no",
              "nb": "no", "an": "es", "ast": "es", "oc": "fr", "wa": "fr", "co": "it", "fo": "da"}


def _letter_language(text: str, letters: int) -> str | None:
    lower = text.lower()
    for code, chars in _LETTER_LANG:
        n = sum(lower.count(ch) for ch in chars)
        if n >= 2 or (n == 1 and letters <= 30):
            return code
    return None


@dataclass(frozen=True)
class Language:
    code: str | None  # ISO 639-1 guess, None for a text without letters
    confidence: float  # 0..1
    known: bool  # True unless the text is surely in a language the classifier does not cover

    @property
    def maybe_unknown(self) -> bool:
        """The best guess is a language outside SUPPORTED (and none of their close relatives), sure or not."""
        return bool(self.code) and self.code not in SUPPORTED and self.code not in NEIGHBOURS


@functools.lru_cache(maxsize=64)
def _script(ch: str) -> str:
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return ""
    if name.startswith("CJK") or name.startswith("KANGXI"):
        return "HAN"
    return name.split(" ", 1)[0]


@functools.lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect(text: str | None) -> Language:
    """The language of ``text`` (best on the reply as the sender wrote it, quotes stripped)."""
    counts: dict[str, int] = {}
    for ch in text or "":
        if ch.isalpha():
            script = _script(ch)
            counts[script] = counts.get(script, 0) + 1
    letters = sum(counts.values())
    if not letters:
        return Language(None, 0.0, True)
    script, n = max(counts.items(), key=lambda kv: kv[1])
    if counts.get("HIRAGANA") or counts.get("KATAKANA"):
        return Language("ja", 1.0, True)
    if script == "HAN":
        return Language("zh", 1.0, True)
    if script in _SCRIPT_LANG:
        code = _SCRIPT_LANG[script]
        return Language(code, n / letters, code in SUPPORTED or n / letters < 0.5)
    if script in ("LATIN", "CYRILLIC"):
        by_letter = _letter_language(text or "", letters)
        if by_letter:
            return Language(by_letter, 0.95, by_letter in SUPPORTED)
    code, p = _identifier().classify(text)
    code = ALIASES.get(code, code)
    sure = p >= SURE and letters >= MIN_LETTERS
    return Language(code, round(float(p), 3), code in SUPPORTED or code in NEIGHBOURS or not sure)
