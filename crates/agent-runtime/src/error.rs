//! Errors of agent-runtime.
//!
//! Policy: the store and the edge return [`Error`]; each variant is something a client can act
//! on, named after the gRPC code it becomes (`grpc::status` holds the one `From<Error> for
//! tonic::Status`). Internal errors carry their cause for the log line written when they are
//! turned into a status; the client only sees a generic message.

use crate::auth::AuthError;
use db_core::DbError;

/// An operation of agent-runtime failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field is invalid. `field` is its path (`messages[3].role`).
    #[error("invalid {field}: {description}")]
    InvalidArgument {
        /// Field path in the request.
        field: String,
        /// What is wrong and what is expected.
        description: String,
    },
    /// One message of a request is larger than `AGENT_RUNTIME__LIMITS__MAX_MESSAGE_BYTES`
    /// (its content, tool calls and metadata together). Becomes `INVALID_ARGUMENT` with a
    /// `BadRequest` naming `field`, the largest part of the message (`messages[3].content`).
    #[error("invalid {field}: message is {size_bytes} bytes, the limit is {limit_bytes} bytes")]
    MessageTooLarge {
        /// Field path of the message's largest part.
        field: String,
        /// Bytes of content + tool calls + metadata.
        size_bytes: usize,
        /// The configured cap, in bytes.
        limit_bytes: usize,
    },
    /// The encoded request is larger than `AGENT_RUNTIME__LIMITS__MAX_REQUEST_BYTES`; refused
    /// before it is decoded. Becomes `RESOURCE_EXHAUSTED` (gRPC's code for a message over the
    /// receive limit).
    #[error("request too large: the limit is {limit_bytes} bytes")]
    RequestTooLarge {
        /// Encoded size the request announced, in bytes, when known.
        size_bytes: Option<u64>,
        /// The configured cap, in bytes.
        limit_bytes: usize,
    },
    /// The resource does not exist, or belongs to another user (existence is not revealed).
    #[error("{resource} `{id}` not found")]
    NotFound {
        /// `session`, `message`, `agent context`, `approval`.
        resource: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The id is already taken.
    #[error("{resource} `{id}` already exists")]
    AlreadyExists {
        /// `session`, `approval`.
        resource: &'static str,
        /// The id.
        id: String,
    },
    /// The resource is not in the state the operation needs (AIP-193 reason in UPPER_SNAKE).
    #[error("{message}")]
    FailedPrecondition {
        /// `SESSION_DELETED`, `AGENT_MISMATCH`, `APPROVAL_ALREADY_RESOLVED`.
        reason: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// The caller is authenticated and may use the RPC, but not on this resource in this way
    /// (AIP-193 reason in UPPER_SNAKE, e.g. `SELF_APPROVAL`). Becomes `PERMISSION_DENIED`.
    #[error("{message}")]
    PermissionDenied {
        /// `SELF_APPROVAL`.
        reason: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// The session would hold more than `AGENT_RUNTIME__LIMITS__MAX_SESSION_MESSAGES`
    /// messages. Becomes `RESOURCE_EXHAUSTED` with reason `SESSION_TOO_LARGE`; nothing is
    /// written.
    #[error("session `{session_id}` would hold {messages} messages, the limit is {limit}")]
    SessionTooLarge {
        /// The public session id.
        session_id: String,
        /// Messages the session would hold after the write.
        messages: i64,
        /// The configured cap.
        limit: i64,
    },
    /// A whole-session answer (LoadSession, LoadAgentContext) would carry more than
    /// `AGENT_RUNTIME__LIMITS__MAX_RESPONSE_BYTES` of text and JSON. Becomes
    /// `RESOURCE_EXHAUSTED` with reason `RESPONSE_TOO_LARGE`: the client pages instead.
    #[error("response larger than {limit_bytes} bytes; {page_with}")]
    ResponseTooLarge {
        /// The configured budget, in bytes.
        limit_bytes: usize,
        /// What to use instead (`page with ListMessages`).
        page_with: &'static str,
    },
    /// Authentication or authorisation failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The database is unreachable or saturated; retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected database state; the cause is logged, never sent to the client.
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

    /// True for errors caused by the request (bad field, unknown or foreign resource, wrong
    /// state, credentials), false for outages and bugs.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Error::Unavailable(_) | Error::Internal(_))
    }

    /// A copy of a server-side error for every caller that shared the failed operation (group
    /// commit). Client errors are never shared, so they become `Internal`.
    pub fn replicate(&self) -> Error {
        match self {
            Error::Unavailable(m) => Error::Unavailable(m.clone()),
            other => Error::Internal(other.to_string()),
        }
    }

    /// Shorthand for a missing session.
    pub fn session_not_found(id: &str) -> Error {
        Error::NotFound {
            resource: "session",
            id: id.to_owned(),
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

/// Result of agent-runtime operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
