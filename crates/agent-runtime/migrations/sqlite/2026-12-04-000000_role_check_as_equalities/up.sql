-- The messages table's role CHECK as four equalities instead of `role IN (...)`.
--
-- SQLite evaluates an IN over more than two constants by filling a temporary b-tree with them,
-- once per statement run: for this CHECK, on every INSERT of a message (EXPLAIN shows an
-- OpenEphemeral and four IdxInserts). The equalities are the same constraint (same truth
-- value for every role, NULL included; role is NOT NULL anyway) without that b-tree: about a
-- tenth of the append writer's instructions (BENCHMARKS.md).
--
-- Every stored row already satisfies the new text, so the table's definition is edited in
-- place (https://www.sqlite.org/lang_altertable.html, "Making Other Kinds Of Table Schema
-- Changes") instead of copying every message into a new table, which takes minutes and twice
-- the disk on a large database. The CREATE/DROP after the edit changes the schema cookie, so
-- every other connection reloads the schema before its next statement; RESET reloads this
-- connection's. A database whose table text differs from the first migration's is left as it
-- is (the UPDATE matches nothing): the old CHECK stays, equally strict.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(
    sql,
    'CHECK (role IN (''user'', ''assistant'', ''system'', ''tool''))',
    'CHECK (role = ''user'' OR role = ''assistant'' OR role = ''system'' OR role = ''tool'')'
)
WHERE type = 'table' AND name = 'messages';
PRAGMA writable_schema = RESET;
CREATE TABLE __codelab_schema_change (x INTEGER);
DROP TABLE __codelab_schema_change;
