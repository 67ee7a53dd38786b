-- Fraud alerts: card transactions from Kafka, per-card counts and sums over
-- sliding windows (10 minutes, every minute), alerts into PostgreSQL.
-- Edit the broker and PostgreSQL addresses.
-- Messages look like: {"card": "4111-0007", "amount": 129.9, "merchant": "m42", "ts": "2026-01-01 10:00:00"}
CREATE SOURCE IF NOT EXISTS transactions (
    card VARCHAR, amount DOUBLE, merchant VARCHAR, ts TIMESTAMP,
    WATERMARK FOR ts AS ts - INTERVAL '30' SECOND
) WITH (
    connector = 'kafka', topic = 'transactions',
    'properties.bootstrap.servers' = 'localhost:9092',
    'scan.startup.mode' = 'earliest',
    format = 'json', on_error = 'dead_letter'
);

CREATE SINK IF NOT EXISTS fraud_alerts WITH (
    connector = 'postgres',
    url = 'jdbc:postgresql://localhost:5432/shop?user=app',
    table = 'fraud_alerts', create_table = 'true'
);

-- A window's alert is written once, when the window is complete; late
-- transactions are kept for review in fraud_check_late_rows.
CREATE STREAMING QUERY IF NOT EXISTS fraud_check
WITH (trigger = '1 second', late_rows = 'table') AS
INSERT INTO fraud_alerts
SELECT window_start, window_end, card,
       count(*) AS transactions, sum(amount) AS total,
       count(DISTINCT merchant) AS merchants
FROM HOP(transactions, ts, INTERVAL '1' MINUTE, INTERVAL '10' MINUTE)
GROUP BY window_start, window_end, card
HAVING count(*) >= 5 OR sum(amount) > 1000;
