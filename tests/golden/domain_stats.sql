CREATE OR REPLACE TABLE d_stats AS
WITH rec AS (
    SELECT domain, bool_or(is_customer) AS is_customer, count(*) AS company_records
    FROM company_records WHERE domain IS NOT NULL GROUP BY domain
), opp AS (
    SELECT r.domain,
           count(*) FILTER (WHERE NOT o.is_closed) AS open_opportunities,
           count(*) FILTER (WHERE NOT o.is_closed AND o.crm = 'salesforce') AS open_opportunities_salesforce,
           count(*) FILTER (WHERE NOT o.is_closed AND o.crm = 'hubspot') AS open_deals_hubspot,
           coalesce(sum(o.amount) FILTER (WHERE NOT o.is_closed), 0) AS open_pipeline_amount,
           count(*) FILTER (WHERE o.is_won) AS won_opportunities,
           max(o.created_at) AS last_opportunity_created_at
    FROM opportunities o JOIN company_records r ON r.record_id = o.record_id
    WHERE r.domain IS NOT NULL
    GROUP BY r.domain
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
