-- Real-time reporting: the value of each account's portfolio, every
-- second, from a price stream joined with a positions table. Needs nothing
-- but Eddy: the result is an Eddy table a BI tool can read.
CREATE TABLE IF NOT EXISTS positions (
    account VARCHAR, symbol BIGINT, quantity BIGINT
);
INSERT INTO positions VALUES
    ('alice', 1, 100), ('alice', 2, 50), ('bob', 2, 200),
    ('bob', 3, 10), ('carol', 1, 5), ('carol', 3, 300);

CREATE SOURCE IF NOT EXISTS prices (
    symbol BIGINT, price DOUBLE, ts TIMESTAMP,
    WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
    connector = 'datagen', 'rows.per.second' = '300', seed = '3',
    'fields.symbol.min' = '1', 'fields.symbol.max' = '3',
    'fields.price.min' = '90', 'fields.price.max' = '110',
    'fields.ts.kind' = 'event_time', 'fields.ts.step' = '10 milliseconds',
    'fields.ts.max_out_of_order' = '200 milliseconds'
);

CREATE TABLE IF NOT EXISTS portfolio_value (
    window_start TIMESTAMP, account VARCHAR, value DOUBLE PRECISION
);
CREATE SINK IF NOT EXISTS portfolio_value_sink
WITH (connector = 'table', table = 'portfolio_value');

-- Per second: each symbol's average price (inner aggregation), joined with
-- the positions, summed per account (outer aggregation).
CREATE STREAMING QUERY IF NOT EXISTS portfolio WITH (trigger = '1 second') AS
INSERT INTO portfolio_value_sink
SELECT p.window_start, pos.account, sum(pos.quantity * p.price) AS value
FROM (
    SELECT window_start, symbol, avg(price) AS price
    FROM TUMBLE(prices, ts, INTERVAL '1' SECOND)
    GROUP BY window_start, symbol
) p
JOIN positions pos ON pos.symbol = p.symbol
GROUP BY p.window_start, pos.account;

-- Then: SELECT * FROM portfolio_value ORDER BY window_start DESC, account LIMIT 6;
