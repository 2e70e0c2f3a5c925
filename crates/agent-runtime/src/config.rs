//! Configuration of agent-runtime.
//!
//! Layered (later wins): built-in defaults < TOML file (`--config`) < `.env` in the working
//! directory < environment. Variables use the prefix `AGENT_RUNTIME__` and `__` between nested
//! keys:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `AGENT_RUNTIME__GRPC_ADDR` | `127.0.0.1:50051` | listen address |
//! | `AGENT_RUNTIME__DB_URL` | `sqlite:///data/agent_runtime.db` | database (see `db_core::DbUrl`) |
//! | `AGENT_RUNTIME__DB__POOL_SIZE` | `16` | most open connections |
//! | `AGENT_RUNTIME__DB__WAIT_TIMEOUT_MS` | `5000` | wait for a free connection, then `UNAVAILABLE` |
//! | `AGENT_RUNTIME__DB__CONNECT_TIMEOUT_MS` | `5000` | connection setup limit |
//! | `AGENT_RUNTIME__DB__BUSY_TIMEOUT_MS` | `5000` | SQLite lock wait |
//! | `AGENT_RUNTIME__DB__SYNCHRONOUS` | `full` | SQLite `synchronous`: off, normal, full, extra |
//! | `AGENT_RUNTIME__DB__STATEMENT_TIMEOUT_MS` | `30000` | PostgreSQL `statement_timeout` (0 = none) |
//! | `AGENT_RUNTIME__DB__AUTO_MIGRATE` | `true` | apply pending migrations at start |
//! | `AGENT_RUNTIME__BACKUP__DIR` | `backups` | folder of backups (DatabaseAdmin RPCs, scheduled backups) |
//! | `AGENT_RUNTIME__BACKUP__INTERVAL` | `0` | seconds between scheduled backups; 0 = off |
//! | `AGENT_RUNTIME__BACKUP__KEEP` | `7` | backups kept by the schedule (the newest verified one always) |
//! | `AGENT_RUNTIME__AUTH__DISABLED` | `false` | development only: every caller is `dev` with all scopes |
//! | `AGENT_RUNTIME__AUTH__AUTH_SERVICE_URL` | `http://127.0.0.1:50052` | auth-service whose keys are trusted (gRPC `GetJwks`) |
//! | `AGENT_RUNTIME__AUTH__JWKS_URL` | — | JWK Set from elsewhere instead: `http(s)://…` or `file:///…` (wins when set) |
//! | `AGENT_RUNTIME__AUTH__STARTUP_WAIT_SECS` | `30` | retry the first key fetch this long at start (auth-service starting too) |
//! | `AGENT_RUNTIME__AUTH__ISSUER` | `https://auth.codelab.local` | required `iss` |
//! | `AGENT_RUNTIME__AUTH__AUDIENCE` | `codelab-api` | required `aud` |
//! | `AGENT_RUNTIME__AUTH__LEEWAY_SECS` | `30` | clock skew allowed on `exp`/`nbf` |
//! | `AGENT_RUNTIME__AUTH__JWKS_REFRESH_MIN_INTERVAL_SECS` | `30` | least time between refetches on unknown `kid` |
//! | `AGENT_RUNTIME__AUTH__JWKS_MAX_AGE_SECS` | `3600` | refetch keys older than this |
//! | `AGENT_RUNTIME__AUTH__JWKS_FETCH_TIMEOUT_MS` | `3000` | timeout of one key fetch (gRPC, HTTP or file) |
//! | `AGENT_RUNTIME__LIMITS__MAX_REQUEST_BYTES` | `4194304` | largest request message (4 MiB), every service; beyond it `RESOURCE_EXHAUSTED` |
//! | `AGENT_RUNTIME__LIMITS__MAX_MESSAGE_BYTES` | `1048576` | largest message (content + tool calls + metadata, 1 MiB); beyond it `INVALID_ARGUMENT` |
//! | `AGENT_RUNTIME__LIMITS__MAX_MESSAGES_PER_APPEND` | `1000` | messages in one AppendMessages |
//! | `AGENT_RUNTIME__LIMITS__MAX_MESSAGES_PER_SAVE` | `100000` | messages in one SaveSession snapshot |
//! | `AGENT_RUNTIME__LIMITS__MAX_SESSION_MESSAGES` | `100000` | messages one session holds; an append or SaveSession beyond it is `RESOURCE_EXHAUSTED` (`SESSION_TOO_LARGE`) |
//! | `AGENT_RUNTIME__LIMITS__MAX_RESPONSE_BYTES` | `67108864` | text and JSON in one LoadSession/LoadAgentContext answer (64 MiB); beyond it `RESOURCE_EXHAUSTED` (`RESPONSE_TOO_LARGE`): page instead |
//! | `AGENT_RUNTIME__TOKENIZER` | `cl100k_base` | encoding of messages sent without `token_count`: `cl100k_base`, `o200k_base` (GPT-4o family) or `none` (store 0) |
//! | `AGENT_RUNTIME__PAGE_TOKEN_SECRET` | random per process | key signing page tokens; set the same on every replica |
//! | `AGENT_RUNTIME__HEALTH_CHECK_INTERVAL_MS` | `5000` | database probe period for grpc.health.v1 |
//! | `AGENT_RUNTIME__SHUTDOWN_GRACE_SECS` | `30` | time in-flight RPCs get on shutdown |
//! | `AGENT_RUNTIME__METRICS_ADDR` | unset (off) | Prometheus `GET /metrics` listen address, e.g. `0.0.0.0:9464` |
//! | `AGENT_RUNTIME__CORS__ALLOWED_ORIGINS` | empty (no CORS) | browser origins allowed to call gRPC-Web and `/health`, comma-separated (`https://app.example.com,http://localhost:3000`), or `*` alone; see `service_kit::cors` |
//!
//! `RUST_LOG` and `LOG_FORMAT` (see [`crate::telemetry`]) are read without prefix.

