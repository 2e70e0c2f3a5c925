//! `codelab sessions import FILE`: conversations from a file into agent-runtime sessions.
//!
//! The whole file is parsed and checked first, so a bad file imports nothing. Then each
//! conversation, in file order, becomes one session: `CreateSession` (session id and metadata,
//! see [`crate::formats`]) and `AppendMessages` — one call when the conversation has at most
//! [`MAX_BATCH_MESSAGES`] messages and fits in [`MAX_BATCH_BYTES`], so it is stored in one
//! transaction. When a longer conversation fails half way, its session is hard-deleted again:
//! no conversation is left half-imported.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use codelab_proto::agent::v1::{
    AppendMessagesRequest, CreateSessionRequest, DeleteSessionRequest, GetSessionStatsRequest,
    Message,
};
use prost::Message as _;
use serde_json::Value;
use tonic::Code;

use crate::client::{self, ConnectOpts, Connection, describe};
use crate::formats::{self, Conversation, ImportFormat};
use crate::output;

/// Most messages sent in one `AppendMessages` call.
pub const MAX_BATCH_MESSAGES: usize = 500;

/// Most encoded bytes sent in one `AppendMessages` call, below the 4 MiB a gRPC server accepts
/// by default.
pub const MAX_BATCH_BYTES: usize = 3 * 1024 * 1024;

/// What to do with a conversation whose session already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IfExists {
    /// Stop with an error (conversations before it stay imported).
    Fail,
    /// Leave the existing session alone and go on (for re-running an interrupted import).
    Skip,
}

/// Options of `sessions import`.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Conversation file (.json or .jsonl).
    pub file: PathBuf,
    /// Format of the file.
    #[arg(long, value_enum, default_value_t = ImportFormat::Auto)]
    pub format: ImportFormat,
    /// Put this in front of every session id (characters of [A-Za-z0-9._:-]).
    #[arg(long, value_name = "PREFIX")]
    pub session_prefix: Option<String>,
    /// What to do when a session already exists.
    #[arg(long, value_enum, default_value_t = IfExists::Fail)]
    pub if_exists: IfExists,
    /// Only check the file and print what would be imported; no connection is made.
    #[arg(long)]
    pub dry_run: bool,
    /// Server and credentials.
    #[command(flatten)]
    pub connect: ConnectOpts,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Conversations imported (each is one new session).
    pub conversations: usize,
    /// Conversations skipped because their session existed (`--if-exists skip`).
    pub skipped: usize,
    /// Messages stored.
    pub messages: u64,
    /// Tokens of those messages, as counted by the server.
    pub tokens: i64,
    /// Wall time of the import (not of parsing).
    pub elapsed: Duration,
}

/// Runs `sessions import`: parses the file, imports it and prints a summary on stdout.
///
/// # Errors
/// An unreadable or invalid file (naming the line/index and field), no server, or the first
/// conversation that could not be imported.
pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let file = opts.file.display().to_string();
    let text =
        std::fs::read_to_string(&opts.file).with_context(|| format!("cannot read {file}"))?;
    let parsed = formats::parse(&text, &file, opts.format, opts.session_prefix.as_deref())
        .with_context(|| format!("{file} cannot be imported"))?;
    let message_count: usize = parsed.conversations.iter().map(|c| c.messages.len()).sum();
    if opts.dry_run {
        output::println(&format!(
            "{file}: format {}, {} conversations, {message_count} messages; nothing imported \
             (--dry-run)",
            parsed.format,
            parsed.conversations.len()
        ))?;
        return Ok(());
    }
    let conn = client::connect(&opts.connect).await?;
    let summary = import(&conn, &parsed.conversations, opts.if_exists).await?;
    let skipped = if summary.skipped > 0 {
        format!(", {} skipped (session existed)", summary.skipped)
    } else {
        String::new()
    };
    output::println(&format!(
        "imported {} conversations ({} messages, {} tokens) from {file} (format {}) in {:.2} s{skipped}",
        summary.conversations,
        summary.messages,
        summary.tokens,
        parsed.format,
        summary.elapsed.as_secs_f64(),
    ))?;
    Ok(())
}

