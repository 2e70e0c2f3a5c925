//! The options the workloads share: server and credentials, how a run is driven, where message
//! texts come from, and the seeded session the read workloads use.

use std::path::PathBuf;
use std::time::Duration;

use codelab::client::ConnectOpts;

/// Most clients of one run.
pub(crate) const MAX_CLIENTS: u32 = 256;
/// Longest measured duration of one run.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Longest warm-up.
pub(crate) const MAX_WARMUP: Duration = Duration::from_secs(600);

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

/// Options of the workloads that read a seeded session (`list`, `stats`, `session`).
#[derive(Debug, Clone, clap::Args)]
pub struct SeededOpts {
    /// Clients, duration, output.
    #[command(flatten)]
    pub common: CommonOpts,
    /// Texts of the seeded messages.
    #[command(flatten)]
    pub messages: MessageOpts,
    /// Messages in the session read (`bench-list-<N>`, shared by `list`, `stats` and
    /// `session`); seeded when it has fewer.
    #[arg(long, value_name = "N", default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub seed_messages: u64,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_parse_with_bounds() {
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("3601").is_err());
        assert!(parse_duration("abc").is_err());
        assert_eq!(parse_warmup("0").unwrap(), Duration::ZERO);
    }
}
