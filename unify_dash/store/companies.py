"""A contact's company: its domain and its CRM associations (PRODUCT.md, "Company = domain and association").

A contact's company records are the records sharing its domain and the records it is associated with in a
CRM (``contact_records``: Salesforce ``AccountId``, HubSpot "Associated Company IDs", a Lead's company).
Most contacts are associated only with records of their own domain: their company is the domain, and
``contacts.company_key`` stays NULL. A contact associated with a record outside its domain (an Account
without a website, a HubSpot company under another domain) gets a ``company_key`` naming its domain and
those records (``acme.com+sf:001...``); ``company_members`` lists the records of every key. The engine
aggregates company-level fields per domain and per key (:mod:`unify_dash.model.vocabulary`).

Set-based: one pass over the associations, whatever the number of contacts.
"""

from __future__ import annotations

import duckdb


def refresh(con: duckdb.DuckDBPyConnection) -> int:
    """Recompute ``contacts.company_key`` and ``company_members`` from the records and associations.
    Returns the number of contacts with a key."""
    con.execute("""CREATE OR REPLACE TEMP TABLE _ud_keys AS
        SELECT l.contact_id, coalesce(c.domain, '') || '+' || array_to_string(list_sort(list(DISTINCT l.record_id)), '+')
                   AS company_key, c.domain
        FROM contact_records l JOIN contacts c ON c.contact_id = l.contact_id
        JOIN company_records r ON r.record_id = l.record_id
        WHERE r.domain IS DISTINCT FROM c.domain
        GROUP BY l.contact_id, c.domain""")
    con.execute("UPDATE contacts SET company_key = NULL WHERE company_key IS NOT NULL")
    n = con.execute("""UPDATE contacts SET company_key = k.company_key FROM _ud_keys k
                       WHERE k.contact_id = contacts.contact_id""").fetchone()[0]
    con.execute("DELETE FROM company_members")
    con.execute("""INSERT INTO company_members (company_key, record_id)
        SELECT DISTINCT company_key, record_id FROM (
            SELECT k.company_key, r.record_id FROM (SELECT DISTINCT company_key, domain FROM _ud_keys) k
            JOIN company_records r ON r.domain = k.domain
            UNION ALL
            SELECT k.company_key, l.record_id FROM _ud_keys k JOIN contact_records l ON l.contact_id = k.contact_id)
        ORDER BY 1, 2""")
    con.execute("DROP TABLE _ud_keys")
    return int(n or 0)
