//! Errors of auth-service.
//!
//! Every variant is something a client can act on, named after the gRPC code it becomes
//! (`grpc::status` holds the one `From<Error> for tonic::Status`). Token-endpoint failures carry
//! the RFC 6749 §5.2 error code ([`OAuthCode`]). Internal errors carry their cause for the log;
//! the client only sees a generic message.

use db_core::DbError;
use std::fmt;
use std::time::Duration;

/// RFC 6749 §5.2 error codes of the token endpoint (and RFC 7009 §2.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthCode {
    /// The request is missing a parameter or is malformed.
    InvalidRequest,
    /// Client authentication failed (unknown client, wrong secret, inactive client).
    InvalidClient,
    /// The credentials or refresh token are invalid, expired, revoked or were issued to
    /// another client.
    InvalidGrant,
    /// The client may not use this grant type.
    UnauthorizedClient,
    /// The grant type is not supported.
    UnsupportedGrantType,
    /// The requested scope is unknown or exceeds what the client may ask for.
    InvalidScope,
}

impl OAuthCode {
    /// The RFC spelling, e.g. `invalid_grant`.
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthCode::InvalidRequest => "invalid_request",
            OAuthCode::InvalidClient => "invalid_client",
            OAuthCode::InvalidGrant => "invalid_grant",
            OAuthCode::UnauthorizedClient => "unauthorized_client",
            OAuthCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthCode::InvalidScope => "invalid_scope",
        }
    }
}

impl fmt::Display for OAuthCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operation of auth-service failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field is invalid. `field` is its name in the request.
    #[error("invalid {field}: {description}")]
    InvalidArgument {
        /// Field name in the request.
        field: String,
        /// What is wrong and what is expected.
        description: String,
    },
    /// A token-endpoint error (RFC 6749 §5.2). `description` never reveals whether a username
    /// exists.
    #[error("{code}: {description}")]
    OAuth {
        /// The RFC error code.
        code: OAuthCode,
        /// Human-readable `error_description`.
        description: String,
    },
    /// Too many failed logins for this username or address: retry after `retry_after`.
    #[error("too many failed attempts; retry in {} s", retry_after.as_secs())]
    Locked {
        /// Time until the lockout ends.
        retry_after: Duration,
    },
    /// Missing, malformed, expired or otherwise invalid bearer token.
    #[error("{message}")]
    Unauthenticated {
        /// AIP-193 reason, e.g. `MISSING_TOKEN`, `INVALID_TOKEN`, `TOKEN_EXPIRED`.
        reason: &'static str,
        /// What is wrong (never contains the token).
        message: String,
    },
    /// The caller's token lacks the scope the RPC needs.
    #[error("missing scope `{0}`")]
    PermissionDenied(&'static str),
    /// The resource does not exist, or the caller may not see it (existence not revealed).
    #[error("{resource} `{id}` not found")]
    NotFound {
        /// `user`, `client`.
        resource: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The id, username or email is taken.
    #[error("{resource} `{id}` already exists")]
    AlreadyExists {
        /// `user`, `client`, `email`.
        resource: &'static str,
        /// The conflicting value.
        id: String,
    },
    /// The resource is not in the state the operation needs.
    #[error("{message}")]
    FailedPrecondition {
        /// AIP-193 reason in UPPER_SNAKE, e.g. `WRONG_PASSWORD`, `PUBLIC_CLIENT`.
        reason: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// The database is unreachable or saturated; retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected state; the cause is logged, never sent to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Error {
        Error::InvalidArgument {
            field: field.into(),
            description: description.into(),
        }
    }

    /// Shorthand for [`Error::OAuth`].
    pub fn oauth(code: OAuthCode, description: impl Into<String>) -> Error {
        Error::OAuth {
            code,
            description: description.into(),
        }
    }

    /// The one answer to every failed password login, whatever failed (unknown user, wrong
    /// password, disabled account): `invalid_grant` without revealing which.
    pub fn bad_credentials() -> Error {
        Error::oauth(OAuthCode::InvalidGrant, "invalid username or password")
    }

    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(resource: &'static str, id: impl Into<String>) -> Error {
        Error::NotFound {
            resource,
            id: id.into(),
        }
    }
}

impl From<DbError> for Error {
    fn from(err: DbError) -> Self {
        match err {
            DbError::Unavailable(m) => Error::Unavailable(m),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<diesel::result::Error> for Error {
    fn from(err: diesel::result::Error) -> Self {
        Error::from(db_core::classify(err))
    }
}

/// Result of auth-service operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
