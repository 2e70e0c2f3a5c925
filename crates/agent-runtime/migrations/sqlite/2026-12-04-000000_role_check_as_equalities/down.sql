-- Back to the first migration's `role IN (...)` text, by the same in-place edit (see up.sql).
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(
    sql,
    'CHECK (role = ''user'' OR role = ''assistant'' OR role = ''system'' OR role = ''tool'')',
    'CHECK (role IN (''user'', ''assistant'', ''system'', ''tool''))'
)
WHERE type = 'table' AND name = 'messages';
PRAGMA writable_schema = RESET;
CREATE TABLE __codelab_schema_change (x INTEGER);
DROP TABLE __codelab_schema_change;
