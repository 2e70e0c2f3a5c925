//! `codelab bench list`: `ListMessages` by page number on a large session (W2 of the Python
//! benchmark: pages 1 / 2000 / 4000 of a 200k-message session, 50 per page).
//!
//! The session `bench-list-<N>` is seeded first (see [`super::ensure_seeded`]); then each page of
//! `--pages` is a phase of its own (warm-up + duration) with its own row in the report.

use codelab_proto::agent::v1::{ListMessagesRequest, ListMessagesResponse};

use super::report::{Report, Row};
use super::runner::{self, Workload};
use super::wire::{MethodPath, WireClient};
use super::{CommonOpts, MessageOpts, MessageSource};
use crate::client::describe;

/// Options of `bench list`.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Clients, duration, output.
    #[command(flatten)]
    pub common: CommonOpts,
    /// Texts of the seeded messages.
    #[command(flatten)]
    pub messages: MessageOpts,
    /// Messages in the session read (`bench-list-<N>`); seeded when it has fewer.
    #[arg(long, value_name = "N", default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub seed_messages: u64,
    /// Messages per page (1–1000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i32).range(1..=1000))]
    pub page_size: i32,
    /// Page numbers to measure (1-based, comma-separated), one phase each.
    #[arg(long, alias = "page", value_name = "P,…", value_delimiter = ',', default_value = "1,2000,4000",
          value_parser = clap::value_parser!(i32).range(1..))]
    pub pages: Vec<i32>,
}

/// Runs `bench list` and prints the report.
///
/// # Errors
/// See [`measure`].
pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let json = opts.common.run.json;
    measure(opts).await?.print(json)
}

struct ListClient {
    client: WireClient,
    method: MethodPath,
    request: ListMessagesRequest,
}

impl Workload for ListClient {
    async fn call(&mut self) -> Result<(), tonic::Status> {
        self.client
            .unary::<_, ListMessagesResponse>(&self.method, &self.request)
            .await
            .map(|_| ())
    }
}

/// Seeds the session, runs one phase per page and returns the report without printing it.
///
/// # Errors
/// Invalid options, a non-loopback address, an unreachable server, a failed seeding, or a page
/// past the end of the session.
pub async fn measure(opts: Opts) -> anyhow::Result<Report> {
    let source = MessageSource::from_opts(&opts.messages)?;
    let connections = super::connect_clients(&opts.common).await?;
    let session_id = super::ensure_seeded(&connections.setup, opts.seed_messages, &source).await?;
    let method = super::session_method("ListMessages")?;
    let mut wire = Some(connections.wire);
    let mut results = Vec::with_capacity(opts.pages.len());
    for &page in &opts.pages {
        let request = ListMessagesRequest {
            session_id: session_id.clone(),
            page_size: opts.page_size,
            page,
            ..ListMessagesRequest::default()
        };
        // One probe call, so a page past the end is an error rather than a fast empty answer.
        let probe = connections
            .setup
            .sessions()
            .list_messages(request.clone())
            .await
            .map_err(|s| {
                anyhow::anyhow!("reading page {page} of `{session_id}`: {}", describe(&s))
            })?
            .into_inner();
        anyhow::ensure!(
            !probe.messages.is_empty(),
            "page {page} of `{session_id}` is empty: {} messages at {} per page; choose smaller \
             --pages or a larger --seed-messages",
            probe.total_size,
            opts.page_size
        );
        // The first phase uses the run's connections, each later one connects anew (a phase
        // consumes its clients).
        let phase_wire = match wire.take() {
            Some(w) => w,
            None => super::connect_wire(&opts.common.connect, opts.common.run.clients).await?,
        };
        let clients = phase_wire
            .into_iter()
            .map(|client| ListClient {
                client,
                method: method.clone(),
                request: request.clone(),
            })
            .collect();
        let m = runner::drive(clients, opts.common.run.warmup, opts.common.run.duration).await;
        results.push(Row::new(format!("page {page}"), &m));
    }
    Ok(Report {
        workload: "list".into(),
        addr: opts.common.connect.addr.clone(),
        clients: opts.common.run.clients,
        duration_s: opts.common.run.duration.as_secs_f64(),
        warmup_s: opts.common.run.warmup.as_secs_f64(),
        messages: format!(
            "{} in {session_id}, {} per page",
            source.describe(),
            opts.page_size
        ),
        results,
    })
}
