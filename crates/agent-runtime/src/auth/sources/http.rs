//! [`HttpJwks`]: a JWK Set fetched with HTTP GET, e.g. an external issuer's `jwks_uri`.

use std::fmt;
use std::time::Duration;

use access_token::{AuthError, JwkSet, MAX_JWKS_BYTES, parse_jwk_set};
use futures::future::BoxFuture;
use service_kit::client::ClientTls;

use super::JwksSource;
use crate::auth::config::{CA_FILE_ENV, JWKS_URL_ENV};

/// A JWK Set fetched with HTTP GET (e.g. an authorization server's
/// `jwks_uri`, RFC 8414 §2). Honors the system proxy settings of `reqwest`.
#[derive(Clone)]
pub struct HttpJwks {
    url: reqwest::Url,
    client: reqwest::Client,
}

impl fmt::Debug for HttpJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry credentials; show the redacted form only.
        f.debug_struct("HttpJwks")
            .field("url", &self.describe())
            .finish_non_exhaustive()
    }
}

impl HttpJwks {
    /// A source for `url` (`http://` or `https://`) whose requests (connect +
    /// response body) time out after `timeout`. Invalid URL or client →
    /// [`AuthError::Config`].
    pub fn new(url: &str, timeout: Duration) -> Result<HttpJwks, AuthError> {
        HttpJwks::with_tls(url, timeout, &ClientTls::default())
    }

    /// [`HttpJwks::new`] verifying `https://` servers with `tls` (its CA file
    /// only, when set) and presenting its client certificate, if any. A file
    /// that cannot be used → [`AuthError::Config`] naming it.
    pub fn with_tls(url: &str, timeout: Duration, tls: &ClientTls) -> Result<HttpJwks, AuthError> {
        let builder = tls
            .apply_to_reqwest(reqwest::Client::builder())
            .map_err(|e| AuthError::Config(format!("{CA_FILE_ENV} / client certificate: {e}")))?;
        let client = builder
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("codelab-agent-runtime/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AuthError::Config(format!("cannot build HTTP client for JWKS: {e}")))?;
        HttpJwks::with_client(url, client)
    }

    /// A source for `url` (`http://` or `https://`) using a caller-built
    /// client (its timeouts and proxy settings apply). Invalid URL →
    /// [`AuthError::Config`].
    pub fn with_client(url: &str, client: reqwest::Client) -> Result<HttpJwks, AuthError> {
        let url = reqwest::Url::parse(url)
            .map_err(|e| AuthError::Config(format!("{JWKS_URL_ENV} is not a valid URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(AuthError::Config(format!(
                "{JWKS_URL_ENV} for HttpJwks must be http:// or https://, got {}://",
                url.scheme()
            )));
        }
        Ok(HttpJwks { url, client })
    }
}

impl JwksSource for HttpJwks {
    /// GETs the URL; a non-2xx status, a body over [`MAX_JWKS_BYTES`], a
    /// transport error/timeout or an invalid document →
    /// [`AuthError::JwksUnavailable`].
    fn fetch(&self) -> BoxFuture<'_, Result<JwkSet, AuthError>> {
        Box::pin(async move {
            let shown = self.describe();
            let unavailable = |msg: String| AuthError::JwksUnavailable(format!("{shown}: {msg}"));
            let mut response = self
                .client
                .get(self.url.clone())
                .header(
                    reqwest::header::ACCEPT,
                    "application/jwk-set+json, application/json",
                )
                .send()
                .await
                .map_err(|e| unavailable(e.without_url().to_string()))?;
            let status = response.status();
            if !status.is_success() {
                return Err(unavailable(format!("HTTP status {status}")));
            }
            if response
                .content_length()
                .is_some_and(|len| len > MAX_JWKS_BYTES as u64)
            {
                return Err(unavailable(format!(
                    "body larger than {MAX_JWKS_BYTES} bytes"
                )));
            }
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| unavailable(e.without_url().to_string()))?
            {
                if body.len() + chunk.len() > MAX_JWKS_BYTES {
                    return Err(unavailable(format!(
                        "body larger than {MAX_JWKS_BYTES} bytes"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            parse_jwk_set(&body).map_err(|e| e.with_origin(&shown))
        })
    }

    /// The URL without userinfo, query or fragment.
    fn describe(&self) -> String {
        let mut url = self.url.clone();
        // Both setters only fail for URLs that cannot have credentials, in
        // which case there is nothing to strip.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_query(None);
        url.set_fragment(None);
        url.to_string()
    }
}
