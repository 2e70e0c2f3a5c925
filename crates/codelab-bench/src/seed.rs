//! Seeding the large session the read workloads measure.

use std::time::Duration;

use codelab::client::{Connection, describe};
use codelab_proto::agent::v1::{AppendMessagesRequest, GetSessionStatsRequest, Message};
use tonic::Code;

use crate::MessageSource;

/// Messages appended per call while seeding.
pub(crate) const SEED_BATCH: u64 = 1000;

/// The session `list` and `stats` read: `bench-list-<n>`, filled to at least `n` messages.
///
/// Already-present messages are kept (a second run seeds nothing); missing ones are appended in
/// batches of [`SEED_BATCH`]. Progress goes to stderr.
///
/// # Errors
/// A failed `GetSessionStats` (other than `NOT_FOUND`) or `AppendMessages`.
pub async fn ensure_seeded(
    conn: &Connection,
    n: u64,
    source: &MessageSource,
) -> anyhow::Result<String> {
    let session_id = format!("bench-list-{n}");
    let mut client = conn.sessions();
    let have = match client
        .get_session_stats(GetSessionStatsRequest {
            session_id: session_id.clone(),
        })
        .await
    {
        Ok(stats) => u64::try_from(stats.into_inner().message_count).unwrap_or(0),
        Err(s) if s.code() == Code::NotFound => 0,
        Err(s) => anyhow::bail!("reading stats of `{session_id}`: {}", describe(&s)),
    };
    if have >= n {
        return Ok(session_id);
    }
    eprintln!("seeding {session_id}: {have} → {n} messages");
    let mut next = have;
    let started = std::time::Instant::now();
    let mut last_report = started;
    while next < n {
        let count = SEED_BATCH.min(n - next);
        let messages: Vec<Message> = (next..next + count).map(|i| source.message(i)).collect();
        for batch in codelab::commands::sessions::import::batches(&messages) {
            client
                .append_messages(AppendMessagesRequest {
                    session_id: session_id.clone(),
                    messages: batch.to_vec(),
                    create_if_missing: true,
                })
                .await
                .map_err(|s| anyhow::anyhow!("seeding `{session_id}`: {}", describe(&s)))?;
        }
        next += count;
        if last_report.elapsed() >= Duration::from_secs(5) {
            last_report = std::time::Instant::now();
            eprintln!(
                "  {next} / {n} messages ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    eprintln!(
        "seeded {session_id} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(session_id)
}
