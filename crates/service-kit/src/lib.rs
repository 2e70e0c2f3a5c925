//! What both codelab gRPC services share, so that each service's `server.rs` says only what
//! is its own:
//!
//! - [`settings`]: configuration loading (`PREFIX__A__B` variables), [`settings::ConfigError`],
//!   validation, the database URL variable;
//! - [`database`]: the database at start (pool, migrations applied or checked);
//! - [`admin`]: the DatabaseAdmin wiring (operations, scheduled backups, the tonic service);
//! - [`serve`]: the tonic server around a service's routes: health, reflection, the request
//!   size limit, metrics, TLS, graceful shutdown;
//! - [`http_routes`]: `GET /health` and the answer to unknown paths (404 JSON, or gRPC
//!   `UNIMPLEMENTED` for gRPC requests);
//! - [`grpc_web`]: gRPC-Web for every gRPC service, on the same port;
//! - [`cors`]: `…__CORS__ALLOWED_ORIGINS` and the CORS layer for browsers;
//! - [`status`]: the shared parts of `Error → tonic::Status` (ErrorInfo, outages, internal
//!   errors, the RPC outcome log line);
//! - [`tls`]: serving TLS (rustls) from PEM files named by `…__TLS__CERT_FILE` /
//!   `…__TLS__KEY_FILE`, with optional client-certificate verification (mTLS), ALPN `h2` and
//!   `http/1.1`;
//! - [`reload`]: re-reading the certificate on SIGHUP or when its files change, without dropping
//!   open connections;
//! - [`incoming`]: the accept loop handed to tonic (plain TCP or TLS; handshakes bounded in
//!   number and time);
//! - [`client`]: TLS for clients (a private CA, an optional client certificate) for tonic and
//!   reqwest;
//! - [`limit`]: the request size limit answered with `RESOURCE_EXHAUSTED`;
//! - `testing` (feature `testing`): a test CA and the test server harness.

pub mod admin;
pub mod client;
pub mod cors;
pub mod database;
pub mod grpc_web;
pub mod http_routes;
pub mod incoming;
pub mod limit;
pub mod reload;
pub mod serve;
pub mod settings;
pub mod status;
pub mod tls;

#[cfg(feature = "testing")]
pub mod testing;
