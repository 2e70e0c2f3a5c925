-- Nothing to change on PostgreSQL: it checks `role IN (...)` as one array comparison, with no
-- temporary structure per row. The migration exists so both backends have the same versions
-- (see migrations/sqlite for what it does there).
SELECT 1;
