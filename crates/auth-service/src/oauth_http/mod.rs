//! The HTTP edge of auth-service, on the gRPC port: the token endpoint (RFC 6749 §3.2),
//! revocation (RFC 7009), introspection (RFC 7662), the server's metadata (RFC 8414) and the
//! JWK Set (RFC 7517), for OAuth libraries and gateways that speak HTTP.
//!
//! Each POST passes the per-address rate limit, reads its form ([`form`]) and credentials
//! ([`client_auth`]), then calls the same [`OAuth`](crate::oauth::OAuth) as the gRPC
//! `AuthService`: one implementation of grants, lockout, rate limit and audit. Errors become
//! RFC 6749 §5.2 answers in one place ([`reply`]). `docs/auth-service.openapi.yaml` describes these
//! endpoints.
//!
//! Invariant: axum and HTTP types stop here.

mod client_auth;
mod endpoints;
mod form;
mod reply;

use crate::grpc::Shared;
use crate::grpc::rate_limit::RateLimit;
use crate::keys::KeyRing;
use crate::model::RequestContext;
use axum::Router;
use axum::extract::Request;
use axum::routing::{get, post};
use http::header::CONTENT_LENGTH;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use std::sync::Arc;

use client_auth::Credentials;
use form::Form;
use reply::Refusal;

/// The token endpoint (RFC 6749 §3.2).
pub const TOKEN_PATH: &str = "/oauth/token";
/// The revocation endpoint (RFC 7009 §2).
pub const REVOKE_PATH: &str = "/oauth/revoke";
/// The introspection endpoint (RFC 7662 §2).
pub const INTROSPECT_PATH: &str = "/oauth/introspect";
/// The authorization server metadata (RFC 8414 §3).
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
/// The JWK Set (RFC 8414 §2 `jwks_uri` convention).
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// Every path of this module, for the metrics' labels.
pub const PATHS: [&str; 5] = [
    TOKEN_PATH,
    REVOKE_PATH,
    INTROSPECT_PATH,
    METADATA_PATH,
    JWKS_PATH,
];

/// Longest a client may take to send a POST's body: a slow sender is refused with 408 rather
/// than holding its connection and task.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `Cache-Control` of the JWK Set: short enough that a rotation reaches verifiers soon
/// (verifiers also refetch on an unknown `kid`).
pub const JWKS_CACHE_CONTROL: &str = "public, max-age=300";

/// What the HTTP handlers share. Cheap to clone.
#[derive(Clone, Debug)]
pub struct HttpApi {
    shared: Shared,
    limit: RateLimit,
    keys: KeyRing,
    max_body_bytes: usize,
    /// The RFC 8414 document, built once.
    metadata: Arc<serde_json::Value>,
}

impl HttpApi {
    /// The endpoints over `shared` (the gRPC services' state), rate limited by `limit`,
    /// reading bodies of at most `max_body_bytes`; `issuer` is the public base URL the
    /// metadata names the endpoints under.
    pub fn new(
        shared: Shared,
        limit: RateLimit,
        keys: KeyRing,
        max_body_bytes: usize,
        issuer: &str,
    ) -> HttpApi {
        HttpApi {
            shared,
            limit,
            keys,
            max_body_bytes,
            metadata: Arc::new(endpoints::metadata(issuer)),
        }
    }

    /// The routes of [`PATHS`]; another method on them answers 405.
    pub fn router(self) -> Router {
        Router::new()
            .route(TOKEN_PATH, post(endpoints::token))
            .route(REVOKE_PATH, post(endpoints::revoke))
            .route(INTROSPECT_PATH, post(endpoints::introspect))
            .route(METADATA_PATH, get(endpoints::metadata_document))
            .route(JWKS_PATH, get(endpoints::jwks))
            .with_state(self)
    }

    /// What every POST reads first, after the rate limit: where it came from, its form and
    /// its credentials.
    ///
    /// # Errors
    /// [`Refusal::RateLimited`], [`Refusal::NotAForm`], [`Refusal::TooLarge`],
    /// [`Refusal::TimedOut`], and the form's and credentials' `invalid_request` /
    /// `invalid_client`.
    async fn receive(&self, request: Request) -> Result<Posted, Refusal> {
        let (parts, body) = request.into_parts();
        let headers = parts.headers.clone();
        // The gRPC edge's view of the request: the same client address and user agent.
        let edge = tonic::Request::from_http(http::Request::from_parts(parts, ()));
        self.limit
            .admit(self.limit.address(&edge))
            .map_err(Refusal::RateLimited)?;
        let context = self.shared.context(&edge);
        form::check_content_type(&headers).map_err(Refusal::NotAForm)?;
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max_body_bytes as u64) {
            return Err(Refusal::TooLarge(self.max_body_bytes));
        }
        let read = tokio::time::timeout(
            BODY_READ_TIMEOUT,
            Limited::new(body, self.max_body_bytes).collect(),
        );
        let body = read
            .await
            .map_err(|_| Refusal::TimedOut)?
            .map_err(|e| {
                if e.downcast_ref::<LengthLimitError>().is_some() {
                    Refusal::TooLarge(self.max_body_bytes)
                } else {
                    Refusal::Error(crate::error::Error::oauth(
                        crate::error::OAuthCode::InvalidRequest,
                        "the body could not be read",
                    ))
                }
            })?
            .to_bytes();
        let mut form = Form::parse(&body)?;
        let credentials = client_auth::credentials(&headers, &mut form)?;
        Ok(Posted {
            context,
            form,
            credentials,
        })
    }
}

/// A POST after [`HttpApi::receive`].
struct Posted {
    context: RequestContext,
    form: Form,
    credentials: Credentials,
}
