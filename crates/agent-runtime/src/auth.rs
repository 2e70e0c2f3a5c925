//! Authentication of gRPC callers: `authorization: Bearer <JWT>` metadata
//! verified against a JWK Set.
//!
//! # What is accepted
//!
//! A caller presents an access token as gRPC metadata
//! `authorization: Bearer <JWT>` (RFC 6750 §2.1; the scheme is matched
//! case-insensitively). The token is a JWS compact serialization (RFC 7515)
//! carrying JWT claims (RFC 7519). It is accepted only when **all** of these
//! hold:
//!
//! * **Algorithm** — only asymmetric signatures: RS256/384/512,
//!   PS256/384/512, ES256/384 and EdDSA (Ed25519). `alg: none` and every
//!   HMAC algorithm (`HS*`) are refused outright, as are symmetric (`oct`)
//!   keys in the JWK Set. The algorithm is fixed by the *key*, never by the
//!   token: the matching JWK's `alg` (or, when absent, the algorithm implied
//!   by its key type: RSA → RS256, EC P-256 → ES256, EC P-384 → ES384,
//!   OKP Ed25519 → EdDSA), and the token header's `alg` must equal it. This
//!   is the defence against algorithm confusion (RFC 8725 §2.1, §3.1), e.g. an
//!   HS256 token "signed" with the RSA public key as HMAC secret.
//! * **Key** — chosen by the header `kid` from the JWK Set (RFC 7517). Header
//!   parameters that carry or point at keys (`jwk`, `jku`, `x5u`, `x5c`) are
//!   ignored. An unknown `kid` triggers one refetch of the set (rate limited,
//!   see [`AuthConfig::jwks_refresh_min_interval_secs`]) and one retry. A
//!   token without `kid` is accepted only when the set holds exactly one
//!   usable key. A header with `crit` is refused (RFC 7515 §4.1.11).
//! * **Claims** (RFC 7519 §4.1) — `exp` required and not in the past, `nbf`
//!   (if present) not in the future, both with [`AuthConfig::leeway_secs`] of
//!   clock skew; `iss` equal to [`AuthConfig::issuer`]; `aud` (a string or an
//!   array) containing [`AuthConfig::audience`]; `sub` a non-empty string.
//!   A `type` claim equal to `"access"` is required (so a refresh token, an
//!   ID token or any other token of the issuer cannot be replayed as an access
//!   token). Scopes come from the `scope`
//!   claim, a space-separated string (RFC 8693 §4.2); unknown scope strings
//!   are ignored. `client_id` (RFC 8693 §4.3) is optional.
//!
//! Tokens are never logged, and error messages never contain them.
//!
//! # Where the keys come from
//!
//! By default from auth-service: [`GrpcJwks`] calls
//! `codelab.auth.v1.AuthService/GetJwks` at [`AuthConfig::auth_service_url`]
//! (`http://127.0.0.1:50052`). [`AuthConfig::jwks_url`], when set, wins: a
//! `file:///…` ([`FileJwks`]) or `http(s)://…` ([`HttpJwks`]) JWK Set.
//!
//! # Key set lifecycle
//!
//! [`Authenticator::new`] fetches the JWK Set before the service starts. While
//! that first fetch fails (auth-service started at the same moment and is not
//! answering yet) it retries with backoff for up to
//! [`AuthConfig::startup_wait_secs`], then fails (the service must not start
//! without keys). Later refetches happen when a
//! token names an unknown `kid`, or in the background once the cached set is
//! older than [`AuthConfig::jwks_max_age_secs`]. Concurrent callers share a
//! single fetch. A failed refetch, or one that yields no usable key, keeps
//! the cached keys (with a warning): a briefly unavailable auth server must
//! not lock every caller out.

use std::collections::BTreeSet;
use std::fmt;
use std::io::Read as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::future::BoxFuture;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use service_kit::client::ClientTls;
use sha2::Digest as _;

/// Name of the environment variable that configures [`AuthConfig::jwks_url`].
pub const JWKS_URL_ENV: &str = "AGENT_RUNTIME__AUTH__JWKS_URL";

/// Name of the environment variable that configures
/// [`AuthConfig::auth_service_url`].
pub const AUTH_SERVICE_URL_ENV: &str = "AGENT_RUNTIME__AUTH__AUTH_SERVICE_URL";

/// Name of the environment variable that configures [`AuthConfig::ca_file`].
pub const CA_FILE_ENV: &str = "AGENT_RUNTIME__AUTH__CA_FILE";

/// Default of [`AuthConfig::auth_service_url`]: auth-service's default address.
pub const DEFAULT_AUTH_SERVICE_URL: &str = "http://127.0.0.1:50052";

pub use crate::grpc::jwks::GrpcJwks;

/// Longest bearer token accepted, in bytes. Longer tokens are rejected with
/// [`AuthError::InvalidToken`] before any parsing.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Largest JWK Set document accepted from a [`JwksSource`], in bytes.
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Smallest RSA modulus accepted in a JWK, in bits (RFC 7518 §3.3).
pub const MIN_RSA_BITS: usize = 2048;

/// Longest `kid` echoed back in an error message, in characters.
const MAX_ECHOED_CHARS: usize = 64;

// ---------------------------------------------------------------------------
// Scopes and principals
// ---------------------------------------------------------------------------

/// OAuth 2.0 scopes of the API (RFC 6749 §3.3): `"api:read"`, `"api:write"`,
/// `"api:admin"`, `"api:approve"`. [`Scope::Admin`] implies the others (see
/// [`Principal::has`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `api:read`: read sessions, messages and contexts.
    Read,
    /// `api:write`: create and modify them.
    Write,
    /// `api:admin`: everything, including administrative operations.
    Admin,
    /// `api:approve`: resolve a pending approval the caller requested itself (a person's
    /// token; an agent's token must not carry it). See `Store::resolve_approval`.
    Approve,
}

impl Scope {
    /// Every scope, in ascending order.
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Write, Scope::Admin, Scope::Approve];

    /// The scope's wire name, e.g. `"api:read"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "api:read",
            Scope::Write => "api:write",
            Scope::Admin => "api:admin",
            Scope::Approve => "api:approve",
        }
    }

    /// Parses a wire name (exact, case-sensitive match of [`Scope::as_str`]).
    /// Returns `None` for anything else, e.g. `"openid"`.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is calling: the verified identity carried by an access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub` claim (RFC 7519 §4.1.2); never empty.
    pub subject: String,
    /// The token's `client_id` claim (RFC 8693 §4.3), if any: the OAuth
    /// client that obtained the token.
    pub client_id: Option<String>,
    /// Known scopes from the token's `scope` claim (RFC 8693 §4.2); unknown
    /// scope strings are dropped.
    pub scopes: BTreeSet<Scope>,
}

impl Principal {
    /// The local-development caller used when auth is disabled: subject
    /// `"dev"`, no client id, all scopes.
    pub fn dev() -> Principal {
        Principal {
            subject: "dev".to_owned(),
            client_id: None,
            scopes: Scope::ALL.into_iter().collect(),
        }
    }

    /// Whether the caller holds `scope`. [`Scope::Admin`] implies every
    /// other scope.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin)
    }

    /// Whether the caller holds [`Scope::Admin`].
    pub fn is_admin(&self) -> bool {
        self.scopes.contains(&Scope::Admin)
    }

    /// `Ok(())` when the caller holds `scope` (see [`Principal::has`]),
    /// otherwise [`AuthError::MissingScope`]`(scope)`.
    pub fn require(&self, scope: Scope) -> Result<(), AuthError> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(AuthError::MissingScope(scope))
        }
    }
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/// The `AGENT_RUNTIME__AUTH__*` settings. Every field has a default
/// (`#[serde(default)]`), so an empty section deserializes to
/// [`AuthConfig::default`]. `Debug` prints what `Serialize` does, so URLs show with their
/// credentials redacted there too.
#[derive(Clone, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct AuthConfig {
    /// `AGENT_RUNTIME__AUTH__DISABLED`: turn authentication off; every
    /// caller becomes [`Principal::dev`]. Development only. Default `false`.
    pub disabled: bool,
    /// `AGENT_RUNTIME__AUTH__JWKS_URL`: where the JWK Set (RFC 7517 §5) is:
    /// `https://…`, `http://…` or `file:///absolute/path.json`. When set it
    /// wins over [`AuthConfig::auth_service_url`]. Default unset. Printed with credentials
    /// redacted.
    #[serde(serialize_with = "db_core::service::serialize_optional_url")]
    pub jwks_url: Option<String>,
    /// `AGENT_RUNTIME__AUTH__AUTH_SERVICE_URL`: the auth-service whose JWK
    /// Set is trusted (fetched with gRPC `GetJwks`, see [`GrpcJwks`]) when
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

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why a caller was not authenticated or authorized. Messages are safe to
/// return to the caller: they never contain the token.
///
/// Mapping to gRPC codes: [`AuthError::MissingScope`] → `PERMISSION_DENIED`
/// ([`AuthError::is_permission_denied`]); [`AuthError::JwksUnavailable`] →
/// `UNAVAILABLE` ([`AuthError::is_unavailable`]); [`AuthError::Config`] is a
/// startup error; everything else → `UNAUTHENTICATED`.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `authorization` metadata was sent.
    #[error("missing `authorization` metadata; expected `Bearer <JWT>`")]
    MissingToken,
    /// `authorization` is present but not a single `Bearer <token>` value.
    #[error("malformed `authorization` metadata; expected `Bearer <JWT>`")]
    MalformedHeader,
    /// The token is not a well-formed, correctly signed JWT with the required
    /// claims, or uses a refused algorithm. The text says which check failed.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// `exp` (RFC 7519 §4.1.4) is in the past, beyond the leeway.
    #[error("token expired")]
    Expired,
    /// `nbf` (RFC 7519 §4.1.5) is in the future, beyond the leeway.
    #[error("token not yet valid (nbf is in the future)")]
    NotYetValid,
    /// The header `kid` is not in the JWK Set, even after a refetch. Holds the
    /// (truncated) kid.
    #[error("token signed with unknown key id {0:?}")]
    UnknownKey(String),
    /// `iss` (RFC 7519 §4.1.1) is not the configured issuer.
    #[error("token issuer is not accepted")]
    WrongIssuer,
    /// `aud` (RFC 7519 §4.1.3) does not contain the configured audience.
    #[error("token audience does not include this service")]
    WrongAudience,
    /// The `type` claim is present and not `"access"` (e.g. a refresh
    /// token). Holds the (truncated) claim value.
    #[error("token type {0:?} is not an access token")]
    WrongTokenType(String),
    /// The caller is authenticated but lacks the scope.
    #[error("missing required scope `{0}`")]
    MissingScope(Scope),
    /// The JWK Set could not be fetched or holds no usable key. The text names
    /// the source and the cause.
    #[error("JWK Set unavailable: {0}")]
    JwksUnavailable(String),
    /// Invalid auth configuration (names the offending setting).
    #[error("auth configuration error: {0}")]
    Config(String),
}

