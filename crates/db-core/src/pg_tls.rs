//! PostgreSQL over TLS: the `sslmode` and `sslrootcert` parameters of a PostgreSQL URL, read as
//! libpq reads them, with rustls as the TLS stack (no OpenSSL, no libpq).
//!
//! | `sslmode` | TLS | server certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (default) | when the server offers it, else plaintext | unchecked; checked as `verify-ca` when `sslrootcert` is given |
//! | `require` | always | unchecked; checked as `verify-ca` when `sslrootcert` is given |
//! | `verify-ca` | always | signed by a CA of `sslrootcert` |
//! | `verify-full` | always | signed by a CA of `sslrootcert`, and issued for the URL's host |
//!
//! `sslrootcert` is a PEM file of one or more CA certificates, or `system` for the Mozilla root
//! store (`webpki-roots`), which, as in libpq 16, makes `verify-full` the default and refuses
//! any weaker `sslmode`. `verify-ca` and `verify-full` need `sslrootcert`: libpq's fallback
//! file `~/.postgresql/root.crt` is not read, so a service's trust never depends on its home
//! folder. Where libpq under `prefer` retries in plaintext after a failed certificate check,
//! this connector fails: a certificate that was asked to be checked and does not pass is an
//! error in every mode.
//!
//! Source: PostgreSQL manual, "libpq — SSL Support" (protection provided in different modes)
//! and "Connection Strings" (`sslmode`, `sslrootcert`).

use crate::{DbError, DbUrl, UrlError};
use diesel_async::AsyncPgConnection;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How a PostgreSQL connection uses TLS: libpq's `sslmode` (see the module docs for each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PgSslMode {
    /// Plaintext only.
    Disable,
    /// TLS when the server offers it, plaintext otherwise (libpq's default).
    #[default]
    Prefer,
    /// TLS or no connection; the certificate is checked only when `sslrootcert` is given.
    Require,
    /// TLS, and the server's certificate chains to a CA of `sslrootcert`.
    VerifyCa,
    /// As `VerifyCa`, and the certificate names the host of the URL.
    VerifyFull,
}

impl PgSslMode {
    /// The accepted spellings, for error messages.
    pub const ACCEPTED: &'static str = "disable, prefer, require, verify-ca, verify-full";

    /// The mode named `value` as written in a URL, if it is one of [`PgSslMode::ACCEPTED`].
    pub fn parse(value: &str) -> Option<PgSslMode> {
        Some(match value {
            "disable" => PgSslMode::Disable,
            "prefer" => PgSslMode::Prefer,
            "require" => PgSslMode::Require,
            "verify-ca" => PgSslMode::VerifyCa,
            "verify-full" => PgSslMode::VerifyFull,
            _ => return None,
        })
    }

    /// The mode as written in a URL.
    pub fn name(self) -> &'static str {
        match self {
            PgSslMode::Disable => "disable",
            PgSslMode::Prefer => "prefer",
            PgSslMode::Require => "require",
            PgSslMode::VerifyCa => "verify-ca",
            PgSslMode::VerifyFull => "verify-full",
        }
    }
}

impl fmt::Display for PgSslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the trusted CA certificates come from (`sslrootcert`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgRootCert {
    /// A PEM file of one or more CA certificates.
    File(PathBuf),
    /// `sslrootcert=system`: the Mozilla root store as shipped in `webpki-roots`.
    System,
}

/// The TLS settings of one PostgreSQL URL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PgTlsSettings {
    /// `sslmode` (default `prefer`; `verify-full` with `sslrootcert=system`).
    pub mode: PgSslMode,
    /// `sslrootcert`, if given.
    pub root_cert: Option<PgRootCert>,
}

/// The URL parameters this module reads (and removes before tokio-postgres parses the rest).
const OWN_PARAMS: [&str; 2] = ["sslmode", "sslrootcert"];

