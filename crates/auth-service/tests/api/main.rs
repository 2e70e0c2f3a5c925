//! End-to-end tests of auth-service: a real gRPC server on 127.0.0.1:0 over a fresh database
//! per test, on SQLite and on PostgreSQL.
#![allow(missing_docs)]

mod fixtures;
mod helpers;

pub use db_core::backend_tests;

mod admin;
mod attacks;
mod cleanup;
mod client_auth;
mod clients;
mod first_start;
mod kek;
mod keys;
mod lockout;
mod oauth_http;
mod races;
mod schema;
mod tls;
mod tokens;
mod users;
