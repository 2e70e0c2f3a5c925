//! TLS for clients of the services: agent-runtime fetching auth-service's keys, the `codelab`
//! command. An `https://` address is verified against the CAs of `ca_file` only (a private
//! PKI) or, without it, the Mozilla roots (webpki-roots); `cert_file`/`key_file` add a client
//! certificate for servers that require one (mTLS). Plain `http://` addresses are left as they
//! are.

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::tls::{TlsError, read_certificates, read_private_key};

/// Client-side TLS files. All optional; see the module doc.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTls {
    /// PEM file of the CAs trusted for the server's certificate; the system's default roots
    /// when unset.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (with intermediates), for mTLS. Needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
}

struct Loaded {
    ca_pem: Option<Vec<u8>>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl ClientTls {
    /// Only a CA file.
    pub fn with_ca(ca_file: Option<PathBuf>) -> ClientTls {
        ClientTls {
            ca_file,
            ..ClientTls::default()
        }
    }

    /// Reads and checks the files (so an error names the file, not a handshake).
    fn load(&self) -> Result<Loaded, TlsError> {
        let ca_pem = match set(&self.ca_file) {
            Some(path) => {
                read_certificates(path)?;
                Some(read(path)?)
            }
            None => None,
        };
        let identity = match (set(&self.cert_file), set(&self.key_file)) {
            (Some(cert), Some(key)) => {
                read_certificates(cert)?;
                read_private_key(key)?;
                Some((read(cert)?, read(key)?))
            }
            (None, None) => None,
            (Some(cert), None) => {
                return Err(TlsError::File {
                    path: cert.to_path_buf(),
                    reason: "a client certificate needs its key file too".into(),
                });
            }
            (None, Some(key)) => {
                return Err(TlsError::File {
                    path: key.to_path_buf(),
                    reason: "a client key needs its certificate file too".into(),
                });
            }
        };
        Ok(Loaded { ca_pem, identity })
    }

    /// The tonic TLS configuration (ALPN `h2` is tonic's own).
    ///
    /// # Errors
    /// [`TlsError::File`] naming a file that cannot be read or holds no certificate/key.
    pub fn tonic_config(&self) -> Result<ClientTlsConfig, TlsError> {
        let loaded = self.load()?;
        let mut config = ClientTlsConfig::new();
        config = match loaded.ca_pem {
            Some(pem) => config.ca_certificate(Certificate::from_pem(pem)),
            None => config.with_webpki_roots(),
        };
        if let Some((cert, key)) = loaded.identity {
            config = config.identity(Identity::from_pem(cert, key));
        }
        Ok(config)
    }

    /// `endpoint` with this TLS configuration when its URI is `https://`; unchanged otherwise.
    ///
    /// # Errors
    /// As [`ClientTls::tonic_config`], or [`TlsError::Rustls`] when tonic refuses it.
    pub fn apply_to_endpoint(&self, endpoint: Endpoint) -> Result<Endpoint, TlsError> {
        if endpoint.uri().scheme_str() != Some("https") {
            return Ok(endpoint);
        }
        endpoint
            .tls_config(self.tonic_config()?)
            .map_err(|e| TlsError::Rustls(e.to_string()))
    }

    /// `builder` trusting only `ca_file`'s CAs (when set) and presenting the client
    /// certificate (when set).
    ///
    /// # Errors
    /// As [`ClientTls::tonic_config`], or [`TlsError::Rustls`] when reqwest refuses a file.
    pub fn apply_to_reqwest(
        &self,
        mut builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, TlsError> {
        let loaded = self.load()?;
        if let Some(pem) = loaded.ca_pem {
            builder = builder.tls_built_in_root_certs(false);
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| TlsError::Rustls(format!("CA file: {e}")))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some((mut cert, key)) = loaded.identity {
            cert.push(b'\n');
            cert.extend_from_slice(&key);
            builder = builder.identity(
                reqwest::Identity::from_pem(&cert)
                    .map_err(|e| TlsError::Rustls(format!("client certificate: {e}")))?,
            );
        }
        Ok(builder)
    }
}

fn set(path: &Option<PathBuf>) -> Option<&Path> {
    path.as_deref().filter(|p| !p.as_os_str().is_empty())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}