impl PgTlsSettings {
    /// Reads `sslmode` and `sslrootcert` from the query of a PostgreSQL URL (percent-decoded,
    /// the last occurrence wins, as for every other parameter). Other parameters are left to
    /// tokio-postgres.
    ///
    /// # Errors
    /// A message naming the accepted values for an unknown `sslmode`; a message for
    /// `sslrootcert=system` with a mode weaker than `verify-full`, for `verify-ca`/`verify-full`
    /// without `sslrootcert`, and for an empty `sslrootcert`.
    pub fn from_url(url: &url::Url) -> Result<PgTlsSettings, String> {
        let mut mode = None;
        let mut root_cert = None;
        for (key, value) in query_params(url) {
            match key.as_str() {
                "sslmode" => {
                    mode = Some(PgSslMode::parse(&value).ok_or_else(|| {
                        format!(
                            "invalid sslmode `{value}`: expected one of {}",
                            PgSslMode::ACCEPTED
                        )
                    })?);
                }
                "sslrootcert" if value == "system" => root_cert = Some(PgRootCert::System),
                "sslrootcert" if value.is_empty() => {
                    return Err("sslrootcert is empty: give the path of a PEM file of CA \
                                certificates, or `system`"
                        .to_owned());
                }
                "sslrootcert" => root_cert = Some(PgRootCert::File(PathBuf::from(value))),
                _ => {}
            }
        }
        let mode = match (mode, &root_cert) {
            (None, Some(PgRootCert::System)) => PgSslMode::VerifyFull,
            (Some(m), Some(PgRootCert::System)) if m != PgSslMode::VerifyFull => {
                return Err(format!(
                    "sslmode={m} may not be used with sslrootcert=system (use sslmode=verify-full)"
                ));
            }
            (m, _) => m.unwrap_or_default(),
        };
        if matches!(mode, PgSslMode::VerifyCa | PgSslMode::VerifyFull) && root_cert.is_none() {
            return Err(format!(
                "sslmode={mode} needs sslrootcert=<path of the CA certificates (PEM)> or \
                 sslrootcert=system in the PostgreSQL URL"
            ));
        }
        Ok(PgTlsSettings { mode, root_cert })
    }

    /// True when the server's certificate is checked against `sslrootcert`.
    pub fn checks_certificate(&self) -> bool {
        self.mode != PgSslMode::Disable && self.root_cert.is_some()
    }
}

impl DbUrl {
    /// The TLS settings of a PostgreSQL URL (`None` for SQLite).
    ///
    /// # Errors
    /// As [`PgTlsSettings::from_url`].
    pub fn postgres_tls(&self) -> Option<Result<PgTlsSettings, String>> {
        match self {
            DbUrl::Postgres(u) => Some(PgTlsSettings::from_url(u)),
            _ => None,
        }
    }
}

/// The query's `key=value` pairs, percent-decoded as libpq and tokio-postgres decode them
/// (`+` stays a plus sign).
fn query_params(url: &url::Url) -> impl Iterator<Item = (String, String)> + '_ {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    url.query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(move |p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
}

/// The rustls crypto provider of PostgreSQL connections (*ring*, the one rustls is built with
/// in this workspace), named explicitly so no process-wide default is needed.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A connection of tokio-postgres over TCP, TLS or not, as [`PgConnector::connect`] opens it.
pub(crate) type PgConnection = tokio_postgres::Connection<
    tokio_postgres::Socket,
    <MakeRustlsConnect as MakeTlsConnect<tokio_postgres::Socket>>::Stream,
>;

/// Opens PostgreSQL connections for one URL with its TLS settings: every PostgreSQL
/// connection of codelab (pool, dedicated connections, restore's COPY) is made here.
#[derive(Clone)]
pub(crate) struct PgConnector {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    settings: PgTlsSettings,
}

