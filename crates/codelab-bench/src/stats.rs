//! `codelab-bench stats` and `codelab-bench session`: one-row reads of a seeded session —
//! `GetSessionStats` (W3 of the Python benchmark, where the original scanned every message) and
//! `GetSession`. Run beside another workload, `codelab-bench session` measures how long a cheap read
//! waits behind it.

use codelab_proto::agent::v1::{GetSessionRequest, GetSessionStatsRequest, Session, SessionStats};

use crate::MessageSource;
use crate::report::{Report, Row};
use crate::runner::{self, Workload};
use crate::wire::{MethodPath, WireClient};

/// Options of `codelab-bench stats` and `codelab-bench session`.
pub type Opts = crate::SeededOpts;

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
    let connections = crate::connect_clients(&opts.common).await?;
    let session_id = crate::ensure_seeded(&connections.setup, opts.seed_messages, &source).await?;
    let method = crate::session_method(match read {
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
    Ok(Report::new(
        read.name(),
        opts.common.connect.addr.clone(),
        &opts.common.run,
        format!("{} in {session_id}", source.describe()),
        vec![Row::new(read.name(), &m)],
    ))
}
