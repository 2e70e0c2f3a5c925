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
//!
//! # Where the code is
//!
//! The token contract and the checks above (claims, [`Scope`], [`Principal`], bearer parsing,
//! the key set and its cache) are the `access_token` crate, shared with auth-service. Here:
//! [`Authenticator`] (this file), its settings ([`AuthConfig`]), the key sources
//! ([`sources`]), the refetch rules (`refresh.rs`) and the verification steps in order
//! (`verifier.rs`).

mod config;
mod refresh;
pub mod sources;
mod verifier;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use access_token::{Rules, bearer};

use refresh::RefreshingKeys;
use verifier::Verifier;

pub use access_token::{
    AuthError, MAX_JWKS_BYTES, MAX_TOKEN_BYTES, MIN_RSA_BITS, Principal, Scope, parse_jwk_set,
};
pub use config::{
    AUTH_SERVICE_URL_ENV, AuthConfig, CA_FILE_ENV, DEFAULT_AUTH_SERVICE_URL, JWKS_URL_ENV,
};
pub use sources::{
    FileJwks, GrpcJwks, HttpJwks, JwksSource, jwks_source_from_url, jwks_source_from_url_with_tls,
};

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
                .field("jwks", &v.keys.describe())
                .field("issuer", &v.rules.issuer)
                .field("audience", &v.rules.audience)
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
        let keys = Arc::new(RefreshingKeys::new(
            source,
            Duration::from_millis(config.jwks_fetch_timeout_ms),
            Duration::from_secs(config.jwks_refresh_min_interval_secs),
            Duration::from_secs(config.jwks_max_age_secs),
        ));
        let first = keys
            .fetch_at_start(Duration::from_secs(config.startup_wait_secs))
            .await?;
        let kids: Vec<&str> = first
            .keys()
            .iter()
            .map(|k| k.kid.as_deref().unwrap_or("-"))
            .collect();
        tracing::info!(
            jwks = %keys.describe(),
            keys = ?kids,
            issuer = %config.issuer,
            audience = %config.audience,
            "authentication enabled; JWK Set loaded"
        );
        keys.cache().install(first);
        let verifier = Verifier {
            rules: Rules {
                issuer: config.issuer.clone(),
                audience: config.audience.clone(),
                leeway_secs: config.leeway_secs,
            },
            keys,
        };
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
        let values = metadata.get_all("authorization");
        let token = bearer::from_authorization(values.iter().map(|v| v.as_encoded_bytes()))?;
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
