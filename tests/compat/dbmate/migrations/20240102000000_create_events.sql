-- migrate:up
/* Several statements in one file, with comments of both kinds. */
CREATE TABLE events (
    account_id bigint,
    kind varchar(20),
    payload jsonb,
    at timestamp
);
INSERT INTO events (account_id, kind, payload, at)
VALUES (1, 'signup', '{"plan": "free"}', '2024-01-02 03:04:05');

-- migrate:down
DROP TABLE events;
