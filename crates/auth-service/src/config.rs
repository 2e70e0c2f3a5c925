//! Configuration of auth-service.
//!
//! Layered (later wins): built-in defaults < TOML file (`--config`) < `.env` in the working
//! directory < environment. Variables use the prefix `AUTH_SERVICE__` and `__` between nested
//! keys:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `AUTH_SERVICE__GRPC_ADDR` | `127.0.0.1:50052` | listen address (gRPC, gRPC-Web and the HTTP endpoints: `/oauth/*`, `/.well-known/*`, `/health`) |
//! | `AUTH_SERVICE__DB_URL` | `sqlite:///data/auth.db` | database (see `db_core::DbUrl`) |
//! | `AUTH_SERVICE__DB__*` | see agent-runtime | pool, SQLite and migration settings |
//! | `AUTH_SERVICE__BACKUP__DIR` | `backups` | folder of backups (DatabaseAdmin RPCs, scheduled backups) |
//! | `AUTH_SERVICE__BACKUP__INTERVAL` | `0` | seconds between scheduled backups; 0 = off |
//! | `AUTH_SERVICE__BACKUP__KEEP` | `7` | backups kept by the schedule (the newest verified one always) |
//! | `AUTH_SERVICE__ISSUER` | `https://auth.codelab.local` | `iss` of every token |
//! | `AUTH_SERVICE__AUDIENCE` | `codelab-api` | `aud` of every access token |
//! | `AUTH_SERVICE__ADMIN_PASSWORD` | random, written to the credentials file | password of the `admin` user seeded on first start (`AUTH_SERVICE__MASTER_KEY` is accepted too) |
//! | `AUTH_SERVICE__INTERNAL_CLIENT_SECRET` | random, written to the credentials file | secret of the seeded confidential client `codelab-internal` |
//! | `AUTH_SERVICE__KEY_ENCRYPTION_KEY` | none: required | key-encryption key(s) of the signing keys: base64 of 32 random bytes (`openssl rand -base64 32`); comma-separated to rotate (the first encrypts, all decrypt); see [`crate::kek`] |
//! | `AUTH_SERVICE__KEY_ENCRYPTION_KEY_FILE` | unset | file holding the key-encryption key(s) instead (Docker/Kubernetes secret) |
//! | `AUTH_SERVICE__CREDENTIALS_FILE` | `auth-credentials.txt` next to a SQLite database, else `data/auth-credentials.txt` | where generated first-start credentials are written (mode 0600; never logged) |
//! | `AUTH_SERVICE__ALLOW_REGISTRATION` | `false` | anyone may call CreateUser (else `api:admin` only) |
//! | `AUTH_SERVICE__REFRESH_GRACE_SECS` | `30` | a rotated refresh token presented again within this many seconds gets a new pair instead of revoking its family (max 60) |
//! | `AUTH_SERVICE__LEEWAY_SECS` | `30` | clock skew allowed when verifying tokens |
//! | `AUTH_SERVICE__KEY_REFRESH_SECS` | `60` | how often each replica reloads signing keys (sees another replica's rotation) |
//! | `AUTH_SERVICE__LOCKOUT__MAX_FAILURES_PER_USER` | `5` | failed logins per username in the window before lockout |
//! | `AUTH_SERVICE__LOCKOUT__MAX_FAILURES_PER_IP` | `10` | failed logins per address in the window before lockout |
//! | `AUTH_SERVICE__LOCKOUT__WINDOW_SECS` | `900` | counting window |
//! | `AUTH_SERVICE__LOCKOUT__LOCKOUT_SECS` | `900` | lockout duration |
//! | `AUTH_SERVICE__LOCKOUT__TRUST_FORWARDED_FOR` | `false` | take the client address from `x-forwarded-for` (only behind proxies that append to it); else the TCP peer |
//! | `AUTH_SERVICE__LOCKOUT__TRUSTED_PROXIES` | `1` | with `TRUST_FORWARDED_FOR`: proxies in front of the service; the address is that many entries from the right of `x-forwarded-for` (1 = the rightmost) |
//! | `AUTH_SERVICE__RATE_LIMIT__REQUESTS_PER_SECOND` | `20` | sustained RPCs per client address (0 = no limit) |
//! | `AUTH_SERVICE__RATE_LIMIT__BURST` | `40` | RPCs one address may send at once |
//! | `AUTH_SERVICE__PASSWORD__MEMORY_KIB` | `19456` | argon2id memory (OWASP: ≥ 19 MiB) |
//! | `AUTH_SERVICE__PASSWORD__ITERATIONS` | `2` | argon2id iterations |
//! | `AUTH_SERVICE__PASSWORD__PARALLELISM` | `1` | argon2id lanes |
//! | `AUTH_SERVICE__PASSWORD__MAX_CONCURRENT` | `0` | hashes at once (0 = half the CPUs) |
//! | `AUTH_SERVICE__MAX_REQUEST_BYTES` | `65536` | largest request message |
//! | `AUTH_SERVICE__HEALTH_CHECK_INTERVAL_MS` | `5000` | database probe period for grpc.health.v1 |
//! | `AUTH_SERVICE__SHUTDOWN_GRACE_SECS` | `30` | time in-flight RPCs get on shutdown |
//! | `AUTH_SERVICE__METRICS_ADDR` | unset (off) | Prometheus `GET /metrics` listen address, e.g. `0.0.0.0:9465` |
//! | `AUTH_SERVICE__CORS__ALLOWED_ORIGINS` | empty (no CORS) | browser origins allowed to call gRPC-Web and the HTTP routes, comma-separated (`https://app.example.com,http://localhost:3000`), or `*` alone; see `service_kit::cors` |
//!
//! `RUST_LOG` and `LOG_FORMAT` are read without prefix.

