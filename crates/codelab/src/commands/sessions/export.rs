//! `codelab sessions export`: sessions back into a conversation file.
//!
//! The id written for a conversation is the one it was imported with (session metadata
//! `import.source_id`), else the session id. `--all` writes every (not deleted) session the
//! caller can see, oldest `created_at` first, ties broken by session id: an import of a file
//! creates its sessions in file order, so exporting right after reproduces the file's order.
//! Everything is read before anything is written, so a failure leaves no partial file.
//! `--format mt-bench` writes each session's MT-Bench record as it was imported (the session
//! metadata keeps what the messages do not hold); `export --all --format mt-bench` right after
//! importing an MT-Bench file gives the file back byte for byte.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use codelab_proto::agent::v1::{GetSessionRequest, ListSessionsRequest, Session};
use serde_json::Value;

use crate::client::{self, ConnectOpts, Connection, describe};
use crate::formats::{self, ExportFormat, ExportedConversation};

/// Options of `sessions export`.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Session to export.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub session_id: Option<String>,
    /// Export every session, oldest first (by creation time, then session id).
    #[arg(long)]
    pub all: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Openai)]
    pub format: ExportFormat,
    /// Output file (standard output when omitted).
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Server and credentials.
    #[command(flatten)]
    pub connect: ConnectOpts,
}

/// Runs `sessions export`.
///
/// # Errors
/// No server, an unknown session (`NOT_FOUND`), or an output file that cannot be written.
pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let conn = client::connect(&opts.connect).await?;
    let sessions = match &opts.session_id {
        Some(id) => vec![
            conn.sessions()
                .get_session(GetSessionRequest {
                    session_id: id.clone(),
                    include_deleted: false,
                })
                .await
                .map_err(|s| anyhow::anyhow!("reading session `{id}`: {}", describe(&s)))?
                .into_inner(),
        ],
        None => all_sessions(&conn).await?,
    };
    let conversations = read_conversations(&conn, &sessions).await?;
    let mut buf = Vec::new();
    formats::write_export(
        opts.format,
        &conversations,
        opts.session_id.is_some(),
        &mut buf,
    )?;
    match &opts.out {
        // Conversations are users' data: a new file is owner-only (0600), and a symbolic link
        // at `path` is refused rather than written through.
        Some(path) => db_core::owner_only::open_for_write(path, true)
            .and_then(|mut f| f.write_all(&buf))
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&buf)?;
            stdout.flush()?;
        }
    }
    if let Some(path) = &opts.out {
        eprintln!(
            "exported {} conversations to {}",
            conversations.len(),
            path.display()
        );
    }
    Ok(())
}

/// Every session the caller sees (not soft-deleted), oldest `created_at` first, then by id.
///
/// # Errors
/// The first failed `ListSessions`.
pub async fn all_sessions(conn: &Connection) -> anyhow::Result<Vec<Session>> {
    let mut client = conn.sessions();
    let mut sessions = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_sessions(ListSessionsRequest {
                page_size: super::READ_PAGE_SIZE,
                page_token: page_token.clone(),
                ..ListSessionsRequest::default()
            })
            .await
            .map_err(|s| anyhow::anyhow!("listing sessions: {}", describe(&s)))?
            .into_inner();
        sessions.extend(page.sessions);
        if page.next_page_token.is_empty() {
            break;
        }
        anyhow::ensure!(
            page.next_page_token != page_token,
            "listing sessions: the server returned the same page token twice"
        );
        page_token = page.next_page_token;
    }
    sessions.sort_by(|a, b| {
        let key = |s: &Session| s.created_at.map(|t| (t.seconds, t.nanos));
        key(a)
            .cmp(&key(b))
            .then_with(|| a.session_id.cmp(&b.session_id))
    });
    Ok(sessions)
}

/// Reads the messages of each of `sessions`, in order.
///
/// # Errors
/// The first failed `ListMessages`.
pub async fn read_conversations(
    conn: &Connection,
    sessions: &[Session],
) -> anyhow::Result<Vec<ExportedConversation>> {
    let mut client = conn.sessions();
    let mut out = Vec::with_capacity(sessions.len());
    for s in sessions {
        let messages = super::all_messages(&mut client, &s.session_id).await?;
        out.push(ExportedConversation {
            id: export_id(s),
            metadata: match serde_json::from_str::<Value>(&s.metadata_json) {
                Ok(Value::Object(m)) => m,
                _ => serde_json::Map::new(),
            },
            messages,
        });
    }
    Ok(out)
}

/// The id to write for `session`: `import.source_id` of its metadata, else its session id.
pub fn export_id(session: &Session) -> String {
    serde_json::from_str::<Value>(&session.metadata_json)
        .ok()
        .and_then(|m| {
            m.pointer("/import/source_id")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| session.session_id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_id_prefers_the_imported_id() {
        let mut s = Session {
            session_id: "p-a_b".into(),
            ..Session::default()
        };
        assert_eq!(export_id(&s), "p-a_b");
        s.metadata_json = r#"{"import":{"format":"sharegpt","source_id":"a/b"}}"#.into();
        assert_eq!(export_id(&s), "a/b");
        s.metadata_json = "not json".into();
        assert_eq!(export_id(&s), "p-a_b");
    }
}
