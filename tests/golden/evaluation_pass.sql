WITH base AS (
    SELECT c.contact_id, c.email, c.domain, ((CASE WHEN coalesce(coalesce(d.open_opportunities, 0) > ?, false) THEN 1::BIGINT ELSE 0::BIGINT END) | (CASE WHEN coalesce(coalesce(d.is_customer, false), false) THEN 2::BIGINT ELSE 0::BIGINT END) | (CASE WHEN coalesce(contains(lower(trim(c.title)), ?), false) THEN 4::BIGINT ELSE 0::BIGINT END)) AS c0, ((CASE WHEN NOT ((NOT coalesce(c.email = ?, false))) THEN 1::BIGINT ELSE 0::BIGINT END)) AS t0, ((CASE WHEN coalesce(contains(lower(trim(c.title)), ?), false) THEN 1::BIGINT ELSE 0::BIGINT END)) AS a0
    FROM contacts c LEFT JOIN d_stats d ON d.domain = c.domain
), dom AS (SELECT domain, bit_or(c0 & 3::BIGINT) AS k0 FROM base WHERE domain IS NOT NULL AND ((c0 & 3::BIGINT) != 0) GROUP BY domain), opted AS (
        SELECT c.contact_id, c.email,
               coalesce(o.source, 'crm') AS source,
               o.event_id,
               o.opted_out_at
        FROM contacts c
        LEFT JOIN (
SELECT email,
       arg_max(source, occurred_at) FILTER (WHERE type = 'opt_out') AS source,
       arg_max(event_id, occurred_at) FILTER (WHERE type = 'opt_out') AS event_id,
       max(occurred_at) FILTER (WHERE type = 'opt_out') AS opted_out_at,
       max(occurred_at) FILTER (WHERE type = 'opt_out_reversal') AS reversed_at
FROM (
    -- events carry an email or a contact id (or both): resolve the email from the contact when missing
    WITH ev AS (
        SELECT email, contact_id, type, source, event_id, occurred_at FROM events
        WHERE type IN ('opt_out', 'opt_out_reversal') AND occurred_at <= ?
    )
    SELECT lower(trim(email)) AS email, type, source, event_id, occurred_at FROM ev WHERE email IS NOT NULL
    UNION ALL
    SELECT ct.email, ev.type, ev.source, ev.event_id, ev.occurred_at
    FROM ev JOIN contacts ct ON ct.contact_id = ev.contact_id WHERE ev.email IS NULL
) resolved
GROUP BY email
HAVING max(occurred_at) FILTER (WHERE type = 'opt_out') IS NOT NULL
   AND (max(occurred_at) FILTER (WHERE type = 'opt_out_reversal') IS NULL
        OR max(occurred_at) FILTER (WHERE type = 'opt_out_reversal')
           < max(occurred_at) FILTER (WHERE type = 'opt_out'))
) o ON o.email = c.email
        WHERE o.email IS NOT NULL OR (c.sf_email_opt_out OR c.hs_opt_out)
    )
SELECT b.contact_id, b.email, (o.contact_id IS NOT NULL) AS opted, o.source AS opt_source,
       b.a0, (((b.c0 & (-4)::BIGINT) | coalesce(dom.k0, b.c0 & 3::BIGINT)) & ~b.t0) AS m0
FROM base b
LEFT JOIN dom ON dom.domain = b.domain
LEFT JOIN opted o ON o.contact_id = b.contact_id
-- params: [0.0, "ceo", "vip@acme.com", "vp", "2026-11-02 09:00:00"]