use crate::passwords::PasswordSettings;
use db_core::{DbSettings, DbUrl};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
pub use service_kit::settings::ConfigError;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Environment prefix of every variable.
pub const ENV_PREFIX: &str = "AUTH_SERVICE";

/// Everything auth-service reads at start. Serializes with secrets redacted (for
/// `codelab config check`).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct Config {
    /// Listen address.
    pub grpc_addr: SocketAddr,
    /// Database URL; a secret because PostgreSQL URLs carry a password.
    #[serde(serialize_with = "db_core::service::serialize_db_url")]
    pub db_url: SecretString,
    /// Pool and migration settings.
    pub db: DbSettings,
    /// Backup folder and schedule (`AUTH_SERVICE__BACKUP__*`).
    pub backup: database_admin::BackupSettings,
    /// `iss` claim.
    pub issuer: String,
    /// `aud` claim.
    pub audience: String,
    /// Password of the seeded `admin` user.
    #[serde(serialize_with = "db_core::service::serialize_redacted")]
    pub admin_password: Option<SecretString>,
    /// The original service's name for the admin password.
    #[serde(serialize_with = "db_core::service::serialize_redacted")]
    pub master_key: Option<SecretString>,
    /// Secret of the seeded `codelab-internal` client.
    #[serde(serialize_with = "db_core::service::serialize_redacted")]
    pub internal_client_secret: Option<SecretString>,
    /// Key-encryption key(s) of the signing keys (see [`crate::kek`]).
    #[serde(serialize_with = "db_core::service::serialize_redacted")]
    pub key_encryption_key: Option<SecretString>,
    /// File holding the key-encryption key(s), when `key_encryption_key` is unset.
    pub key_encryption_key_file: Option<PathBuf>,
    /// Where generated first-start credentials go (see [`Config::credentials_file`]); a file,
    /// not a log line, because a container's stderr is its log.
    pub credentials_file: Option<PathBuf>,
    /// Open registration.
    pub allow_registration: bool,
    /// Refresh-rotation grace window, seconds.
    pub refresh_grace_secs: i64,
    /// Clock skew allowed when verifying tokens, seconds.
    pub leeway_secs: u64,
    /// Signing-key reload period, seconds.
    pub key_refresh_secs: u64,
    /// Failed-login limits.
    pub lockout: LockoutSettings,
    /// Per-address request rate limit.
    pub rate_limit: RateLimitSettings,
    /// argon2id parameters.
    pub password: PasswordSettings,
    /// Largest request message, bytes.
    pub max_request_bytes: usize,
    /// Database probe period, ms.
    pub health_check_interval_ms: u64,
    /// Shutdown grace period, seconds.
    pub shutdown_grace_secs: u64,
    /// Prometheus endpoint (`GET /metrics`); none when unset.
    pub metrics_addr: Option<SocketAddr>,
    /// `AUTH_SERVICE__TLS__*`: serve TLS (certificate, key, optional client CA) on the gRPC port and its
    /// HTTP routes; plaintext when unset.
    pub tls: service_kit::tls::TlsSettings,
    /// `AUTH_SERVICE__CORS__*`: origins allowed to call from a browser; none when empty.
    pub cors: service_kit::cors::CorsSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 50052)),
            db_url: SecretString::from("sqlite:///data/auth.db"),
            db: DbSettings::default(),
            backup: database_admin::BackupSettings::default(),
            issuer: "https://auth.codelab.local".to_owned(),
            audience: "codelab-api".to_owned(),
            admin_password: None,
            master_key: None,
            internal_client_secret: None,
            key_encryption_key: None,
            key_encryption_key_file: None,
            credentials_file: None,
            allow_registration: false,
            refresh_grace_secs: 30,
            leeway_secs: 30,
            key_refresh_secs: 60,
            lockout: LockoutSettings::default(),
            rate_limit: RateLimitSettings::default(),
            password: PasswordSettings::default(),
            max_request_bytes: 64 * 1024,
            health_check_interval_ms: 5_000,
            shutdown_grace_secs: 30,
            metrics_addr: None,
            tls: service_kit::tls::TlsSettings::default(),
            cors: service_kit::cors::CorsSettings::default(),
        }
    }
}

