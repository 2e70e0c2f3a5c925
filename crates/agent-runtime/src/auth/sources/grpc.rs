//! [`GrpcJwks`]: the JWK Set fetched from auth-service with `codelab.auth.v1.AuthService/GetJwks`.
//!
//! This is the default key source of agent-runtime: with no `AGENT_RUNTIME__AUTH__JWKS_URL`,
//! it trusts the auth-service at `AGENT_RUNTIME__AUTH__AUTH_SERVICE_URL`. The prost types of
//! the auth contract stay in this file; the rest of [`crate::auth`] only sees a [`JwkSet`].

use std::fmt;
use std::time::Duration;

use access_token::{AuthError, JwkSet, MAX_JWKS_BYTES, parse_jwk_set};
use codelab_proto::auth::v1::GetJwksRequest;
use codelab_proto::auth::v1::auth_service_client::AuthServiceClient;
use futures::future::BoxFuture;
use service_kit::client::ClientTls;
use tonic::transport::{Channel, Endpoint};

use super::JwksSource;
use crate::auth::config::{AUTH_SERVICE_URL_ENV, CA_FILE_ENV};

/// A JWK Set fetched over gRPC from auth-service's `GetJwks` (its `keys_json` field is the RFC
/// 7517 §5 document). The channel connects lazily and reconnects on its own, so a source built
/// while auth-service is still starting (or later restarting) works once it answers.
#[derive(Clone)]
pub struct GrpcJwks {
    /// `http(s)://host:port`, without userinfo, path or query; shown in logs and errors.
    shown: String,
    client: AuthServiceClient<Channel>,
}

impl fmt::Debug for GrpcJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcJwks")
            .field("url", &self.shown)
            .finish_non_exhaustive()
    }
}

impl GrpcJwks {
    /// A source for auth-service at `url`: `http://host:port` (or a bare `host:port`), or
    /// `https://host:port` verified against the Mozilla roots. Each connection attempt and each
    /// call is bounded by `timeout`.
    ///
    /// # Errors
    /// [`AuthError::Config`] naming `AGENT_RUNTIME__AUTH__AUTH_SERVICE_URL` when `url` is empty,
    /// not a URI, or neither `http://` nor `https://`.
    pub fn new(url: &str, timeout: Duration) -> Result<GrpcJwks, AuthError> {
        GrpcJwks::with_tls(url, timeout, &ClientTls::default())
    }

    /// [`GrpcJwks::new`] whose `https://` connections trust `tls`'s CA file (only it, when
    /// set) and present its client certificate, if any.
    ///
    /// # Errors
    /// As [`GrpcJwks::new`]; a TLS file that cannot be used → [`AuthError::Config`] naming
    /// `AGENT_RUNTIME__AUTH__CA_FILE` and the file.
    pub fn with_tls(url: &str, timeout: Duration, tls: &ClientTls) -> Result<GrpcJwks, AuthError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(AuthError::Config(format!(
                "{AUTH_SERVICE_URL_ENV} must not be empty (e.g. http://127.0.0.1:50052)"
            )));
        }
        let with_scheme = if url.contains("://") {
            url.to_owned()
        } else {
            format!("http://{url}")
        };
        let uri: tonic::codegen::http::Uri = with_scheme.parse().map_err(|e| {
            AuthError::Config(format!(
                "{AUTH_SERVICE_URL_ENV} is not a valid URI ({e}); expected http://host:port"
            ))
        })?;
        let scheme = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") => "http",
            Some(s) if s.eq_ignore_ascii_case("https") => "https",
            _ => {
                return Err(AuthError::Config(format!(
                    "{AUTH_SERVICE_URL_ENV} must be http://host:port or https://host:port"
                )));
            }
        };
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
        let host_port = authority.rsplit('@').next().unwrap_or_default();
        if host_port.is_empty() {
            return Err(AuthError::Config(format!(
                "{AUTH_SERVICE_URL_ENV} has no host; expected http://host:port"
            )));
        }
        let shown = format!("{scheme}://{host_port}");
        let endpoint = Endpoint::from_shared(shown.clone())
            .map_err(|e| AuthError::Config(format!("{AUTH_SERVICE_URL_ENV}: {e}")))?;
        let endpoint = tls
            .apply_to_endpoint(endpoint)
            .map_err(|e| AuthError::Config(format!("{CA_FILE_ENV} / client certificate: {e}")))?
            .connect_timeout(timeout)
            .timeout(timeout)
            .tcp_nodelay(true);
        let client = AuthServiceClient::new(endpoint.connect_lazy())
            .max_decoding_message_size(MAX_JWKS_BYTES + 1024);
        Ok(GrpcJwks { shown, client })
    }
}

impl JwksSource for GrpcJwks {
    /// Calls `GetJwks` and parses `keys_json`. A transport error, a timeout, any non-OK status
    /// or an invalid document → [`AuthError::JwksUnavailable`] naming the URL and the status.
    fn fetch(&self) -> BoxFuture<'_, Result<JwkSet, AuthError>> {
        Box::pin(async move {
            let response = self
                .client
                .clone()
                .get_jwks(GetJwksRequest {})
                .await
                .map_err(|status| {
                    AuthError::JwksUnavailable(format!(
                        "{} GetJwks: {:?}: {}",
                        self.shown,
                        status.code(),
                        status.message()
                    ))
                })?;
            parse_jwk_set(response.into_inner().keys_json.as_bytes()).map_err(|e| match e {
                AuthError::JwksUnavailable(msg) => {
                    AuthError::JwksUnavailable(format!("{} GetJwks: {msg}", self.shown))
                }
                other => other,
            })
        })
    }

    /// `http(s)://host:port (codelab.auth.v1.AuthService/GetJwks)`.
    fn describe(&self) -> String {
        format!("{} (codelab.auth.v1.AuthService/GetJwks)", self.shown)
    }
}
