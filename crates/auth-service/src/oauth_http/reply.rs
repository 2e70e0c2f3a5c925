//! Answers of the OAuth endpoints: JSON bodies that are never cached (RFC 6749 §5.1), and
//! every error as RFC 6749 §5.2 JSON `{"error", "error_description"}` with its HTTP status.
//!
//! | error | status | `error` |
//! |---|---|---|
//! | `invalid_client` | 401, `WWW-Authenticate: Basic` | `invalid_client` |
//! | other token-endpoint errors | 400 | their RFC 6749 §5.2 code |
//! | a locked username, client or address | 429, `Retry-After` | `invalid_grant` |
//! | the address's rate limit | 429, `Retry-After` | `rate_limited` |
//! | a bad bearer token (introspection) | 401, `WWW-Authenticate: Bearer` | `invalid_token` |
//! | a bearer without api:admin (introspection) | 403 | `insufficient_scope` (RFC 6750 §3.1) |
//! | a body that is not a form | 415 | `invalid_request` |
//! | a body over the request limit | 413 | `invalid_request` |
//! | a body slower than 10 s | 408 | `invalid_request` |
//! | the database is unreachable | 503, `Retry-After` | `temporarily_unavailable` |
//! | a bug | 500 | `server_error` (the cause is logged, never sent) |

use crate::error::{Error, OAuthCode};
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use std::time::{Duration, Instant};

/// The realm of `WWW-Authenticate` challenges.
pub const REALM: &str = "auth-service";

/// Why an HTTP request was refused.
#[derive(Debug)]
pub enum Refusal {
    /// An error of the OAuth logic, or of the edge's own checks.
    Error(Error),
    /// The client address has used its rate-limit burst; the next request is admitted after
    /// this long.
    RateLimited(Duration),
    /// The body is not a form (415 Unsupported Media Type, RFC 9110 §15.5.16): what is wrong.
    NotAForm(String),
    /// The body is over the request limit, in bytes (413 Content Too Large, RFC 9110
    /// §15.5.14).
    TooLarge(usize),
    /// The body did not arrive within [`super::BODY_READ_TIMEOUT`] (408 Request Timeout, RFC
    /// 9110 §15.5.9).
    TimedOut,
}

impl From<Error> for Refusal {
    fn from(err: Error) -> Refusal {
        Refusal::Error(err)
    }
}

/// `body` as `200 OK` JSON with `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749
/// §5.1: responses holding tokens or token facts must not be cached).
pub fn no_store_json(body: &impl serde::Serialize) -> Response {
    let mut response = axum::Json(body).into_response();
    no_store(&mut response);
    response
}

/// An empty `200 OK` that is never cached (RFC 7009 §2.2).
pub fn no_store_ok() -> Response {
    let mut response = StatusCode::OK.into_response();
    no_store(&mut response);
    response
}

fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
}

/// Logs the outcome of a request to `path` (`status`, `duration_ms` since `started`: a success
/// at debug, a refusal at info with its `error`) and returns its response.
pub fn finish(started: Instant, path: &'static str, result: Result<Response, Refusal>) -> Response {
    let duration_ms = started.elapsed().as_secs_f64() * 1e3;
    let response = match result {
        Ok(response) => response,
        Err(refusal) => refusal.into_response(),
    };
    let status = response.status().as_u16();
    if response.status().is_success() {
        tracing::debug!(path, status, duration_ms, "http request finished");
    } else {
        tracing::info!(path, status, duration_ms, "http request refused");
    }
    response
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, error, description) = match &self {
            Refusal::Error(err) => parts(err),
            Refusal::RateLimited(wait) => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "too many requests from this address; retry in {} ms",
                    wait.as_millis()
                ),
            ),
            Refusal::NotAForm(why) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                why.clone(),
            ),
            Refusal::TimedOut => (
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request",
                format!(
                    "the body did not arrive within {} s",
                    super::BODY_READ_TIMEOUT.as_secs()
                ),
            ),
            Refusal::TooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                format!("the body is larger than the request limit of {limit} bytes"),
            ),
        };
        let mut response = (
            status,
            axum::Json(serde_json::json!({
                "error": error,
                "error_description": description,
            })),
        )
            .into_response();
        no_store(&mut response);
        let headers = response.headers_mut();
        let retry_after = match &self {
            Refusal::RateLimited(wait) => Some(*wait),
            Refusal::Error(Error::Locked { retry_after }) => Some(*retry_after),
            Refusal::Error(Error::Unavailable(_)) => Some(service_kit::status::RETRY_AFTER),
            _ => None,
        };
        if let Some(wait) = retry_after {
            // Whole seconds, rounded up (RFC 9110 §10.2.3), at least 1.
            let secs = wait.as_millis().div_ceil(1000).max(1);
            headers.insert(RETRY_AFTER, HeaderValue::from(secs as u64));
        }
        let challenge = match &self {
            Refusal::Error(Error::OAuth {
                code: OAuthCode::InvalidClient,
                ..
            }) => Some(format!("Basic realm=\"{REALM}\"")),
            Refusal::Error(Error::Unauthenticated { .. }) => {
                Some(format!("Bearer realm=\"{REALM}\", error=\"invalid_token\""))
            }
            Refusal::Error(Error::PermissionDenied(scope)) => Some(format!(
                "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{scope}\""
            )),
            _ => None,
        };
        if let Some(challenge) = challenge.and_then(|c| HeaderValue::try_from(c).ok()) {
            headers.insert(WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// Status, `error` and `error_description` of `err`.
fn parts(err: &Error) -> (StatusCode, &'static str, String) {
    match err {
        Error::OAuth { code, description } => {
            let status = match code {
                OAuthCode::InvalidClient => StatusCode::UNAUTHORIZED,
                _ => StatusCode::BAD_REQUEST,
            };
            (status, code.as_str(), description.clone())
        }
        Error::Locked { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            OAuthCode::InvalidGrant.as_str(),
            err.to_string(),
        ),
        Error::Unauthenticated { message, .. } => {
            (StatusCode::UNAUTHORIZED, "invalid_token", message.clone())
        }
        Error::PermissionDenied(_) => {
            (StatusCode::FORBIDDEN, "insufficient_scope", err.to_string())
        }
        Error::InvalidArgument { .. }
        | Error::NotFound { .. }
        | Error::AlreadyExists { .. }
        | Error::FailedPrecondition { .. } => (
            StatusCode::BAD_REQUEST,
            OAuthCode::InvalidRequest.as_str(),
            err.to_string(),
        ),
        Error::Unavailable(cause) => {
            tracing::warn!(%cause, "database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "database unavailable, retry later".to_owned(),
            )
        }
        Error::Internal(cause) => {
            tracing::error!(%cause, "internal error");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error".to_owned(),
            )
        }
    }
}
