//! `codelab bench stats`: `GetSessionStats` of the large seeded session (W3 of the Python
//! benchmark, where the original scanned every message).

use codelab_proto::agent::v1::{GetSessionStatsRequest, SessionStats};

use super::report::{Report, Row};
use super::runner::{self, Workload};
use super::wire::{MethodPath, WireClient};
use super::{CommonOpts, MessageOpts, MessageSource};

/// Options of `bench stats`.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Clients, duration, output.
    #[command(flatten)]
    pub common: CommonOpts,
    /// Texts of the seeded messages.
    #[command(flatten)]
    pub messages: MessageOpts,
    /// Messages in the session read (`bench-list-<N>`, shared with `bench list`); seeded when it
    /// has fewer.
    #[arg(long, value_name = "N", default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub seed_messages: u64,
}

/// Runs `bench stats` and prints the report.
///
/// # Errors
/// See [`measure`].
pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let json = opts.common.run.json;
    measure(opts).await?.print(json)
}

struct StatsClient {
    client: WireClient,
    method: MethodPath,
    request: GetSessionStatsRequest,
}

impl Workload for StatsClient {
    async fn call(&mut self) -> Result<(), tonic::Status> {
        self.client
            .unary::<_, SessionStats>(&self.method, &self.request)
            .await
            .map(|_| ())
    }
}

/// Seeds the session, runs the workload and returns the report without printing it.
///
/// # Errors
/// Invalid options, a non-loopback address, an unreachable server or a failed seeding.
pub async fn measure(opts: Opts) -> anyhow::Result<Report> {
    let source = MessageSource::from_opts(&opts.messages)?;
    let connections = super::connect_clients(&opts.common).await?;
    let session_id = super::ensure_seeded(&connections.setup, opts.seed_messages, &source).await?;
    let method = super::session_method("GetSessionStats")?;
    let clients = connections
        .wire
        .into_iter()
        .map(|client| StatsClient {
            client,
            method: method.clone(),
            request: GetSessionStatsRequest {
                session_id: session_id.clone(),
            },
        })
        .collect();
    let m = runner::drive(clients, opts.common.run.warmup, opts.common.run.duration).await;
    Ok(Report {
        workload: "stats".into(),
        addr: opts.common.connect.addr.clone(),
        clients: opts.common.run.clients,
        duration_s: opts.common.run.duration.as_secs_f64(),
        warmup_s: opts.common.run.warmup.as_secs_f64(),
        messages: format!("{} in {session_id}", source.describe()),
        results: vec![Row::new("stats", &m)],
    })
}
