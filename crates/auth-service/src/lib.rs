//! auth-service: codelab's OAuth 2.0 token service, served over gRPC and, for OAuth libraries
//! and gateways, over HTTP on the same port.
//!
//! Layers, outermost first: `server` (start-up; service-kit serves health, reflection,
//! shutdown) → [`grpc`] (`AuthService`, `UserService`, `ClientService` of `codelab.auth.v1`:
//! authentication, validation, conversion) and [`oauth_http`] (`/oauth/token`, `/oauth/revoke`,
//! `/oauth/introspect`, RFC 8414 metadata, the JWK Set) → [`oauth`] (grants, client
//! authentication, revocation, introspection, lockout) with [`keys`] (signing keys, JWTs) and
//! [`passwords`] (argon2id) → [`store`] (one transaction per operation, written once for both
//! backends) → `db_core::Pool`. `grpc::admin` plugs the auth database into the shared
//! `codelab.admin.v1.DatabaseAdmin`.

pub mod client_secrets;
pub mod config;
pub mod credentials;
pub mod error;
pub mod grpc;
pub mod kek;
pub mod keys;
pub mod migrations;
pub mod model;
pub mod oauth;
pub mod oauth_http;
pub mod passwords;
pub mod schema;
pub mod seed;
mod server;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use server::{OnGenerated, ServeError, StartError, run, run_with, serve, serve_with};
