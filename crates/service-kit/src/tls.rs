//! Serving TLS from PEM files, with a certificate that can be replaced while running.
//!
//! [`TlsSettings`] is the `…__TLS__*` section of both services. When `cert_file` and
//! `key_file` are set, [`TlsServer::from_settings`] builds a rustls server configuration
//! (TLS 1.2 and 1.3, ring provider, ALPN `h2` then `http/1.1` so auth-service's HTTP routes keep
//! working) whose certificate comes from a [`ReloadingCert`]: every new handshake asks it for the
//! current certificate, and [`ReloadingCert::reload`] swaps in a new one read from the same files.
//! Connections already open keep the session they negotiated. With `client_ca_file`, every client
//! must present a certificate issued by one of that file's CAs (mTLS); without it, none is asked.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use serde::{Deserialize, Serialize};

/// ALPN protocols offered, in order of preference: gRPC needs `h2`; `http/1.1` serves plain
/// HTTP routes (RFC 7301).
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The `…__TLS__*` settings of a service. TLS is on when both `cert_file` and `key_file` are set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct TlsSettings {
    /// `…__TLS__CERT_FILE`: PEM file with the server certificate first, then its intermediates.
    /// Default unset (plaintext).
    pub cert_file: Option<PathBuf>,
    /// `…__TLS__KEY_FILE`: PEM file with the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    /// Default unset.
    pub key_file: Option<PathBuf>,
    /// `…__TLS__CLIENT_CA_FILE`: PEM file of the CAs whose client certificates are accepted;
    /// when set, a client without such a certificate is refused during the handshake (mTLS).
    /// Default unset (no client certificate asked).
    pub client_ca_file: Option<PathBuf>,
}

impl TlsSettings {
    /// Whether TLS is configured (both `cert_file` and `key_file` set and non-empty).
    pub fn is_enabled(&self) -> bool {
        set(&self.cert_file).is_some() && set(&self.key_file).is_some()
    }

    /// What is wrong with these settings, each naming its variable under `prefix` (e.g.
    /// `AGENT_RUNTIME`): one of cert/key without the other, or a client CA without a
    /// certificate. The files themselves are read at start ([`TlsServer::from_settings`]).
    pub fn problems(&self, prefix: &str) -> Vec<String> {
        let mut problems = Vec::new();
        match (set(&self.cert_file), set(&self.key_file)) {
            (Some(_), None) => problems.push(format!(
                "{prefix}__TLS__CERT_FILE is set but {prefix}__TLS__KEY_FILE is not: set both \
                 to serve TLS, or neither"
            )),
            (None, Some(_)) => problems.push(format!(
                "{prefix}__TLS__KEY_FILE is set but {prefix}__TLS__CERT_FILE is not: set both \
                 to serve TLS, or neither"
            )),
            _ => {}
        }
        if set(&self.client_ca_file).is_some() && !self.is_enabled() {
            problems.push(format!(
                "{prefix}__TLS__CLIENT_CA_FILE needs {prefix}__TLS__CERT_FILE and \
                 {prefix}__TLS__KEY_FILE: client certificates are only checked over TLS"
            ));
        }
        problems
    }
}

/// A warning for `codelab config check` when a service listens on `addr`, which is not a
/// loopback address, without TLS: tokens and data would cross the network in clear text.
pub fn exposure_warning(prefix: &str, addr: SocketAddr, tls: &TlsSettings) -> Option<String> {
    if tls.is_enabled() || addr.ip().is_loopback() {
        return None;
    }
    Some(format!(
        "{prefix}__GRPC_ADDR={addr} is not a loopback address and TLS is off: bearer tokens and \
         data cross the network in clear text; set {prefix}__TLS__CERT_FILE and \
         {prefix}__TLS__KEY_FILE, or listen on 127.0.0.1 behind a TLS-terminating proxy"
    ))
}

fn set(path: &Option<PathBuf>) -> Option<&Path> {
    path.as_deref().filter(|p| !p.as_os_str().is_empty())
}

/// Why TLS could not be set up or a certificate not (re)loaded. The message names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds no usable PEM item.
    #[error("{}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the configuration (e.g. a key that does not match the certificate).
    #[error("{0}")]
    Rustls(String),
}

fn file_error(path: &Path, reason: impl fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// The crypto provider of every TLS configuration made here (ring, as the rest of the build).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in the PEM file at `path`, in order.
///
/// # Errors
/// [`TlsError::File`] when the file cannot be read, a PEM block is malformed, or there is none.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = std::fs::read(path).map_err(|e| file_error(path, e))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, format!("invalid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(file_error(path, "no CERTIFICATE block"));
    }
    Ok(certs)
}

/// The first private key in the PEM file at `path`.
///
/// # Errors
/// [`TlsError::File`] when the file cannot be read or holds no private key. The key's bytes are
/// never part of the message.
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = std::fs::read(path).map_err(|e| file_error(path, e))?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| file_error(path, format!("no usable private key: {e}")))
}