use crate::auth::AuthConfig;
pub use db_core::DbSettings;
use db_core::DbUrl;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
pub use service_kit::settings::ConfigError;
use std::net::SocketAddr;
use std::path::Path;

/// Environment prefix of every variable.
pub const ENV_PREFIX: &str = "AGENT_RUNTIME";

/// Everything agent-runtime reads at start. Serializes with secrets redacted (for
/// `codelab config check`).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct Config {
    /// gRPC listen address.
    pub grpc_addr: SocketAddr,
    /// Database URL; a secret because PostgreSQL URLs carry a password.
    #[serde(serialize_with = "db_core::service::serialize_db_url")]
    pub db_url: SecretString,
    /// Pool and migration settings.
    pub db: DbSettings,
    /// Backup folder and schedule.
    pub backup: database_admin::BackupSettings,
    /// Token verification.
    pub auth: AuthConfig,
    /// Request limits.
    pub limits: Limits,
    /// Encoding of messages sent without a token count.
    pub tokenizer: crate::tokenizer::Encoding,
    /// Key for page tokens; random per process when unset.
    #[serde(serialize_with = "db_core::service::serialize_redacted")]
    pub page_token_secret: Option<SecretString>,
    /// Database probe period for the health service, in ms.
    pub health_check_interval_ms: u64,
    /// Time in-flight RPCs get to finish on shutdown, in seconds.
    pub shutdown_grace_secs: u64,
    /// Prometheus endpoint (`GET /metrics`); none when unset.
    pub metrics_addr: Option<SocketAddr>,
    /// `AGENT_RUNTIME__TLS__*`: serve TLS (certificate, key, optional client CA); plaintext when unset.
    pub tls: service_kit::tls::TlsSettings,
    /// `AGENT_RUNTIME__CORS__*`: origins allowed to call from a browser; none when empty.
    pub cors: service_kit::cors::CorsSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            db_url: SecretString::from("sqlite:///data/agent_runtime.db"),
            db: DbSettings::default(),
            backup: database_admin::BackupSettings::default(),
            auth: AuthConfig::default(),
            limits: Limits::default(),
            tokenizer: crate::tokenizer::Encoding::default(),
            page_token_secret: None,
            health_check_interval_ms: 5_000,
            shutdown_grace_secs: 30,
            metrics_addr: None,
            tls: service_kit::tls::TlsSettings::default(),
            cors: service_kit::cors::CorsSettings::default(),
        }
    }
}

