CREATE OR REPLACE TABLE d_stats AS
WITH members AS (
    SELECT domain AS k, record_id FROM company_records WHERE domain IS NOT NULL
    UNION ALL
    SELECT company_key, record_id FROM company_members
), rec AS (
    SELECT m.k AS domain, bool_or(r.is_customer) AS is_customer, count(*) AS company_records
    FROM members m JOIN company_records r ON r.record_id = m.record_id GROUP BY m.k
), opp AS (
    SELECT m.k AS domain,
           count(*) FILTER (WHERE NOT o.is_closed) AS open_opportunities,
           count(*) FILTER (WHERE NOT o.is_closed AND o.crm = 'salesforce') AS open_opportunities_salesforce,
           count(*) FILTER (WHERE NOT o.is_closed AND o.crm = 'hubspot') AS open_deals_hubspot,
           coalesce(sum(o.amount) FILTER (WHERE NOT o.is_closed), 0) AS open_pipeline_amount,
           count(*) FILTER (WHERE o.is_won) AS won_opportunities,
           max(o.created_at) AS last_opportunity_created_at
    FROM members m JOIN opportunities o ON o.record_id = m.record_id
    GROUP BY m.k
)
SELECT rec.domain, rec.is_customer, rec.company_records,
       coalesce(opp.open_opportunities, 0) AS open_opportunities,
       coalesce(opp.open_opportunities_salesforce, 0) AS open_opportunities_salesforce,
       coalesce(opp.open_deals_hubspot, 0) AS open_deals_hubspot,
       coalesce(opp.open_pipeline_amount, 0) AS open_pipeline_amount,
       coalesce(opp.won_opportunities, 0) AS won_opportunities,
       opp.last_opportunity_created_at
FROM rec LEFT JOIN opp USING (domain)
ORDER BY domain
-- params: []
