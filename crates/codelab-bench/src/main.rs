//! `codelab-bench`: parses the command line and hands it to the library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = codelab_bench::Cli::parse();
    codelab::init_cli_tracing();
    match codelab_bench::run(cli.command).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // `codelab-bench append | head -5`: the reader has what it wanted.
        Err(e) if codelab::output::is_broken_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole context chain on one line.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
