//! Where the JWK Set comes from: one small trait, [`JwksSource`], and its three sources —
//! a local file ([`FileJwks`]), an HTTP(S) URL such as an external issuer's `jwks_uri`
//! ([`HttpJwks`], e.g. Keycloak's `…/protocol/openid-connect/certs`) and auth-service's
//! `GetJwks` ([`GrpcJwks`], the default).

mod file;
mod grpc;
mod http;

use std::sync::Arc;
use std::time::Duration;

use access_token::{AuthError, JwkSet};
use futures::future::BoxFuture;
use service_kit::client::ClientTls;

use super::config::JWKS_URL_ENV;

pub use file::FileJwks;
pub use grpc::GrpcJwks;
pub use http::HttpJwks;

/// Where the JWK Set (RFC 7517 §5) comes from. Object safe: used as
/// `Arc<dyn JwksSource>`.
pub trait JwksSource: Send + Sync + 'static {
    /// Fetches the current set. Errors are [`AuthError::JwksUnavailable`].
    /// The [`Authenticator`](crate::auth::Authenticator) bounds each call by
    /// [`AuthConfig::jwks_fetch_timeout_ms`](crate::auth::AuthConfig::jwks_fetch_timeout_ms).
    fn fetch(&self) -> BoxFuture<'_, Result<JwkSet, AuthError>>;

    /// Human-readable location for logs and errors (e.g. the URL, without
    /// credentials or query).
    fn describe(&self) -> String;
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
