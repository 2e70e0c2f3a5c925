-- Conversation store: sessions, messages, agent contexts, agent switches, pending approvals.
-- Normalised schema of the original agent-runtime (seeds/001) plus seq, owner, title,
-- description, counters kept on every write, and pending_approvals.

CREATE TABLE sessions (
    id                  INTEGER PRIMARY KEY,
    session_id          VARCHAR(128) NOT NULL UNIQUE,
    owner               VARCHAR(255) NOT NULL,
    title               VARCHAR(500) NOT NULL DEFAULT '',
    description         TEXT NOT NULL DEFAULT '',
    metadata_json       TEXT,
    created_at          TIMESTAMP NOT NULL,
    last_activity       TIMESTAMP NOT NULL,
    is_active           BOOLEAN NOT NULL DEFAULT 1,
    deleted_at          TIMESTAMP,
    message_count       BIGINT NOT NULL DEFAULT 0,
    total_tokens        BIGINT NOT NULL DEFAULT 0,
    user_messages       BIGINT NOT NULL DEFAULT 0,
    assistant_messages  BIGINT NOT NULL DEFAULT 0,
    system_messages     BIGINT NOT NULL DEFAULT 0,
    tool_messages       BIGINT NOT NULL DEFAULT 0,
    last_message_at     TIMESTAMP
);
CREATE INDEX idx_session_activity ON sessions (session_id, last_activity);
CREATE INDEX idx_active_sessions ON sessions (is_active, last_activity);
CREATE INDEX idx_sessions_owner_activity ON sessions (owner, last_activity, id);
CREATE INDEX idx_sessions_last_activity ON sessions (last_activity, id);
CREATE INDEX idx_sessions_deleted_at ON sessions (deleted_at) WHERE deleted_at IS NOT NULL;

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    session_db_id   BIGINT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    role            VARCHAR(16) NOT NULL,
    content         TEXT,
    name            VARCHAR(255),
    tool_call_id    VARCHAR(255),
    tool_calls      TEXT,
    token_count     INTEGER NOT NULL DEFAULT 0,
    metadata_json   TEXT,
    timestamp       TIMESTAMP NOT NULL,
    CONSTRAINT valid_role CHECK (role IN ('user', 'assistant', 'system', 'tool')),
    CONSTRAINT positive_seq CHECK (seq > 0)
);
CREATE UNIQUE INDEX idx_messages_session_seq ON messages (session_db_id, seq);
CREATE INDEX idx_messages_session_role_seq ON messages (session_db_id, role, seq);
CREATE INDEX idx_session_timestamp ON messages (session_db_id, timestamp);
CREATE INDEX idx_role_timestamp ON messages (role, timestamp);

CREATE TABLE agent_contexts (
    id              INTEGER PRIMARY KEY,
    session_db_id   BIGINT NOT NULL UNIQUE REFERENCES sessions (id) ON DELETE CASCADE,
    current_agent   VARCHAR(64) NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    switch_count    INTEGER NOT NULL DEFAULT 0,
    metadata_json   TEXT
);
CREATE INDEX idx_agent_contexts_current_agent ON agent_contexts (current_agent);

CREATE TABLE agent_switches (
    id              INTEGER PRIMARY KEY,
    context_db_id   BIGINT NOT NULL REFERENCES agent_contexts (id) ON DELETE CASCADE,
    from_agent      VARCHAR(64),
    to_agent        VARCHAR(64) NOT NULL,
    switched_at     TIMESTAMP NOT NULL,
    reason          TEXT,
    metadata_json   TEXT
);
CREATE INDEX idx_context_switched ON agent_switches (context_db_id, switched_at);

CREATE TABLE pending_approvals (
    id              INTEGER PRIMARY KEY,
    approval_id     VARCHAR(64) NOT NULL UNIQUE,
    session_db_id   BIGINT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    call_id         VARCHAR(255) NOT NULL,
    tool_name       VARCHAR(255) NOT NULL,
    arguments_json  TEXT,
    reason          TEXT NOT NULL DEFAULT '',
    status          VARCHAR(16) NOT NULL DEFAULT 'pending',
    created_at      TIMESTAMP NOT NULL,
    resolved_at     TIMESTAMP,
    resolved_by     VARCHAR(255),
    CONSTRAINT valid_status CHECK (status IN ('pending', 'approved', 'rejected'))
);
CREATE UNIQUE INDEX idx_pending_approvals_session_call ON pending_approvals (session_db_id, call_id);
CREATE INDEX idx_pending_approvals_session_status ON pending_approvals (session_db_id, status, id);
