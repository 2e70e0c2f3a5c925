//! `agent-runtime`: runs the conversation store service (see the library docs).

use clap::Parser;

/// codelab agent-runtime: gRPC conversation store.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Optional TOML configuration file (environment variables override it).
    #[arg(long, env = "AGENT_RUNTIME_CONFIG")]
    config: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    agent_runtime::telemetry::init();
    let config = agent_runtime::config::Config::load(cli.config.as_deref())?;
    agent_runtime::run(config, agent_runtime::shutdown_signal()).await?;
    Ok(())
}
