//! auth-service: codelab's OAuth 2.0-style token service, served over gRPC.
//!
//! Layers, outermost first: `server` (tonic server, HTTP JWKS route, health, reflection,
//! shutdown) → [`grpc`] (`AuthService`, `UserService`, `ClientService` of `codelab.auth.v1`:
//! authentication, validation, conversion) → [`oauth`] (grants, revocation, introspection,
//! lockout) with [`keys`] (signing keys, JWTs) and [`passwords`] (argon2id) → [`store`] (one
//! transaction per operation, written once for both backends) → `db_core::Pool`. `grpc::admin`
//! plugs the auth database into the shared `codelab.admin.v1.DatabaseAdmin`.

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
pub mod passwords;
pub mod schema;
pub mod seed;
mod server;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use server::{OnGenerated, ServeError, StartError, run, run_with, serve, serve_with};