impl PgConnector {
    /// Reads the URL's TLS settings and, when given, the CA file of `sslrootcert` (read once,
    /// here: a pool made with it keeps the CAs it was made with).
    ///
    /// # Errors
    /// [`DbError::Url`] for a SQLite URL, bad TLS settings, a parameter tokio-postgres refuses,
    /// or a CA file without certificates; [`DbError::Io`] when the CA file cannot be read.
    pub(crate) fn new(url: &DbUrl) -> Result<PgConnector, DbError> {
        let invalid = |m: String| DbError::Url(UrlError::InvalidPostgres(m));
        let DbUrl::Postgres(raw) = url else {
            return Err(invalid(format!("{url} is not a PostgreSQL URL")));
        };
        let settings = PgTlsSettings::from_url(raw).map_err(invalid)?;
        let mut rest = raw.clone();
        let kept: Vec<&str> = raw
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|p| {
                let key = p.split_once('=').map_or(*p, |(k, _)| k);
                let key = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
                !p.is_empty() && !OWN_PARAMS.contains(&key.as_ref())
            })
            .collect();
        rest.set_query((!kept.is_empty()).then(|| kept.join("&")).as_deref());
        let mut config: tokio_postgres::Config = rest
            .as_str()
            .parse()
            .map_err(|e| invalid(format!("{} in `{url}`", with_causes(&e))))?;
        config.ssl_mode(match settings.mode {
            PgSslMode::Disable => tokio_postgres::config::SslMode::Disable,
            PgSslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        let tls = MakeRustlsConnect::new(client_config(&settings)?);
        Ok(PgConnector {
            config,
            tls,
            settings,
        })
    }

    /// Connects. The caller drives the returned connection (spawns it).
    ///
    /// # Errors
    /// The driver's message, with the TLS settings in use when they may be the cause.
    pub(crate) async fn connect(&self) -> Result<(tokio_postgres::Client, PgConnection), String> {
        self.config
            .connect(self.tls.clone())
            .await
            .map_err(|e| self.describe(&e))
    }

    /// Connects and wraps the connection for Diesel.
    ///
    /// # Errors
    /// [`diesel::ConnectionError::BadConnection`] with [`PgConnector::connect`]'s message.
    pub(crate) async fn connect_diesel(&self) -> diesel::ConnectionResult<AsyncPgConnection> {
        let (client, connection) = self
            .connect()
            .await
            .map_err(diesel::ConnectionError::BadConnection)?;
        AsyncPgConnection::try_from_client_and_connection(client, connection).await
    }

    /// `e` with its causes as text (tokio-postgres's own `Display` says only "db error" or
    /// "error performing TLS handshake"); for a TLS failure, with `sslmode` and `sslrootcert`
    /// so the reader sees which check failed.
    fn describe(&self, e: &tokio_postgres::Error) -> String {
        let text = with_causes(e);
        let tls_related = text.contains("TLS")
            || text.contains("certificate")
            || text.contains("no encryption")
            || text.contains("SSL");
        if !tls_related {
            return text;
        }
        match &self.settings.root_cert {
            Some(PgRootCert::File(p)) => format!(
                "{text} (sslmode={}, sslrootcert={})",
                self.settings.mode,
                p.display()
            ),
            Some(PgRootCert::System) => {
                format!(
                    "{text} (sslmode={}, sslrootcert=system)",
                    self.settings.mode
                )
            }
            None => format!("{text} (sslmode={})", self.settings.mode),
        }
    }
}

/// `e` and its causes, `: `-separated (tokio-postgres's own `Display` says only "db error",
/// "invalid connection string" or "error performing TLS handshake"). Its messages name
/// options, never their values.
fn with_causes(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// The rustls client configuration for `settings` (see the module docs for each mode).
fn client_config(settings: &PgTlsSettings) -> Result<rustls::ClientConfig, DbError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| DbError::Unavailable(format!("TLS setup: {e}")))?;
    let algorithms = provider.signature_verification_algorithms;
    let verifier: Arc<dyn ServerCertVerifier> = match (&settings.root_cert, settings.mode) {
        (None, _) => Arc::new(LibpqCheck {
            roots: None,
            algorithms,
        }),
        (Some(root), mode) => {
            let roots = Arc::new(load_roots(root)?);
            if mode == PgSslMode::VerifyFull {
                rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| {
                        DbError::Url(UrlError::InvalidPostgres(format!("sslrootcert: {e}")))
                    })?
            } else {
                Arc::new(LibpqCheck {
                    roots: Some(roots),
                    algorithms,
                })
            }
        }
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// The CA certificates of `sslrootcert`.
fn load_roots(root: &PgRootCert) -> Result<RootCertStore, DbError> {
    let path = match root {
        PgRootCert::System => {
            return Ok(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            });
        }
        PgRootCert::File(path) => path,
    };
    let pem = std::fs::read(path).map_err(|e| {
        DbError::Io(std::io::Error::new(
            e.kind(),
            format!("cannot read sslrootcert {}: {e}", path.display()),
        ))
    })?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let added = cert
            .map_err(|e| e.to_string())
            .and_then(|c| roots.add(c).map_err(|e| e.to_string()));
        if let Err(e) = added {
            return Err(DbError::Url(UrlError::InvalidPostgres(format!(
                "sslrootcert {}: {e}",
                path.display()
            ))));
        }
    }
    if roots.is_empty() {
        return Err(DbError::Url(UrlError::InvalidPostgres(format!(
            "sslrootcert {} holds no PEM certificate",
            path.display()
        ))));
    }
    Ok(roots)
}

/// The certificate check of the modes below `verify-full`, as libpq does them:
/// - `roots: None` (`prefer`/`require` without `sslrootcert`): any certificate is accepted (the
///   traffic is encrypted, the server is not authenticated);
/// - `roots: Some` (`verify-ca`, and `prefer`/`require` with `sslrootcert`): the certificate
///   chains to a trusted CA and is valid now; the host name is not compared.
///
/// Either way the handshake's signatures are checked, so the server holds the key of the
/// certificate it shows.
#[derive(Debug)]
struct LibpqCheck {
    roots: Option<Arc<RootCertStore>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for LibpqCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.algorithms.all,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
