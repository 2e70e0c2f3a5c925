//! `codelab bench`: a pgbench-like load client against a running agent-runtime.
//!
//! Each of `--clients` clients has its own connection and sends one request at a time, as fast as
//! the server answers (all of them on `--threads` threads, one by default, through
//! [`wire::WireClient`]), for `--warmup` seconds (not measured) and then `--duration` seconds.
//! Latencies of successful calls go into an HdrHistogram (microsecond resolution, reported in
//! milliseconds); failed calls are counted by gRPC code. The run always stops by itself, and only
//! loopback addresses are accepted: this is a tool for measuring a server on this machine.
//!
//! | workload | what each call is |
//! |---|---|
//! | `append` | `AppendMessages` of one message to the client's own session (durable write) |
//! | `list` | `ListMessages(page_size, page = P)` on a seeded session, for each `P` of `--pages` |
//! | `stats` | `GetSessionStats` of the seeded session |
//! | `session` | `GetSession` of the seeded session (one row): beside another load, how long a cheap read waits |
//! | `mixed` | per client on its own session, a cycle of 6 appends, 3 reads of the newest 20 messages, 1 stats |
//! | `login` | `AuthService.Token` (password grant) against auth-service, as one user |

pub mod append;
pub mod list;
pub mod login;
pub mod mixed;
pub mod report;
pub mod runner;
pub mod stats;
pub mod wire;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use codelab_proto::agent::v1::{AppendMessagesRequest, GetSessionStatsRequest, Message, Role};
use tonic::Code;

use crate::client::{self, ConnectOpts, Connection, describe};
use wire::{MethodPath, WireClient};

/// The `bench` workloads.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Append one message per call, each client to its own session.
    Append(append::Opts),
    /// Read pages of a large seeded session (`ListMessages` with a page number).
    List(list::Opts),
    /// Read the counters of the large seeded session (`GetSessionStats`).
    Stats(stats::Opts),
    /// Read the seeded session's row (`GetSession`); with `--seed-messages 1` beside another
    /// workload, a probe of how long a cheap read waits behind it.
    Session(stats::Opts),
    /// A running conversation: 60 % appends, 30 % reads of the newest page, 10 % stats.
    Mixed(mixed::Opts),
    /// Log in with the password grant against auth-service, as fast as it answers.
    Login(login::Opts),
}

/// Runs a `bench` workload and prints its report.
///
/// # Errors
/// Invalid options, a non-loopback address, or a server that cannot be reached or seeded.
/// Errors of individual calls during the run are counted, not returned.
///
/// The workload runs on a runtime of its own with `--threads` worker threads (the current
/// thread when 1), so that the load generator takes no more of the machine than it is given.
pub async fn run(command: Command) -> anyhow::Result<()> {
    let threads = command.run_opts().threads;
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("bench".into())
        .spawn(move || {
            let _ = done.send(runtime(threads).and_then(|rt| rt.block_on(run_here(command))));
        })
        .context("starting the load generator's thread")?;
    result
        .await
        .context("the load generator's thread ended without a result")?
}

/// The load generator's runtime: the current thread when `threads` is 1, else `threads` workers.
fn runtime(threads: u32) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads as usize);
        b
    };
    builder
        .enable_all()
        .thread_name("bench-worker")
        .build()
        .context("building the load generator's runtime")
}

/// Runs `command` on the current runtime.
async fn run_here(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Append(opts) => append::run(opts).await,
        Command::List(opts) => list::run(opts).await,
        Command::Stats(opts) => stats::run(opts, stats::Read::Stats).await,
        Command::Session(opts) => stats::run(opts, stats::Read::Session).await,
        Command::Mixed(opts) => mixed::run(opts).await,
        Command::Login(opts) => login::run(opts).await,
    }
}

impl Command {
    /// How the workload is driven.
    pub fn run_opts(&self) -> &RunOpts {
        match self {
            Command::Append(o) | Command::Mixed(o) => &o.common.run,
            Command::List(o) => &o.common.run,
            Command::Stats(o) | Command::Session(o) => &o.common.run,
            Command::Login(o) => &o.run,
        }
    }
}

