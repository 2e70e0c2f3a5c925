//! agent-runtime: the conversation store of codelab, served over gRPC.
//!
//! Layers, outermost first: `server` (tonic server, health, reflection, shutdown) →
//! [`grpc`] (the three services of `codelab.agent.v1`: authentication, validation, conversion
//! between prost and [`model`] types) → [`store`] (one transaction per operation, written once
//! for both backends) → `db_core::Pool`.

pub mod auth;
pub mod config;
pub mod error;
pub mod grpc;
pub mod migrations;
pub mod model;
pub mod page_token;
pub mod schema;
mod server;
pub mod store;
pub mod telemetry;
pub mod tokenizer;

pub use server::{ServeError, StartError, run, serve, shutdown_signal};
