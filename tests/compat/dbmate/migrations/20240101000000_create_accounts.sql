-- migrate:up
-- Accounts, as a first migration would create them.
CREATE TABLE accounts (
    id bigint NOT NULL,
    email text NOT NULL,
    created_at timestamptz
);

INSERT INTO accounts (id, email) VALUES (1, 'first@example.com'); -- seed row

-- migrate:down
DROP TABLE accounts;