/// Most clients of one run.
pub const MAX_CLIENTS: u32 = 256;
/// Longest measured duration of one run.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Longest warm-up.
pub const MAX_WARMUP: Duration = Duration::from_secs(600);

/// Options every agent-runtime workload has.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonOpts {
    /// Server and credentials (the address must be a loopback one).
    #[command(flatten)]
    pub connect: ConnectOpts,
    /// Clients, duration, output.
    #[command(flatten)]
    pub run: RunOpts,
}

/// How a run is driven and reported, whatever the server.
#[derive(Debug, Clone, clap::Args)]
pub struct RunOpts {
    /// Concurrent clients, each with its own connection and one request in flight.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=MAX_CLIENTS as i64))]
    pub clients: u32,
    /// Measured time, in seconds (fractions allowed; at most 3600).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_duration)]
    pub duration: Duration,
    /// Time before measuring starts, in seconds (at most 600).
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_warmup)]
    pub warmup: Duration,
    /// Threads the load generator runs its clients on (like pgbench's `--jobs`). One thread
    /// drives tens of thousands of calls per second; more leave less of the machine to the
    /// server under test.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub threads: u32,
    /// Print the report as one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Where message texts come from.
#[derive(Debug, Clone, clap::Args)]
pub struct MessageOpts {
    /// Size of each synthetic message, in bytes (English-like words).
    #[arg(long, value_name = "BYTES", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub message_size: u32,
    /// Use the texts of a conversation file (ShareGPT, OpenAI, MT-Bench), cycled, instead of
    /// synthetic messages.
    #[arg(long, value_name = "FILE", conflicts_with = "message_size")]
    pub messages_from: Option<PathBuf>,
    /// `token_count` sent with every message, as a client that counts its own tokens does (the
    /// original implementation's benchmark sends one with each message). 0 leaves the counting
    /// to the server (cl100k_base), which then costs server CPU on every append.
    #[arg(long, value_name = "TOKENS", default_value_t = 0, value_parser = clap::value_parser!(i32).range(0..))]
    pub token_count: i32,
}

fn parse_seconds(s: &str, max: Duration, zero_ok: bool) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !secs.is_finite() || secs < 0.0 || (!zero_ok && secs == 0.0) {
        return Err(format!(
            "`{s}` must be a {}number of seconds",
            if zero_ok { "" } else { "positive " }
        ));
    }
    let d = Duration::from_secs_f64(secs);
    if d > max {
        return Err(format!("at most {} seconds", max.as_secs()));
    }
    Ok(d)
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    parse_seconds(s, MAX_DURATION, false)
}

fn parse_warmup(s: &str) -> Result<Duration, String> {
    parse_seconds(s, MAX_WARMUP, true)
}

/// Refuses any address that is not loopback (127.0.0.0/8, ::1, or a name resolving only to
/// those).
///
/// # Errors
/// When the address is invalid, does not resolve, or is not loopback.
pub async fn ensure_loopback(addr: &str) -> anyhow::Result<()> {
    let endpoint = client::endpoint(addr)?;
    let uri = endpoint.uri();
    let host = uri.host().context("the address has no host")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = if let Ok(ip) = host.parse::<IpAddr>() {
        ip.is_loopback()
    } else {
        let port = uri.port_u16().unwrap_or(80);
        let addrs: Vec<_> = tokio::net::lookup_host((host, port))
            .await
            .with_context(|| format!("cannot resolve `{host}`"))?
            .collect();
        !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
    };
    anyhow::ensure!(
        loopback,
        "bench only targets this machine: `{addr}` is not a loopback address (use 127.0.0.1, \
         [::1] or localhost)"
    );
    Ok(())
}

/// Hard-deletes the benchmark's sessions `ids` (a client whose every call failed never created
/// its session: not found is fine); failures are logged, not returned.
pub async fn delete_sessions(conn: &Connection, ids: Vec<String>) {
    let mut client = conn.sessions();
    for id in ids {
        let deleted = client
            .delete_session(codelab_proto::agent::v1::DeleteSessionRequest {
                session_id: id.clone(),
                hard: true,
            })
            .await;
        match deleted {
            Ok(_) => {}
            Err(s) if s.code() == tonic::Code::NotFound => {}
            Err(s) => {
                tracing::warn!(session_id = %id, error = %describe(&s), "could not delete bench session")
            }
        }
    }
}

