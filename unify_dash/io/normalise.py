"""Set-based normalisation of staged records: registered domains (public suffix list) and ISO country codes.

Both run once per load over the *distinct* values of the staging tables (a few thousand domains or
country names for millions of contacts), in SQL:

* domains: the public suffix rules of tldextract's bundled snapshot (:func:`domains.public_suffix_rules`)
  are a temporary table; a host's public suffix is its longest matching rule (wildcards and exceptions
  as the list defines them), its registered domain one label more. ``eu.acme.com`` -> ``acme.com``,
  ``sales.acme.co.uk`` -> ``acme.co.uk``; a sub-domain of a free-mail provider is free mail too.
* countries: pycountry's names (official, common, alpha-2 and alpha-3 codes, and their translations in
  the languages HubSpot exports in) -> ISO 3166 alpha-2; the original text stays in ``country``.
"""

from __future__ import annotations

import functools
import gettext

import duckdb
import pycountry

from unify_dash.model import domains

COUNTRY_LANGUAGES = ("de", "fr", "es", "pt", "it", "nl", "sv", "fi", "pl", "da", "nb", "ja")
# common ways of writing a country that pycountry's names and codes do not cover
COUNTRY_EXTRA = {"usa": "US", "u.s.": "US", "u.s.a.": "US", "united states of america": "US", "america": "US",
                 "uk": "GB", "u.k.": "GB", "great britain": "GB", "england": "GB", "scotland": "GB",
                 "wales": "GB", "northern ireland": "GB", "south korea": "KR", "korea": "KR", "russia": "RU",
                 "holland": "NL", "czech republic": "CZ", "vietnam": "VN", "turkey": "TR", "ivory coast": "CI"}


@functools.lru_cache(maxsize=1)
def country_names() -> dict[str, str]:
    """lower-case name or code -> ISO 3166-1 alpha-2."""
    out: dict[str, str] = {}
    translations = []
    for lang in COUNTRY_LANGUAGES:
        try:
            translations.append(gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang]))
        except OSError:
            continue
    for c in pycountry.countries:
        names = {c.alpha_2, c.alpha_3, c.name, getattr(c, "official_name", None), getattr(c, "common_name", None)}
        for t in translations:
            names |= {t.gettext(c.name), t.gettext(getattr(c, "common_name", c.name))}
        for n in names:
            if n:
                out.setdefault(n.strip().lower(), c.alpha_2)
    for k, v in COUNTRY_EXTRA.items():
        out.setdefault(k, v)
    return out


def country_code(text: str | None) -> str | None:
    """The ISO alpha-2 code of a country name or code (``United States``, ``USA``, ``Deutschland``)."""
    return country_names().get(str(text).strip().lower()) if text else None


def install(con: duckdb.DuckDBPyConnection) -> None:
    """Temporary tables ``_ud_psl`` (suffix, kind) and ``_ud_countries`` (key, code) on ``con``."""
    rules = domains.public_suffix_rules()
    con.execute("CREATE OR REPLACE TEMP TABLE _ud_psl AS SELECT unnest(?::VARCHAR[]) AS suffix, "
                "unnest(?::VARCHAR[]) AS kind", [[r[0] for r in rules], [r[1] for r in rules]])
    names = country_names()
    con.execute("CREATE OR REPLACE TEMP TABLE _ud_countries AS SELECT unnest(?::VARCHAR[]) AS key, "
                "unnest(?::VARCHAR[]) AS code", [list(names), list(names.values())])


def registered_sql(hosts: str) -> str:
    """SQL: ``(host, reg)`` for the distinct non-NULL ``host`` values of the relation ``hosts`` (SQL, a
    SELECT with one column ``host``; code, never user text)."""
    return f"""
        WITH h AS (SELECT DISTINCT host FROM ({hosts}) WHERE host IS NOT NULL),
        l AS (SELECT host, string_split(host, '.') AS labels FROM h),
        c AS (SELECT host, labels, len(labels) AS n, unnest(range(1, len(labels) + 1)) AS k FROM l),
        s AS (SELECT host, labels, n, k, array_to_string(labels[n - k + 1:], '.') AS cand,
                     array_to_string(labels[n - k + 2:], '.') AS parent FROM c),
        m AS (SELECT s.host, any_value(s.labels) AS labels, any_value(s.n) AS n,
                     greatest(coalesce(max(CASE WHEN e.suffix IS NOT NULL THEN s.k - 1
                                                WHEN r.suffix IS NOT NULL OR w.suffix IS NOT NULL THEN s.k END), 1),
                              1) AS p
              FROM s
              LEFT JOIN _ud_psl r ON r.kind = 'rule' AND r.suffix = s.cand
              LEFT JOIN _ud_psl w ON w.kind = 'wild' AND w.suffix = s.parent AND s.k > 1
              LEFT JOIN _ud_psl e ON e.kind = 'except' AND e.suffix = s.cand
              GROUP BY s.host)
        SELECT host, CASE WHEN n > p THEN array_to_string(labels[n - p:], '.') ELSE host END AS reg FROM m"""


def sql_registered_domain(con: duckdb.DuckDBPyConnection, values: list[str | None]) -> list[str | None]:
    """The SQL twin of :func:`domains.registered_domain`, for tests."""
    install(con)
    rows = dict(con.execute(registered_sql("SELECT unnest(?::VARCHAR[]) AS host"), [values]).fetchall())
    return [rows.get(v) if v else None for v in values]


def apply(con: duckdb.DuckDBPyConnection) -> None:
    """Registered domains on the staged records and contacts, free mail extended to sub-domains of free-mail
    providers, ISO country codes on the staged contacts."""
    install(con)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _ud_reg AS {registered_sql(
        "SELECT domain AS host FROM _ud_stg_records UNION ALL SELECT domain FROM _ud_stg_contacts "
        "UNION ALL SELECT email_domain FROM _ud_stg_contacts")}""")
    con.execute("""INSERT INTO _ud_free_mail SELECT host FROM _ud_reg
                   WHERE reg IN (SELECT domain FROM _ud_free_mail) AND host NOT IN (SELECT domain FROM _ud_free_mail)""")
    con.execute("""UPDATE _ud_stg_records SET domain = CASE WHEN _ud_free(_ud_stg_records.domain) THEN NULL ELSE g.reg END
                   FROM _ud_reg g WHERE g.host = _ud_stg_records.domain AND (g.reg <> g.host OR _ud_free(g.host))""")
    # a site that is a free-mail sub-domain gives way to the email domain, as a free-mail site does
    con.execute("""UPDATE _ud_stg_contacts SET domain = CASE WHEN NOT _ud_free(email_domain) THEN email_domain END
                   WHERE _ud_free(domain)""")
    con.execute("""UPDATE _ud_stg_contacts SET domain = g.reg FROM _ud_reg g
                   WHERE g.host = _ud_stg_contacts.domain AND g.reg <> g.host""")
    con.execute("""UPDATE _ud_stg_contacts SET country_code = m.code FROM _ud_countries m
                   WHERE _ud_stg_contacts.country IS NOT NULL AND m.key = lower(_ud_strip(_ud_stg_contacts.country))""")
    for table in ("_ud_reg", "_ud_psl", "_ud_countries"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
