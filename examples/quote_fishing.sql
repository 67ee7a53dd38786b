-- Quote-fishing detection (insurance): applicants who try many variants of
-- a quote form (changing their answers to find a cheaper price) within an
-- hour; flag the third attempt and later. Needs nothing but Eddy.
CREATE SOURCE IF NOT EXISTS quote_requests (
    applicant BIGINT, variant BIGINT, premium DOUBLE, ts TIMESTAMP,
    WATERMARK FOR ts AS ts - INTERVAL '1' MINUTE
) WITH (
    connector = 'datagen', 'rows.per.second' = '100', seed = '11',
    'fields.applicant.min' = '1', 'fields.applicant.max' = '200',
    'fields.variant.min' = '1', 'fields.variant.max' = '6',
    'fields.premium.min' = '300', 'fields.premium.max' = '900',
    'fields.ts.kind' = 'event_time', 'fields.ts.step' = '5 seconds',
    'fields.ts.max_out_of_order' = '20 seconds'
);

CREATE TABLE IF NOT EXISTS quote_fishing (
    window_start TIMESTAMP, window_end TIMESTAMP, applicant BIGINT,
    variants BIGINT, attempts BIGINT, cheapest DOUBLE PRECISION
);
CREATE SINK IF NOT EXISTS quote_fishing_sink WITH (connector = 'table', table = 'quote_fishing');

-- Hour-long windows every 10 minutes; the Spark form of HOP.
CREATE STREAMING QUERY IF NOT EXISTS quote_fishing_query WITH (trigger = '1 second') AS
INSERT INTO quote_fishing_sink
SELECT window.start, window.end, applicant,
       count(DISTINCT variant) AS variants, count(*) AS attempts, min(premium) AS cheapest
FROM quote_requests
GROUP BY window(ts, '1 hour', '10 minutes'), applicant
HAVING count(DISTINCT variant) >= 3;

-- Then: SELECT * FROM quote_fishing ORDER BY variants DESC LIMIT 10;
