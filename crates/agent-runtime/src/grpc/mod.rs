//! The gRPC edge of agent-runtime: `SessionService`, `AgentContextService` and
//! `ApprovalService` of `codelab.agent.v1`, and `codelab.admin.v1.DatabaseAdmin`.
//!
//! Each handler authenticates the caller and checks its scope, validates and converts the
//! request ([`convert`]), calls one [`Store`] operation and converts the answer back. Errors
//! become statuses in one place ([`status`]).
//!
//! [`limit::refuse`] is the answer of every service the server registers to a request over the
//! size limit.
//!
//! Invariant: prost and tonic types stop here; the store never sees them.

pub mod admin;
mod agents;
mod approvals;
pub mod convert;
pub mod limit;
mod sessions;
pub mod status;

use crate::auth::{Authenticator, Scope};
use crate::config::Limits;
use crate::error::Error;
use crate::model::Access;
use crate::page_token::{Kind, PageTokens, TokenError};
use crate::store::Store;
use std::time::Instant;
use tonic::{Request, Response, Status};

pub use agents::AgentContextApi;
pub use approvals::ApprovalApi;
pub use sessions::SessionApi;

/// What every service of this module shares. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Shared {
    /// The conversation store.
    pub store: Store,
    /// Verifies bearer tokens.
    pub auth: Authenticator,
    /// Signs page tokens.
    pub tokens: PageTokens,
    /// Request caps.
    pub limits: Limits,
    /// Counts the tokens of messages sent without a count, off the async workers.
    pub counter: crate::tokenizer::Counter,
}

impl Shared {
    /// Authenticates the request's caller and requires `scope`.
    pub(crate) async fn caller<T>(
        &self,
        request: &Request<T>,
        scope: Scope,
    ) -> Result<Access, Error> {
        let principal = self.auth.authenticate(request.metadata()).await?;
        principal.require(scope)?;
        Ok(Access {
            admin: principal.is_admin(),
            subject: principal.subject,
        })
    }

    /// As [`Shared::caller`], and whether the caller also holds `also`.
    pub(crate) async fn caller_holding<T>(
        &self,
        request: &Request<T>,
        scope: Scope,
        also: Scope,
    ) -> Result<(Access, bool), Error> {
        let principal = self.auth.authenticate(request.metadata()).await?;
        principal.require(scope)?;
        let holds = principal.has(also);
        Ok((
            Access {
                admin: principal.is_admin(),
                subject: principal.subject,
            },
            holds,
        ))
    }

    /// Decodes a non-empty page token for `kind`/`query` (`INVALID_ARGUMENT` on `page_token`).
    fn decode_token(
        &self,
        token: &str,
        kind: Kind,
        query: &[&str],
    ) -> Result<Option<(i64, i64)>, Error> {
        if token.is_empty() {
            return Ok(None);
        }
        self.tokens
            .decode(token, kind, query)
            .map(Some)
            .map_err(|e: TokenError| Error::invalid("page_token", e.to_string()))
    }
}

/// Runs one RPC: authenticate with `$scope`, take the request body, evaluate `$body` (a
/// `Result<T, Error>`), and turn the outcome into a response or status, logging it with its
/// duration in ms inside the request's span.
macro_rules! rpc {
    ($shared:expr, $request:expr, $scope:expr, |$access:ident, $req:ident| $body:expr) => {{
        let started = std::time::Instant::now();
        let result: Result<_, $crate::error::Error> = async {
            let $access = $shared.caller(&$request, $scope).await?;
            let $req = $request.into_inner();
            $body
        }
        .await;
        $crate::grpc::finish(started, result)
    }};
}
pub(crate) use rpc;

/// Converts an RPC outcome and logs it (`code`, `duration_ms`; see
/// [`service_kit::status::finish`]).
pub(crate) fn finish<T>(started: Instant, result: Result<T, Error>) -> Result<Response<T>, Status> {
    service_kit::status::finish(started, result)
}
