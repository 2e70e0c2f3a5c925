UPDATE sessions SET message_count = message_count + ?,
    total_tokens = total_tokens + ?,
    user_messages = user_messages + ?,
    assistant_messages = assistant_messages + ?,
    system_messages = system_messages + ?,
    tool_messages = tool_messages + ?,
    last_activity = ?,
    last_message_at = ?,
    title = CASE WHEN title = '' THEN ? ELSE title END