/// `AGENT_RUNTIME__LIMITS__*`: caps that keep one client from hurting the others.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct Limits {
    /// Largest encoded request message, in bytes, on every service (DatabaseAdmin, health and
    /// reflection included); beyond it `RESOURCE_EXHAUSTED` with reason `REQUEST_TOO_LARGE`
    /// (see `grpc::limit`). At least 1024.
    pub max_request_bytes: usize,
    /// Largest single message of AppendMessages and SaveSession, in bytes of UTF-8: content,
    /// every tool call (id, type, name, arguments) and metadata together. Beyond it the call is
    /// refused with `INVALID_ARGUMENT`, reason `MESSAGE_TOO_LARGE`, naming the message's
    /// largest part (`messages[i].content`), and nothing is written. At least 1.
    pub max_message_bytes: usize,
    /// Messages in one AppendMessages call.
    pub max_messages_per_append: usize,
    /// Messages in one SaveSession snapshot.
    pub max_messages_per_save: usize,
    /// Most messages one session holds (see `store::SessionLimits`). At least 1.
    pub max_session_messages: usize,
    /// Most bytes of text and JSON in one whole-session answer (LoadSession,
    /// LoadAgentContext; see `store::SessionLimits`). At least 1.
    pub max_response_bytes: usize,
}

impl Limits {
    /// The store's share of these limits.
    pub fn session_limits(&self) -> crate::store::SessionLimits {
        crate::store::SessionLimits {
            max_session_messages: i64::try_from(self.max_session_messages).unwrap_or(i64::MAX),
            max_response_bytes: self.max_response_bytes,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 4 * 1024 * 1024,
            max_message_bytes: 1024 * 1024,
            max_messages_per_append: 1_000,
            max_messages_per_save: 100_000,
            max_session_messages: 100_000,
            max_response_bytes: 64 * 1024 * 1024,
        }
    }
}

impl service_kit::settings::Settings for Config {
    const ENV_PREFIX: &'static str = ENV_PREFIX;

    fn problems(&self) -> Vec<String> {
        Config::problems(self)
    }
}

