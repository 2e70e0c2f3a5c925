//! The `codelab-bench` tests, one test binary: the command line, every workload against a real
//! agent-runtime, and `login` against a real auth-service.

mod cli;
mod login;
#[path = "../../../codelab/tests/cli/support/services.rs"]
mod services;
mod workloads;

use clap::Parser as _;

/// `codelab-bench args…` parsed, panicking with clap's message when it does not parse.
fn cli(args: &[&str]) -> codelab_bench::Cli {
    codelab_bench::Cli::try_parse_from(std::iter::once("codelab-bench").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// The arguments of a short run of `workload`: `--clients`, `--duration` and `--warmup`
/// (seconds), then `rest`.
fn short_run<'a>(
    workload: &'a str,
    clients: &'a str,
    duration: &'a str,
    warmup: &'a str,
    rest: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        workload,
        "--clients",
        clients,
        "--duration",
        duration,
        "--warmup",
        warmup,
    ];
    args.extend_from_slice(rest);
    args
}