impl AuthError {
    /// UPPER_SNAKE reason for `google.rpc.ErrorInfo.reason`, e.g.
    /// `"TOKEN_EXPIRED"`, `"MISSING_SCOPE"`.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "MISSING_TOKEN",
            AuthError::MalformedHeader => "MALFORMED_AUTHORIZATION",
            AuthError::InvalidToken(_) => "INVALID_TOKEN",
            AuthError::Expired => "TOKEN_EXPIRED",
            AuthError::NotYetValid => "TOKEN_NOT_YET_VALID",
            AuthError::UnknownKey(_) => "UNKNOWN_SIGNING_KEY",
            AuthError::WrongIssuer => "WRONG_ISSUER",
            AuthError::WrongAudience => "WRONG_AUDIENCE",
            AuthError::WrongTokenType(_) => "WRONG_TOKEN_TYPE",
            AuthError::MissingScope(_) => "MISSING_SCOPE",
            AuthError::JwksUnavailable(_) => "JWKS_UNAVAILABLE",
            AuthError::Config(_) => "AUTH_MISCONFIGURED",
        }
    }

    /// `true` only for [`AuthError::MissingScope`] (→ gRPC
    /// `PERMISSION_DENIED`). [`AuthError::JwksUnavailable`] should map to
    /// `UNAVAILABLE`; the rest to `UNAUTHENTICATED`.
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, AuthError::MissingScope(_))
    }

    /// `true` only for [`AuthError::JwksUnavailable`] (→ gRPC `UNAVAILABLE`).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, AuthError::JwksUnavailable(_))
    }
}

// ---------------------------------------------------------------------------
// JWK Set sources
// ---------------------------------------------------------------------------

/// Where the JWK Set (RFC 7517 §5) comes from. Object safe: used as
/// `Arc<dyn JwksSource>`.
pub trait JwksSource: Send + Sync + 'static {
    /// Fetches the current set. Errors are [`AuthError::JwksUnavailable`].
    /// The [`Authenticator`] bounds each call by
    /// [`AuthConfig::jwks_fetch_timeout_ms`].
    fn fetch(&self) -> BoxFuture<'_, Result<JwkSet, AuthError>>;

    /// Human-readable location for logs and errors (e.g. the URL, without
    /// credentials or query).
    fn describe(&self) -> String;
}

/// Parses a JWK Set document (RFC 7517 §5: `{"keys": [...]}`), at most
/// [`MAX_JWKS_BYTES`]. Individual keys that do not parse are skipped with a
/// warning (RFC 7517 §5 lets implementations ignore keys they do not
/// understand); a document that is not a JWK Set is
/// [`AuthError::JwksUnavailable`].
pub fn parse_jwk_set(bytes: &[u8]) -> Result<JwkSet, AuthError> {
    #[derive(Deserialize)]
    struct RawJwkSet {
        keys: Vec<Value>,
    }
    if bytes.len() > MAX_JWKS_BYTES {
        return Err(AuthError::JwksUnavailable(format!(
            "JWK Set larger than {MAX_JWKS_BYTES} bytes"
        )));
    }
    let raw: RawJwkSet = serde_json::from_slice(bytes)
        .map_err(|e| AuthError::JwksUnavailable(format!("not a JWK Set (RFC 7517 §5): {e}")))?;
    let mut keys = Vec::with_capacity(raw.keys.len());
    for (index, value) in raw.keys.into_iter().enumerate() {
        match serde_json::from_value::<Jwk>(value) {
            Ok(jwk) => keys.push(jwk),
            Err(error) => tracing::warn!(index, %error, "skipping unparsable JWK in JWK Set"),
        }
    }
    Ok(JwkSet { keys })
}

/// A JWK Set read from a local JSON file on every fetch (e.g. mounted by the
/// deployment). Configured as `file:///absolute/path.json`.
#[derive(Debug, Clone)]
pub struct FileJwks(pub PathBuf);

impl FileJwks {
    /// A source reading `path`.
    pub fn new(path: impl Into<PathBuf>) -> FileJwks {
        FileJwks(path.into())
    }
}

impl JwksSource for FileJwks {
    /// Reads and parses the file (blocking I/O on tokio's blocking pool).
    /// Missing/unreadable/too large/invalid → [`AuthError::JwksUnavailable`].
    fn fetch(&self) -> BoxFuture<'_, Result<JwkSet, AuthError>> {
        let path = self.0.clone();
        Box::pin(async move {
            let shown = path.display().to_string();
            let read = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
                let file = std::fs::File::open(&path)?;
                let mut bytes = Vec::new();
                // One byte more than the limit so an oversized file is detected.
                file.take(MAX_JWKS_BYTES as u64 + 1)
                    .read_to_end(&mut bytes)?;
                Ok(bytes)
            })
            .await
            .map_err(|e| AuthError::JwksUnavailable(format!("{shown}: read task failed: {e}")))?;
            let bytes = read.map_err(|e| AuthError::JwksUnavailable(format!("{shown}: {e}")))?;
            parse_jwk_set(&bytes).map_err(|e| prefix_unavailable(&shown, e))
        })
    }

    fn describe(&self) -> String {
        format!("file://{}", self.0.display())
    }
}

/// A JWK Set fetched with HTTP GET (e.g. an authorization server's
/// `jwks_uri`, RFC 8414 §2). Honors the system proxy settings of `reqwest`.
#[derive(Clone)]
pub struct HttpJwks {
    url: reqwest::Url,
    client: reqwest::Client,
}

impl fmt::Debug for HttpJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry credentials; show the redacted form only.
        f.debug_struct("HttpJwks")
            .field("url", &self.describe())
            .finish_non_exhaustive()
    }
}

impl HttpJwks {
    /// A source for `url` (`http://` or `https://`) whose requests (connect +
    /// response body) time out after `timeout`. Invalid URL or client →
    /// [`AuthError::Config`].
    pub fn new(url: &str, timeout: Duration) -> Result<HttpJwks, AuthError> {
        HttpJwks::with_tls(url, timeout, &ClientTls::default())
    }

    /// [`HttpJwks::new`] verifying `https://` servers with `tls` (its CA file
    /// only, when set) and presenting its client certificate, if any. A file
    /// that cannot be used → [`AuthError::Config`] naming it.
    pub fn with_tls(url: &str, timeout: Duration, tls: &ClientTls) -> Result<HttpJwks, AuthError> {
        let builder = tls
            .apply_to_reqwest(reqwest::Client::builder())
            .map_err(|e| AuthError::Config(format!("{CA_FILE_ENV} / client certificate: {e}")))?;
        let client = builder
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("codelab-agent-runtime/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AuthError::Config(format!("cannot build HTTP client for JWKS: {e}")))?;
        HttpJwks::with_client(url, client)
    }

    /// A source for `url` (`http://` or `https://`) using a caller-built
    /// client (its timeouts and proxy settings apply). Invalid URL →
    /// [`AuthError::Config`].
    pub fn with_client(url: &str, client: reqwest::Client) -> Result<HttpJwks, AuthError> {
        let url = reqwest::Url::parse(url)
            .map_err(|e| AuthError::Config(format!("{JWKS_URL_ENV} is not a valid URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(AuthError::Config(format!(
                "{JWKS_URL_ENV} for HttpJwks must be http:// or https://, got {}://",
                url.scheme()
            )));
        }
        Ok(HttpJwks { url, client })
    }
}

impl JwksSource for HttpJwks {
    /// GETs the URL; a non-2xx status, a body over [`MAX_JWKS_BYTES`], a
    /// transport error/timeout or an invalid document →
    /// [`AuthError::JwksUnavailable`].
    fn fetch(&self) -> BoxFuture<'_, Result<JwkSet, AuthError>> {
        Box::pin(async move {
            let shown = self.describe();
            let unavailable = |msg: String| AuthError::JwksUnavailable(format!("{shown}: {msg}"));
            let mut response = self
                .client
                .get(self.url.clone())
                .header(
                    reqwest::header::ACCEPT,
                    "application/jwk-set+json, application/json",
                )
                .send()
                .await
                .map_err(|e| unavailable(e.without_url().to_string()))?;
            let status = response.status();
            if !status.is_success() {
                return Err(unavailable(format!("HTTP status {status}")));
            }
            if response
                .content_length()
                .is_some_and(|len| len > MAX_JWKS_BYTES as u64)
            {
                return Err(unavailable(format!(
                    "body larger than {MAX_JWKS_BYTES} bytes"
                )));
            }
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| unavailable(e.without_url().to_string()))?
            {
                if body.len() + chunk.len() > MAX_JWKS_BYTES {
                    return Err(unavailable(format!(
                        "body larger than {MAX_JWKS_BYTES} bytes"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            parse_jwk_set(&body).map_err(|e| prefix_unavailable(&shown, e))
        })
    }

    /// The URL without userinfo, query or fragment.
    fn describe(&self) -> String {
        let mut url = self.url.clone();
        // Both setters only fail for URLs that cannot have credentials, in
        // which case there is nothing to strip.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_query(None);
        url.set_fragment(None);
        url.to_string()
    }
}

/// Builds the [`JwksSource`] for a configured URL: `file:///abs/path.json` →
/// [`FileJwks`]; `http://…` / `https://…` → [`HttpJwks`] with `timeout`.
/// Anything else (other scheme, relative or remote-host file URL, unparsable)
/// → [`AuthError::Config`] naming `AGENT_RUNTIME__AUTH__JWKS_URL`.
pub fn jwks_source_from_url(
    url: &str,
    timeout: Duration,
) -> Result<Arc<dyn JwksSource>, AuthError> {
    jwks_source_from_url_with_tls(url, timeout, &ClientTls::default())
}

/// [`jwks_source_from_url`] whose `https://` fetches use `tls` (see
/// [`HttpJwks::with_tls`]).
pub fn jwks_source_from_url_with_tls(
    url: &str,
    timeout: Duration,
    tls: &ClientTls,
) -> Result<Arc<dyn JwksSource>, AuthError> {
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| {
        AuthError::Config(format!(
            "{JWKS_URL_ENV} is not a valid URL ({e}); expected https://…, http://… or file:///absolute/path.json"
        ))
    })?;
    match parsed.scheme() {
        "file" => {
            let path = parsed.to_file_path().map_err(|()| {
                AuthError::Config(format!(
                    "{JWKS_URL_ENV} file URL must be file:///absolute/path.json (no host)"
                ))
            })?;
            Ok(Arc::new(FileJwks::new(path)))
        }
        "http" | "https" => {
            let source = HttpJwks::with_tls(parsed.as_str(), timeout, tls)?;
            if parsed.scheme() == "http" && !is_loopback_host(&parsed) {
                tracing::warn!(
                    jwks = %source.describe(),
                    "{JWKS_URL_ENV} uses plain http to a non-loopback host; keys can be tampered with in transit, use https"
                );
            }
            Ok(Arc::new(source))
        }
        other => Err(AuthError::Config(format!(
            "{JWKS_URL_ENV} must be https://…, http://… or file:///absolute/path.json; scheme {other:?} is not supported"
        ))),
    }
}

fn is_loopback_host(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn prefix_unavailable(origin: &str, error: AuthError) -> AuthError {
    match error {
        AuthError::JwksUnavailable(msg) => AuthError::JwksUnavailable(format!("{origin}: {msg}")),
        other => other,
    }
}

// ---------------------------------------------------------------------------
// Usable keys
// ---------------------------------------------------------------------------

/// A JWK accepted for verification, with its fixed algorithm.
struct VerifyingKey {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// The cached, filtered key set.
struct KeySet {
    keys: Vec<VerifyingKey>,
    fetched_at: Instant,
    /// Incremented on every successful (re)fetch; lets concurrent callers see
    /// that someone else already refreshed.
    generation: u64,
}

impl KeySet {
    fn find(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }
}

/// The asymmetric JWS algorithms accepted (RFC 8725 §3.1: an explicit
/// allow-list). Parses the header `alg` string; anything else — `none`,
/// `HS*`, unknown — is refused.
fn accepted_algorithm(name: &str) -> Option<Algorithm> {
    Some(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

const RSA_ALGS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// The single algorithm a JWK may verify, or why it is unusable.
fn jwk_algorithm(jwk: &Jwk) -> Result<Algorithm, String> {
    if let Some(key_use) = &jwk.common.public_key_use
        && *key_use != PublicKeyUse::Signature
    {
        return Err("`use` is not \"sig\"".to_owned());
    }
    if let Some(ops) = &jwk.common.key_operations
        && !ops.contains(&KeyOperations::Verify)
    {
        return Err("`key_ops` does not include \"verify\"".to_owned());
    }
    // (algorithms this key type can verify, the one implied when `alg` is absent)
    let (compatible, implied): (&[Algorithm], Algorithm) = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let n = URL_SAFE_NO_PAD
                .decode(rsa.n.as_bytes())
                .map_err(|_| "RSA `n` is not base64url".to_owned())?;
            let first = n.iter().position(|b| *b != 0).unwrap_or(n.len());
            let bits = (n.len() - first) * 8;
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "RSA modulus is {bits} bits, below {MIN_RSA_BITS} (RFC 7518 §3.3)"
                ));
            }
            (RSA_ALGS, Algorithm::RS256)
        }
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => (&[Algorithm::ES256], Algorithm::ES256),
            EllipticCurve::P384 => (&[Algorithm::ES384], Algorithm::ES384),
            _ => return Err(format!("unsupported EC curve {:?}", ec.curve)),
        },
        AlgorithmParameters::OctetKeyPair(okp) => match okp.curve {
            EllipticCurve::Ed25519 => (&[Algorithm::EdDSA], Algorithm::EdDSA),
            _ => return Err(format!("unsupported OKP curve {:?}", okp.curve)),
        },
        AlgorithmParameters::OctetKey(_) => {
            return Err(
                "symmetric (`oct`) keys are never accepted (RFC 8725 §2.1, §3.1)".to_owned(),
            );
        }
        _ => return Err("unsupported key type".to_owned()),
    };
    let alg = match jwk.common.key_algorithm {
        None => implied,
        Some(key_alg) => Algorithm::try_from(key_alg)
            .ok()
            .filter(|alg| compatible.contains(alg))
            .ok_or_else(|| format!("`alg` {key_alg:?} does not fit the key type"))?,
    };
    Ok(alg)
}

