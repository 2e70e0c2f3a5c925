//! `codelab up` as a person runs it, with no configuration but its ports: auth-service and
//! agent-runtime in one process with their databases in `--data-dir`, authentication on, the
//! generated admin password printed once, and a clean stop on SIGTERM.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser as _;
use codelab::client::{self, ConnectOpts};
use codelab_proto::agent::v1::ListSessionsRequest;
use serde_json::{Value, json};

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("up.log")).unwrap_or_default()
}

use crate::support::{self, Guard, free_port};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let auth_addr = format!("127.0.0.1:{}", free_port());
    let log_file = std::fs::File::create(dir.path().join("up.log")).unwrap();
    let child = support::up_on(
        &mut Command::new(env!("CARGO_BIN_EXE_codelab")),
        &addr,
        &auth_addr,
    )
    // A fresh working directory: no `.env` of the developer's is read.
    .current_dir(dir.path())
    .env_remove("AGENT_RUNTIME__DB_URL")
    .env_remove("AUTH_SERVICE__DB_URL")
    .env_remove("AUTH_SERVICE__MASTER_KEY")
    .env_remove("AUTH_SERVICE__KEY_ENCRYPTION_KEY")
    .env_remove("AUTH_SERVICE__KEY_ENCRYPTION_KEY_FILE")
    .env("RUST_LOG", "info")
    .stdin(Stdio::null())
    // agent-runtime logs to stdout, codelab's own errors go to stderr: keep both.
    .stdout(log_file.try_clone().unwrap())
    .stderr(log_file)
    .spawn()
    .expect("start codelab up");
    let mut guard = Guard(child);
    let url = format!("http://{addr}");
    let opts = ConnectOpts {
        addr: url.clone(),
        token: None,
        ca_file: None,
    };

    // Wait until agent-runtime answers (migrations and auth-service's keys first): without a
    // token it refuses, because authentication is on.
    let started = Instant::now();
    loop {
        if let Ok(conn) = client::connect(&opts).await {
            let answer = conn
                .sessions()
                .list_sessions(ListSessionsRequest::default())
                .await;
            if let Err(status) = &answer
                && status.code() == tonic::Code::Unauthenticated
            {
                break;
            }
            assert!(answer.is_err(), "answered without a token");
        }
        if let Ok(Some(status)) = guard.0.try_wait() {
            panic!("codelab up exited with {status}:\n{}", log(dir.path()));
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "codelab up did not answer within 60 s:\n{}",
            log(dir.path())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(dir.path().join("state/agent_runtime.db").is_file());
    assert!(dir.path().join("state/auth.db").is_file());
    // The generated key-encryption key: owner-only, next to the data, never in the log.
    let kek_file = dir
        .path()
        .join("state")
        .join(codelab::commands::up::KEK_FILE);
    let kek = std::fs::read_to_string(&kek_file).expect("codelab up writes its KEK file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&kek_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    assert!(!log(dir.path()).contains(kek.trim()));

    // The generated admin password is printed once; logging in with it gives a token that
    // agent-runtime accepts.
    let up_log = log(dir.path());
    assert!(up_log.contains("codelab login"), "{up_log}");
    let token = support::admin_token_from_up_log(&up_log, &auth_addr).await;

    // With the token, a conversation goes in and comes back.
    let chat =
        json!([{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}]);
    let file = dir.path().join("chat.jsonl");
    std::fs::write(
        &file,
        format!("{}\n", json!({"id": "up-test", "messages": chat})),
    )
    .unwrap();
    support::import_with_token(&file, &url, &token).await;
    let out = dir.path().join("out.json");
    let export = codelab::Cli::try_parse_from([
        "codelab",
        "sessions",
        "export",
        "up-test",
        "--addr",
        &url,
        "--token",
        &token,
        "--out",
        out.to_str().unwrap(),
    ])
    .unwrap();
    codelab::run(export).await.expect("export");
    let back: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(back, chat);

    // SIGTERM stops it cleanly.
    let pid = guard.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(45),
            "codelab up ignored SIGTERM:\n{}",
            log(dir.path())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let log = log(dir.path());
    assert!(status.success(), "exit status {status}:\n{log}");
    assert!(!log.contains("authentication is DISABLED"), "{log}");
    assert!(!log.contains(&token), "the token must never be logged");
}
