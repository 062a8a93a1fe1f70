WITH base AS (
    SELECT c.contact_id, c.email, c.domain, ((CASE WHEN coalesce(coalesce(d.open_opportunities, 0) > ?, false) THEN 1::BIGINT ELSE 0::BIGINT END) | (CASE WHEN coalesce(coalesce(d.is_customer, false), false) THEN 2::BIGINT ELSE 0::BIGINT END) | (CASE WHEN coalesce(contains(lower(trim(c.title)), ?), false) THEN 4::BIGINT ELSE 0::BIGINT END)) AS c0, 0::BIGINT AS t0, ((CASE WHEN TRUE THEN 1::BIGINT ELSE 0::BIGINT END) | (CASE WHEN coalesce(contains(lower(trim(c.title)), ?), false) THEN 2::BIGINT ELSE 0::BIGINT END) | (CASE WHEN coalesce(coalesce(d.open_opportunities, 0) > ?, false) THEN 4::BIGINT ELSE 0::BIGINT END) | (CASE WHEN coalesce(bz.s0, 0) = 1 THEN 8::BIGINT ELSE 0::BIGINT END) | (CASE WHEN coalesce(bz.s1, 0) = 1 THEN 16::BIGINT ELSE 0::BIGINT END)) AS a0
    FROM contacts c LEFT JOIN d_stats d ON d.domain = coalesce(c.company_key, c.domain) LEFT JOIN (SELECT contact_id, max(CASE WHEN sequence_id = ? THEN 1 ELSE 0 END) AS s0, max(CASE WHEN sequence_id = ? THEN 1 ELSE 0 END) AS s1 FROM enrollments WHERE state IN ('queued', 'active') GROUP BY contact_id) bz ON bz.contact_id = c.contact_id
), dom AS (SELECT domain, bit_or(c0 & 3::BIGINT) AS k0 FROM base WHERE domain IS NOT NULL AND ((c0 & 3::BIGINT) != 0) GROUP BY domain), opted AS (
        SELECT c.contact_id, c.email,
               coalesce(o.source, 'crm') AS source,
               o.event_id, o.opted_out_at, o.latest_at, o.actor, o.detail,
               (c."sf_email_opt_out" OR c."hs_opt_out") AS crm_flag
        FROM contacts c
        LEFT JOIN (
SELECT r.email,
       arg_min(r.source, (r.occurred_at, r.event_id)) AS source,
       arg_min(r.event_id, (r.occurred_at, r.event_id)) AS event_id,
       min(r.occurred_at) AS opted_out_at,
       max(r.occurred_at) AS latest_at,
       arg_min(r.actor, (r.occurred_at, r.event_id)) AS actor,
       arg_min(r.detail, (r.occurred_at, r.event_id)) AS detail,
       any_value(r.reversed_at) AS reversed_at
FROM (
    SELECT ev.*, max(occurred_at) FILTER (WHERE type = 'opt_out_reversal') OVER (PARTITION BY email) AS reversed_at
    FROM (
        SELECT lower(trim(coalesce(e.email, ct.email))) AS email, e.type, e.source, e.event_id, e.occurred_at,
               e.actor, e.detail
        FROM events e LEFT JOIN contacts ct ON e.email IS NULL AND ct.contact_id = e.contact_id
        WHERE e.type IN ('opt_out', 'opt_out_reversal') AND e.occurred_at <= ?
    ) ev WHERE ev.email IS NOT NULL
) r
WHERE r.type = 'opt_out' AND (r.reversed_at IS NULL OR r.occurred_at > r.reversed_at)
GROUP BY r.email
) o ON o.email = c.email
        WHERE o.email IS NOT NULL OR (c."sf_email_opt_out" OR c."hs_opt_out")
    )
SELECT b.contact_id, b.email, (o.contact_id IS NOT NULL) AS opted, o.source AS opt_source,
       b.a0, (((b.c0 & (-4)::BIGINT) | coalesce(dom.k0, b.c0 & 3::BIGINT)) & ~b.t0) AS m0
FROM base b
LEFT JOIN dom ON dom.domain = b.domain
LEFT JOIN opted o ON o.contact_id = b.contact_id
-- params: [0.0, "ceo", "vp", 2.0, "seq1", "seq2", "2026-11-02 09:00:00"]
