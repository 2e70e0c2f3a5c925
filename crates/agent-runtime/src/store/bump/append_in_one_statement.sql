WITH s AS ({update}), m AS (INSERT INTO messages (session_db_id, seq, role, content, name,
        tool_call_id, tool_calls, token_count, metadata_json, timestamp)
    {messages}) SELECT {columns} FROM s
