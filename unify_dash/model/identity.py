"""Email identity: one normal form, so that an opt-out covers every spelling of the same address.

An email is normalised once, everywhere (loads, actions, CLI, look-ups): Unicode NFKC (full-width
and compatibility forms fold to their plain letters), trimmed, lower-cased, and an internationalised
domain converted to its ASCII (punycode, IDNA 2008 with UTS 46 mapping) form, e.g.
``Bob@Bücher.example`` -> ``bob@xn--bcher-kva.example``.

Characters a person cannot see are refused, not silently removed: control characters, zero-width
characters (U+200B..U+200D, U+2060, U+FEFF), bidirectional marks and overrides (U+200E/F,
U+202A..U+202E, U+2066..U+2069) and every other Unicode "format" character. ``bob\\u200b@acme.com``
would otherwise be a second contact that Bob's opt-out does not cover.

Addresses mixing scripts inside one part (Latin ``a`` beside Cyrillic ``а`` in ``pаypal.com``) are
*flagged* (:func:`look_alike`): they may be legitimate, so a load warns and names the row.
"""

from __future__ import annotations

import unicodedata

import idna

from unify_dash.errors import ValidationError


def hidden_characters(text: str) -> list[tuple[int, str]]:
    """``(position, "U+200B ZERO WIDTH SPACE")`` for every control or format character of ``text``
    (position 1-based). Ordinary spaces are not hidden (they are trimmed, or make an address invalid)."""
    out = []
    for i, ch in enumerate(text or "", start=1):
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"):
            out.append((i, f"U+{ord(ch):04X} {unicodedata.name(ch, 'control character')}"))
    return out


def describe_hidden(found: list[tuple[int, str]]) -> str:
    shown = ", ".join(f"{name} at character {pos}" for pos, name in found[:3])
    more = f" and {len(found) - 3} more" if len(found) > 3 else ""
    return f"contains a character that cannot be seen: {shown}{more}; retype the address without it"


def normalize_email(text: str, what: str = "email") -> str:
    """The normal form of an email address; :class:`ValidationError` when it hides characters or its
    domain is not a valid (internationalised) domain name. Does not judge the rest of the syntax."""
    raw = "" if text is None else str(text)
    found = hidden_characters(raw)
    if found:
        raise ValidationError(f"{what} {raw!r} {describe_hidden(found)}")
    value = unicodedata.normalize("NFKC", raw).strip().lower()
    local, at, domain = value.rpartition("@")
    if not at or domain.isascii():
        return value
    try:
        ascii_domain = idna.encode(domain.rstrip("."), uts46=True).decode("ascii")
    except idna.IDNAError as err:
        raise ValidationError(f"{what} {raw!r}: the domain {domain!r} is not a valid domain name ({err})") from None
    return f"{local}@{ascii_domain}"


def _script(ch: str) -> str | None:
    if not ch.isalpha():
        return None
    name = unicodedata.name(ch, "")
    return name.split(" ")[0] if name else None


def _unicode_domain(domain: str) -> str:
    labels = []
    for label in domain.split("."):
        if label.startswith("xn--"):
            try:
                label = idna.decode(label)
            except idna.IDNAError:
                pass
        labels.append(label)
    return ".".join(labels)


def look_alike(email: str) -> str | None:
    """Why ``email`` may imitate another address (letters of several scripts mixed in its local part
    or in one domain label, punycode included), or None."""
    local, _, domain = (email or "").rpartition("@")
    for part in [local, *_unicode_domain(domain).split(".")]:
        scripts = sorted({s for s in map(_script, part) if s})
        if len(scripts) > 1:
            return (f"mixes {' and '.join(s.title() for s in scripts)} letters in {part!r}: it may imitate "
                    f"another address")
    return None
