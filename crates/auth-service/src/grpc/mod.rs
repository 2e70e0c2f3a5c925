//! The gRPC edge of auth-service: `AuthService`, `UserService` and `ClientService` of
//! `codelab.auth.v1`.
//!
//! Each handler authenticates the caller when the RPC needs it, validates and converts the
//! request ([`convert`]), calls [`OAuth`] or the [`Store`] and converts the answer back. Errors
//! become statuses in one place ([`status`]).
//!
//! Invariant: prost and tonic types stop here.

mod address;
pub mod admin;
mod auth;
mod clients;
pub mod convert;
pub mod rate_limit;
pub mod status;
mod users;

use crate::error::{Error, Result};
use crate::model::RequestContext;
use crate::oauth::{Caller, OAuth, Requester};
use crate::passwords::Passwords;
use crate::store::Store;
use access_token::{AuthError, Scope, bearer};
pub use address::AddressSource;
use std::time::Instant;
use tonic::{Request, Response, Status};

pub use auth::AuthApi;
pub use clients::ClientApi;
pub use users::UserApi;

/// A request message that may carry client authentication (RFC 7009 §2.1, RFC 7662 §2.1)
/// instead of a bearer token.
pub trait ClientCredentials {
    /// `client_id` and `client_secret`; empty when not given.
    fn client_credentials(&self) -> (&str, &str);
}

/// What every service of this module shares. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Shared {
    /// Grants, revocation, introspection, callers.
    pub oauth: OAuth,
    /// Users, clients, audit.
    pub store: Store,
    /// Password and secret hashing.
    pub passwords: Passwords,
    /// Anyone may call CreateUser.
    pub allow_registration: bool,
    /// Where client addresses come from (TCP peer, or `x-forwarded-for` behind proxies).
    pub address: AddressSource,
}

impl Shared {
    /// The caller from `authorization: Bearer <access JWT>` (RFC 6750 §2.1).
    ///
    /// # Errors
    /// `Unauthenticated` (`MISSING_TOKEN`, `MALFORMED_AUTHORIZATION`, or the token's problem).
    pub async fn caller<T>(&self, request: &Request<T>) -> Result<Caller> {
        let values = request.metadata().get_all("authorization");
        let token = bearer::from_authorization(values.iter().map(|v| v.as_encoded_bytes()))
            .map_err(|e| match e {
                AuthError::MissingToken => Error::Unauthenticated {
                    reason: "MISSING_TOKEN",
                    message: "missing `authorization` metadata; expected `Bearer <access token>`"
                        .to_owned(),
                },
                _ => Error::Unauthenticated {
                    reason: "MALFORMED_AUTHORIZATION",
                    message: "`authorization` must be `Bearer <access token>`".to_owned(),
                },
            })?;
        self.oauth.caller(token).await
    }

    /// The caller, who must hold `scope`.
    ///
    /// # Errors
    /// As [`Shared::caller`]; `PermissionDenied` without the scope.
    pub async fn caller_with<T>(&self, request: &Request<T>, scope: Scope) -> Result<Caller> {
        let caller = self.caller(request).await?;
        if !caller.scopes.contains(scope.as_str()) {
            return Err(Error::PermissionDenied(scope.as_str()));
        }
        Ok(caller)
    }

    /// Who revokes or introspects a token: the message's client authenticated by its secret
    /// (empty for a public client) when it names one, else the bearer.
    ///
    /// # Errors
    /// As [`OAuth::authenticate_client`] or [`Shared::caller`].
    pub async fn requester<T: ClientCredentials>(
        &self,
        request: &Request<T>,
        context: &RequestContext,
    ) -> Result<Requester> {
        let (client_id, client_secret) = request.get_ref().client_credentials();
        if client_id.is_empty() {
            return Ok(Requester::Bearer(self.caller(request).await?));
        }
        let secret = convert::secret(client_secret.to_owned());
        let client = self
            .oauth
            .authenticate_client(client_id, &secret, context)
            .await?;
        Ok(Requester::Client(client))
    }

    /// Where the request came from ([`AddressSource::client_address`]: the TCP peer, or the
    /// trusted proxies' `x-forwarded-for` entry) and its `user-agent`.
    pub fn context<T>(&self, request: &Request<T>) -> RequestContext {
        let ip = self
            .address
            .client_address(request)
            .map(|ip| ip.to_string());
        let user_agent = request
            .metadata()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(255).collect());
        RequestContext { ip, user_agent }
    }
}

/// Converts an RPC outcome and logs it (`code`, `duration_ms`; see
/// [`service_kit::status::finish`]).
pub(crate) fn finish<T>(started: Instant, result: Result<T>) -> Result<Response<T>, Status> {
    service_kit::status::finish(started, result)
}

/// Runs `$body` (an async block yielding `Result<T, Error>`) and finishes the RPC.
macro_rules! rpc {
    ($body:expr) => {{
        let started = std::time::Instant::now();
        let result: $crate::error::Result<_> = $body.await;
        $crate::grpc::finish(started, result)
    }};
}
pub(crate) use rpc;
