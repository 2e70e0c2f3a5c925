//! `codelab-bench login` as a person runs it: the real binary against a real auth-service on
//! `127.0.0.1:0`, with its own database, on SQLite and PostgreSQL.

use std::process::{Command, Output};

use db_core::Backend;
use serde_json::Value;

use crate::{services, short_run};

const ADMIN_PASSWORD: &str = "admin-password-for-tests";

db_core::backend_tests!(bench_login_measures_password_grants);

/// Runs `codelab-bench args…` with `password` in CODELAB_PASSWORD.
async fn codelab_bench(args: &[&str], password: &str) -> Output {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_codelab-bench"))
            .args(&args)
            .env_remove("CODELAB_TOKEN")
            .env("CODELAB_PASSWORD", password)
            .output()
            .expect("run codelab-bench")
    })
    .await
    .unwrap()
}

/// `codelab-bench login`: every measured call is a granted password login; a wrong password is
/// refused before the run starts.
async fn bench_login_measures_password_grants(backend: Backend) {
    let auth = services::auth_service_for_commands(backend, ADMIN_PASSWORD).await;
    let run = short_run(
        "login",
        "2",
        "1",
        "0.2",
        &["--auth-addr", &auth.url, "--json"],
    );
    let out = codelab_bench(&run, ADMIN_PASSWORD).await;
    assert!(out.status.success(), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(report["workload"], "login");
    assert_eq!(report["clients"], 2);
    let row = &report["results"][0];
    assert!(row["ops"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(row["error_count"], 0, "{report}");
    assert!(row["latency_ms"]["p50"].as_f64().unwrap() > 0.0, "{report}");

    let out = codelab_bench(&run, "not-the-password").await;
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the first login as `admin` was refused"),
        "{out:?}"
    );
}
