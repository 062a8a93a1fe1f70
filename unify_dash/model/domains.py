"""Company domains, normalised the way a user expects.

``https://www.Acme.com/about``, ``WWW.ACME.COM`` and ``acme.com`` are one company.
Free-mail domains never make two people one company.
"""

from __future__ import annotations

import re

FREE_MAIL_DOMAINS = frozenset(
    """
    gmail.com googlemail.com yahoo.com yahoo.co.uk yahoo.fr ymail.com rocketmail.com
    outlook.com hotmail.com hotmail.co.uk hotmail.fr live.com msn.com icloud.com me.com mac.com
    aol.com protonmail.com proton.me pm.me gmx.com gmx.de gmx.net web.de mail.com zoho.com
    yandex.com yandex.ru mail.ru qq.com 163.com 126.com fastmail.com hey.com tutanota.com
    comcast.net verizon.net att.net sbcglobal.net orange.fr free.fr laposte.net libero.it
    """.split()
)

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
    return domain is not None and domain in FREE_MAIL_DOMAINS


def company_domain(email: str | None, website: str | None = None) -> str | None:
    """The company domain of a contact: its account's website when it has one,
    else its email domain unless that is a free-mail domain."""
    site = normalize_domain(website)
    if site and not is_free_mail(site):
        return site
    dom = email_domain(email)
    if dom and not is_free_mail(dom):
        return dom
    return None


def normalize_email(email: str | None) -> str | None:
    if email is None:
        return None
    text = str(email).strip().lower()
    return text or None
