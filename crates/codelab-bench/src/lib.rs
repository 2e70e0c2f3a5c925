//! `codelab-bench`: a pgbench-like load client against a running agent-runtime or auth-service
//! (loopback only).
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
pub mod connect;
pub mod list;
pub mod login;
pub mod messages;
pub mod mixed;
pub mod opts;
pub mod report;
pub mod runner;
pub mod seed;
pub mod stats;
pub mod wire;

use anyhow::Context as _;

pub use connect::{
    Clients, connect_clients, connect_wire, delete_sessions, ensure_loopback, session_method,
};
pub use messages::{MessageSource, Texts};
pub use opts::{CommonOpts, MessageOpts, RunOpts, SeededOpts};
pub use seed::ensure_seeded;

use report::Report;

/// Command line of the `codelab-bench` binary.
#[derive(Debug, clap::Parser)]
#[command(
    name = "codelab-bench",
    version,
    about = "Load-test a running agent-runtime or auth-service (loopback only)",
    long_about = None
)]
pub struct Cli {
    /// The workload to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The workloads.
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

/// Runs a workload and prints its report.
///
/// # Errors
/// Invalid options, a non-loopback address, or a server that cannot be reached or seeded.
/// Errors of individual calls during the run are counted, not returned.
///
/// The workload runs on the only runtime of the process, with `--threads` worker threads (the
/// current thread when 1), so that the load generator takes no more of the machine than it is
/// given.
pub fn run(command: Command) -> anyhow::Result<()> {
    runtime(command.run_opts().threads)?.block_on(run_here(command))
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

/// Runs `command` on the current runtime and prints its report (`--json`: one JSON object).
async fn run_here(command: Command) -> anyhow::Result<()> {
    let json = command.run_opts().json;
    measure(command).await?.print(json)
}

/// Runs `command` on the current runtime and returns its report without printing it.
///
/// # Errors
/// See [`run`].
pub async fn measure(command: Command) -> anyhow::Result<Report> {
    match command {
        Command::Append(opts) => append::measure(opts).await,
        Command::List(opts) => list::measure(opts).await,
        Command::Stats(opts) => stats::measure(opts, stats::Read::Stats).await,
        Command::Session(opts) => stats::measure(opts, stats::Read::Session).await,
        Command::Mixed(opts) => mixed::measure(opts).await,
        Command::Login(opts) => login::measure(opts).await,
    }
}

impl Command {
    /// How the workload is driven.
    pub fn run_opts(&self) -> &RunOpts {
        match self {
            Command::Append(o) | Command::Mixed(o) => &o.common.run,
            Command::List(o) => &o.seeded.common.run,
            Command::Stats(o) | Command::Session(o) => &o.common.run,
            Command::Login(o) => &o.run,
        }
    }
}
