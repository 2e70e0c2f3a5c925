//! End-to-end tests of agent-runtime: a real gRPC server on 127.0.0.1:0 over a fresh database
//! per test, on SQLite and on PostgreSQL.
#![allow(missing_docs)]

mod flows;
mod helpers;

pub use db_core::backend_tests;

mod admin;
mod agents;
mod approvals;
mod auth;
mod cors_config;
mod isolation;
mod limits;
mod messages;
mod schema;
mod server;
mod sessions;
mod tokens;
mod trust;
mod web;
