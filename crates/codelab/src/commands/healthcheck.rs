//! `codelab healthcheck`: asks a service's grpc.health.v1 `Check` whether it is serving; the
//! container `HEALTHCHECK` of both services (no grpc_health_probe binary needed).

use anyhow::{Context, bail};
use clap::Args;
use std::time::Duration;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Options of `codelab healthcheck`.
#[derive(Debug, Args)]
pub struct Opts {
    /// The service's gRPC address (`http://host:port` or `https://host:port`; the scheme may
    /// be omitted for http).
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub addr: String,
    /// PEM file of the CAs trusted for an `https://` address (only these; the Mozilla roots
    /// when unset).
    #[arg(long, env = crate::client::CA_FILE_ENV)]
    pub ca_file: Option<std::path::PathBuf>,
    /// The gRPC service to ask about; empty = the server as a whole.
    #[arg(long, default_value = "")]
    pub service: String,
    /// Give up after this many milliseconds (connect and answer).
    #[arg(long, default_value_t = 3_000)]
    pub timeout_ms: u64,
}

/// Runs `codelab healthcheck`: prints `SERVING` and succeeds, or fails with the status or the
/// reason the service did not answer.
///
/// # Errors
/// The service is not `SERVING` (e.g. its database is unreachable), does not answer within
/// `timeout_ms`, or `addr` is invalid.
pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let timeout = Duration::from_millis(opts.timeout_ms);
    let check = async {
        let channel = crate::client::secure_endpoint(&opts.addr, opts.ca_file.as_deref())?
            .connect_timeout(timeout)
            .timeout(timeout)
            .connect()
            .await
            .with_context(|| format!("cannot connect to {}", opts.addr))?;
        let response = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: opts.service.clone(),
            })
            .await
            .with_context(|| format!("health check of {}", opts.addr))?;
        anyhow::Ok(response.into_inner().status())
    };
    let status = tokio::time::timeout(timeout, check)
        .await
        .with_context(|| format!("{} did not answer within {} ms", opts.addr, opts.timeout_ms))??;
    if status != ServingStatus::Serving {
        bail!("{} is {}", opts.addr, status.as_str_name());
    }
    crate::output::println(status.as_str_name())?;
    Ok(())
}
