-- JSON orders from Kafka → per-customer totals per minute → PostgreSQL,
-- exactly once. Edit the broker and PostgreSQL addresses.
-- Messages look like: {"order_id": 1, "customer": 7, "amount": 12.5, "ts": "2026-01-01 10:00:00"}
CREATE SOURCE orders (
    order_id BIGINT, customer BIGINT, amount DOUBLE, ts TIMESTAMP,
    _partition INT, _offset BIGINT,
    WATERMARK FOR ts AS ts - INTERVAL '10' SECOND
) WITH (
    connector = 'kafka', topic = 'orders',
    'properties.bootstrap.servers' = 'localhost:9092',
    'scan.startup.mode' = 'earliest',
    format = 'json',
    on_error = 'dead_letter'          -- bad messages go to the table orders_errors
);

CREATE SINK customer_minutes WITH (
    connector = 'postgres',
    url = 'jdbc:postgresql://localhost:5432/shop?user=app',
    table = 'customer_minutes', create_table = 'true',
    mode = 'upsert', primary_key = 'window_start,customer'
);

CREATE STREAMING QUERY customer_minutes_query WITH (trigger = '1 second') AS
INSERT INTO customer_minutes
SELECT window_start, customer, count(*) AS orders, sum(amount) AS total
FROM TUMBLE(orders, ts, INTERVAL '1' MINUTE)
GROUP BY window_start, customer;

-- SELECT * FROM orders_errors;   -- the raw payload, error, partition and offset of bad messages
