-- Sessionization: user activity split into sessions closed by 5 minutes of
-- inactivity, written to PostgreSQL exactly once. Edit the PostgreSQL URL.
CREATE SOURCE IF NOT EXISTS activity (
    user_id BIGINT, page VARCHAR, ts TIMESTAMP,
    WATERMARK FOR ts AS ts - INTERVAL '10' SECOND
) WITH (
    connector = 'datagen', 'rows.per.second' = '200', seed = '7',
    'fields.user_id.min' = '1', 'fields.user_id.max' = '1000',
    'fields.page.length' = '2',
    'fields.ts.kind' = 'event_time', 'fields.ts.step' = '1 second',
    'fields.ts.max_out_of_order' = '5 seconds',
    -- quiet sources still close their last sessions
    'watermark.idle_timeout' = '30 seconds'
);

CREATE SINK IF NOT EXISTS user_sessions WITH (
    connector = 'postgres',
    url = 'jdbc:postgresql://localhost:5432/shop?user=app',
    table = 'user_sessions', create_table = 'true',
    mode = 'upsert', primary_key = 'user_id,session_start'
);

CREATE STREAMING QUERY IF NOT EXISTS sessionize WITH (trigger = '1 second') AS
INSERT INTO user_sessions
SELECT user_id, session_start, session_end,
       count(*) AS events, count(DISTINCT page) AS pages
FROM SESSION(activity, ts, INTERVAL '5' MINUTE)
GROUP BY user_id, session_start, session_end;

-- The same in Spark's form:
--   SELECT user_id, session_window.start, session_window.end, count(*)
--   FROM activity GROUP BY session_window(ts, '5 minutes'), user_id;