impl Config {
    /// Loads defaults < `file` (TOML) < `.env` < environment, and validates.
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable and what was expected, e.g.
    /// `AGENT_RUNTIME__DB__POOL_SIZE: invalid digit found in string`.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        service_kit::settings::load(file)
    }

    /// The layering of [`Config::load`] without [`Config::validate`], for callers that adjust
    /// the configuration first (`codelab up` turns authentication off) and validate after.
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable whose value does not parse.
    pub fn load_unvalidated(file: Option<&Path>) -> Result<Config, ConfigError> {
        service_kit::settings::load_unvalidated(file)
    }

    /// Checks values the types cannot: the database URL, the key source, limits.
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable (the first of [`Config::problems`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        service_kit::settings::validate(self)
    }

    /// Every value the service would refuse to start with, each naming its variable.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = self.database_url() {
            problems.push(e.0);
        }
        problems.extend(self.tls.problems(ENV_PREFIX));
        problems.extend(self.cors.problems(ENV_PREFIX));
        if !self.auth.disabled
            && self
                .auth
                .jwks_url
                .as_deref()
                .is_none_or(|u| u.trim().is_empty())
            && self.auth.auth_service_url.trim().is_empty()
        {
            problems.push(format!(
                "{ENV_PREFIX}__AUTH__AUTH_SERVICE_URL (e.g. http://127.0.0.1:50052) or \
                 {ENV_PREFIX}__AUTH__JWKS_URL is required unless {ENV_PREFIX}__AUTH__DISABLED=true"
            ));
        }
        if self.auth.jwks_fetch_timeout_ms == 0 {
            problems.push(format!(
                "{ENV_PREFIX}__AUTH__JWKS_FETCH_TIMEOUT_MS must be at least 1"
            ));
        }
        if self.db.pool_size == 0 {
            problems.push(format!("{ENV_PREFIX}__DB__POOL_SIZE must be at least 1"));
        }
        if self.limits.max_request_bytes < 1024 {
            problems.push(format!(
                "{ENV_PREFIX}__LIMITS__MAX_REQUEST_BYTES must be at least 1024"
            ));
        }
        if self.limits.max_message_bytes == 0 {
            problems.push(format!(
                "{ENV_PREFIX}__LIMITS__MAX_MESSAGE_BYTES must be at least 1"
            ));
        }
        if self.limits.max_session_messages == 0 {
            problems.push(format!(
                "{ENV_PREFIX}__LIMITS__MAX_SESSION_MESSAGES must be at least 1"
            ));
        }
        if self.limits.max_response_bytes == 0 {
            problems.push(format!(
                "{ENV_PREFIX}__LIMITS__MAX_RESPONSE_BYTES must be at least 1"
            ));
        }
        problems
    }

    /// Values the service starts with but an operator should know about (development-only
    /// settings, weaker durability, per-process keys), each naming its variable.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.auth.disabled {
            warnings.push(format!(
                "{ENV_PREFIX}__AUTH__DISABLED=true: no token checks, every caller is user \"dev\" \
                 with all scopes (development only)"
            ));
        }
        if self
            .page_token_secret
            .as_ref()
            .is_none_or(|s| s.expose_secret().is_empty())
        {
            warnings.push(format!(
                "{ENV_PREFIX}__PAGE_TOKEN_SECRET is unset: page tokens are signed with a random \
                 per-process key, so they stop working after a restart and on other replicas"
            ));
        }
        if let Ok(url) = self.database_url()
            && url.backend() == db_core::Backend::Sqlite
            && matches!(
                self.db.synchronous,
                db_core::SqliteSynchronous::Off | db_core::SqliteSynchronous::Normal
            )
        {
            warnings.push(format!(
                "{ENV_PREFIX}__DB__SYNCHRONOUS={}: acknowledged writes can be lost on power loss",
                self.db.synchronous.name()
            ));
        }
        warnings
    }

    /// The parsed database URL.
    ///
    /// # Errors
    /// [`ConfigError`] naming `AGENT_RUNTIME__DB_URL` and the accepted spellings.
    pub fn database_url(&self) -> Result<DbUrl, ConfigError> {
        service_kit::settings::database_url(ENV_PREFIX, self.db_url.expose_secret())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::default();
        assert_eq!(c.grpc_addr.port(), 50051);
        assert_eq!(
            c.database_url().unwrap(),
            DbUrl::parse("sqlite:///data/agent_runtime.db").unwrap()
        );
        assert_eq!(c.limits.max_request_bytes, 4 * 1024 * 1024);
        assert_eq!(c.limits.max_message_bytes, 1024 * 1024);
        assert_eq!(
            c.limits.session_limits(),
            crate::store::SessionLimits::default()
        );
        assert_eq!(c.auth.issuer, "https://auth.codelab.local");
        assert_eq!(c.auth.audience, "codelab-api");
    }

    #[test]
    fn defaults_trust_auth_service_and_a_key_source_is_required_unless_disabled() {
        let mut c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.auth.auth_service_url, "http://127.0.0.1:50052");
        assert_eq!(c.auth.jwks_url, None);
        c.auth.auth_service_url = " ".into();
        let err = c.validate().unwrap_err();
        assert!(
            err.0.contains("AGENT_RUNTIME__AUTH__AUTH_SERVICE_URL"),
            "{err}"
        );
        c.auth.jwks_url = Some("file:///etc/codelab/jwks.json".into());
        c.validate().unwrap();
        c.auth.jwks_url = None;
        c.auth.disabled = true;
        c.validate().unwrap();
        c.db_url = SecretString::from("mysql://x/y");
        assert!(
            c.validate()
                .unwrap_err()
                .0
                .contains("AGENT_RUNTIME__DB_URL")
        );
    }
}