/// Keeps the JWKs usable for verification; logs why others are skipped.
fn usable_keys(set: &JwkSet, origin: &str) -> Vec<VerifyingKey> {
    let mut keys: Vec<VerifyingKey> = Vec::with_capacity(set.keys.len());
    for jwk in &set.keys {
        let kid = jwk.common.key_id.clone();
        let alg = match jwk_algorithm(jwk) {
            Ok(alg) => alg,
            Err(why) => {
                tracing::warn!(jwks = origin, kid = ?kid, "skipping JWK: {why}");
                continue;
            }
        };
        let key = match DecodingKey::from_jwk(jwk) {
            Ok(key) => key,
            Err(error) => {
                tracing::warn!(jwks = origin, kid = ?kid, %error, "skipping JWK: invalid key material");
                continue;
            }
        };
        if let Some(id) = &kid
            && keys.iter().any(|k| k.kid.as_deref() == Some(id))
        {
            tracing::warn!(jwks = origin, kid = %id, "skipping JWK: duplicate kid (first one wins)");
            continue;
        }
        keys.push(VerifyingKey { kid, alg, key });
    }
    keys
}

// ---------------------------------------------------------------------------
// Authenticator
// ---------------------------------------------------------------------------

/// Verifies bearer tokens and yields the [`Principal`]. Cheap to clone (an
/// `Arc` inside); share one per process.
#[derive(Clone)]
pub struct Authenticator {
    mode: Mode,
}

#[derive(Clone)]
enum Mode {
    Disabled,
    Enabled(Arc<Verifier>),
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.mode {
            Mode::Disabled => f
                .debug_struct("Authenticator")
                .field("disabled", &true)
                .finish(),
            Mode::Enabled(v) => f
                .debug_struct("Authenticator")
                .field("jwks", &v.source.describe())
                .field("issuer", &v.issuer)
                .field("audience", &v.audience)
                .finish_non_exhaustive(),
        }
    }
}

impl Authenticator {
    /// An authenticator for which every caller is [`Principal::dev`], with or
    /// without a token. Logs nothing itself (see
    /// [`Authenticator::from_config`]).
    pub fn disabled() -> Authenticator {
        Authenticator {
            mode: Mode::Disabled,
        }
    }

    /// Verifies tokens with keys from `source`, checking claims per `config`
    /// (`disabled`, `jwks_url` and `auth_service_url` are ignored here).
    /// Fetches the JWK Set now, retrying failed attempts with backoff (0.2 s
    /// doubling to 2 s) for up to `config.startup_wait_secs`: fails with
    /// [`AuthError::JwksUnavailable`] (the last attempt's error) if no fetch
    /// yielded a usable key by then (the service must not start without
    /// keys), and with [`AuthError::Config`] for an empty issuer/audience or a
    /// zero fetch timeout.
    pub async fn new(
        config: &AuthConfig,
        source: Arc<dyn JwksSource>,
    ) -> Result<Authenticator, AuthError> {
        if config.issuer.trim().is_empty() {
            return Err(AuthError::Config(
                "AGENT_RUNTIME__AUTH__ISSUER must not be empty".to_owned(),
            ));
        }
        if config.audience.trim().is_empty() {
            return Err(AuthError::Config(
                "AGENT_RUNTIME__AUTH__AUDIENCE must not be empty".to_owned(),
            ));
        }
        if config.jwks_fetch_timeout_ms == 0 {
            return Err(AuthError::Config(
                "AGENT_RUNTIME__AUTH__JWKS_FETCH_TIMEOUT_MS must be > 0".to_owned(),
            ));
        }
        let verifier = Verifier {
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            leeway_secs: config.leeway_secs,
            refresh_min_interval: Duration::from_secs(config.jwks_refresh_min_interval_secs),
            max_age: Duration::from_secs(config.jwks_max_age_secs),
            fetch_timeout: Duration::from_millis(config.jwks_fetch_timeout_ms),
            source,
            keys: RwLock::new(Arc::new(KeySet {
                keys: Vec::new(),
                fetched_at: Instant::now(),
                generation: 0,
            })),
            refetch: tokio::sync::Mutex::new(RefetchState {
                last_unknown_kid_refetch: None,
            }),
            background: Mutex::new(BackgroundState {
                running: false,
                last_attempt: None,
            }),
            verified: Mutex::new(VerifiedCache::default()),
        };
        let keys = verifier
            .fetch_keys_at_start(Duration::from_secs(config.startup_wait_secs))
            .await?;
        let kids: Vec<&str> = keys
            .iter()
            .map(|k| k.kid.as_deref().unwrap_or("-"))
            .collect();
        tracing::info!(
            jwks = %verifier.source.describe(),
            keys = ?kids,
            issuer = %verifier.issuer,
            audience = %verifier.audience,
            "authentication enabled; JWK Set loaded"
        );
        verifier.install(keys);
        Ok(Authenticator {
            mode: Mode::Enabled(Arc::new(verifier)),
        })
    }

    /// From configuration. `disabled` → [`Authenticator::disabled`], with a
    /// `tracing::warn!` that auth is OFF and every caller is user `dev` with
    /// all scopes (development only). Otherwise the keys come from `jwks_url`
    /// when set ([`jwks_source_from_url`]; [`AuthError::Config`] naming
    /// `AGENT_RUNTIME__AUTH__JWKS_URL` when unsupported), else from
    /// auth-service at `auth_service_url` ([`GrpcJwks`]; [`AuthError::Config`]
    /// naming `AGENT_RUNTIME__AUTH__AUTH_SERVICE_URL` when invalid), and the
    /// result is [`Authenticator::new`].
    pub async fn from_config(config: &AuthConfig) -> Result<Authenticator, AuthError> {
        if config.disabled {
            tracing::warn!(
                "authentication is OFF (AGENT_RUNTIME__AUTH__DISABLED=true): every caller is user \
                 `dev` with all scopes (api:read api:write api:admin api:approve). Development only — never \
                 run like this in production"
            );
            return Ok(Authenticator::disabled());
        }
        let timeout = Duration::from_millis(config.jwks_fetch_timeout_ms);
        let source = match config
            .jwks_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            Some(url) => jwks_source_from_url_with_tls(url, timeout, &config.client_tls())?,
            None => Arc::new(GrpcJwks::with_tls(
                &config.auth_service_url,
                timeout,
                &config.client_tls(),
            )?),
        };
        Authenticator::new(config, source).await
    }

    /// Whether this is the [`Authenticator::disabled`] development mode.
    pub fn is_disabled(&self) -> bool {
        matches!(self.mode, Mode::Disabled)
    }

    /// Reads the `authorization` metadata (`"Bearer <token>"`, scheme
    /// case-insensitive, RFC 6750 §2.1), verifies the token
    /// ([`Authenticator::verify`]) and returns the caller.
    ///
    /// Errors: no metadata → [`AuthError::MissingToken`]; non-ASCII, several
    /// values, another scheme (e.g. `Basic`) or an empty token →
    /// [`AuthError::MalformedHeader`]; then those of `verify`. When disabled,
    /// always `Ok(Principal::dev())`.
    pub async fn authenticate(
        &self,
        metadata: &tonic::metadata::MetadataMap,
    ) -> Result<Principal, AuthError> {
        if self.is_disabled() {
            return Ok(Principal::dev());
        }
        let mut values = metadata.get_all("authorization").iter();
        let value = values.next().ok_or(AuthError::MissingToken)?;
        if values.next().is_some() {
            return Err(AuthError::MalformedHeader);
        }
        let value = value.to_str().map_err(|_| AuthError::MalformedHeader)?;
        let token = bearer_token(value).ok_or(AuthError::MalformedHeader)?;
        self.verify(token).await
    }

    /// Verifies a bare token (the part after `Bearer `) per the module rules
    /// and returns the caller. Errors: [`AuthError::InvalidToken`],
    /// [`AuthError::Expired`], [`AuthError::NotYetValid`],
    /// [`AuthError::UnknownKey`], [`AuthError::WrongIssuer`],
    /// [`AuthError::WrongAudience`], [`AuthError::WrongTokenType`]. When
    /// disabled, always `Ok(Principal::dev())`.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        match &self.mode {
            Mode::Disabled => Ok(Principal::dev()),
            Mode::Enabled(verifier) => verifier.verify(token).await,
        }
    }
}

/// The token of a `Bearer <token>` value, or `None`.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return None;
    }
    Some(token)
}

struct RefetchState {
    last_unknown_kid_refetch: Option<Instant>,
}

struct BackgroundState {
    running: bool,
    last_attempt: Option<Instant>,
}

struct Verifier {
    issuer: String,
    audience: String,
    leeway_secs: u64,
    refresh_min_interval: Duration,
    max_age: Duration,
    fetch_timeout: Duration,
    source: Arc<dyn JwksSource>,
    keys: RwLock<Arc<KeySet>>,
    /// Serializes fetches after startup (unknown kid and background), so
    /// concurrent callers share one.
    refetch: tokio::sync::Mutex<RefetchState>,
    background: Mutex<BackgroundState>,
    /// Tokens already verified against the current key set (see [`VerifiedCache`]).
    verified: Mutex<VerifiedCache>,
}