/// `AUTH_SERVICE__LOCKOUT__*`: the original service's brute-force protection numbers.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct LockoutSettings {
    /// Failed logins per username per window.
    pub max_failures_per_user: i32,
    /// Failed logins per address per window.
    pub max_failures_per_ip: i32,
    /// Counting window, seconds.
    pub window_secs: i64,
    /// Lockout duration, seconds.
    pub lockout_secs: i64,
    /// Read the client address from `x-forwarded-for`. Off by default: a client reaching the
    /// service directly writes that header itself, and could pick a fresh address per guess
    /// (OWASP Authentication Cheat Sheet; RFC 7239 §8.3 on forged forwarding headers).
    pub trust_forwarded_for: bool,
    /// Proxies between the client and the service, each appending the address it received
    /// from to `x-forwarded-for`. The client is the entry this many places from the right
    /// (1 = the rightmost, written by the proxy next to the service); entries further left
    /// were written by the client and are ignored. 1 to 16.
    pub trusted_proxies: u32,
}

impl Default for LockoutSettings {
    fn default() -> Self {
        LockoutSettings {
            max_failures_per_user: 5,
            max_failures_per_ip: 10,
            window_secs: 900,
            lockout_secs: 900,
            trust_forwarded_for: false,
            trusted_proxies: 1,
        }
    }
}

