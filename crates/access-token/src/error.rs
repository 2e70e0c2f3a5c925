//! [`AuthError`]: why a caller was not authenticated or authorized.

use crate::scope::Scope;

/// Longest attacker-controlled string (a `kid`, a `type`, an `alg`) echoed back in an error
/// message, in characters.
const MAX_ECHOED_CHARS: usize = 64;

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

    /// `JwksUnavailable(msg)` as `JwksUnavailable("{origin}: {msg}")`; any other error as is.
    pub fn with_origin(self, origin: &str) -> AuthError {
        match self {
            AuthError::JwksUnavailable(msg) => {
                AuthError::JwksUnavailable(format!("{origin}: {msg}"))
            }
            other => other,
        }
    }
}

/// At most [`MAX_ECHOED_CHARS`] characters of an attacker-controlled string.
pub(crate) fn truncate(s: &str) -> String {
    match s.char_indices().nth(MAX_ECHOED_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}
