//! `codelab sessions`: move conversations in and out of a running agent-runtime over gRPC.

pub mod export;
pub mod import;
pub mod list;

use codelab_proto::agent::v1::{ListMessagesRequest, Message};
use prost_types::Timestamp;

use crate::client::{AuthChannel, describe};
use codelab_proto::agent::v1::session_service_client::SessionServiceClient;

/// The `sessions` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Import conversations from a file (OpenAI chat, ShareGPT, MT-Bench).
    Import(import::Opts),
    /// Write one session, or all of them, to a file in a conversation format.
    Export(export::Opts),
    /// Show sessions, most recently active first.
    List(list::Opts),
}

/// Runs a `sessions` subcommand.
///
/// # Errors
/// Those of the subcommand: unreadable or invalid files, connection and gRPC errors.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Import(opts) => import::run(opts).await,
        Command::Export(opts) => export::run(opts).await,
        Command::List(opts) => list::run(opts).await,
    }
}

/// Page size used when reading whole sessions (the API's maximum).
pub const READ_PAGE_SIZE: i32 = 1000;

/// Every message of `session_id`, in `seq` order, read a page at a time with `page_token`.
///
/// # Errors
/// The first failed `ListMessages` (e.g. `NOT_FOUND`), or a server that hands back the same
/// page token twice (which would loop forever).
pub async fn all_messages(
    client: &mut SessionServiceClient<AuthChannel>,
    session_id: &str,
) -> anyhow::Result<Vec<Message>> {
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_messages(ListMessagesRequest {
                session_id: session_id.to_owned(),
                page_size: READ_PAGE_SIZE,
                page_token: page_token.clone(),
                ..ListMessagesRequest::default()
            })
            .await
            .map_err(|s| anyhow::anyhow!("listing messages of `{session_id}`: {}", describe(&s)))?
            .into_inner();
        out.extend(page.messages);
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        anyhow::ensure!(
            page.next_page_token != page_token,
            "listing messages of `{session_id}`: the server returned the same page token twice"
        );
        page_token = page.next_page_token;
    }
}

/// A protobuf timestamp as `2025-01-31 12:00:00Z` (UTC, seconds), or `-` when unset.
pub fn format_timestamp(ts: Option<&Timestamp>) -> String {
    ts.and_then(|t| {
        chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
    })
    .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
    .unwrap_or_else(|| "-".to_owned())
}