/// The connections of a run against agent-runtime.
#[derive(Debug)]
pub struct Clients {
    /// A tonic connection for seeding and cleaning up, outside the measured calls.
    pub setup: Connection,
    /// One connection per client, for the measured calls.
    pub wire: Vec<WireClient>,
}

/// The path of a `SessionService` method.
///
/// # Errors
/// See [`MethodPath::new`].
pub fn session_method(method: &str) -> anyhow::Result<MethodPath> {
    MethodPath::new(
        codelab_proto::agent::v1::session_service_server::SERVICE_NAME,
        method,
    )
}

/// One [`WireClient`] per client, and the set-up connection.
///
/// # Errors
/// A non-loopback address, or the first connection that fails.
pub async fn connect_clients(opts: &CommonOpts) -> anyhow::Result<Clients> {
    ensure_loopback(&opts.connect.addr).await?;
    let setup = client::connect(&opts.connect).await?;
    let wire = connect_wire(&opts.connect, opts.run.clients).await?;
    Ok(Clients { setup, wire })
}

/// `n` [`WireClient`]s to `opts.addr` (which the caller has checked is loopback).
///
/// # Errors
/// The first connection that fails.
pub async fn connect_wire(opts: &ConnectOpts, n: u32) -> anyhow::Result<Vec<WireClient>> {
    let mut wire = Vec::with_capacity(n as usize);
    for _ in 0..n {
        wire.push(WireClient::connect(&opts.addr, opts.token.as_deref()).await?);
    }
    Ok(wire)
}

/// The messages a workload sends: their texts and roles, and the token count they carry.
#[derive(Debug, Clone)]
pub struct MessageSource {
    /// Where texts and roles come from.
    pub texts: Texts,
    /// `token_count` of every message; 0 = counted by the server.
    pub token_count: i32,
}

/// Texts for the messages a workload sends, and the roles they alternate between.
#[derive(Debug, Clone)]
pub enum Texts {
    /// Words filling exactly this many bytes.
    Synthetic(String),
    /// Texts and roles of a real conversation file, cycled.
    Corpus(Arc<Vec<(Role, String)>>),
}

const WORDS: &[&str] = &[
    "the",
    "agent",
    "reads",
    "a",
    "file",
    "and",
    "writes",
    "tests",
    "for",
    "each",
    "function",
    "before",
    "it",
    "changes",
    "any",
    "code",
    "in",
    "this",
    "repository",
    "because",
    "small",
    "steps",
    "are",
    "easier",
    "to",
    "review",
    "than",
    "large",
    "ones",
];

impl MessageSource {
    /// The source chosen by `opts`.
    ///
    /// # Errors
    /// An unreadable or invalid `--messages-from` file, or one without any text.
    pub fn from_opts(opts: &MessageOpts) -> anyhow::Result<MessageSource> {
        let texts = match &opts.messages_from {
            None => MessageSource::synthetic(opts.message_size as usize).texts,
            Some(path) => Texts::Corpus(Arc::new(read_corpus(path)?)),
        };
        Ok(MessageSource {
            texts,
            token_count: opts.token_count,
        })
    }

    /// English-like text of exactly `size` bytes, token counts left to the server.
    pub fn synthetic(size: usize) -> MessageSource {
        let mut text = String::with_capacity(size + 16);
        let mut i = 0;
        while text.len() < size {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(WORDS[i % WORDS.len()]);
            i += 1;
        }
        text.truncate(size);
        MessageSource {
            texts: Texts::Synthetic(text),
            token_count: 0,
        }
    }

    /// Message number `n` (roles alternate user / assistant for synthetic text).
    pub fn message(&self, n: u64) -> Message {
        let (role, content) = match &self.texts {
            Texts::Synthetic(text) => (
                if n.is_multiple_of(2) {
                    Role::User
                } else {
                    Role::Assistant
                },
                text.clone(),
            ),
            Texts::Corpus(corpus) => {
                let (role, text) = &corpus[(n % corpus.len() as u64) as usize];
                (*role, text.clone())
            }
        };
        Message {
            role: role as i32,
            content: Some(content),
            token_count: self.token_count,
            ..Message::default()
        }
    }

