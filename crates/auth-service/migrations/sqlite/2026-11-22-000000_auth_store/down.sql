DROP TABLE login_attempts;
DROP TABLE audit_logs;
DROP TABLE signing_keys;
DROP TABLE refresh_tokens;
DROP TABLE oauth_clients;
DROP TABLE users;
