//! The subcommands of `codelab`, one module (or folder, for a group) each, exposing a clap
//! `Opts` (or `Command` for a group) and `async fn run(…)`:
//!
//! - [`up`]: runs auth-service and agent-runtime (trusting it) in this process for local
//!   development.
//! - [`login`]: the password grant against auth-service; prints an access token.
//! - [`users`], [`clients`], [`mod@auth`]: auth-service administration (accounts, OAuth
//!   clients, signing-key rotation).
//! - [`sessions`]: imports conversations (OpenAI chat, ShareGPT, MT-Bench) into agent-runtime
//!   over gRPC, exports them back, lists sessions.
//! - [`healthcheck`]: grpc.health.v1 `Check` for container health checks.
//! - [`config`]: `config check`, each service's effective configuration and its problems.
//! - [`db`]: database administration (stats, migrations, backup/restore, copy, cleanup, drift)
//!   through `db_core::admin`, for every database in [`db::registry`].

pub mod auth;
pub mod clients;
pub mod config;
pub mod db;
pub mod healthcheck;
pub mod login;
pub mod page;
pub mod sessions;
pub mod up;
pub mod users;

use clap::{Parser, Subcommand};

/// Command line of the `codelab` binary.
#[derive(Debug, Parser)]
#[command(name = "codelab", version, about = "codelab command-line tool", long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of `codelab`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run auth-service and agent-runtime in this process for local development.
    Up(up::Opts),
    /// Log in to auth-service and print an access token (for --token, CODELAB_TOKEN, grpcurl).
    Login(login::Opts),
    /// Manage auth-service users (needs an administrator's token).
    #[command(subcommand)]
    Users(users::Command),
    /// Manage auth-service OAuth clients (needs an administrator's token).
    #[command(subcommand)]
    Clients(clients::Command),
    /// auth-service key management (needs an administrator's token).
    #[command(subcommand)]
    Auth(auth::Command),
    /// Import, export and list conversations of a running agent-runtime.
    #[command(subcommand)]
    Sessions(sessions::Command),
    /// Manage codelab's databases: stats, migrations, backups, restore, copy, cleanup, drift.
    #[command(subcommand)]
    Db(db::Command),
    /// Ask a service's grpc.health.v1 whether it is serving (exit 0) or not (exit 1).
    Healthcheck(healthcheck::Opts),
    /// Check the services' configuration (effective values, secrets redacted, and problems).
    #[command(subcommand)]
    Config(config::Command),
}

/// Installs the tracing subscriber of the client subcommands: human-readable on stderr (stdout
/// carries exported data and reports), `warn` unless `RUST_LOG` says otherwise.
///
/// `up` does not use this: it installs agent-runtime's own subscriber.
pub fn init_cli_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Fails only when a subscriber is already installed (a test calling twice): keep that one.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs one parsed command line.
///
/// # Errors
/// Whatever the subcommand reports; `main` prints it with its causes and exits with status 1.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up(opts) => up::run(opts).await,
        Command::Login(opts) => {
            init_cli_tracing();
            login::run(opts).await
        }
        Command::Users(cmd) => {
            init_cli_tracing();
            users::run(cmd).await
        }
        Command::Clients(cmd) => {
            init_cli_tracing();
            clients::run(cmd).await
        }
        Command::Auth(cmd) => {
            init_cli_tracing();
            auth::run(cmd).await
        }
        Command::Sessions(cmd) => {
            init_cli_tracing();
            sessions::run(cmd).await
        }
        Command::Db(cmd) => {
            init_cli_tracing();
            db::run(cmd).await
        }
        Command::Healthcheck(opts) => {
            init_cli_tracing();
            healthcheck::run(opts).await
        }
        Command::Config(cmd) => {
            init_cli_tracing();
            config::run(cmd).await
        }
    }
}
