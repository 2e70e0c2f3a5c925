//! End-to-end tests of auth-service: a real gRPC server on 127.0.0.1:0 over a fresh database
//! per test, on SQLite and on PostgreSQL.
#![allow(missing_docs)]

mod helpers;

pub use db_core::backend_tests;

mod admin;
mod attacks;
mod cleanup;
mod clients;
mod first_start;
mod keys;
mod lockout;
mod schema;
mod tls;
mod tokens;
mod users;