    /// Where a message of number `n` for client `client` starts, so clients send different texts.
    pub fn offset(&self, client: usize) -> u64 {
        match &self.texts {
            Texts::Synthetic(_) => 0,
            Texts::Corpus(c) => (client as u64 * 7919) % c.len() as u64,
        }
    }

    /// A short description for reports: `synthetic 256 B` or `corpus of 2000 messages`, with
    /// `, 120 tokens each` when the client sends token counts.
    pub fn describe(&self) -> String {
        let texts = match &self.texts {
            Texts::Synthetic(t) => format!("synthetic {} B", t.len()),
            Texts::Corpus(c) => format!("corpus of {} messages", c.len()),
        };
        match self.token_count {
            0 => texts,
            n => format!("{texts}, {n} tokens each"),
        }
    }
}

/// The user and assistant texts of conversation file `path`, in order.
///
/// # Errors
/// An unreadable or invalid file, or one without any user or assistant text.
fn read_corpus(path: &std::path::Path) -> anyhow::Result<Vec<(Role, String)>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {name}"))?;
    let parsed = crate::formats::parse(&text, &name, crate::formats::ImportFormat::Auto, None)
        .with_context(|| format!("{name} is not a conversation file"))?;
    let corpus: Vec<(Role, String)> = parsed
        .conversations
        .into_iter()
        .flat_map(|c| c.messages)
        .filter_map(|m| {
            let role = match Role::try_from(m.role) {
                Ok(Role::User) => Role::User,
                Ok(Role::Assistant) => Role::Assistant,
                // Tool and system messages need context a bench message does not have.
                _ => return None,
            };
            m.content.filter(|c| !c.is_empty()).map(|c| (role, c))
        })
        .collect();
    anyhow::ensure!(!corpus.is_empty(), "{name} has no user or assistant text");
    Ok(corpus)
}

/// Messages appended per call while seeding.
pub const SEED_BATCH: u64 = 1000;

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
        for batch in crate::sessions::import::batches(&messages) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_messages_have_the_exact_size() {
        for size in [1, 7, 256, 1000] {
            let Texts::Synthetic(t) = MessageSource::synthetic(size).texts else {
                unreachable!()
            };
            assert_eq!(t.len(), size);
        }
        let s = MessageSource::synthetic(16);
        assert_eq!(s.message(0).role, Role::User as i32);
        assert_eq!(s.message(1).role, Role::Assistant as i32);
    }

    #[test]
    fn token_count_is_sent_only_when_given() {
        let opts = MessageOpts {
            message_size: 16,
            messages_from: None,
            token_count: 120,
        };
        let s = MessageSource::from_opts(&opts).unwrap();
        assert_eq!(s.message(3).token_count, 120);
        assert_eq!(s.describe(), "synthetic 16 B, 120 tokens each");
        let server_counts = MessageSource::synthetic(16);
        assert_eq!(server_counts.message(0).token_count, 0);
        assert_eq!(server_counts.describe(), "synthetic 16 B");
    }

    #[test]
    fn seconds_parse_with_bounds() {
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("3601").is_err());
        assert!(parse_duration("abc").is_err());
        assert_eq!(parse_warmup("0").unwrap(), Duration::ZERO);
    }

    #[tokio::test]
    async fn only_loopback_is_accepted() {
        for ok in [
            "http://127.0.0.1:50051",
            "127.0.0.2:1",
            "http://[::1]:50051",
            "http://localhost:1",
        ] {
            ensure_loopback(ok)
                .await
                .unwrap_or_else(|e| panic!("{ok}: {e:#}"));
        }
        for bad in [
            "http://10.0.0.1:50051",
            "http://192.168.1.2:1",
            "http://8.8.8.8:443",
        ] {
            assert!(ensure_loopback(bad).await.is_err(), "{bad}");
        }
    }
}
