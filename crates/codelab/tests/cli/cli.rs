//! The command line itself: clap's consistency checks and a few parses.

use clap::{CommandFactory as _, Parser as _};
use codelab::commands::sessions;
use codelab::{Cli, Command};

#[test]
fn verify_cli() {
    Cli::command().debug_assert();
}

#[test]
fn export_needs_a_session_or_all_but_not_both() {
    assert!(Cli::try_parse_from(["codelab", "sessions", "export"]).is_err());
    assert!(Cli::try_parse_from(["codelab", "sessions", "export", "s1", "--all"]).is_err());
    let cli = Cli::try_parse_from([
        "codelab", "sessions", "export", "--all", "--format", "sharegpt",
    ])
    .unwrap();
    let Command::Sessions(sessions::Command::Export(opts)) = cli.command else {
        panic!()
    };
    assert!(opts.all && opts.session_id.is_none());
    assert_eq!(opts.format, codelab::formats::ExportFormat::Sharegpt);
    assert_eq!(opts.connect.addr, "http://127.0.0.1:50051");
}

#[test]
fn up_defaults_to_the_data_folder() {
    let cli = Cli::try_parse_from(["codelab", "up"]).unwrap();
    let Command::Up(opts) = cli.command else {
        panic!()
    };
    assert_eq!(opts.data_dir, std::path::PathBuf::from("data"));
    assert!(opts.config.is_none());
}

/// `codelab … | head -1`: when the reader has gone, the command stops with status 0 and no panic
/// message (`println!` would panic with "failed printing to stdout: Broken pipe").
#[test]
fn closed_stdout_pipe_ends_quietly() {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader); // every write to `writer` now fails with EPIPE
    let dir = std::env::temp_dir().join(format!("codelab-cli-pipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("chat.jsonl");
    std::fs::write(
        &data,
        r#"{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}"#,
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_codelab"))
        .args(["sessions", "import", "--dry-run"])
        .arg(&data)
        .stdout(writer)
        .output()
        .expect("run codelab");
    std::fs::remove_dir_all(&dir).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "status {:?}, stderr: {stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert!(stderr.is_empty(), "stderr: {stderr}");
}
