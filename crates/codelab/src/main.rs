//! `codelab`: parses the command line and hands it to the library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = codelab::Cli::parse();
    match codelab::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // `codelab sessions list | head -5`: the reader has what it wanted.
        Err(e) if codelab::output::is_broken_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole context chain on one line: "importing x: line 3: …".
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
