//! `codelab bench stats` and `bench session`: one-row reads of a seeded session —
//! `GetSessionStats` (W3 of the Python benchmark, where the original scanned every message) and
//! `GetSession`. Run beside another workload, `bench session` measures how long a cheap read
//! waits behind it.

use codelab_proto::agent::v1::{GetSessionRequest, GetSessionStatsRequest, Session, SessionStats};

use super::report::{Report, Row};
use super::runner::{self, Workload};
use super::wire::{MethodPath, WireClient};
use super::{CommonOpts, MessageOpts, MessageSource};

/// Options of `bench stats` and `bench session`.
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

/// The one-row read each call makes.
#[derive(Debug, Clone, Copy)]
pub enum Read {
    /// `GetSessionStats`: the session's counters.
    Stats,
    /// `GetSession`: the session row.
    Session,
}

impl Read {
    fn name(self) -> &'static str {
        match self {
            Read::Stats => "stats",
            Read::Session => "session",
        }
    }
}

/// Runs `bench stats` (`read` = [`Read::Stats`]) or `bench session` and prints the report.
///
/// # Errors
/// See [`measure`].
pub async fn run(opts: Opts, read: Read) -> anyhow::Result<()> {
    let json = opts.common.run.json;
    measure(opts, read).await?.print(json)
}

struct ReadClient {
    client: WireClient,
    method: MethodPath,
    read: Read,
    session_id: String,
}

impl Workload for ReadClient {
    async fn call(&mut self) -> Result<(), tonic::Status> {
        let session_id = self.session_id.clone();
        match self.read {
            Read::Stats => self
                .client
                .unary::<_, SessionStats>(&self.method, &GetSessionStatsRequest { session_id })
                .await
                .map(|_| ()),
            Read::Session => {
                let request = GetSessionRequest {
                    session_id,
                    include_deleted: false,
                };
                self.client
                    .unary::<_, Session>(&self.method, &request)
                    .await
                    .map(|_| ())
            }
        }
    }
}

/// Seeds the session, runs the workload and returns the report without printing it.
///
/// # Errors
/// Invalid options, a non-loopback address, an unreachable server or a failed seeding.
pub async fn measure(opts: Opts, read: Read) -> anyhow::Result<Report> {
    let source = MessageSource::from_opts(&opts.messages)?;
    let connections = super::connect_clients(&opts.common).await?;
    let session_id = super::ensure_seeded(&connections.setup, opts.seed_messages, &source).await?;
    let method = super::session_method(match read {
        Read::Stats => "GetSessionStats",
        Read::Session => "GetSession",
    })?;
    let clients = connections
        .wire
        .into_iter()
        .map(|client| ReadClient {
            client,
            method: method.clone(),
            read,
            session_id: session_id.clone(),
        })
        .collect();
    let m = runner::drive(clients, opts.common.run.warmup, opts.common.run.duration).await;
    Ok(Report {
        workload: read.name().into(),
        addr: opts.common.connect.addr.clone(),
        clients: opts.common.run.clients,
        duration_s: opts.common.run.duration.as_secs_f64(),
        warmup_s: opts.common.run.warmup.as_secs_f64(),
        messages: format!("{} in {session_id}", source.describe()),
        results: vec![Row::new(read.name(), &m)],
    })
}
