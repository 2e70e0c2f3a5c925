//! The `codelab` tests, one test binary (one link step) with a module per area and the shared
//! [`support`] for running the workspace's binaries and services.

mod auth;
mod cli;
mod db;
mod deploy;
mod e2e;
mod faults;
mod formats;
mod kek;
mod owner_only;
mod support;
mod tls;
mod up;
