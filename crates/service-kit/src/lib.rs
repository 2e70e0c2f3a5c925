//! What both codelab gRPC services share at the edge of the network:
//!
//! - [`tls`]: serving TLS (rustls) from PEM files named by `…__TLS__CERT_FILE` /
//!   `…__TLS__KEY_FILE`, with optional client-certificate verification (mTLS), ALPN `h2` and
//!   `http/1.1`;
//! - [`reload`]: re-reading the certificate on SIGHUP or when its files change, without dropping
//!   open connections;
//! - [`incoming`]: the accept loop handed to tonic (plain TCP or TLS; handshakes bounded in
//!   number and time);
//! - [`client`]: TLS for clients (a private CA, an optional client certificate) for tonic and
//!   reqwest;
//! - [`limit`]: the request size limit answered with `RESOURCE_EXHAUSTED`.

pub mod client;
pub mod incoming;
pub mod limit;
pub mod reload;
pub mod tls;

#[cfg(feature = "testing")]
pub mod testing;
