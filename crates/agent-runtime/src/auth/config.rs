//! [`AuthConfig`]: the `AGENT_RUNTIME__AUTH__*` settings, and the names of the variables that
//! error messages quote.

use std::path::PathBuf;

use serde::Deserialize;
use service_kit::client::ClientTls;

/// Name of the environment variable that configures [`AuthConfig::jwks_url`].
pub const JWKS_URL_ENV: &str = "AGENT_RUNTIME__AUTH__JWKS_URL";

/// Name of the environment variable that configures
/// [`AuthConfig::auth_service_url`].
pub const AUTH_SERVICE_URL_ENV: &str = "AGENT_RUNTIME__AUTH__AUTH_SERVICE_URL";

/// Name of the environment variable that configures [`AuthConfig::ca_file`].
pub const CA_FILE_ENV: &str = "AGENT_RUNTIME__AUTH__CA_FILE";

/// Default of [`AuthConfig::auth_service_url`]: auth-service's default address.
pub const DEFAULT_AUTH_SERVICE_URL: &str = "http://127.0.0.1:50052";

/// The `AGENT_RUNTIME__AUTH__*` settings. Every field has a default
/// (`#[serde(default)]`), so an empty section deserializes to
/// [`AuthConfig::default`]. `Debug` prints what `Serialize` does, so URLs show with their
/// credentials redacted there too.
#[derive(Clone, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct AuthConfig {
    /// `AGENT_RUNTIME__AUTH__DISABLED`: turn authentication off; every caller becomes
    /// [`Principal::dev`](crate::auth::Principal::dev). Development only. Default `false`.
    pub disabled: bool,
    /// `AGENT_RUNTIME__AUTH__JWKS_URL`: where the JWK Set (RFC 7517 §5) is:
    /// `https://…`, `http://…` or `file:///absolute/path.json`. When set it
    /// wins over [`AuthConfig::auth_service_url`]. Default unset. Printed with credentials
    /// redacted.
    #[serde(serialize_with = "db_core::service::serialize_optional_url")]
    pub jwks_url: Option<String>,
    /// `AGENT_RUNTIME__AUTH__AUTH_SERVICE_URL`: the auth-service whose JWK Set is trusted
    /// (fetched with gRPC `GetJwks`, see [`GrpcJwks`](crate::auth::GrpcJwks)) when
    /// `jwks_url` is unset: `http://host:port`, or `https://host:port`
    /// verified with [`AuthConfig::ca_file`]. Default
    /// `"http://127.0.0.1:50052"`. Printed with credentials redacted.
    #[serde(serialize_with = "db_core::service::serialize_url")]
    pub auth_service_url: String,
    /// `AGENT_RUNTIME__AUTH__STARTUP_WAIT_SECS`: how long the first JWK Set
    /// fetch is retried (with backoff) at start before giving up, in
    /// seconds; lets agent-runtime start together with auth-service. 0 = one
    /// attempt. Default 30.
    pub startup_wait_secs: u64,
    /// `AGENT_RUNTIME__AUTH__ISSUER`: the exact `iss` claim required.
    /// Default `"https://auth.codelab.local"`.
    pub issuer: String,
    /// `AGENT_RUNTIME__AUTH__AUDIENCE`: a value the `aud` claim must
    /// contain. Default `"codelab-api"`.
    pub audience: String,
    /// `AGENT_RUNTIME__AUTH__LEEWAY_SECS`: clock skew allowed on `exp` and
    /// `nbf`, in seconds. Default 30.
    pub leeway_secs: u64,
    /// `AGENT_RUNTIME__AUTH__JWKS_REFRESH_MIN_INTERVAL_SECS`: minimum
    /// seconds between refetches triggered by an unknown `kid` (and between
    /// background refresh attempts). Default 30.
    pub jwks_refresh_min_interval_secs: u64,
    /// `AGENT_RUNTIME__AUTH__JWKS_MAX_AGE_SECS`: once the cached set is
    /// older than this many seconds, the next verification starts a
    /// background refetch (it keeps using the cached keys meanwhile).
    /// Default 3600.
    pub jwks_max_age_secs: u64,
    /// `AGENT_RUNTIME__AUTH__JWKS_FETCH_TIMEOUT_MS`: timeout of one JWK Set
    /// fetch, in milliseconds; must be > 0. Default 3000.
    pub jwks_fetch_timeout_ms: u64,
    /// `AGENT_RUNTIME__AUTH__CA_FILE`: PEM file of the CAs trusted for an
    /// `https://` auth-service or JWKS URL (only these; the Mozilla roots when
    /// unset). Default unset.
    pub ca_file: Option<PathBuf>,
    /// `AGENT_RUNTIME__AUTH__CLIENT_CERT_FILE`: PEM client certificate shown
    /// to an auth-service that requires one (mTLS). Default unset.
    pub client_cert_file: Option<PathBuf>,
    /// `AGENT_RUNTIME__AUTH__CLIENT_KEY_FILE`: private key of
    /// `client_cert_file`. Default unset.
    pub client_key_file: Option<PathBuf>,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match serde_json::to_value(self) {
            Ok(value) => write!(f, "AuthConfig {value}"),
            Err(_) => f.write_str("AuthConfig { .. }"),
        }
    }
}

impl AuthConfig {
    /// The TLS files used for `https://` key sources.
    pub fn client_tls(&self) -> ClientTls {
        ClientTls {
            ca_file: self.ca_file.clone(),
            cert_file: self.client_cert_file.clone(),
            key_file: self.client_key_file.clone(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            disabled: false,
            jwks_url: None,
            auth_service_url: DEFAULT_AUTH_SERVICE_URL.to_owned(),
            startup_wait_secs: 30,
            issuer: "https://auth.codelab.local".to_owned(),
            audience: "codelab-api".to_owned(),
            leeway_secs: 30,
            jwks_refresh_min_interval_secs: 30,
            jwks_max_age_secs: 3600,
            jwks_fetch_timeout_ms: 3000,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
        }
    }
}
