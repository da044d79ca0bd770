-- "packages" grows with every change to any package, so every process can
-- tell when the packuments it keeps in memory may be stale.
INSERT INTO counters (name, value) VALUES ('packages', 0);
