-- "users" grows with every change to a user's account that a node may hold
-- in memory (the email in a cached token's principal).
INSERT INTO counters (name, value) VALUES ('users', 0);