/// Imports `conversations` in order, one session each.
///
/// # Errors
/// The first conversation that fails, naming its place in the file and its session; the
/// conversations before it stay imported, the failing one is removed.
pub async fn import(
    conn: &Connection,
    conversations: &[Conversation],
    if_exists: IfExists,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let mut summary = Summary::default();
    let show_progress = std::io::stderr().is_terminal() && conversations.len() >= 100;
    for (i, conversation) in conversations.iter().enumerate() {
        if import_one(conn, conversation, if_exists, &mut summary).await? {
            summary.conversations += 1;
        } else {
            summary.skipped += 1;
        }
        if show_progress && (i + 1).is_multiple_of(50) {
            eprint!("\r{} / {} conversations", i + 1, conversations.len());
        }
    }
    if show_progress {
        eprintln!();
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Imports one conversation; `Ok(false)` when it was skipped.
async fn import_one(
    conn: &Connection,
    c: &Conversation,
    if_exists: IfExists,
    summary: &mut Summary,
) -> anyhow::Result<bool> {
    let mut client = conn.sessions();
    let id = &c.session_id;
    let created = client
        .create_session(CreateSessionRequest {
            session_id: id.clone(),
            metadata_json: Value::Object(c.metadata.clone()).to_string(),
            ..CreateSessionRequest::default()
        })
        .await;
    match created {
        Ok(_) => {}
        Err(s) if s.code() == Code::AlreadyExists && if_exists == IfExists::Skip => {
            return Ok(false);
        }
        Err(s) if s.code() == Code::AlreadyExists => anyhow::bail!(
            "{}: session `{id}` already exists; delete it, choose another --session-prefix, or \
             pass --if-exists skip",
            c.location
        ),
        Err(s) => anyhow::bail!("{}: creating session `{id}`: {}", c.location, describe(&s)),
    }
    for batch in batches(&c.messages) {
        let appended = client
            .append_messages(AppendMessagesRequest {
                session_id: id.clone(),
                messages: batch.to_vec(),
                create_if_missing: false,
            })
            .await;
        if let Err(s) = appended {
            // Leave nothing half-imported: the session was created above, by us.
            let removed = client
                .delete_session(DeleteSessionRequest {
                    session_id: id.clone(),
                    hard: true,
                })
                .await;
            let cleanup = match removed {
                Ok(_) => "the session was removed again".to_owned(),
                Err(e) => format!("removing the partial session failed too: {}", describe(&e)),
            };
            anyhow::bail!(
                "{}: appending messages to `{id}`: {} ({cleanup})",
                c.location,
                describe(&s)
            );
        }
    }
    summary.messages += c.messages.len() as u64;
    if !c.messages.is_empty() {
        let stats = client
            .get_session_stats(GetSessionStatsRequest {
                session_id: id.clone(),
            })
            .await
            .map_err(|s| {
                anyhow::anyhow!("{}: reading stats of `{id}`: {}", c.location, describe(&s))
            })?
            .into_inner();
        summary.tokens += stats.total_tokens;
    }
    Ok(true)
}

/// Splits `messages` into runs of at most [`MAX_BATCH_MESSAGES`] messages and (unless a single
/// message is larger) [`MAX_BATCH_BYTES`] encoded bytes.
pub fn batches(messages: &[Message]) -> Vec<&[Message]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, m) in messages.iter().enumerate() {
        // Field tag + length prefix of the repeated field: at most 6 bytes more than the body.
        let size = m.encoded_len() + 6;
        if i > start && (i - start == MAX_BATCH_MESSAGES || bytes + size > MAX_BATCH_BYTES) {
            out.push(&messages[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < messages.len() {
        out.push(&messages[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(len: usize) -> Message {
        Message {
            role: 1,
            content: Some("x".repeat(len)),
            ..Message::default()
        }
    }

    #[test]
    fn small_conversation_is_one_batch() {
        let m: Vec<_> = (0..500).map(|_| msg(10)).collect();
        assert_eq!(batches(&m).len(), 1);
        assert!(batches(&[]).is_empty());
    }

    #[test]
    fn batches_split_by_count_and_size() {
        let m: Vec<_> = (0..1001).map(|_| msg(10)).collect();
        let b = batches(&m);
        assert_eq!(
            b.iter().map(|b| b.len()).collect::<Vec<_>>(),
            vec![500, 500, 1]
        );
        let big: Vec<_> = (0..4).map(|_| msg(1024 * 1024)).collect();
        let b = batches(&big);
        assert_eq!(b.iter().map(|b| b.len()).collect::<Vec<_>>(), vec![2, 2]);
        let huge = vec![msg(5 * 1024 * 1024)];
        assert_eq!(batches(&huge).len(), 1);
    }
}