/// `AUTH_SERVICE__RATE_LIMIT__*`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct RateLimitSettings {
    /// Sustained requests per second admitted from one address; 0 turns the limit off.
    /// Default 20.
    pub requests_per_second: u32,
    /// Requests one address may send at once before the sustained rate applies. Default 40.
    pub burst: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            requests_per_second: 20,
            burst: 40,
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
    /// [`ConfigError`] naming the variable and what was expected.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        service_kit::settings::load(file)
    }

    /// The layering of [`Config::load`] without [`Config::validate`] (`codelab config check`
    /// reports every problem instead of the first).
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable whose value does not parse.
    pub fn load_unvalidated(file: Option<&Path>) -> Result<Config, ConfigError> {
        service_kit::settings::load_unvalidated(file)
    }

    /// Checks values the types cannot.
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable (the first of [`Config::problems`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        service_kit::settings::validate(self)
    }

    /// Every value the service would refuse to start with, each naming its variable.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut fail = |var: &str, what: &str| problems.push(format!("{ENV_PREFIX}__{var} {what}"));
        if self.issuer.trim().is_empty() {
            fail("ISSUER", "must not be empty");
        }
        if self.audience.trim().is_empty() {
            fail("AUDIENCE", "must not be empty");
        }
        if !(0..=60).contains(&self.refresh_grace_secs) {
            fail(
                "REFRESH_GRACE_SECS",
                "must be between 0 and 60 (RFC 9700 practice)",
            );
        }
        if self.db.pool_size == 0 {
            fail("DB__POOL_SIZE", "must be at least 1");
        }
        if self.lockout.max_failures_per_user < 1 || self.lockout.max_failures_per_ip < 1 {
            fail("LOCKOUT__MAX_FAILURES_PER_USER/_IP", "must be at least 1");
        }
        if self.lockout.window_secs < 1 || self.lockout.lockout_secs < 1 {
            fail("LOCKOUT__WINDOW_SECS/LOCKOUT_SECS", "must be at least 1");
        }
        if !(1..=16).contains(&self.lockout.trusted_proxies) {
            fail("LOCKOUT__TRUSTED_PROXIES", "must be between 1 and 16");
        }
        if self.key_refresh_secs == 0 {
            fail("KEY_REFRESH_SECS", "must be at least 1");
        }
        if self.max_request_bytes < 1024 {
            fail("MAX_REQUEST_BYTES", "must be at least 1024");
        }
        if let Err(e) = crate::passwords::Passwords::new(&self.password) {
            problems.push(format!("{ENV_PREFIX}__PASSWORD__*: {e}"));
        }
        if let Err(e) = self.key_encryption_keys() {
            problems.push(e.0);
        }
        problems.extend(self.tls.problems(ENV_PREFIX));
        problems.extend(self.cors.problems(ENV_PREFIX));
        if let Err(e) = self.database_url() {
            problems.insert(0, e.0);
        }
        problems
    }

    /// Values the service starts with but an operator should know about, each naming its
    /// variable.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.admin_password().is_none() {
            warnings.push(format!(
                "{ENV_PREFIX}__ADMIN_PASSWORD is unset: on first start the admin user gets a \
                 random password, written to {}",
                self.credentials_file().path().display()
            ));
        }
        if self
            .internal_client_secret
            .as_ref()
            .is_none_or(|s| s.expose_secret().is_empty())
        {
            warnings.push(format!(
                "{ENV_PREFIX}__INTERNAL_CLIENT_SECRET is unset: on first start codelab-internal \
                 gets a random secret, written to {}",
                self.credentials_file().path().display()
            ));
        }
        if self.allow_registration {
            warnings.push(format!(
                "{ENV_PREFIX}__ALLOW_REGISTRATION=true: anyone who can reach the service can \
                 create an account"
            ));
        }
        warnings
    }

    /// The parsed database URL.
    ///
    /// # Errors
    /// [`ConfigError`] naming `AUTH_SERVICE__DB_URL`.
    pub fn database_url(&self) -> Result<DbUrl, ConfigError> {
        service_kit::settings::database_url(ENV_PREFIX, self.db_url.expose_secret())
    }

    /// The key-encryption keys (`KEY_ENCRYPTION_KEY`, else `KEY_ENCRYPTION_KEY_FILE`).
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable: unset, malformed, or an unreadable file.
    pub fn key_encryption_keys(&self) -> Result<crate::kek::Keks, ConfigError> {
        crate::kek::Keks::from_settings(
            self.key_encryption_key.as_ref(),
            self.key_encryption_key_file.as_deref(),
        )
        .map_err(|e| ConfigError(e.0))
    }

    /// Where generated first-start credentials are written: `CREDENTIALS_FILE`, else
    /// [`crate::credentials::FILE_NAME`] in the folder of a SQLite database file, else
    /// `data/`[`crate::credentials::FILE_NAME`] (relative to the working directory; the data
    /// volume of the container image).
    pub fn credentials_file(&self) -> crate::credentials::CredentialsFile {
        use crate::credentials::{CredentialsFile, FILE_NAME};
        if let Some(path) = self
            .credentials_file
            .as_ref()
            .filter(|p| !p.as_os_str().is_empty())
        {
            return CredentialsFile::new(path.clone());
        }
        let beside_db = self
            .database_url()
            .ok()
            .and_then(|url| url.sqlite_path().map(|p| p.with_file_name(FILE_NAME)));
        CredentialsFile::new(beside_db.unwrap_or_else(|| Path::new("data").join(FILE_NAME)))
    }

    /// The seeded admin's password: `ADMIN_PASSWORD`, else `MASTER_KEY`, else none.
    pub fn admin_password(&self) -> Option<&SecretString> {
        self.admin_password
            .as_ref()
            .or(self.master_key.as_ref())
            .filter(|s| !s.expose_secret().is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_original_and_agent_runtime() {
        let c = Config::default();
        let problems = c.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains(crate::kek::KEK_ENV), "{problems:?}");
        let c = Config {
            key_encryption_key: Some(crate::kek::Keks::generate()),
            ..c
        };
        c.validate().unwrap();
        assert!(
            !serde_json::to_string(&c)
                .unwrap()
                .contains(c.key_encryption_key.as_ref().unwrap().expose_secret())
        );
        assert_eq!(c.grpc_addr.port(), 50052);
        assert_eq!(c.issuer, "https://auth.codelab.local");
        assert_eq!(c.audience, "codelab-api");
        assert_eq!(c.lockout.max_failures_per_user, 5);
        assert_eq!(c.lockout.max_failures_per_ip, 10);
        assert_eq!(c.lockout.lockout_secs, 900);
        assert!(
            !c.lockout.trust_forwarded_for,
            "a direct client must not choose its own address"
        );
        assert_eq!(c.lockout.trusted_proxies, 1);
        assert_eq!(
            c.database_url().unwrap(),
            DbUrl::parse("sqlite:///data/auth.db").unwrap()
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        let c = Config {
            refresh_grace_secs: 600,
            ..Config::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .0
                .contains("AUTH_SERVICE__REFRESH_GRACE_SECS")
        );
        let c = Config {
            db_url: SecretString::from("mysql://x/y"),
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().0.contains("AUTH_SERVICE__DB_URL"));
        let c = Config {
            lockout: LockoutSettings {
                trusted_proxies: 0,
                ..LockoutSettings::default()
            },
            ..Config::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .0
                .contains("AUTH_SERVICE__LOCKOUT__TRUSTED_PROXIES")
        );
    }

    #[test]
    fn credentials_go_beside_a_sqlite_file_else_to_data() {
        let c = Config {
            db_url: SecretString::from("sqlite:////var/lib/codelab/auth.db"),
            ..Config::default()
        };
        assert_eq!(
            c.credentials_file().path(),
            Path::new("/var/lib/codelab/auth-credentials.txt")
        );
        let c = Config {
            db_url: SecretString::from("postgresql://u:p@db/auth"),
            ..Config::default()
        };
        assert_eq!(
            c.credentials_file().path(),
            Path::new("data/auth-credentials.txt")
        );
        let c = Config {
            credentials_file: Some("/run/secrets/first.txt".into()),
            ..c
        };
        assert_eq!(
            c.credentials_file().path(),
            Path::new("/run/secrets/first.txt")
        );
    }

    #[test]
    fn master_key_is_the_fallback_admin_password() {
        let c = Config {
            master_key: Some(SecretString::from("from-master-key")),
            ..Config::default()
        };
        assert_eq!(
            c.admin_password().unwrap().expose_secret(),
            "from-master-key"
        );
        let c = Config {
            admin_password: Some(SecretString::from("explicit")),
            ..c
        };
        assert_eq!(c.admin_password().unwrap().expose_secret(), "explicit");
    }
}
