//! `codelab login`, `users`, `clients` and `auth` as a person runs them: the real binary against
//! a real auth-service (and an agent-runtime trusting it) on `127.0.0.1:0`, with its own
//! database, on SQLite and PostgreSQL.

use std::io::Write as _;
use std::process::{Command, Stdio};

use db_core::Backend;
use db_core::testing::TestDb;
use serde_json::Value;

use crate::support::Out;
use crate::support::services::{self, Running};

const ADMIN_PASSWORD: &str = "admin-password-for-tests";

db_core::backend_tests!(admin_commands_and_the_whole_flow);

async fn start_auth_service(backend: Backend) -> Running {
    services::auth_service_for_commands(backend, ADMIN_PASSWORD).await
}

async fn start_agent_runtime(backend: Backend, auth_url: &str) -> Running {
    services::agent_runtime(TestDb::new(backend).await, |config| {
        config.shutdown_grace_secs = 2;
        config.auth.auth_service_url = auth_url.to_owned();
    })
    .await
}

/// Runs `codelab args…` with only `env` of the CODELAB_* variables set and `stdin` piped in.
async fn codelab(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Out {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_codelab"));
        command.args(&args);
        for var in [
            "CODELAB_TOKEN",
            "CODELAB_PASSWORD",
            "CODELAB_NEW_PASSWORD",
            "CODELAB_USERNAME",
            "CODELAB_ADDR",
            "CODELAB_AUTH_ADDR",
        ] {
            command.env_remove(var);
        }
        command.envs(env);
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run codelab");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        Out::from(out)
    })
    .await
    .unwrap()
}

#[track_caller]
fn ok(out: Out) -> String {
    assert!(out.ok, "command failed: {out:?}");
    out.stdout
}

#[track_caller]
fn failed(out: Out, needle: &str) -> String {
    assert!(!out.ok, "command succeeded: {out:?}");
    assert!(out.stderr.contains(needle), "no {needle:?} in {out:?}");
    out.stderr
}

