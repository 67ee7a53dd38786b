-- A generated click stream, counted per page in 10-second event-time
-- windows into an Eddy table. Needs nothing but Eddy.
CREATE TABLE IF NOT EXISTS clicks_per_page (
    window_start TIMESTAMP, window_end TIMESTAMP, page VARCHAR,
    clicks BIGINT, users BIGINT, top_amount DOUBLE PRECISION
);

CREATE SOURCE IF NOT EXISTS clicks (
    user_id BIGINT, page VARCHAR, amount DOUBLE, ts TIMESTAMP,
    WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (
    connector = 'datagen', 'rows.per.second' = '500', seed = '42',
    'fields.user_id.min' = '1', 'fields.user_id.max' = '100',
    'fields.page.length' = '1',
    'fields.amount.min' = '0', 'fields.amount.max' = '500',
    'fields.ts.kind' = 'event_time', 'fields.ts.step' = '2 milliseconds',
    'fields.ts.max_out_of_order' = '1 second',
    'fields.ts.late_rate' = '0.01', 'fields.ts.late_by' = '30 seconds'
);

CREATE SINK IF NOT EXISTS clicks_per_page_sink
WITH (connector = 'table', table = 'clicks_per_page');

CREATE STREAMING QUERY IF NOT EXISTS clicks_per_page_query
WITH (trigger = '1 second', output_mode = 'append') AS
INSERT INTO clicks_per_page_sink
SELECT window_start, window_end, page,
       count(*) AS clicks, count(DISTINCT user_id) AS users, max(amount) AS top_amount
FROM TUMBLE(clicks, ts, INTERVAL '10' SECOND)
GROUP BY window_start, window_end, page;

-- Then:
--   SELECT * FROM clicks_per_page ORDER BY window_start DESC, clicks DESC LIMIT 10;
--   SHOW STREAMING QUERIES;   -- epoch, rows in/out, late_rows, watermark