/// Most tokens remembered by [`VerifiedCache`]; when full it starts again empty.
const VERIFIED_CACHE_ENTRIES: usize = 10_000;

/// Access tokens whose signature and static claims (`iss`, `aud`, `sub`, `type`, algorithm,
/// key) have been verified, keyed by the sha256 of the token, with their time bounds.
///
/// A client sends the same token on every RPC for its whole lifetime, and an RSA-2048
/// signature check costs far more than the RPC it guards; a hit costs one sha256 of the token
/// and one lookup. `exp` and `nbf` are still checked on every hit; the cache is emptied whenever
/// the key set changes, so a key withdrawn from the JWK Set stops being trusted at once.
#[derive(Default)]
struct VerifiedCache {
    generation: u64,
    entries: std::collections::HashMap<[u8; 32], (Principal, i64, Option<i64>)>,
}
/// The JOSE header fields this module looks at (RFC 7515 §4.1).
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<Value>,
}

impl Verifier {
    fn snapshot(&self) -> Arc<KeySet> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// One bounded fetch, filtered to usable keys; none usable is an error.
    async fn fetch_keys(&self) -> Result<Vec<VerifyingKey>, AuthError> {
        let origin = self.source.describe();
        let set = tokio::time::timeout(self.fetch_timeout, self.source.fetch())
            .await
            .map_err(|_| {
                AuthError::JwksUnavailable(format!(
                    "{origin}: fetch timed out after {} ms",
                    self.fetch_timeout.as_millis()
                ))
            })??;
        let keys = usable_keys(&set, &origin);
        if keys.is_empty() {
            return Err(AuthError::JwksUnavailable(format!(
                "{origin}: JWK Set has no usable signing key ({} keys, none asymmetric with a supported algorithm)",
                set.keys.len()
            )));
        }
        Ok(keys)
    }

    /// [`Verifier::fetch_keys`], retried with backoff until it succeeds or
    /// `wait` has passed; then the last error.
    async fn fetch_keys_at_start(&self, wait: Duration) -> Result<Vec<VerifyingKey>, AuthError> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(200);
        let mut attempt = 1u32;
        loop {
            match self.fetch_keys().await {
                Ok(keys) => return Ok(keys),
                Err(error) => {
                    let left = wait.saturating_sub(started.elapsed());
                    if left.is_zero() {
                        return Err(error);
                    }
                    tracing::warn!(
                        %error,
                        attempt,
                        retry_in_ms = delay.min(left).as_millis() as u64,
                        waited_ms = started.elapsed().as_millis() as u64,
                        "JWK Set not available yet; waiting for the key source"
                    );
                    tokio::time::sleep(delay.min(left)).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                    attempt += 1;
                }
            }
        }
    }

    fn install(&self, keys: Vec<VerifyingKey>) {
        let mut slot = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        let generation = slot.generation + 1;
        *slot = Arc::new(KeySet {
            keys,
            fetched_at: Instant::now(),
            generation,
        });
    }

    /// Refetch after an unknown kid: at most once per
    /// `refresh_min_interval`, and not at all if another caller refreshed
    /// since `seen_generation`. A failure keeps the cached keys.
    async fn refetch_for_unknown_kid(&self, seen_generation: u64) {
        let mut state = self.refetch.lock().await;
        if self.snapshot().generation != seen_generation {
            return; // someone refreshed while we waited: use their result
        }
        if state
            .last_unknown_kid_refetch
            .is_some_and(|at| at.elapsed() < self.refresh_min_interval)
        {
            tracing::debug!("unknown kid: JWK Set refetch skipped (rate limited)");
            return;
        }
        state.last_unknown_kid_refetch = Some(Instant::now());
        match self.fetch_keys().await {
            Ok(keys) => {
                tracing::info!(jwks = %self.source.describe(), keys = keys.len(), "JWK Set refetched after unknown kid");
                self.install(keys);
            }
            Err(error) => tracing::warn!(%error, "JWK Set refetch failed; keeping cached keys"),
        }
    }

    /// Starts a background refetch if the cached set is older than
    /// `max_age` (one at a time, attempts at most once per
    /// `refresh_min_interval`).
    fn maybe_refresh_in_background(self: &Arc<Self>, current: &KeySet) {
        if current.fetched_at.elapsed() < self.max_age {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        {
            let mut bg = self
                .background
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if bg.running
                || bg
                    .last_attempt
                    .is_some_and(|at| at.elapsed() < self.refresh_min_interval)
            {
                return;
            }
            bg.running = true;
            bg.last_attempt = Some(Instant::now());
        }
        let guard = BackgroundGuard(Arc::clone(self));
        runtime.spawn(async move {
            let this = &guard.0;
            let _serialized = this.refetch.lock().await;
            if this.snapshot().fetched_at.elapsed() < this.max_age {
                return; // refreshed meanwhile
            }
            match this.fetch_keys().await {
                Ok(keys) => {
                    tracing::debug!(jwks = %this.source.describe(), keys = keys.len(), "JWK Set refreshed (max age reached)");
                    this.install(keys);
                }
                Err(error) => {
                    tracing::warn!(%error, "background JWK Set refresh failed; keeping cached keys");
                }
            }
        });
    }

    async fn verify(self: &Arc<Self>, token: &str) -> Result<Principal, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::InvalidToken(format!(
                "token longer than {MAX_TOKEN_BYTES} bytes"
            )));
        }
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        if let Some(principal) = self.cached(&digest) {
            return Ok(principal);
        }
        let header = parse_header(token)?;
        if header.crit.is_some() {
            return Err(AuthError::InvalidToken(
                "`crit` header parameter is not supported (RFC 7515 §4.1.11)".to_owned(),
            ));
        }
        let header_alg = accepted_algorithm(&header.alg).ok_or_else(|| {
            AuthError::InvalidToken(format!(
                "algorithm {:?} is not accepted; only RS*, PS*, ES256/384 and EdDSA signatures are (RFC 8725 §3.1)",
                truncate(&header.alg)
            ))
        })?;

        let mut keys = self.snapshot();
        self.maybe_refresh_in_background(&keys);
        let key = match header.kid.as_deref() {
            Some(kid) => {
                if keys.find(kid).is_none() {
                    self.refetch_for_unknown_kid(keys.generation).await;
                    keys = self.snapshot();
                }
                keys.find(kid)
                    .ok_or_else(|| AuthError::UnknownKey(truncate(kid)))?
            }
            None => match keys.keys.as_slice() {
                [only] => only,
                many => {
                    return Err(AuthError::InvalidToken(format!(
                        "token header has no `kid` and the JWK Set holds {} keys",
                        many.len()
                    )));
                }
            },
        };
        // RFC 8725 §3.1: the key, not the token, decides the algorithm.
        if header_alg != key.alg {
            return Err(AuthError::InvalidToken(format!(
                "token algorithm {:?} does not match the key's algorithm {:?}",
                header_alg, key.alg
            )));
        }

        let mut validation = Validation::new(key.alg);
        validation.leeway = self.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.set_audience(&[self.audience.as_str()]);
        let data =
            jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key.key, &validation)
                .map_err(map_jwt_error)?;
        let principal = principal_from_claims(&data.claims)?;
        if let Some(exp) = data.claims.get("exp").and_then(Value::as_i64) {
            let nbf = data.claims.get("nbf").and_then(Value::as_i64);
            let mut cache = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
            if cache.generation != keys.generation || cache.entries.len() >= VERIFIED_CACHE_ENTRIES
            {
                cache.entries.clear();
                cache.generation = keys.generation;
            }
            cache.entries.insert(digest, (principal.clone(), exp, nbf));
        }
        Ok(principal)
    }

    /// The principal of an already verified token, if it is still within its time bounds
    /// (with leeway) and the key set has not changed since.
    fn cached(&self, digest: &[u8; 32]) -> Option<Principal> {
        let generation = self.snapshot().generation;
        let cache = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.generation != generation {
            return None;
        }
        let (principal, exp, nbf) = cache.entries.get(digest)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let leeway = self.leeway_secs as i64;
        if now > exp + leeway || nbf.is_some_and(|nbf| now < nbf - leeway) {
            return None;
        }
        Some(principal.clone())
    }
}

/// Clears `BackgroundState::running` when the background task ends (also on
/// panic or cancellation).
struct BackgroundGuard(Arc<Verifier>);

impl Drop for BackgroundGuard {
    fn drop(&mut self) {
        self.0
            .background
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .running = false;
    }
}

fn parse_header(token: &str) -> Result<RawHeader, AuthError> {
    let malformed = || {
        AuthError::InvalidToken(
            "not a JWT (expected three base64url segments: header.claims.signature)".to_owned(),
        )
    };
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header.as_bytes())
        .map_err(|_| malformed())?;
    serde_json::from_slice(&bytes).map_err(|_| {
        AuthError::InvalidToken("JOSE header is not valid JSON with a string `alg`".to_owned())
    })
}

fn map_jwt_error(error: jsonwebtoken::errors::Error) -> AuthError {
    match error.kind() {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) => {
            AuthError::InvalidToken(format!("missing required claim `{claim}`"))
        }
        ErrorKind::InvalidClaimFormat(claim) => {
            AuthError::InvalidToken(format!("claim `{claim}` has an invalid format"))
        }
        ErrorKind::InvalidSignature => {
            AuthError::InvalidToken("signature verification failed".to_owned())
        }
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::InvalidAlgorithmName => {
            AuthError::InvalidToken("algorithm not accepted for this key".to_owned())
        }
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => AuthError::InvalidToken(
            "malformed JWT (claims must be a base64url JSON object)".to_owned(),
        ),
        _ => AuthError::InvalidToken("token rejected by the verifier".to_owned()),
    }
}

/// Builds the principal from signature- and time-checked claims.
fn principal_from_claims(claims: &serde_json::Map<String, Value>) -> Result<Principal, AuthError> {
    let subject = match claims.get("sub") {
        Some(Value::String(sub)) if !sub.trim().is_empty() => sub.clone(),
        _ => {
            return Err(AuthError::InvalidToken(
                "`sub` claim must be a non-empty string".to_owned(),
            ));
        }
    };
    // Required: a token without `type` may be another kind of token of the same issuer (an ID
    // token, a refresh token in JWT form) and is never taken for an access token.
    match claims.get("type") {
        None | Some(Value::Null) => {
            return Err(AuthError::InvalidToken(
                "`type` claim is required and must be \"access\"".to_owned(),
            ));
        }
        Some(Value::String(t)) if t == "access" => {}
        Some(Value::String(t)) => return Err(AuthError::WrongTokenType(truncate(t))),
        Some(other) => return Err(AuthError::WrongTokenType(truncate(&other.to_string()))),
    }
    let client_id = match claims.get("client_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(_) => {
            return Err(AuthError::InvalidToken(
                "`client_id` claim must be a string".to_owned(),
            ));
        }
    };
    let scopes = match claims.get("scope") {
        None | Some(Value::Null) => BTreeSet::new(),
        Some(Value::String(scope)) => scope.split_whitespace().filter_map(Scope::parse).collect(),
        Some(_) => {
            return Err(AuthError::InvalidToken(
                "`scope` claim must be a space-separated string (RFC 8693 §4.2)".to_owned(),
            ));
        }
    };
    Ok(Principal {
        subject,
        client_id,
        scopes,
    })
}

