//! `auth-service`: runs the token service (see the library docs).

use clap::Parser;

/// mimalloc instead of the system allocator: the RPC path allocates and frees many small
/// buffers per call (HTTP/2 frames, protobuf, SQL binds), where glibc malloc showed as about a
/// tenth of the server's CPU (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
