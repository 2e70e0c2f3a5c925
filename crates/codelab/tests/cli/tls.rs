//! `codelab` against services that serve TLS: the real binary with `--ca-file` /
//! `CODELAB_CA_FILE` (login, healthcheck, sessions), agent-runtime trusting auth-service over
//! https, and `config check`'s warning about a non-loopback address without TLS.

use std::process::Command;

use db_core::Backend;
use db_core::testing::TestDb;
use secrecy::ExposeSecret as _;
use service_kit::testing::TestPki;

use crate::support::Out;
use crate::support::services;

const ADMIN_PASSWORD: &str = "admin-password-for-tls-tests";

/// Runs `codelab args…` with only `env` of the CODELAB_* and service variables set.
async fn codelab(args: &[&str], env: &[(&str, &str)]) -> Out {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_codelab"));
        for (var, _) in std::env::vars() {
            if var.starts_with("CODELAB_")
                || var.starts_with("AGENT_RUNTIME__")
                || var.starts_with("AUTH_SERVICE__")
            {
                command.env_remove(var);
            }
        }
        let out = command
            .args(&args)
            .envs(env)
            .current_dir(dir.path())
            .output()
            .expect("run codelab");
        Out::from(out)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_commands_reach_tls_services_with_a_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut pki = TestPki::new(dir.path(), "test CA");
    let auth_cert = pki.server("auth", "auth-service");
    let runtime_cert = pki.server("runtime", "agent-runtime");
    let ca = pki.ca_file.display().to_string();

    let auth_db = TestDb::new(Backend::Sqlite).await;
    let auth_config = auth_service::config::Config {
        tls: pki.settings(&auth_cert, false),
        ..services::auth_config(&auth_db, ADMIN_PASSWORD)
    };
    let auth = services::auth_service(auth_db, auth_config).await;
    let auth_port = auth.addr.port();

    let runtime = services::agent_runtime(TestDb::new(Backend::Sqlite).await, |config| {
        config.shutdown_grace_secs = 2;
        config.tls = pki.settings(&runtime_cert, false);
        config.auth.auth_service_url = format!("https://127.0.0.1:{auth_port}");
        config.auth.ca_file = Some(pki.ca_file.clone());
    })
    .await;
    let runtime_port = runtime.addr.port();

    let auth = format!("https://127.0.0.1:{auth_port}");
    let runtime = format!("https://localhost:{runtime_port}");

    // Login over TLS with --ca-file (waiting for auth-service's start-up).
    let mut attempts = 0;
    let token = loop {
        let out = codelab(
            &["login", "--auth-addr", &auth, "--ca-file", &ca],
            &[("CODELAB_PASSWORD", ADMIN_PASSWORD)],
        )
        .await;
        if out.ok {
            break out.stdout.trim().to_owned();
        }
        attempts += 1;
        assert!(attempts < 100, "login over TLS never worked: {out:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");

    // Healthcheck of both, --ca-file and CODELAB_CA_FILE (agent-runtime waits for the keys).
    let mut attempts = 0;
    loop {
        let out = codelab(
            &["healthcheck", "--addr", &runtime],
            &[("CODELAB_CA_FILE", &ca)],
        )
        .await;
        if out.ok {
            assert_eq!(out.stdout.trim(), "SERVING");
            break;
        }
        attempts += 1;
        assert!(attempts < 100, "agent-runtime never answered: {out:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let out = codelab(&["healthcheck", "--addr", &auth, "--ca-file", &ca], &[]).await;
    assert!(out.ok, "{out:?}");

    // agent-runtime accepts the token: its keys came from auth-service over https.
    let out = codelab(
        &["sessions", "list", "--addr", &runtime, "--ca-file", &ca],
        &[("CODELAB_TOKEN", &token)],
    )
    .await;
    assert!(out.ok, "{out:?}");

    // Without the CA, or in plaintext, the same commands fail.
    let out = codelab(&["healthcheck", "--addr", &auth], &[]).await;
    assert!(!out.ok, "{out:?}");
    let plain = format!("http://127.0.0.1:{auth_port}");
    let out = codelab(&["healthcheck", "--addr", &plain, "--ca-file", &ca], &[]).await;
    assert!(!out.ok, "{out:?}");
    let out = codelab(
        &["login", "--auth-addr", &auth],
        &[("CODELAB_PASSWORD", ADMIN_PASSWORD)],
    )
    .await;
    assert!(!out.ok, "{out:?}");
    // A CA file that does not exist is named.
    let out = codelab(
        &[
            "healthcheck",
            "--addr",
            &auth,
            "--ca-file",
            "/nonexistent/ca.pem",
        ],
        &[],
    )
    .await;
    assert!(
        !out.ok && out.stderr.contains("/nonexistent/ca.pem"),
        "{out:?}"
    );
}

#[tokio::test]
async fn config_check_warns_about_a_public_address_without_tls() {
    let warning = "AGENT_RUNTIME__GRPC_ADDR=0.0.0.0:50051 is not a loopback address and TLS is off";
    let kek = auth_service::kek::Keks::generate();
    let out = codelab(
        &["config", "check", "--offline"],
        &[
            ("AGENT_RUNTIME__GRPC_ADDR", "0.0.0.0:50051"),
            ("AUTH_SERVICE__KEY_ENCRYPTION_KEY", kek.expose_secret()),
        ],
    )
    .await;
    assert!(out.ok, "a warning, not a problem: {out:?}");
    assert!(out.stdout.contains(warning), "{out:?}");
    assert!(
        !out.stdout
            .contains("AUTH_SERVICE__GRPC_ADDR=127.0.0.1:50052 is not")
    );

    let out = codelab(
        &["config", "check", "--offline"],
        &[
            ("AGENT_RUNTIME__GRPC_ADDR", "0.0.0.0:50051"),
            ("AGENT_RUNTIME__TLS__CERT_FILE", "/etc/codelab/cert.pem"),
            ("AGENT_RUNTIME__TLS__KEY_FILE", "/etc/codelab/key.pem"),
            ("AUTH_SERVICE__GRPC_ADDR", "0.0.0.0:50052"),
        ],
    )
    .await;
    assert!(!out.stdout.contains(warning), "{out:?}");
    assert!(
        out.stdout
            .contains("AGENT_RUNTIME__TLS__CERT_FILE=/etc/codelab/cert.pem"),
        "{out:?}"
    );
    assert!(
        out.stdout
            .contains("AUTH_SERVICE__GRPC_ADDR=0.0.0.0:50052 is not a loopback address"),
        "{out:?}"
    );

    // Half a TLS configuration is a problem naming the missing variable.
    let out = codelab(
        &["config", "check", "--offline", "--service", "auth-service"],
        &[("AUTH_SERVICE__TLS__CERT_FILE", "/etc/codelab/cert.pem")],
    )
    .await;
    assert!(!out.ok, "{out:?}");
    assert!(
        out.stdout.contains(
            "# error: AUTH_SERVICE__TLS__CERT_FILE is set but AUTH_SERVICE__TLS__KEY_FILE is not"
        ),
        "{out:?}"
    );
}