/// At most [`MAX_ECHOED_CHARS`] characters of an attacker-controlled string.
fn truncate(s: &str) -> String {
    match s.char_indices().nth(MAX_ECHOED_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use jsonwebtoken::{EncodingKey, Header, get_current_timestamp};
    use serde_json::json;
    use tokio::net::TcpStream;
    use tonic::metadata::{MetadataMap, MetadataValue};

    use super::*;

    #[test]
    fn debug_redacts_credentials_in_urls() {
        let config = AuthConfig {
            jwks_url: Some(
                "https://reader:s3cret-pw@idp.example/jwks.json?access_token=tok-123".into(),
            ),
            auth_service_url: "https://svc:other-pw@auth.example:50052".into(),
            ..AuthConfig::default()
        };
        let printed = format!("{config:?}");
        for secret in ["s3cret-pw", "tok-123", "other-pw"] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        assert!(printed.contains("idp.example"), "{printed}");
    }

    // TEST-ONLY keys, see tests/fixtures/README.md.
    const RSA1_KEY: &str = include_str!("../tests/fixtures/rsa-1.key.pem");
    const RSA1_PUB: &str = include_str!("../tests/fixtures/rsa-1.pub.pem");
    const RSA1_JWK: &str = include_str!("../tests/fixtures/rsa-1.jwk.json");
    const RSA2_KEY: &str = include_str!("../tests/fixtures/rsa-2.key.pem");
    const RSA2_JWK: &str = include_str!("../tests/fixtures/rsa-2.jwk.json");
    const EC1_KEY: &str = include_str!("../tests/fixtures/ec-1.key.pem");
    const EC1_JWK: &str = include_str!("../tests/fixtures/ec-1.jwk.json");
    const ED1_KEY: &str = include_str!("../tests/fixtures/ed-1.key.pem");
    const ED1_JWK: &str = include_str!("../tests/fixtures/ed-1.jwk.json");
    const JWKS: &str = include_str!("../tests/fixtures/jwks.json");

    const ISS: &str = "https://auth.codelab.local";
    const AUD: &str = "codelab-api";

    // ---- helpers -----------------------------------------------------------

    /// A swappable in-memory JWK Set source that counts fetches.
    struct TestSource {
        state: Mutex<Result<String, String>>,
        fetches: AtomicUsize,
        delay: Duration,
    }

    impl TestSource {
        fn new(json: &str) -> Arc<TestSource> {
            TestSource::slow(json, Duration::ZERO)
        }
        fn slow(json: &str, delay: Duration) -> Arc<TestSource> {
            Arc::new(TestSource {
                state: Mutex::new(Ok(json.to_owned())),
                fetches: AtomicUsize::new(0),
                delay,
            })
        }
        fn failing(msg: &str) -> Arc<TestSource> {
            let source = TestSource::new("");
            source.fail(msg);
            source
        }
        fn serve(&self, json: &str) {
            *self.state.lock().unwrap() = Ok(json.to_owned());
        }
        fn fail(&self, msg: &str) {
            *self.state.lock().unwrap() = Err(msg.to_owned());
        }
        fn fetches(&self) -> usize {
            self.fetches.load(Ordering::SeqCst)
        }
    }

    impl JwksSource for TestSource {
        fn fetch(&self) -> BoxFuture<'_, Result<JwkSet, AuthError>> {
            Box::pin(async move {
                self.fetches.fetch_add(1, Ordering::SeqCst);
                if !self.delay.is_zero() {
                    tokio::time::sleep(self.delay).await;
                }
                let state = self.state.lock().unwrap().clone();
                match state {
                    Ok(json) => parse_jwk_set(json.as_bytes()),
                    Err(msg) => Err(AuthError::JwksUnavailable(msg)),
                }
            })
        }
        fn describe(&self) -> String {
            "test://jwks".to_owned()
        }
    }

    fn jwks_of(jwks: &[&str]) -> String {
        let keys: Vec<&str> = jwks.iter().map(|k| k.trim()).collect();
        format!("{{\"keys\":[{}]}}", keys.join(","))
    }

    fn edit_jwk(jwk: &str, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
        let mut value: Value = serde_json::from_str(jwk).unwrap();
        edit(value.as_object_mut().unwrap());
        value.to_string()
    }

    fn now() -> u64 {
        get_current_timestamp()
    }

    fn claims() -> Value {
        json!({
            "sub": "user-1",
            "iss": ISS,
            "aud": AUD,
            "iat": now(),
            "exp": now() + 300,
            "scope": "api:read api:write",
            "client_id": "codelab-cli",
            "type": "access",
        })
    }

    fn claims_with(key: &str, value: Value) -> Value {
        let mut c = claims();
        c[key] = value;
        c
    }

    fn claims_without(key: &str) -> Value {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(key);
        c
    }

    fn encoding_key(alg: Algorithm, pem: &str) -> EncodingKey {
        match alg.family() {
            jsonwebtoken::AlgorithmFamily::Rsa => {
                EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
            }
            jsonwebtoken::AlgorithmFamily::Ec => EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
            jsonwebtoken::AlgorithmFamily::Ed => EncodingKey::from_ed_pem(pem.as_bytes()).unwrap(),
            jsonwebtoken::AlgorithmFamily::Hmac => EncodingKey::from_secret(pem.as_bytes()),
        }
    }

    fn sign_header(header: &Header, pem: &str, claims: &Value) -> String {
        jsonwebtoken::encode(header, claims, &encoding_key(header.alg, pem)).unwrap()
    }

    fn sign(alg: Algorithm, kid: Option<&str>, pem: &str, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        sign_header(&header, pem, claims)
    }

    fn rs256(claims: &Value) -> String {
        sign(Algorithm::RS256, Some("rsa-1"), RSA1_KEY, claims)
    }

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    fn config() -> AuthConfig {
        AuthConfig {
            startup_wait_secs: 0,
            ..AuthConfig::default()
        }
    }

    async fn auth_with(config: &AuthConfig, jwks: &str) -> Authenticator {
        Authenticator::new(config, TestSource::new(jwks))
            .await
            .unwrap()
    }

    async fn auth() -> Authenticator {
        auth_with(&config(), JWKS).await
    }

    fn bearer(value: &str) -> MetadataMap {
        let mut md = MetadataMap::new();
        md.insert("authorization", MetadataValue::try_from(value).unwrap());
        md
    }

    #[track_caller]
    fn assert_invalid(result: Result<Principal, AuthError>, needle: &str) {
        match result {
            Err(AuthError::InvalidToken(msg)) => {
                assert!(msg.contains(needle), "expected {needle:?} in {msg:?}")
            }
            other => panic!("expected InvalidToken({needle:?}), got {other:?}"),
        }
    }

    // ---- scopes, principal, config, errors --------------------------------

    #[test]
    fn scope_names_round_trip_and_unknown_names_are_none() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
            assert_eq!(scope.to_string(), scope.as_str());
        }
        assert_eq!(Scope::Read.as_str(), "api:read");
        assert_eq!(Scope::Write.as_str(), "api:write");
        assert_eq!(Scope::Admin.as_str(), "api:admin");
        for junk in ["", "API:READ", "api:read ", "openid", "read"] {
            assert_eq!(Scope::parse(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn dev_principal_has_all_scopes() {
        let dev = Principal::dev();
        assert_eq!(dev.subject, "dev");
        assert_eq!(dev.client_id, None);
        assert_eq!(dev.scopes, Scope::ALL.into_iter().collect());
        assert!(dev.is_admin());
    }

    #[test]
    fn admin_implies_read_and_write_but_not_the_reverse() {
        let p = |scopes: &[Scope]| Principal {
            subject: "s".into(),
            client_id: None,
            scopes: scopes.iter().copied().collect(),
        };
        let admin = p(&[Scope::Admin]);
        assert!(admin.has(Scope::Read) && admin.has(Scope::Write) && admin.is_admin());
        let rw = p(&[Scope::Read, Scope::Write]);
        assert!(rw.has(Scope::Read) && rw.has(Scope::Write));
        assert!(!rw.has(Scope::Admin) && !rw.is_admin());
        let read = p(&[Scope::Read]);
        assert!(!read.has(Scope::Write));
    }

    #[test]
    fn require_reports_the_missing_scope() {
        let reader = Principal {
            subject: "s".into(),
            client_id: None,
            scopes: [Scope::Read].into_iter().collect(),
        };
        assert!(reader.require(Scope::Read).is_ok());
        let err = reader.require(Scope::Write).unwrap_err();
        assert!(
            matches!(err, AuthError::MissingScope(Scope::Write)),
            "{err:?}"
        );
        assert!(err.is_permission_denied());
        assert_eq!(err.reason(), "MISSING_SCOPE");
        assert!(matches!(
            reader.require(Scope::Admin),
            Err(AuthError::MissingScope(Scope::Admin))
        ));
    }

    #[test]
    fn config_defaults_apply_to_missing_fields() {
        let empty: AuthConfig = serde_json::from_str("{}").unwrap();
        assert!(!empty.disabled);
        assert_eq!(empty.jwks_url, None);
        assert_eq!(empty.auth_service_url, "http://127.0.0.1:50052");
        assert_eq!(empty.startup_wait_secs, 30);
        assert_eq!(empty.issuer, "https://auth.codelab.local");
        assert_eq!(empty.audience, "codelab-api");
        assert_eq!(empty.leeway_secs, 30);
        assert_eq!(empty.jwks_refresh_min_interval_secs, 30);
        assert_eq!(empty.jwks_max_age_secs, 3600);
        assert_eq!(empty.jwks_fetch_timeout_ms, 3000);
        let some: AuthConfig =
            serde_json::from_str(r#"{"disabled": true, "leeway_secs": 5}"#).unwrap();
        assert!(some.disabled);
        assert_eq!(some.leeway_secs, 5);
        assert_eq!(some.audience, "codelab-api");
    }

    #[test]
    fn error_reasons_are_distinct_upper_snake_and_mapped() {
        let all = [
            AuthError::MissingToken,
            AuthError::MalformedHeader,
            AuthError::InvalidToken("x".into()),
            AuthError::Expired,
            AuthError::NotYetValid,
            AuthError::UnknownKey("k".into()),
            AuthError::WrongIssuer,
            AuthError::WrongAudience,
            AuthError::WrongTokenType("refresh".into()),
            AuthError::MissingScope(Scope::Write),
            AuthError::JwksUnavailable("down".into()),
            AuthError::Config("c".into()),
        ];
        let reasons: BTreeSet<&str> = all.iter().map(AuthError::reason).collect();
        assert_eq!(reasons.len(), all.len());
        for reason in &reasons {
            assert!(
                reason.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{reason}"
            );
        }
        assert_eq!(AuthError::Expired.reason(), "TOKEN_EXPIRED");
        for err in &all {
            assert_eq!(
                err.is_permission_denied(),
                matches!(err, AuthError::MissingScope(_))
            );
            assert_eq!(
                err.is_unavailable(),
                matches!(err, AuthError::JwksUnavailable(_))
            );
        }
    }

    // ---- valid tokens -------------------------------------------------------

    #[tokio::test]
    async fn valid_rs256_token_yields_the_principal() {
        let auth = auth().await;
        let claims = claims_with("scope", json!("openid api:read api:bogus  api:write"));
        let p = auth.verify(&rs256(&claims)).await.unwrap();
        assert_eq!(p.subject, "user-1");
        assert_eq!(p.client_id.as_deref(), Some("codelab-cli"));
        assert_eq!(p.scopes, [Scope::Read, Scope::Write].into_iter().collect());
        assert!(!p.is_admin());
    }

    #[tokio::test]
    async fn valid_es256_token_is_accepted() {
        let token = sign(Algorithm::ES256, Some("ec-1"), EC1_KEY, &claims());
        let p = auth().await.verify(&token).await.unwrap();
        assert_eq!(p.subject, "user-1");
    }

    #[tokio::test]
    async fn valid_eddsa_token_is_accepted() {
        let token = sign(
            Algorithm::EdDSA,
            Some("ed-1"),
            ED1_KEY,
            &claims_with("scope", json!("api:admin")),
        );
        let p = auth().await.verify(&token).await.unwrap();
        assert!(p.is_admin() && p.has(Scope::Write));
    }

    #[tokio::test]
    async fn absent_optional_claims_give_no_client_and_no_scopes() {
        let mut c = claims_without("scope");
        c.as_object_mut().unwrap().remove("client_id");
        let p = auth().await.verify(&rs256(&c)).await.unwrap();
        assert_eq!(p.client_id, None);
        assert!(p.scopes.is_empty());
        assert!(matches!(
            p.require(Scope::Read),
            Err(AuthError::MissingScope(Scope::Read))
        ));
    }

    // ---- authorization metadata ---------------------------------------------

    #[tokio::test]
    async fn authenticate_reads_a_bearer_token_case_insensitively() {
        let auth = auth().await;
        let token = rs256(&claims());
        for value in [
            format!("Bearer {token}"),
            format!("bearer {token}"),
            format!("BEARER  {token} "),
        ] {
            let p = auth.authenticate(&bearer(&value)).await.unwrap();
            assert_eq!(p.subject, "user-1");
        }
    }

    #[tokio::test]
    async fn authenticate_without_metadata_is_missing_token() {
        let err = auth()
            .await
            .authenticate(&MetadataMap::new())
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::MissingToken), "{err:?}");
        assert_eq!(err.reason(), "MISSING_TOKEN");
    }

    #[tokio::test]
    async fn authenticate_rejects_other_schemes_and_malformed_values() {
        let auth = auth().await;
        let token = rs256(&claims());
        for value in [
            "Basic dXNlcjpwYXNz".to_owned(),
            "Bearer".to_owned(),
            "Bearer ".to_owned(),
            token.clone(),
            format!("Token {token}"),
            format!("Bearer {token} extra"),
        ] {
            let err = auth.authenticate(&bearer(&value)).await.unwrap_err();
            assert!(
                matches!(err, AuthError::MalformedHeader),
                "{value:?}: {err:?}"
            );
        }
        let mut twice = bearer(&format!("Bearer {token}"));
        twice.append(
            "authorization",
            MetadataValue::try_from(format!("Bearer {token}")).unwrap(),
        );
        let err = auth.authenticate(&twice).await.unwrap_err();
        assert!(matches!(err, AuthError::MalformedHeader), "{err:?}");
    }

    #[tokio::test]
    async fn disabled_authenticator_yields_dev_for_everyone() {
        let auth = Authenticator::disabled();
        assert!(auth.is_disabled());
        assert_eq!(
            auth.authenticate(&MetadataMap::new()).await.unwrap(),
            Principal::dev()
        );
        assert_eq!(auth.verify("garbage").await.unwrap(), Principal::dev());
        assert!(!auth_with(&config(), JWKS).await.is_disabled());
    }

    // ---- malformed tokens ----------------------------------------------------

    #[tokio::test]
    async fn garbage_tokens_are_invalid() {
        let auth = auth().await;
        let header = b64(&json!({"alg": "RS256", "kid": "rsa-1"}));
        for token in [
            "not-a-jwt".to_owned(),
            "a.b.c".to_owned(),
            String::new(),
            "..".to_owned(),
            format!("{header}.e30.sig.extra.parts"), // JWE-shaped
            format!("{}.e30.c2ln", b64(&json!("just a string"))),
            format!("{header}.!!!.c2ln"),
        ] {
            let err = auth.verify(&token).await.unwrap_err();
            assert!(
                matches!(err, AuthError::InvalidToken(_)),
                "{token:?}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn oversized_token_is_rejected_before_parsing() {
        let token = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_invalid(auth().await.verify(&token).await, "longer than");
    }

    #[tokio::test]
    async fn tampered_claims_fail_the_signature_check() {
        let token = rs256(&claims());
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64(&claims_with("scope", json!("api:admin"))),
            parts[2]
        );
        assert_invalid(auth().await.verify(&forged).await, "signature");
    }

    #[tokio::test]
    async fn signature_by_another_key_under_a_known_kid_is_rejected() {
        let token = sign(Algorithm::RS256, Some("rsa-1"), RSA2_KEY, &claims());
        assert_invalid(auth().await.verify(&token).await, "signature");
    }

    #[tokio::test]
    async fn key_embedded_in_the_header_is_ignored() {
        // The attacker ships its own public key in `jwk` (RFC 7515 §4.1.3).
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("rsa-1".to_owned());
        header.jwk = Some(serde_json::from_str(RSA2_JWK).unwrap());
        let token = sign_header(&header, RSA2_KEY, &claims());
        assert_invalid(auth().await.verify(&token).await, "signature");
    }

    #[tokio::test]
    async fn crit_header_is_rejected() {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("rsa-1".to_owned());
        header.crit = Some(vec!["exp".to_owned()]);
        let token = sign_header(&header, RSA1_KEY, &claims());
        assert_invalid(auth().await.verify(&token).await, "crit");
    }

    // ---- algorithm confusion (RFC 8725 §2.1, §3.1) --------------------------

    #[tokio::test]
    async fn alg_none_is_rejected() {
        let auth = auth().await;
        for alg in ["none", "None", "NONE"] {
            let header = b64(&json!({"alg": alg, "typ": "JWT", "kid": "rsa-1"}));
            for sig in ["", "c2ln"] {
                let token = format!("{header}.{}.{sig}", b64(&claims()));
                assert_invalid(auth.verify(&token).await, "not accepted");
            }
        }
    }

    #[tokio::test]
    async fn hs256_signed_with_the_public_key_is_rejected() {
        let auth = auth().await;
        // The classic key-confusion attack: HMAC "secret" = the verifier's
        // public key in some encoding.
        let n = serde_json::from_str::<Value>(RSA1_JWK).unwrap()["n"]
            .as_str()
            .unwrap()
            .to_owned();
        for secret in [
            RSA1_PUB,
            RSA1_PUB.trim(),
            RSA1_JWK,
            RSA1_JWK.trim(),
            n.as_str(),
        ] {
            for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                let token = sign(alg, Some("rsa-1"), secret, &claims());
                assert_invalid(auth.verify(&token).await, "not accepted");
            }
        }
    }

    #[tokio::test]
    async fn symmetric_oct_keys_in_the_set_are_never_used() {
        let oct = r#"{"kty":"oct","kid":"hmac-1","alg":"HS256","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}"#;
        // A set with only an oct key has no usable key at all.
        let err = Authenticator::new(&config(), TestSource::new(&jwks_of(&[oct])))
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::JwksUnavailable(_)), "{err:?}");
        // Next to usable keys it is skipped, and HS256 under its kid is refused.
        let auth = auth_with(&config(), &jwks_of(&[RSA1_JWK, oct])).await;
        let token = sign(
            Algorithm::HS256,
            Some("hmac-1"),
            "secret-secret-secret-secret",
            &claims(),
        );
        assert!(auth.verify(&token).await.is_err());
    }

    #[tokio::test]
    async fn header_alg_must_equal_the_jwk_alg() {
        let auth = auth().await;
        // Same RSA key, different RSA algorithm than the JWK declares (RS256).
        let ps256 = sign(Algorithm::PS256, Some("rsa-1"), RSA1_KEY, &claims());
        assert_invalid(auth.verify(&ps256).await, "does not match");
        // EC signature naming the RSA key.
        let es256 = sign(Algorithm::ES256, Some("rsa-1"), EC1_KEY, &claims());
        assert_invalid(auth.verify(&es256).await, "does not match");
        // EdDSA signature naming the EC key.
        let eddsa = sign(Algorithm::EdDSA, Some("ec-1"), ED1_KEY, &claims());
        assert_invalid(auth.verify(&eddsa).await, "does not match");
    }

    #[tokio::test]
    async fn jwk_alg_decides_the_algorithm() {
        let ps_jwk = edit_jwk(RSA1_JWK, |j| {
            j.insert("alg".into(), json!("PS256"));
        });
        let auth = auth_with(&config(), &jwks_of(&[&ps_jwk])).await;
        let ps256 = sign(Algorithm::PS256, Some("rsa-1"), RSA1_KEY, &claims());
        assert!(auth.verify(&ps256).await.is_ok());
        assert_invalid(auth.verify(&rs256(&claims())).await, "does not match");
    }

    #[tokio::test]
    async fn jwk_without_alg_implies_it_from_the_key_type() {
        let no_alg = |jwk: &str| {
            edit_jwk(jwk, |j| {
                j.remove("alg");
            })
        };
        let auth = auth_with(
            &config(),
            &jwks_of(&[&no_alg(RSA1_JWK), &no_alg(EC1_JWK), &no_alg(ED1_JWK)]),
        )
        .await;
        assert!(auth.verify(&rs256(&claims())).await.is_ok());
        let es = sign(Algorithm::ES256, Some("ec-1"), EC1_KEY, &claims());
        assert!(auth.verify(&es).await.is_ok());
        let ed = sign(Algorithm::EdDSA, Some("ed-1"), ED1_KEY, &claims());
        assert!(auth.verify(&ed).await.is_ok());
        // RSA without alg means RS256 only.
        let ps = sign(Algorithm::PS256, Some("rsa-1"), RSA1_KEY, &claims());
        assert_invalid(auth.verify(&ps).await, "does not match");
    }

    #[tokio::test]
    async fn unusable_jwks_are_skipped() {
        let wrong_alg = edit_jwk(RSA1_JWK, |j| {
            j.insert("kid".into(), json!("wrong-alg"));
            j.insert("alg".into(), json!("ES256"));
        });
        let enc = edit_jwk(RSA1_JWK, |j| {
            j.insert("kid".into(), json!("enc"));
            j.insert("use".into(), json!("enc"));
        });
        let no_verify = edit_jwk(RSA1_JWK, |j| {
            j.insert("kid".into(), json!("no-verify"));
            j.insert("key_ops".into(), json!(["encrypt"]));
        });
        let auth = auth_with(
            &config(),
            &jwks_of(&[EC1_JWK, &wrong_alg, &enc, &no_verify]),
        )
        .await;
        for kid in ["wrong-alg", "enc", "no-verify"] {
            let token = sign(Algorithm::RS256, Some(kid), RSA1_KEY, &claims());
            let err = auth.verify(&token).await.unwrap_err();
            assert!(
                matches!(&err, AuthError::UnknownKey(k) if k == kid),
                "{kid}: {err:?}"
            );
        }
        // An RSA key below 2048 bits is not usable either.
        let small = edit_jwk(RSA1_JWK, |j| {
            j.insert("n".into(), json!(URL_SAFE_NO_PAD.encode([0xC5u8; 128])));
        });
        let err = Authenticator::new(&config(), TestSource::new(&jwks_of(&[&small])))
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::JwksUnavailable(_)), "{err:?}");
    }

    // ---- time, issuer, audience, subject, type ------------------------------

    #[tokio::test]
    async fn expired_tokens_are_rejected_beyond_the_leeway() {
        let auth = auth().await; // leeway 30 s
        let long_ago = rs256(&claims_with("exp", json!(now() - 120)));
        assert!(matches!(
            auth.verify(&long_ago).await,
            Err(AuthError::Expired)
        ));
        let just_now = rs256(&claims_with("exp", json!(now() - 10)));
        assert!(auth.verify(&just_now).await.is_ok(), "within leeway");
        let strict = auth_with(
            &AuthConfig {
                leeway_secs: 0,
                ..config()
            },
            JWKS,
        )
        .await;
        assert!(matches!(
            strict.verify(&just_now).await,
            Err(AuthError::Expired)
        ));
    }

    #[tokio::test]
    async fn a_verified_token_still_expires() {
        let strict = auth_with(
            &AuthConfig {
                leeway_secs: 0,
                ..config()
            },
            JWKS,
        )
        .await;
        let short = rs256(&claims_with("exp", json!(now() + 1)));
        let first = strict.verify(&short).await.unwrap();
        // Served from the cache of verified tokens while valid …
        assert_eq!(strict.verify(&short).await.unwrap(), first);
        tokio::time::sleep(Duration::from_millis(2100)).await;
        // … and refused once `exp` has passed, cached or not.
        assert!(matches!(
            strict.verify(&short).await,
            Err(AuthError::Expired)
        ));
        // A tampered copy of a cached token is a different token.
        let good = rs256(&claims_with("exp", json!(now() + 600)));
        strict.verify(&good).await.unwrap();
        let at = good.len() - 10;
        let flipped = if &good[at..=at] == "A" { "B" } else { "A" };
        let tampered = format!("{}{flipped}{}", &good[..at], &good[at + 1..]);
        assert!(strict.verify(&tampered).await.is_err());
    }

    #[tokio::test]
    async fn exp_is_required() {
        assert_invalid(
            auth().await.verify(&rs256(&claims_without("exp"))).await,
            "exp",
        );
        let text = rs256(&claims_with("exp", json!("tomorrow")));
        assert!(auth().await.verify(&text).await.is_err());
    }

    #[tokio::test]
    async fn nbf_in_the_future_is_rejected() {
        let auth = auth().await;
        let later = rs256(&claims_with("nbf", json!(now() + 600)));
        assert!(matches!(
            auth.verify(&later).await,
            Err(AuthError::NotYetValid)
        ));
        let soon = rs256(&claims_with("nbf", json!(now() + 10)));
        assert!(auth.verify(&soon).await.is_ok(), "within leeway");
        let strict = auth_with(
            &AuthConfig {
                leeway_secs: 0,
                ..config()
            },
            JWKS,
        )
        .await;
        assert!(matches!(
            strict.verify(&soon).await,
            Err(AuthError::NotYetValid)
        ));
        let past = rs256(&claims_with("nbf", json!(now() - 60)));
        assert!(auth.verify(&past).await.is_ok());
    }

    #[tokio::test]
    async fn issuer_must_match() {
        let auth = auth().await;
        let other = rs256(&claims_with("iss", json!("https://evil.example")));
        assert!(matches!(
            auth.verify(&other).await,
            Err(AuthError::WrongIssuer)
        ));
        assert_invalid(auth.verify(&rs256(&claims_without("iss"))).await, "iss");
        let custom = auth_with(
            &AuthConfig {
                issuer: "https://other".into(),
                ..config()
            },
            JWKS,
        )
        .await;
        assert!(matches!(
            custom.verify(&rs256(&claims())).await,
            Err(AuthError::WrongIssuer)
        ));
    }

    #[tokio::test]
    async fn audience_must_be_contained() {
        let auth = auth().await;
        let other = rs256(&claims_with("aud", json!("some-other-api")));
        assert!(matches!(
            auth.verify(&other).await,
            Err(AuthError::WrongAudience)
        ));
        let arr_without = rs256(&claims_with("aud", json!(["a", "b"])));
        assert!(matches!(
            auth.verify(&arr_without).await,
            Err(AuthError::WrongAudience)
        ));
        let arr_with = rs256(&claims_with("aud", json!(["a", AUD])));
        assert!(auth.verify(&arr_with).await.is_ok());
        assert_invalid(auth.verify(&rs256(&claims_without("aud"))).await, "aud");
    }

    #[tokio::test]
    async fn subject_must_be_a_non_empty_string() {
        let auth = auth().await;
        assert_invalid(auth.verify(&rs256(&claims_without("sub"))).await, "sub");
        for bad in [json!(""), json!("   "), json!(42)] {
            let token = rs256(&claims_with("sub", bad.clone()));
            assert_invalid(auth.verify(&token).await, "sub");
        }
    }

    #[tokio::test]
    async fn refresh_token_type_is_rejected() {
        let auth = auth().await;
        let refresh = rs256(&claims_with("type", json!("refresh")));
        let err = auth.verify(&refresh).await.unwrap_err();
        assert!(
            matches!(&err, AuthError::WrongTokenType(t) if t == "refresh"),
            "{err:?}"
        );
        assert_eq!(err.reason(), "WRONG_TOKEN_TYPE");
        let numeric = rs256(&claims_with("type", json!(1)));
        assert!(matches!(
            auth.verify(&numeric).await,
            Err(AuthError::WrongTokenType(_))
        ));
        let access = rs256(&claims_with("type", json!("access")));
        assert!(auth.verify(&access).await.is_ok());
        for untyped in [claims_without("type"), claims_with("type", Value::Null)] {
            assert_invalid(auth.verify(&rs256(&untyped)).await, "type");
        }
    }

    #[tokio::test]
    async fn malformed_scope_or_client_id_claims_are_rejected() {
        let auth = auth().await;
        let scope_array = rs256(&claims_with("scope", json!(["api:admin"])));
        assert_invalid(auth.verify(&scope_array).await, "scope");
        let client_obj = rs256(&claims_with("client_id", json!({"id": 1})));
        assert_invalid(auth.verify(&client_obj).await, "client_id");
    }

    // ---- key selection and refetching --------------------------------------

    #[tokio::test]
    async fn token_without_kid_needs_exactly_one_usable_key() {
        let es = sign(Algorithm::ES256, None, EC1_KEY, &claims());
        let single = auth_with(&config(), &jwks_of(&[EC1_JWK])).await;
        assert!(single.verify(&es).await.is_ok());
        assert_invalid(auth().await.verify(&es).await, "no `kid`");
    }

    #[tokio::test]
    async fn unknown_kid_refetches_and_finds_a_rotated_key() {
        let source = TestSource::new(&jwks_of(&[RSA1_JWK]));
        let auth = Authenticator::new(&config(), source.clone()).await.unwrap();
        assert_eq!(source.fetches(), 1);
        source.serve(&jwks_of(&[RSA1_JWK, RSA2_JWK]));
        let token = sign(Algorithm::RS256, Some("rsa-2"), RSA2_KEY, &claims());
        assert!(auth.verify(&token).await.is_ok());
        assert_eq!(source.fetches(), 2);
        // Cached now: neither this nor known kids fetch again.
        assert!(auth.verify(&token).await.is_ok());
        assert!(auth.verify(&rs256(&claims())).await.is_ok());
        assert_eq!(source.fetches(), 2);
    }

    #[tokio::test]
    async fn unknown_kid_refetches_are_rate_limited() {
        let source = TestSource::new(&jwks_of(&[RSA1_JWK]));
        let auth = Authenticator::new(&config(), source.clone()).await.unwrap(); // 30 s interval
        let t1 = sign(Algorithm::RS256, Some("nope-1"), RSA2_KEY, &claims());
        let t2 = sign(Algorithm::RS256, Some("nope-2"), RSA2_KEY, &claims());
        assert!(matches!(auth.verify(&t1).await, Err(AuthError::UnknownKey(k)) if k == "nope-1"));
        assert_eq!(source.fetches(), 2);
        assert!(matches!(
            auth.verify(&t2).await,
            Err(AuthError::UnknownKey(_))
        ));
        assert_eq!(
            source.fetches(),
            2,
            "second unknown kid within the interval must not refetch"
        );
        // Even a key that did appear is not picked up until the interval passes.
        source.serve(&jwks_of(&[RSA1_JWK, RSA2_JWK]));
        let t3 = sign(Algorithm::RS256, Some("rsa-2"), RSA2_KEY, &claims());
        assert!(matches!(
            auth.verify(&t3).await,
            Err(AuthError::UnknownKey(_))
        ));
        assert_eq!(source.fetches(), 2);

        // Control: with no interval every unknown kid refetches.
        let source = TestSource::new(&jwks_of(&[RSA1_JWK]));
        let cfg = AuthConfig {
            jwks_refresh_min_interval_secs: 0,
            ..config()
        };
        let auth = Authenticator::new(&cfg, source.clone()).await.unwrap();
        assert!(auth.verify(&t1).await.is_err());
        assert!(auth.verify(&t2).await.is_err());
        assert_eq!(source.fetches(), 3);
    }

    #[tokio::test]
    async fn concurrent_unknown_kid_callers_share_one_fetch() {
        let source = TestSource::slow(&jwks_of(&[RSA1_JWK]), Duration::from_millis(200));
        // No rate limit, so only the single-flight logic can prevent extra fetches.
        let cfg = AuthConfig {
            jwks_refresh_min_interval_secs: 0,
            ..config()
        };
        let auth = Authenticator::new(&cfg, source.clone()).await.unwrap();
        source.serve(&jwks_of(&[RSA1_JWK, RSA2_JWK]));
        let token = sign(Algorithm::RS256, Some("rsa-2"), RSA2_KEY, &claims());
        let results = futures::future::join_all((0..8).map(|_| auth.verify(&token))).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(source.fetches(), 2);
    }

    #[tokio::test]
    async fn failed_refetch_keeps_the_cached_keys() {
        let source = TestSource::new(JWKS);
        let cfg = AuthConfig {
            jwks_refresh_min_interval_secs: 0,
            ..config()
        };
        let auth = Authenticator::new(&cfg, source.clone()).await.unwrap();
        source.fail("connection refused");
        let unknown = sign(Algorithm::RS256, Some("rsa-2"), RSA2_KEY, &claims());
        let err = auth.verify(&unknown).await.unwrap_err();
        assert!(matches!(err, AuthError::UnknownKey(_)), "{err:?}");
        assert_eq!(source.fetches(), 2);
        assert!(auth.verify(&rs256(&claims())).await.is_ok());
        // A refetch yielding no usable key does not wipe the cache either.
        source.serve(r#"{"keys":[]}"#);
        assert!(matches!(
            auth.verify(&unknown).await,
            Err(AuthError::UnknownKey(_))
        ));
        assert_eq!(source.fetches(), 3);
        assert!(auth.verify(&rs256(&claims())).await.is_ok());
    }

    #[tokio::test]
    async fn stale_keys_are_refreshed_in_the_background() {
        let source = TestSource::new(JWKS);
        let cfg = AuthConfig {
            jwks_max_age_secs: 0,
            jwks_refresh_min_interval_secs: 0,
            ..config()
        };
        let auth = Authenticator::new(&cfg, source.clone()).await.unwrap();
        // rsa-1 is revoked at the source; the stale cache still serves this call.
        source.serve(&jwks_of(&[EC1_JWK]));
        assert!(auth.verify(&rs256(&claims())).await.is_ok());
        for _ in 0..100 {
            if source.fetches() >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(source.fetches() >= 2, "no background refresh");
        // Let the refreshed set land, then rsa-1 is gone.
        let mut rejected = false;
        for _ in 0..100 {
            if matches!(
                auth.verify(&rs256(&claims())).await,
                Err(AuthError::UnknownKey(_))
            ) {
                rejected = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(rejected, "revoked key still accepted after refresh");
    }

    // ---- construction --------------------------------------------------------

    #[tokio::test]
    async fn new_fails_without_keys() {
        let err = Authenticator::new(&config(), TestSource::failing("down"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, AuthError::JwksUnavailable(m) if m.contains("down")),
            "{err:?}"
        );
        assert!(err.is_unavailable());
        let err = Authenticator::new(&config(), TestSource::new(r#"{"keys":[]}"#))
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::JwksUnavailable(_)), "{err:?}");
        let err = Authenticator::new(&config(), TestSource::new("not json"))
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::JwksUnavailable(_)), "{err:?}");
        let slow = TestSource::slow(JWKS, Duration::from_millis(500));
        let cfg = AuthConfig {
            jwks_fetch_timeout_ms: 50,
            ..config()
        };
        let err = Authenticator::new(&cfg, slow).await.unwrap_err();
        assert!(
            matches!(&err, AuthError::JwksUnavailable(m) if m.contains("timed out")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn new_rejects_bad_settings() {
        for cfg in [
            AuthConfig {
                issuer: " ".into(),
                ..config()
            },
            AuthConfig {
                audience: String::new(),
                ..config()
            },
            AuthConfig {
                jwks_fetch_timeout_ms: 0,
                ..config()
            },
        ] {
            let err = Authenticator::new(&cfg, TestSource::new(JWKS))
                .await
                .unwrap_err();
            assert!(matches!(err, AuthError::Config(_)), "{err:?}");
        }
    }

    #[tokio::test]
    async fn from_config_disabled_yields_dev() {
        let auth = Authenticator::from_config(&AuthConfig {
            disabled: true,
            ..config()
        })
        .await
        .unwrap();
        assert!(auth.is_disabled());
        assert_eq!(
            auth.authenticate(&MetadataMap::new()).await.unwrap(),
            Principal::dev()
        );
    }

    #[tokio::test]
    async fn from_config_without_a_jwks_url_asks_auth_service() {
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        for url in [None, Some(String::new()), Some("  ".to_owned())] {
            let err = Authenticator::from_config(&AuthConfig {
                jwks_url: url.clone(),
                auth_service_url: "ftp://auth.example:50052".into(),
                ..config()
            })
            .await
            .unwrap_err();
            assert!(
                matches!(&err, AuthError::Config(m) if m.contains(AUTH_SERVICE_URL_ENV)),
                "{err:?}"
            );
            let err = Authenticator::from_config(&AuthConfig {
                jwks_url: url,
                auth_service_url: format!("http://127.0.0.1:{closed}"),
                jwks_fetch_timeout_ms: 500,
                ..config()
            })
            .await
            .unwrap_err();
            assert!(
                matches!(&err, AuthError::JwksUnavailable(m) if m.contains("GetJwks") && m.contains(&closed.to_string())),
                "{err:?}"
            );
        }
    }

    #[tokio::test]
    async fn new_waits_for_a_source_that_comes_up_late() {
        let source = TestSource::failing("connection refused");
        let late = source.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            late.serve(JWKS);
        });
        let cfg = AuthConfig {
            startup_wait_secs: 10,
            ..config()
        };
        let auth = Authenticator::new(&cfg, source.clone()).await.unwrap();
        assert!(source.fetches() >= 2, "{}", source.fetches());
        assert!(auth.verify(&rs256(&claims())).await.is_ok());

        // It gives up once the wait is over, with the last error.
        let started = Instant::now();
        let cfg = AuthConfig {
            startup_wait_secs: 1,
            ..config()
        };
        let err = Authenticator::new(&cfg, TestSource::failing("still down"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, AuthError::JwksUnavailable(m) if m.contains("still down")),
            "{err:?}"
        );
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
    }

    #[tokio::test]
    async fn from_config_with_a_file_url_verifies_tokens() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), JWKS).unwrap();
        let url = format!("file://{}", file.path().display());
        let auth = Authenticator::from_config(&AuthConfig {
            jwks_url: Some(url),
            ..config()
        })
        .await
        .unwrap();
        let p = auth
            .authenticate(&bearer(&format!("Bearer {}", rs256(&claims()))))
            .await
            .unwrap();
        assert_eq!(p.subject, "user-1");
    }

    // ---- sources --------------------------------------------------------------

    #[tokio::test]
    async fn file_jwks_reads_a_file() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), JWKS).unwrap();
        let source = FileJwks::new(file.path());
        let set = source.fetch().await.unwrap();
        let kids: Vec<_> = set
            .keys
            .iter()
            .filter_map(|k| k.common.key_id.clone())
            .collect();
        assert_eq!(kids, ["rsa-1", "ec-1", "ed-1"]);
        assert!(source.describe().starts_with("file:///"));

        std::fs::write(file.path(), "{not json").unwrap();
        assert!(matches!(
            source.fetch().await,
            Err(AuthError::JwksUnavailable(_))
        ));
        std::fs::write(file.path(), vec![b' '; MAX_JWKS_BYTES + 1]).unwrap();
        assert!(matches!(
            source.fetch().await,
            Err(AuthError::JwksUnavailable(_))
        ));
        let missing = FileJwks::new("/nonexistent/codelab/jwks.json");
        let err = missing.fetch().await.unwrap_err();
        assert!(
            matches!(&err, AuthError::JwksUnavailable(m) if m.contains("/nonexistent/codelab/jwks.json")),
            "{err:?}"
        );
    }

    #[test]
    fn parse_jwk_set_skips_unparsable_keys() {
        let set = parse_jwk_set(format!(r#"{{"keys":[{RSA1_JWK}, 42, "x"]}}"#).as_bytes()).unwrap();
        assert_eq!(set.keys.len(), 1);
        assert!(matches!(
            parse_jwk_set(b"[]"),
            Err(AuthError::JwksUnavailable(_))
        ));
    }

    #[tokio::test]
    async fn jwks_source_from_url_checks_the_scheme() {
        let timeout = Duration::from_secs(1);
        for bad in [
            "ftp://x",
            "x",
            "",
            "file://relative/jwks.json",
            "gopher://h/jwks",
        ] {
            let err = jwks_source_from_url(bad, timeout).err().expect(bad);
            assert!(
                matches!(&err, AuthError::Config(m) if m.contains("AGENT_RUNTIME__AUTH__JWKS_URL")),
                "{bad}: {err:?}"
            );
        }
        let file = jwks_source_from_url("file:///etc/codelab/jwks.json", timeout).unwrap();
        assert_eq!(file.describe(), "file:///etc/codelab/jwks.json");
        let http = jwks_source_from_url("HTTP://127.0.0.1:8080/jwks", timeout).unwrap();
        assert_eq!(http.describe(), "http://127.0.0.1:8080/jwks");
        let https =
            jwks_source_from_url("https://user:pw@auth.example/jwks?token=x#f", timeout).unwrap();
        assert_eq!(https.describe(), "https://auth.example/jwks");
    }

    /// A one-shot HTTP/1.1 server on 127.0.0.1 that answers the first request
    /// with `response` (or never answers when `None`). Bounded: it gives up
    /// after 5 s.
    async fn one_shot_server(response: Option<String>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), async move {
                let (stream, _) = listener.accept().await?;
                read_request_head(&stream).await?;
                match response {
                    Some(response) => write_all(&stream, response.as_bytes()).await,
                    None => {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        Ok(())
                    }
                }
            })
            .await;
        });
        format!("http://{addr}/.well-known/jwks.json")
    }

    async fn read_request_head(stream: &TcpStream) -> std::io::Result<()> {
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
            stream.readable().await?;
            match stream.try_read(&mut buf) {
                Ok(0) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn write_all(stream: &TcpStream, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            stream.writable().await?;
            match stream.try_write(data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn http_response(status: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    fn loopback_client() -> reqwest::Client {
        // No proxy: the test server is on loopback.
        reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(500))
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn http_jwks_fetches_from_a_loopback_server() {
        let url = one_shot_server(Some(http_response("200 OK", JWKS))).await;
        let source: Arc<dyn JwksSource> =
            Arc::new(HttpJwks::with_client(&url, loopback_client()).unwrap());
        assert_eq!(source.describe(), url);
        let auth = tokio::time::timeout(
            Duration::from_secs(5),
            Authenticator::new(&config(), source),
        )
        .await
        .unwrap()
        .unwrap();
        let ed = sign(Algorithm::EdDSA, Some("ed-1"), ED1_KEY, &claims());
        assert_eq!(auth.verify(&ed).await.unwrap().subject, "user-1");
    }

    #[tokio::test]
    async fn http_jwks_error_status_is_unavailable() {
        let url = one_shot_server(Some(http_response("503 Service Unavailable", "{}"))).await;
        let source = HttpJwks::with_client(&url, loopback_client()).unwrap();
        let err = source.fetch().await.unwrap_err();
        assert!(
            matches!(&err, AuthError::JwksUnavailable(m) if m.contains("503")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn http_jwks_times_out() {
        let url = one_shot_server(None).await;
        let source = HttpJwks::with_client(&url, loopback_client()).unwrap();
        let started = Instant::now();
        let err = source.fetch().await.unwrap_err();
        assert!(matches!(err, AuthError::JwksUnavailable(_)), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    #[test]
    fn http_jwks_rejects_non_http_urls() {
        assert!(matches!(
            HttpJwks::new("file:///x.json", Duration::from_secs(1)),
            Err(AuthError::Config(_))
        ));
    }

    // ---- the token never leaks ------------------------------------------------

    #[derive(Clone, Default)]
    struct LogBuf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for LogBuf {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuf {
        type Writer = LogBuf;
        fn make_writer(&'a self) -> LogBuf {
            self.clone()
        }
    }

    #[tokio::test]
    async fn tokens_never_appear_in_logs_or_errors() {
        let logs = LogBuf::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(logs.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let source = TestSource::new(JWKS);
        let cfg = AuthConfig {
            jwks_refresh_min_interval_secs: 0,
            ..config()
        };
        let auth = Authenticator::new(&cfg, source.clone()).await.unwrap();
        source.fail("auth server down");
        let tokens = [
            rs256(&claims_with("exp", json!(now() - 3600))),
            sign(Algorithm::RS256, Some("rsa-1"), RSA2_KEY, &claims()),
            sign(Algorithm::RS256, Some("rotated"), RSA2_KEY, &claims()),
            sign(Algorithm::HS256, Some("rsa-1"), RSA1_PUB, &claims()),
            rs256(&claims_with("type", json!("refresh"))),
        ];
        let mut errors = String::new();
        for token in &tokens {
            let err = auth
                .authenticate(&bearer(&format!("Bearer {token}")))
                .await
                .unwrap_err();
            errors.push_str(&format!("{err} {err:?}\n"));
        }
        let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        assert!(
            logs.contains("keeping cached keys"),
            "log capture works: {logs}"
        );
        for token in &tokens {
            let signature = token.rsplit('.').next().unwrap();
            for haystack in [&logs, &errors] {
                assert!(!haystack.contains(token.as_str()));
                assert!(!haystack.contains(signature));
            }
        }
    }
}