/// Runs `codelab args…` like [`codelab`], which must succeed, and parses its stdout as JSON.
async fn codelab_json(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Value {
    serde_json::from_str(&ok(codelab(args, env, stdin).await)).expect("JSON on stdout")
}

/// `codelab login` with the password in CODELAB_PASSWORD.
async fn login(auth: &str, username: &str, password: &str) -> Out {
    codelab(
        &["login", "--auth-addr", auth, "--username", username],
        &[("CODELAB_PASSWORD", password)],
        "",
    )
    .await
}

async fn admin_commands_and_the_whole_flow(backend: Backend) {
    let auth = start_auth_service(backend).await;
    let runtime = start_agent_runtime(backend, &auth.url).await;
    let a = auth.url.as_str();

    // The seeded admin logs in (waiting for auth-service's start-up); stdout is the token only.
    let mut attempts = 0;
    let admin = loop {
        let out = login(a, "admin", ADMIN_PASSWORD).await;
        if out.ok {
            break out.stdout.trim().to_owned();
        }
        attempts += 1;
        assert!(attempts < 100, "admin login never worked: {out:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(admin.split('.').count(), 3, "a JWT: {admin}");
    let admin_env = [("CODELAB_TOKEN", admin.as_str())];

    // --password-stdin and --json.
    let json: Value = codelab_json(
        &["login", "--auth-addr", a, "--password-stdin", "--json"],
        &[],
        &format!("{ADMIN_PASSWORD}\n"),
    )
    .await;
    assert_eq!(json["token_type"], "Bearer");
    assert!(
        json["refresh_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    failed(login(a, "admin", "wrong-password").await, "invalid_grant");

    // Users: create, list, get, disable/enable, passwd, delete.
    let created: Value = codelab_json(
        &[
            "users",
            "create",
            "dave",
            "--email",
            "dave@example.com",
            "--auth-addr",
            a,
            "--json",
        ],
        &[
            ("CODELAB_TOKEN", &admin),
            ("CODELAB_NEW_PASSWORD", "dave-password-1"),
        ],
        "",
    )
    .await;
    let dave_id = created["user_id"].as_str().unwrap().to_owned();
    assert_eq!(created["username"], "dave");
    assert_eq!(created["scopes"], "api:read api:write");
    let table = ok(codelab(&["users", "list", "--auth-addr", a], &admin_env, "").await);
    assert!(
        table.lines().next().unwrap().starts_with("USERNAME"),
        "{table}"
    );
    assert!(
        table.contains("dave@example.com") && table.contains("admin"),
        "{table}"
    );
    assert!(table.contains("2 of 2 users"), "{table}");
    let got: Value = codelab_json(
        &["users", "get", &dave_id, "--auth-addr", a, "--json"],
        &admin_env,
        "",
    )
    .await;
    assert_eq!(got["username"], "dave");

    // dave works with agent-runtime using his token.
    let dave = ok(login(a, "dave", "dave-password-1").await)
        .trim()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let chat = dir.path().join("chat.jsonl");
    std::fs::write(
        &chat,
        "{\"id\": \"dave-1\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"hello\"}]}\n",
    )
    .unwrap();
    let r = runtime.url.as_str();
    let chat = chat.to_str().unwrap();
    // agent-runtime answers once it has auth-service's keys.
    let mut attempts = 0;
    while !codelab(
        &["sessions", "list", "--addr", r, "--token", &dave],
        &[],
        "",
    )
    .await
    .ok
    {
        attempts += 1;
        assert!(attempts < 100, "agent-runtime never answered");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    failed(
        codelab(&["sessions", "import", chat, "--addr", r], &[], "").await,
        "UNAUTHENTICATED",
    );
    ok(codelab(
        &["sessions", "import", chat, "--addr", r, "--token", &dave],
        &[],
        "",
    )
    .await);
    let listed = ok(codelab(
        &["sessions", "list", "--addr", r],
        &[("CODELAB_TOKEN", &dave)],
        "",
    )
    .await);
    assert!(listed.contains("dave-1"), "{listed}");

    // dave is no administrator.
    failed(
        codelab(
            &["users", "list", "--auth-addr", a, "--token", &dave],
            &[],
            "",
        )
        .await,
        "PERMISSION_DENIED",
    );
    failed(
        codelab(&["users", "list", "--auth-addr", a], &[], "").await,
        "codelab login",
    );

    // Disabled: no login; enabled again: login works. By username this time.
    let disabled: Value = codelab_json(
        &["users", "disable", "dave", "--auth-addr", a, "--json"],
        &admin_env,
        "",
    )
    .await;
    assert_eq!(disabled["is_active"], false);
    failed(login(a, "dave", "dave-password-1").await, "invalid_grant");
    ok(codelab(
        &["users", "enable", "dave", "--auth-addr", a],
        &admin_env,
        "",
    )
    .await);
    ok(login(a, "dave", "dave-password-1").await);

    // passwd: the old password stops working.
    ok(codelab(
        &[
            "users",
            "passwd",
            "dave",
            "--auth-addr",
            a,
            "--password-stdin",
        ],
        &admin_env,
        "dave-password-2\n",
    )
    .await);
    failed(login(a, "dave", "dave-password-1").await, "invalid_grant");
    let dave = ok(login(a, "dave", "dave-password-2").await)
        .trim()
        .to_owned();

    // dave changes his own password: the current one is needed, first line of stdin here, or
    // CODELAB_PASSWORD; a wrong one is refused and changes nothing.
    let own = |current_stdin: bool| {
        let mut args = vec![
            "users",
            "passwd",
            "dave",
            "--auth-addr",
            a,
            "--password-stdin",
        ];
        if current_stdin {
            args.push("--current-password-stdin");
        }
        args
    };
    failed(
        codelab(
            &own(true),
            &[("CODELAB_TOKEN", &dave)],
            "not-daves-password\ndave-password-3\n",
        )
        .await,
        "current_password",
    );
    ok(login(a, "dave", "dave-password-2").await);
    ok(codelab(
        &own(true),
        &[("CODELAB_TOKEN", &dave)],
        "dave-password-2\ndave-password-3\n",
    )
    .await);
    failed(login(a, "dave", "dave-password-2").await, "invalid_grant");
    ok(codelab(
        &own(false),
        &[
            ("CODELAB_TOKEN", &dave),
            ("CODELAB_PASSWORD", "dave-password-3"),
        ],
        "dave-password-4\n",
    )
    .await);
    ok(login(a, "dave", "dave-password-4").await);

    // unlock: five wrong passwords lock dave out; an administrator lets him in again.
    for _ in 0..5 {
        failed(login(a, "dave", "wrong-password").await, "invalid_grant");
    }
    failed(
        login(a, "dave", "dave-password-4").await,
        "RESOURCE_EXHAUSTED",
    );
    let unlocked = ok(codelab(
        &["users", "unlock", "dave", "--auth-addr", a],
        &admin_env,
        "",
    )
    .await);
    assert!(unlocked.starts_with("unlocked dave"), "{unlocked}");
    ok(login(a, "dave", "dave-password-4").await);

    ok(codelab(
        &["users", "delete", "dave", "--auth-addr", a],
        &admin_env,
        "",
    )
    .await);
    failed(
        codelab(
            &["users", "get", &dave_id, "--auth-addr", a],
            &admin_env,
            "",
        )
        .await,
        "no user",
    );
    failed(login(a, "dave", "dave-password-4").await, "invalid_grant");

    // Clients: create (secret once), list, get, update, rotate-secret, delete.
    let client: Value = codelab_json(
        &[
            "clients",
            "create",
            "svc-reports",
            "--name",
            "Reports",
            "--confidential",
            "--scopes",
            "api:read",
            "--grant-types",
            "client_credentials",
            "--auth-addr",
            a,
            "--json",
        ],
        &admin_env,
        "",
    )
    .await;
    assert_eq!(client["is_confidential"], true);
    assert_eq!(
        client["allowed_grant_types"],
        serde_json::json!(["client_credentials"])
    );
    assert!(
        client["client_secret"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    let table = ok(codelab(&["clients", "list", "--auth-addr", a], &admin_env, "").await);
    assert!(
        table.lines().next().unwrap().starts_with("CLIENT ID"),
        "{table}"
    );
    for id in [
        "svc-reports",
        "codelab-cli",
        "codelab-internal",
        "codelab-flutter-app",
    ] {
        assert!(table.contains(id), "{id}: {table}");
    }
    let updated: Value = codelab_json(
        &[
            "clients",
            "update",
            "svc-reports",
            "--name",
            "Nightly reports",
            "--active",
            "false",
            "--auth-addr",
            a,
            "--json",
        ],
        &admin_env,
        "",
    )
    .await;
    assert_eq!(updated["name"], "Nightly reports");
    assert_eq!(updated["is_active"], false);
    let got = ok(codelab(
        &["clients", "get", "svc-reports", "--auth-addr", a],
        &admin_env,
        "",
    )
    .await);
    assert!(
        got.contains("Nightly reports") && got.contains("confidential"),
        "{got}"
    );
    let rotated: Value = codelab_json(
        &[
            "clients",
            "rotate-secret",
            "svc-reports",
            "--auth-addr",
            a,
            "--json",
        ],
        &admin_env,
        "",
    )
    .await;
    assert_ne!(rotated["client_secret"], client["client_secret"]);
    ok(codelab(
        &["clients", "delete", "svc-reports", "--auth-addr", a],
        &admin_env,
        "",
    )
    .await);
    failed(
        codelab(
            &["clients", "get", "svc-reports", "--auth-addr", a],
            &admin_env,
            "",
        )
        .await,
        "NOT_FOUND",
    );

    // Key rotation: a token signed with the new key works at agent-runtime too.
    let rotated: Value = codelab_json(
        &["auth", "rotate-keys", "--auth-addr", a, "--json"],
        &admin_env,
        "",
    )
    .await;
    let kid = rotated["kid"].as_str().unwrap().to_owned();
    assert!(
        rotated["published_kids"].as_array().unwrap().len() >= 2,
        "{rotated}"
    );
    let fresh = ok(login(a, "admin", ADMIN_PASSWORD).await)
        .trim()
        .to_owned();
    let header = jsonwebtoken_kid(&fresh);
    assert_eq!(header, kid);
    ok(codelab(
        &["sessions", "list", "--addr", r, "--token", &fresh],
        &[],
        "",
    )
    .await);
}

/// The `kid` of a JWT header, decoded by hand (no JWT library in this crate's tests).
fn jsonwebtoken_kid(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let value: Value = serde_json::from_slice(&bytes).unwrap();
    value["kid"].as_str().unwrap().to_owned()
}
