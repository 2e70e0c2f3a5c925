//! `codelab`: parses the command line and hands it to the library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = codelab::Cli::parse();
    codelab::output::exit_code(codelab::run(cli).await)
}
