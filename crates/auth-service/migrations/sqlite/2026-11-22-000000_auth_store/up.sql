-- auth-service: users, OAuth 2.0 clients, refresh-token families, signing keys, audit log and
-- lockout counters. Usernames and emails are stored lower-cased (unique case-insensitively).

CREATE TABLE users (
    id                  INTEGER PRIMARY KEY,
    user_id             VARCHAR(64) NOT NULL UNIQUE,
    username            VARCHAR(64) NOT NULL UNIQUE,
    email               VARCHAR(254) UNIQUE,
    password_hash       TEXT NOT NULL,
    scopes              VARCHAR(255) NOT NULL,
    is_active           BOOLEAN NOT NULL DEFAULT 1,
    is_verified         BOOLEAN NOT NULL DEFAULT 0,
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL,
    last_login_at       TIMESTAMP,
    password_changed_at TIMESTAMP NOT NULL
);
CREATE INDEX idx_users_created ON users (created_at, id);

CREATE TABLE oauth_clients (
    id                          INTEGER PRIMARY KEY,
    client_id                   VARCHAR(64) NOT NULL UNIQUE,
    client_secret_hash          TEXT,
    name                        VARCHAR(255) NOT NULL,
    description                 TEXT NOT NULL DEFAULT '',
    is_confidential             BOOLEAN NOT NULL,
    allowed_scopes              VARCHAR(255) NOT NULL,
    allowed_grant_types         VARCHAR(255) NOT NULL,
    access_token_lifetime_secs  BIGINT NOT NULL,
    refresh_token_lifetime_secs BIGINT NOT NULL,
    is_active                   BOOLEAN NOT NULL DEFAULT 1,
    created_at                  TIMESTAMP NOT NULL,
    updated_at                  TIMESTAMP NOT NULL
);

CREATE TABLE refresh_tokens (
    id              INTEGER PRIMARY KEY,
    token_hash      VARCHAR(64) NOT NULL UNIQUE,
    family_id       VARCHAR(64) NOT NULL,
    parent_id       BIGINT,
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id       VARCHAR(64) NOT NULL REFERENCES oauth_clients (client_id) ON DELETE CASCADE,
    scope           VARCHAR(255) NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL,
    rotated_at      TIMESTAMP,
    revoked_at      TIMESTAMP,
    revoked_reason  VARCHAR(64)
);
CREATE INDEX idx_refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX idx_refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX idx_refresh_tokens_client ON refresh_tokens (client_id);
CREATE INDEX idx_refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE signing_keys (
    id              INTEGER PRIMARY KEY,
    kid             VARCHAR(64) NOT NULL UNIQUE,
    algorithm       VARCHAR(16) NOT NULL,
    private_key_pem TEXT NOT NULL,
    public_jwk      TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    retired_at      TIMESTAMP,
    publish_until   TIMESTAMP
);

CREATE TABLE audit_logs (
    id          INTEGER PRIMARY KEY,
    event_type  VARCHAR(64) NOT NULL,
    user_id     BIGINT REFERENCES users (id) ON DELETE SET NULL,
    username    VARCHAR(64),
    client_id   VARCHAR(64),
    ip_address  VARCHAR(45),
    user_agent  VARCHAR(255),
    success     BOOLEAN NOT NULL,
    details     TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX idx_audit_logs_created ON audit_logs (created_at);
CREATE INDEX idx_audit_logs_user ON audit_logs (user_id, created_at);
CREATE INDEX idx_audit_logs_event ON audit_logs (event_type, created_at);

CREATE TABLE login_attempts (
    attempt_key         VARCHAR(128) PRIMARY KEY,
    failures            INTEGER NOT NULL,
    window_started_at   TIMESTAMP NOT NULL,
    locked_until        TIMESTAMP,
    updated_at          TIMESTAMP NOT NULL
);
CREATE INDEX idx_login_attempts_updated ON login_attempts (updated_at);