/// A root store with every certificate of the PEM file at `path`.
///
/// # Errors
/// [`TlsError::File`] as [`read_certificates`], or when a certificate is not a usable CA.
pub fn read_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certificates(path)? {
        roots
            .add(cert)
            .map_err(|e| file_error(path, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(roots)
}

/// The server certificate and key, read from their files and replaceable at run time. Each
/// handshake uses the certificate current when it starts.
pub struct ReloadingCert {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.debug_struct("ReloadingCert")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

impl ReloadingCert {
    /// Reads `cert_file` and `key_file`.
    ///
    /// # Errors
    /// [`TlsError`] when either cannot be read, or the key does not match the certificate.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<ReloadingCert, TlsError> {
        let provider = provider();
        let current = read_pair(cert_file, key_file, &provider)?;
        Ok(ReloadingCert {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            provider,
            current: RwLock::new(Arc::new(current)),
        })
    }

    /// Reads the files again and, when they hold a valid pair, makes it the certificate of
    /// every later handshake. On error the current certificate stays.
    ///
    /// # Errors
    /// As [`ReloadingCert::load`]; nothing changes then.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = read_pair(&self.cert_file, &self.key_file, &self.provider)?;
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        *current = Arc::new(fresh);
        Ok(())
    }

    /// The certificate file.
    pub fn cert_file(&self) -> &Path {
        &self.cert_file
    }

    /// The key file.
    pub fn key_file(&self) -> &Path {
        &self.key_file
    }

    fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn read_pair(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let certs = read_certificates(cert_file)?;
    let key = read_private_key(key_file)?;
    CertifiedKey::from_der(certs, key, provider).map_err(|e| {
        TlsError::Rustls(format!(
            "{} and {}: {e}",
            cert_file.display(),
            key_file.display()
        ))
    })
}

/// A service's TLS: the acceptor for new connections and the certificate it serves.
#[derive(Clone)]
pub struct TlsServer {
    acceptor: tokio_rustls::TlsAcceptor,
    cert: Arc<ReloadingCert>,
    mutual: bool,
}

impl fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServer")
            .field("cert", &self.cert)
            .field("mutual", &self.mutual)
            .finish_non_exhaustive()
    }
}

impl TlsServer {
    /// `None` when TLS is off; otherwise the server configuration described in the module doc,
    /// with the certificate read now.
    ///
    /// # Errors
    /// [`TlsError`] naming the file that cannot be read or used.
    pub fn from_settings(settings: &TlsSettings) -> Result<Option<TlsServer>, TlsError> {
        let (Some(cert_file), Some(key_file)) = (set(&settings.cert_file), set(&settings.key_file))
        else {
            return Ok(None);
        };
        let cert = Arc::new(ReloadingCert::load(cert_file, key_file)?);
        let verifier = match set(&settings.client_ca_file) {
            Some(ca) => Some(client_verifier(ca)?),
            None => None,
        };
        Ok(Some(TlsServer::new(cert, verifier)?))
    }

    fn new(
        cert: Arc<ReloadingCert>,
        verifier: Option<Arc<dyn ClientCertVerifier>>,
    ) -> Result<TlsServer, TlsError> {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        let mutual = verifier.is_some();
        let builder = match verifier {
            Some(verifier) => builder.with_client_cert_verifier(verifier),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_cert_resolver(cert.clone());
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(TlsServer {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            cert,
            mutual,
        })
    }

    /// The acceptor for new connections.
    pub fn acceptor(&self) -> &tokio_rustls::TlsAcceptor {
        &self.acceptor
    }

    /// The certificate served, to reload it ([`crate::reload`]).
    pub fn cert(&self) -> &Arc<ReloadingCert> {
        &self.cert
    }

    /// Whether clients must present a certificate.
    pub fn is_mutual(&self) -> bool {
        self.mutual
    }
}

fn client_verifier(ca_file: &Path) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let roots = read_roots(ca_file)?;
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| file_error(ca_file, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_need_both_files() {
        let none = TlsSettings::default();
        assert!(!none.is_enabled());
        assert!(none.problems("X").is_empty());
        let cert_only = TlsSettings {
            cert_file: Some("c.pem".into()),
            ..TlsSettings::default()
        };
        assert!(cert_only.problems("X")[0].contains("X__TLS__KEY_FILE"));
        let ca_only = TlsSettings {
            client_ca_file: Some("ca.pem".into()),
            ..TlsSettings::default()
        };
        assert!(ca_only.problems("X")[0].contains("X__TLS__CLIENT_CA_FILE"));
        let both = TlsSettings {
            cert_file: Some("c.pem".into()),
            key_file: Some("k.pem".into()),
            client_ca_file: None,
        };
        assert!(both.is_enabled() && both.problems("X").is_empty());
    }

    #[test]
    fn exposure_is_warned_for_non_loopback_plaintext_only() {
        let plain = TlsSettings::default();
        let tls = TlsSettings {
            cert_file: Some("c.pem".into()),
            key_file: Some("k.pem".into()),
            client_ca_file: None,
        };
        let public: SocketAddr = "0.0.0.0:50051".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:50051".parse().unwrap();
        let warning = exposure_warning("AGENT_RUNTIME", public, &plain).unwrap();
        assert!(
            warning.contains("AGENT_RUNTIME__TLS__CERT_FILE"),
            "{warning}"
        );
        assert_eq!(exposure_warning("AGENT_RUNTIME", public, &tls), None);
        assert_eq!(exposure_warning("AGENT_RUNTIME", local, &plain), None);
        let v6: SocketAddr = "[::1]:1".parse().unwrap();
        assert_eq!(exposure_warning("A", v6, &plain), None);
    }

    #[test]
    fn missing_files_are_named() {
        let err = TlsServer::from_settings(&TlsSettings {
            cert_file: Some("/nonexistent/cert.pem".into()),
            key_file: Some("/nonexistent/key.pem".into()),
            client_ca_file: None,
        })
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
    }
}
