-- migrate:up
-- Fails half-way: the table created first must not survive.
CREATE TABLE half_done (id integer);
INSERT INTO half_done (id) VALUES (1);
SELECT * FROM no_such_table;

-- migrate:down
DROP TABLE half_done;
