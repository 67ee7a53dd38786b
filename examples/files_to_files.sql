-- JSON-lines files dropped into a directory (write them under a name
-- ending in .tmp, then rename) → windowed counts into an Eddy table, and a
-- raw copy as CSV files, one per epoch. Edit the paths.
CREATE SOURCE events (
    id BIGINT, kind VARCHAR, ts TIMESTAMP, _file VARCHAR, _line BIGINT,
    WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (connector = 'file', path = '/tmp/eddy-in', format = 'json', on_error = 'skip');

CREATE TABLE kinds_per_minute (window_start TIMESTAMP, kind VARCHAR, n BIGINT);
CREATE SINK kinds_sink WITH (connector = 'table', table = 'kinds_per_minute');
CREATE SINK csv_out WITH (connector = 'file', path = '/tmp/eddy-out', format = 'csv');

CREATE STREAMING QUERY kinds WITH (trigger = '1 second') AS
INSERT INTO kinds_sink
SELECT window_start, kind, count(*) AS n
FROM TUMBLE(events, ts, INTERVAL '1' MINUTE)
GROUP BY window_start, kind;

CREATE STREAMING QUERY raw_csv WITH (trigger = '1 second') AS
INSERT INTO csv_out SELECT id, kind, ts, _file, _line FROM events;
