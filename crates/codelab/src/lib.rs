//! codelab: the command-line tool of the codelab platform.
//!
//! [`commands`] holds one module per subcommand (or subcommand group), each exposing a clap
//! `Opts` and `async fn run(opts)`; [`Cli`] and [`run`] tie them together for `main`. The load
//! generator is a binary of its own (the `codelab-bench` crate), so this one links no load client.
//!
//! [`client`] connects to either service (timeouts, bearer token); [`formats`] parses and
//! writes the conversation file formats without any network, so it is unit-tested on its own;
//! [`output`] writes results to stdout (tables, JSON) and lets a closed pipe end the command
//! quietly; [`password`] reads passwords from the environment, stdin or a no-echo prompt.
//!
//! Invariant: this crate talks to both services only through their public gRPC contracts,
//! except `up` (which embeds the servers), `db` (which opens databases only through db-core
//! and, for `db cleanup`, the services' stores) and `auth rotate-kek` (auth-service's store).

pub mod client;
pub mod commands;
pub mod formats;
pub mod output;
pub mod password;

pub use commands::{Cli, Command, init_cli_tracing, run};
