//! `auth-service`: runs the token service (see the library docs).

use clap::Parser;

/// codelab auth-service: OAuth 2.0-style token service over gRPC.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Optional TOML configuration file (environment variables override it).
    #[arg(long, env = "AUTH_SERVICE_CONFIG")]
    config: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    db_core::service::init_tracing();
    let config = auth_service::config::Config::load(cli.config.as_deref())?;
    auth_service::run(config, db_core::service::shutdown_signal()).await?;
    Ok(())
}
