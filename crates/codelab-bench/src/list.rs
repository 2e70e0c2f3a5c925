//! `codelab-bench list`: `ListMessages` by page number on a large session (W2 of the Python
//! benchmark: pages 1 / 2000 / 4000 of a 200k-message session, 50 per page).
//!
//! The session `bench-list-<N>` is seeded first (see [`crate::ensure_seeded`]); then each page of
//! `--pages` is a phase of its own (warm-up + duration) with its own row in the report.

use codelab_proto::agent::v1::{ListMessagesRequest, ListMessagesResponse};

use crate::report::{Report, Row};
use crate::runner::{self, Workload};
use crate::wire::{MethodPath, WireClient};
use crate::{MessageSource, SeededOpts};
use codelab::client::describe;

/// Options of `codelab-bench list`.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Clients, duration, output, message texts and the seeded session.
    #[command(flatten)]
    pub seeded: SeededOpts,
    /// Messages per page (1–1000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i32).range(1..=1000))]
    pub page_size: i32,
    /// Page numbers to measure (1-based, comma-separated), one phase each.
    #[arg(long, alias = "page", value_name = "P,…", value_delimiter = ',', default_value = "1,2000,4000",
          value_parser = clap::value_parser!(i32).range(1..))]
    pub pages: Vec<i32>,
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
    let source = MessageSource::from_opts(&opts.seeded.messages)?;
    let connections = crate::connect_clients(&opts.seeded.common).await?;
    let session_id =
        crate::ensure_seeded(&connections.setup, opts.seeded.seed_messages, &source).await?;
    let method = crate::session_method("ListMessages")?;
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
            None => {
                crate::connect_wire(&opts.seeded.common.connect, opts.seeded.common.run.clients)
                    .await?
            }
        };
        let clients = phase_wire
            .into_iter()
            .map(|client| ListClient {
                client,
                method: method.clone(),
                request: request.clone(),
            })
            .collect();
        let m = runner::drive(
            clients,
            opts.seeded.common.run.warmup,
            opts.seeded.common.run.duration,
        )
        .await;
        results.push(Row::new(format!("page {page}"), &m));
    }
    Ok(Report::new(
        "list",
        opts.seeded.common.connect.addr.clone(),
        &opts.seeded.common.run,
        format!(
            "{} in {session_id}, {} per page",
            source.describe(),
            opts.page_size
        ),
        results,
    ))
}
