//! `codelab-bench append`: one message per `AppendMessages` call, each client to its own session.
//!
//! This is the durable-write workload (W1a of the Python benchmark): every call is one committed
//! transaction. Sessions are named `bench-append-<run uuid>-<client>` and hard-deleted after the
//! run unless `--keep-sessions`.

use std::future::Future;

use codelab::client::Connection;
use codelab_proto::agent::v1::{AppendMessagesRequest, AppendMessagesResponse};

use crate::report::{Report, Row};
use crate::runner::{self, Measurement, Workload};
use crate::wire::{MethodPath, WireClient};
use crate::{CommonOpts, MessageOpts, MessageSource};

/// Options of `codelab-bench append` (and `codelab-bench mixed`).
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Clients, duration, output.
    #[command(flatten)]
    pub common: CommonOpts,
    /// Message texts.
    #[command(flatten)]
    pub messages: MessageOpts,
    /// Keep the benchmark's sessions instead of deleting them afterwards.
    #[arg(long)]
    pub keep_sessions: bool,
}

struct AppendClient {
    client: WireClient,
    method: MethodPath,
    session_id: String,
    source: MessageSource,
    next: u64,
}

impl Workload for AppendClient {
    fn call(&mut self) -> impl Future<Output = Result<(), tonic::Status>> + Send {
        let request = AppendMessagesRequest {
            session_id: self.session_id.clone(),
            messages: vec![self.source.message(self.next)],
            create_if_missing: true,
        };
        self.next += 1;
        async move {
            self.client
                .unary::<_, AppendMessagesResponse>(&self.method, &request)
                .await
                .map(|_| ())
        }
    }
}

/// Drives `clients`, each writing to its own session of `session_ids`, and then deletes those
/// sessions unless `--keep-sessions`.
pub(crate) async fn drive_on_own_sessions<W: Workload>(
    opts: &Opts,
    setup: &Connection,
    clients: Vec<W>,
    session_ids: Vec<String>,
) -> Measurement {
    let m = runner::drive(clients, opts.common.run.warmup, opts.common.run.duration).await;
    if !opts.keep_sessions {
        crate::delete_sessions(setup, session_ids).await;
    }
    m
}

/// Runs the workload and returns its report without printing it.
///
/// # Errors
/// Invalid options, a non-loopback address, an unreachable server or an unreadable
/// `--messages-from` file. Failed calls are counted in the report.
pub async fn measure(opts: Opts) -> anyhow::Result<Report> {
    let source = MessageSource::from_opts(&opts.messages)?;
    let connections = crate::connect_clients(&opts.common).await?;
    let run_id = uuid::Uuid::now_v7();
    let method = crate::session_method("AppendMessages")?;
    let clients: Vec<AppendClient> = connections
        .wire
        .into_iter()
        .enumerate()
        .map(|(i, client)| AppendClient {
            client,
            method: method.clone(),
            session_id: format!("bench-append-{run_id}-{i}"),
            source: source.clone(),
            next: source.offset(i),
        })
        .collect();
    let session_ids: Vec<String> = clients.iter().map(|c| c.session_id.clone()).collect();
    let m = drive_on_own_sessions(&opts, &connections.setup, clients, session_ids).await;
    Ok(Report::new(
        "append",
        opts.common.connect.addr.clone(),
        &opts.common.run,
        source.describe(),
        vec![Row::new("append", &m)],
    ))
}
