//! `codelab-bench mixed`: what an agent platform does to a session while a conversation runs —
//! each client, on its own session, cycles through 6 appends of one message, 3 reads of the
//! newest 20 messages (`ListMessages`, reverse) and 1 `GetSessionStats` (60 / 30 / 10 %).
//!
//! The report has one row for the mix (every call's latency in one histogram), like a
//! pgbench script. Sessions are named `bench-mixed-<run uuid>-<client>` and hard-deleted after
//! the run unless `--keep-sessions`.

use std::future::Future;

use codelab_proto::agent::v1::{
    AppendMessagesRequest, AppendMessagesResponse, GetSessionStatsRequest, ListMessagesRequest,
    ListMessagesResponse, SessionStats,
};

use crate::MessageSource;
use crate::report::{Report, Row};
use crate::runner::Workload;
use crate::wire::{MethodPath, WireClient};

/// Calls of one cycle: `A` append, `L` list the newest page, `S` stats.
const CYCLE: &[u8; 10] = b"ALASALALAA";

/// Messages read per `ListMessages` call.
const READ_PAGE: i32 = 20;

/// The paths of the three methods of the mix.
#[derive(Debug, Clone)]
struct Methods {
    append: MethodPath,
    list: MethodPath,
    stats: MethodPath,
}

/// Options of `codelab-bench mixed`: those of `codelab-bench append`.
pub type Opts = crate::append::Opts;

struct MixedClient {
    client: WireClient,
    methods: Methods,
    session_id: String,
    source: MessageSource,
    next: u64,
    step: usize,
}

impl Workload for MixedClient {
    fn call(&mut self) -> impl Future<Output = Result<(), tonic::Status>> + Send {
        let session_id = self.session_id.clone();
        // The first call of a client creates its session, whatever the cycle says.
        let kind = if self.next == 0 {
            b'A'
        } else {
            CYCLE[self.step % CYCLE.len()]
        };
        self.step += 1;
        let append = (kind == b'A').then(|| {
            let message = self.source.message(self.next);
            self.next += 1;
            message
        });
        let (client, m) = (&mut self.client, &self.methods);
        async move {
            match (kind, append) {
                (_, Some(message)) => client
                    .unary::<_, AppendMessagesResponse>(
                        &m.append,
                        &AppendMessagesRequest {
                            session_id,
                            messages: vec![message],
                            create_if_missing: true,
                        },
                    )
                    .await
                    .map(|_| ()),
                (b'L', None) => client
                    .unary::<_, ListMessagesResponse>(
                        &m.list,
                        &ListMessagesRequest {
                            session_id,
                            page_size: READ_PAGE,
                            reverse: true,
                            ..ListMessagesRequest::default()
                        },
                    )
                    .await
                    .map(|_| ()),
                _ => client
                    .unary::<_, SessionStats>(&m.stats, &GetSessionStatsRequest { session_id })
                    .await
                    .map(|_| ()),
            }
        }
    }
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
    let methods = Methods {
        append: crate::session_method("AppendMessages")?,
        list: crate::session_method("ListMessages")?,
        stats: crate::session_method("GetSessionStats")?,
    };
    let clients: Vec<MixedClient> = connections
        .wire
        .into_iter()
        .enumerate()
        .map(|(i, client)| MixedClient {
            client,
            methods: methods.clone(),
            session_id: format!("bench-mixed-{run_id}-{i}"),
            source: source.clone(),
            next: 0,
            step: 0,
        })
        .collect();
    let session_ids: Vec<String> = clients.iter().map(|c| c.session_id.clone()).collect();
    let m =
        crate::append::drive_on_own_sessions(&opts, &connections.setup, clients, session_ids).await;
    Ok(Report::new(
        "mixed",
        opts.common.connect.addr.clone(),
        &opts.common.run,
        source.describe(),
        vec![Row::new("mixed 60% append / 30% list / 10% stats", &m)],
    ))
}
