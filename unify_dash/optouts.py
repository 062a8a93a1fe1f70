"""Opt-out status: global and permanent.

A contact is opted out at time T when

* its newest ``opt_out`` event at or before T (any source: ``link`` click, handled
  ``reply``, ``admin`` button, ``crm`` flag) is newer than its newest
  ``opt_out_reversal`` event, **or**
* its CRM suppression flag, under the CRM mapping, is set now (a read-only CRM
  flag cannot be cleared from here: it must be cleared in the CRM).

Opt-outs are keyed by email (trimmed, lower case), so a contact re-imported with
a different id stays opted out. Re-importing records never clears one: the
``opt_out`` event stays, only a documented reversal ends it.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from unify_dash.settings import Settings

OPT_OUT_SOURCES = ("link", "reply", "admin", "crm")


def crm_flag_sql(settings: Settings) -> str:
    """A boolean SQL expression over ``c`` (contacts): the mapped CRM suppression flag is set.

    Built only from whitelisted column names chosen by the mapping; no user value is pasted.
    """
    parts = []
    sf = settings.mapping("salesforce")
    if sf is not None:
        parts.append("c.sf_email_opt_out" if sf.field == "HasOptedOutOfEmail" else "c.sf_do_not_email")
    if settings.mapping("hubspot") is not None:
        parts.append("c.hs_opt_out")
    return "(" + " OR ".join(parts) + ")" if parts else "FALSE"


# Newest opt-out event per email, when it is not followed by a reversal. Parameter: as_of.
EVENT_OPT_OUTS_SQL = """
SELECT email,
       arg_max(source, occurred_at) FILTER (WHERE type = 'opt_out') AS source,
       arg_max(event_id, occurred_at) FILTER (WHERE type = 'opt_out') AS event_id,
       max(occurred_at) FILTER (WHERE type = 'opt_out') AS opted_out_at,
       max(occurred_at) FILTER (WHERE type = 'opt_out_reversal') AS reversed_at
FROM events
WHERE type IN ('opt_out', 'opt_out_reversal') AND occurred_at <= ? AND email IS NOT NULL
GROUP BY email
HAVING max(occurred_at) FILTER (WHERE type = 'opt_out') IS NOT NULL
   AND (max(occurred_at) FILTER (WHERE type = 'opt_out_reversal') IS NULL
        OR max(occurred_at) FILTER (WHERE type = 'opt_out_reversal')
           < max(occurred_at) FILTER (WHERE type = 'opt_out'))
"""


def opted_out_relation(settings: Settings) -> str:
    """SQL selecting ``contact_id, email, source, event_id, opted_out_at`` of every opted-out contact.

    One parameter: ``as_of``. Contacts opted out both ways report the event's source.
    """
    flag = crm_flag_sql(settings)
    return f"""
        SELECT c.contact_id, c.email,
               coalesce(o.source, 'crm') AS source,
               o.event_id,
               o.opted_out_at
        FROM contacts c
        LEFT JOIN ({EVENT_OPT_OUTS_SQL}) o ON o.email = c.email
        WHERE o.email IS NOT NULL OR {flag}
    """


def opt_out_status(con: duckdb.DuckDBPyConnection, settings: Settings, email: str,
                   as_of: dt.datetime) -> dict | None:
    """``{"source", "event_id", "opted_out_at", "crm_flag"}`` when ``email`` is opted out at ``as_of``."""
    flag = crm_flag_sql(settings)
    row = con.execute(
        f"""SELECT o.source, o.event_id, o.opted_out_at, {flag} AS crm_flag
            FROM contacts c LEFT JOIN ({EVENT_OPT_OUTS_SQL}) o ON o.email = c.email
            WHERE c.email = ? AND (o.email IS NOT NULL OR {flag})""",
        [as_of, email.strip().lower()],
    ).fetchone()
    if row is None:
        return None
    source, event_id, at, crm_flag = row
    return {"source": source or "crm", "event_id": event_id, "opted_out_at": at, "crm_flag": bool(crm_flag)}
