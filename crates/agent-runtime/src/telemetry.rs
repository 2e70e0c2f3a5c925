//! Logging: one `tracing` subscriber for the process (see [`db_core::service::init_tracing`]:
//! `RUST_LOG`, default `info`; `LOG_FORMAT=json` for JSON lines).

pub use db_core::service::init_tracing as init;
