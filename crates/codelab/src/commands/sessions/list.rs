//! `codelab sessions list`: a table of sessions, most recently active first (server order).

use codelab_proto::agent::v1::{ListSessionsRequest, Session};

use crate::client::{self, ConnectOpts, describe};
use crate::output;

/// Options of `sessions list`.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Sessions per page (1–1000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i32).range(1..=1000))]
    pub page_size: i32,
    /// Continue from this page (printed under a full page).
    #[arg(long, default_value = "")]
    pub page_token: String,
    /// Include soft-deleted sessions.
    #[arg(long)]
    pub include_deleted: bool,
    /// Server and credentials.
    #[command(flatten)]
    pub connect: ConnectOpts,
}

/// Runs `sessions list`: one page as a table on stdout.
///
/// # Errors
/// No server, or a failed `ListSessions` (e.g. an invalid page token).
pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let conn = client::connect(&opts.connect).await?;
    let page = conn
        .sessions()
        .list_sessions(ListSessionsRequest {
            page_size: opts.page_size,
            page_token: opts.page_token,
            include_deleted: opts.include_deleted,
            active_only: false,
        })
        .await
        .map_err(|s| anyhow::anyhow!("listing sessions: {}", describe(&s)))?
        .into_inner();
    let mut text = table(&page.sessions);
    text.push_str(&format!(
        "{} of {} sessions\n",
        page.sessions.len(),
        page.total_size
    ));
    if !page.next_page_token.is_empty() {
        text.push_str(&format!(
            "next page: --page-token {}\n",
            page.next_page_token
        ));
    }
    output::print(&text)?;
    Ok(())
}

/// Longest title shown, in characters.
const TITLE_WIDTH: usize = 48;

/// Sessions as an aligned text table: ID, TITLE, MESSAGES, LAST ACTIVITY.
pub fn table(sessions: &[Session]) -> String {
    let rows: Vec<[String; 4]> = sessions
        .iter()
        .map(|s| {
            let mut title: String = s.title.split_whitespace().collect::<Vec<_>>().join(" ");
            if title.chars().count() > TITLE_WIDTH {
                title = title.chars().take(TITLE_WIDTH - 1).collect::<String>() + "…";
            }
            if s.deleted_at.is_some() {
                title = format!("(deleted) {title}");
            }
            [
                s.session_id.clone(),
                title,
                s.message_count.to_string(),
                super::format_timestamp(s.last_activity.as_ref()),
            ]
        })
        .collect();
    let header = ["ID", "TITLE", "MESSAGES", "LAST ACTIVITY"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                // Numbers right-aligned, text left-aligned.
                if i == 2 {
                    format!("{cell:>w$}")
                } else {
                    format!("{cell:<w$}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_and_shortens_titles() {
        let sessions = vec![
            Session {
                session_id: "a".into(),
                title: "Who\nare you?".into(),
                message_count: 4,
                last_activity: Some(prost_types::Timestamp {
                    seconds: 0,
                    nanos: 0,
                }),
                ..Session::default()
            },
            Session {
                session_id: "bbbb".into(),
                title: "x".repeat(60),
                ..Session::default()
            },
        ];
        let t = table(&sessions);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            format!(
                "ID    TITLE{}MESSAGES  LAST ACTIVITY",
                " ".repeat(TITLE_WIDTH - 5 + 2)
            )
        );
        assert!(lines[1].starts_with("a     Who are you?"), "{t}");
        assert!(lines[1].ends_with("4  1970-01-01 00:00:00Z"), "{t}");
        assert!(lines[2].contains('…') && lines[2].ends_with("0  -"), "{t}");
    }
}
