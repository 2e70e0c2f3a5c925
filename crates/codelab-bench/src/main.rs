//! `codelab-bench`: parses the command line and hands it to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = codelab_bench::Cli::parse();
    codelab::init_cli_tracing();
    codelab::output::exit_code(codelab_bench::run(cli.command))
}
