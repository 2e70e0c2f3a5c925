//! The command line itself: clap's consistency checks and a few parses.

use clap::{CommandFactory as _, Parser as _};
use codelab_bench::{Cli, Command};

#[test]
fn verify_cli() {
    Cli::command().debug_assert();
}

#[test]
fn bench_defaults_and_pages() {
    let cli = Cli::try_parse_from(["codelab-bench", "list", "--pages", "1,2000,4000"]).unwrap();
    let Command::List(opts) = cli.command else {
        panic!()
    };
    assert_eq!(opts.pages, vec![1, 2000, 4000]);
    assert_eq!(opts.page_size, 50);
    assert_eq!(opts.seeded.seed_messages, 200_000);
    assert_eq!(opts.seeded.common.run.clients, 8);
    assert_eq!(
        opts.seeded.common.run.duration,
        std::time::Duration::from_secs(10)
    );
    assert_eq!(
        opts.seeded.common.run.warmup,
        std::time::Duration::from_secs(1)
    );
    assert_eq!(opts.seeded.messages.message_size, 256);
    assert_eq!(opts.seeded.common.run.threads, 1);

    assert!(Cli::try_parse_from(["codelab-bench", "append", "--clients", "0"]).is_err());
    assert!(Cli::try_parse_from(["codelab-bench", "append", "--threads", "0"]).is_err());
    assert!(Cli::try_parse_from(["codelab-bench", "append", "--duration", "0"]).is_err());
    assert!(
        Cli::try_parse_from([
            "codelab-bench",
            "append",
            "--message-size",
            "10",
            "--messages-from",
            "x.json"
        ])
        .is_err()
    );
}
