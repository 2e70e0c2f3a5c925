//! The deployment as operators run it, without a container engine: `docker-compose.yml`,
//! `Dockerfile` and `.env.example` are parsed and checked against the services' real
//! configuration; `scripts/init-postgres.sh` runs twice against the PostgreSQL test server; then
//! both services run as separate processes on the databases it made, the way the compose file
//! starts them, and serve login → append → read, visible on their metrics endpoints.

use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{Process, codelab, codelab_isolated, free_port, rand_suffix, wait_serving};

use serde_yaml_ng::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(repo().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn compose() -> Value {
    serde_yaml_ng::from_str(&read("docker-compose.yml")).expect("docker-compose.yml is YAML")
}

/// The variable names each service reads (from its own configuration type).
fn known_variables() -> BTreeSet<String> {
    let agent = serde_json::to_value(agent_runtime::config::Config::default()).unwrap();
    let auth = serde_json::to_value(auth_service::config::Config::default()).unwrap();
    db_core::service::environment_view("AGENT_RUNTIME", &agent)
        .into_iter()
        .chain(db_core::service::environment_view("AUTH_SERVICE", &auth))
        .map(|(name, _)| name)
        .collect()
}

/// `${NAME:-default}` with nested defaults expanded as compose does when nothing is set.
fn interpolate_defaults(text: &str) -> String {
    let mut out = text.to_owned();
    while let Some(start) = out.rfind("${") {
        let end = start + out[start..].find('}').expect("closed ${");
        let inner = &out[start + 2..end];
        let value = inner.split_once(":-").map(|(_, d)| d).unwrap_or("");
        out = format!("{}{}{}", &out[..start], value, &out[end + 1..]);
    }
    out
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    &compose["services"][name]
}

fn environment(service: &Value) -> Vec<(String, String)> {
    service["environment"]
        .as_mapping()
        .expect("environment is a mapping")
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_owned(),
                v.as_str().map(str::to_owned).unwrap_or_default(),
            )
        })
        .collect()
}

fn depends_on_healthy(service: &Value, other: &str) -> bool {
    service["depends_on"][other]["condition"].as_str() == Some("service_healthy")
}

#[test]
fn compose_file_runs_postgres_and_both_services() {
    let compose = compose();
    let known = known_variables();

    let postgres = service(&compose, "postgres");
    assert!(
        postgres["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("postgres:16")),
        "PostgreSQL 16: {:?}",
        postgres["image"]
    );
    let test = format!("{:?}", postgres["healthcheck"]["test"]);
    assert!(test.contains("pg_isready"), "{test}");
    assert!(
        postgres.get("ports").is_none(),
        "PostgreSQL is not published by default"
    );
    let mounts = format!("{:?}", postgres["volumes"]);
    assert!(
        mounts.contains("postgres-data:/var/lib/postgresql/data"),
        "{mounts}"
    );
    assert!(
        mounts.contains("./scripts/init-postgres.sh:/docker-entrypoint-initdb.d/init-postgres.sh"),
        "{mounts}"
    );

    for (name, prefix, port, database, volume) in [
        ("auth-service", "AUTH_SERVICE", 50052, "auth_db", "auth"),
        (
            "agent-runtime",
            "AGENT_RUNTIME",
            50051,
            "agent_runtime",
            "agent-runtime",
        ),
    ] {
        let svc = service(&compose, name);
        assert_eq!(svc["command"][0].as_str(), Some(name), "{name} command");
        assert!(
            depends_on_healthy(svc, "postgres"),
            "{name} waits for postgres"
        );
        let check = format!("{:?}", svc["healthcheck"]["test"]);
        assert!(
            check.contains("healthcheck") && check.contains(&port.to_string()),
            "{name} health check through grpc.health.v1: {check}"
        );
        assert!(
            format!("{:?}", svc["networks"]).contains("codelab"),
            "{name} on the codelab network"
        );
        assert!(
            format!("{:?}", svc["volumes"]).contains(":/app/data"),
            "{name} keeps SQLite files in a volume"
        );
        let backups = format!("{volume}-backups:/app/backups");
        assert!(
            format!("{:?}", svc["volumes"]).contains(&backups),
            "{name} keeps its backups in a volume of its own: {:?}",
            svc["volumes"]
        );
        for published in svc["ports"].as_sequence().into_iter().flatten() {
            let published = published.as_str().unwrap_or_default();
            assert!(
                published.starts_with("127.0.0.1:"),
                "{name} publishes plaintext gRPC on the host's loopback only: {published}"
            );
        }
        let env = environment(svc);
        for (var, _) in &env {
            assert!(
                var.starts_with(&format!("{prefix}__")),
                "{name} gets only its own variables: {var}"
            );
            assert!(known.contains(var), "{name}: {var} is not a setting");
        }
        let get = |var: &str| {
            env.iter()
                .find(|(k, _)| k == var)
                .map(|(_, v)| interpolate_defaults(v))
                .unwrap_or_else(|| panic!("{name} sets {var}"))
        };
        assert_eq!(
            get(&format!("{prefix}__GRPC_ADDR")),
            format!("0.0.0.0:{port}")
        );
        let url = db_core::DbUrl::parse(&get(&format!("{prefix}__DB_URL"))).unwrap();
        assert_eq!(url.backend(), db_core::Backend::Postgres, "{name}");
        assert!(
            url.to_string().ends_with(&format!("/{database}")),
            "{name} uses the database init-postgres.sh creates: {url}"
        );
        assert!(
            get(&format!("{prefix}__METRICS_ADDR")).starts_with("0.0.0.0:"),
            "{name} metrics"
        );
    }
    // The KEK reaches auth-service as a secret file, never through the image or the database.
    let auth = service(&compose, "auth-service");
    assert!(
        environment(auth).contains(&(
            "AUTH_SERVICE__KEY_ENCRYPTION_KEY_FILE".to_owned(),
            "/run/secrets/auth_kek".to_owned()
        )),
        "auth-service reads its KEK from a secret file"
    );
    assert_eq!(auth["secrets"][0].as_str(), Some("auth_kek"));
    assert!(
        compose["secrets"]["auth_kek"]["file"].as_str().is_some(),
        "the KEK secret comes from a file"
    );
    assert!(
        service(&compose, "agent-runtime").get("secrets").is_none(),
        "agent-runtime never sees the KEK"
    );

    let runtime = service(&compose, "agent-runtime");
    assert!(depends_on_healthy(runtime, "auth-service"));
    let env = environment(runtime);
    assert!(
        env.contains(&(
            "AGENT_RUNTIME__AUTH__AUTH_SERVICE_URL".to_owned(),
            "http://auth-service:50052".to_owned()
        )),
        "{env:?}"
    );

    let volumes: BTreeSet<&str> = compose["volumes"]
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(Value::as_str)
        .collect();
    for volume in [
        "postgres-data",
        "agent-runtime-data",
        "auth-data",
        "agent-runtime-backups",
        "auth-backups",
    ] {
        assert!(volumes.contains(volume), "volume {volume} declared");
    }
    // No volume is mounted into two containers: a backup or a data file of one service is
    // never readable from the other's container.
    let mut mounted = BTreeSet::new();
    for (_, svc) in compose["services"].as_mapping().unwrap() {
        for mount in svc["volumes"].as_sequence().into_iter().flatten() {
            let source = mount
                .as_str()
                .unwrap_or_default()
                .split(':')
                .next()
                .unwrap();
            if volumes.contains(source) {
                assert!(mounted.insert(source.to_owned()), "{source} mounted twice");
            }
        }
    }
    assert!(compose["networks"].get("codelab").is_some());
}

#[test]
fn env_example_lists_every_setting_and_nothing_else() {
    let example = read(".env.example");
    let listed: BTreeSet<String> = example
        .lines()
        .map(|l| l.trim_start_matches('#').trim())
        .filter_map(|l| l.split_once('='))
        .map(|(k, _)| k.trim().to_owned())
        .filter(|k| k.starts_with("AGENT_RUNTIME__") || k.starts_with("AUTH_SERVICE__"))
        .collect();
    let known = known_variables();
    let missing: Vec<_> = known.difference(&listed).collect();
    let unknown: Vec<_> = listed.difference(&known).collect();
    assert!(missing.is_empty(), ".env.example lacks {missing:?}");
    assert!(unknown.is_empty(), ".env.example names unknown {unknown:?}");
    for var in [
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "POSTGRES_DB",
        "LOG_FORMAT",
    ] {
        assert!(example.contains(var), ".env.example lacks {var}");
    }
}

#[test]
fn dockerfile_builds_the_three_binaries_into_a_non_root_image() {
    let dockerfile = read("Dockerfile");
    assert!(dockerfile.matches("\nFROM ").count() >= 3, "multi-stage");
    assert!(
        dockerfile.contains("cargo chef cook"),
        "cached dependency layer"
    );
    // The build settings (the bundled SQLite's flags) must reach the cached dependencies.
    let copy_settings = dockerfile.find("COPY .cargo .cargo").expect("COPY .cargo");
    assert!(
        copy_settings < dockerfile.find("cargo chef cook").unwrap(),
        ".cargo/ copied before the dependency layer is built"
    );
    assert!(
        !read(".dockerignore")
            .lines()
            .any(|l| l.trim().trim_matches('/') == ".cargo"),
        ".cargo/ is not ignored"
    );
    for bin in ["agent-runtime", "auth-service", "codelab"] {
        assert!(
            dockerfile.contains(&format!("target/release/{bin}")),
            "{bin} in the image"
        );
    }
    let user = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("USER line");
    assert_ne!(user.trim(), "root");
    assert!(dockerfile.contains("HEALTHCHECK"));
    assert!(dockerfile.contains("codelab healthcheck"));
}

// ----- real processes on PostgreSQL -------------------------------------------------------

/// libpq variables for the test server (`TEST_POSTGRES_URL`).
fn pg_env() -> Vec<(&'static str, String)> {
    let url = url_parts(&db_core::testing::admin_url());
    let mut env = vec![
        ("PGHOST", url.host),
        ("PGPORT", url.port.to_string()),
        ("POSTGRES_USER", url.user),
        ("POSTGRES_DB", url.database),
    ];
    if let Some(password) = url.password {
        env.push(("PGPASSWORD", password));
    }
    env
}

struct UrlParts {
    host: String,
    port: u16,
    user: String,
    password: Option<String>,
    database: String,
}

fn url_parts(url: &str) -> UrlParts {
    let rest = url.split_once("://").expect("scheme").1;
    let (auth, rest) = rest.rsplit_once('@').unwrap_or(("postgres", rest));
    let (user, password) = match auth.split_once(':') {
        Some((u, p)) => (u.to_owned(), Some(p.to_owned())),
        None => (auth.to_owned(), None),
    };
    let (hostport, database) = rest.split_once('/').unwrap_or((rest, "postgres"));
    let database = database.split('?').next().unwrap_or("postgres").to_owned();
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), p.parse().expect("port")),
        None => (hostport.to_owned(), 5432),
    };
    UrlParts {
        host,
        port,
        user,
        password,
        database,
    }
}

fn psql(sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-v", "ON_ERROR_STOP=1", "--no-psqlrc", "-Atc", sql])
        .envs(pg_env())
        .env(
            "PGDATABASE",
            url_parts(&db_core::testing::admin_url()).database,
        )
        .env("PGUSER", url_parts(&db_core::testing::admin_url()).user)
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn init_postgres(extra: &str) -> String {
    let out = Command::new("bash")
        .arg(repo().join("scripts/init-postgres.sh"))
        .envs(pg_env())
        .env("POSTGRES_MULTIPLE_DATABASES", extra)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "init-postgres.sh failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `GET /metrics` over plain HTTP/1.1.
fn scrape(port: u16) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics port");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

/// Drops the test's databases even when it fails.
struct DropDatabases(Vec<String>);

impl Drop for DropDatabases {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = Command::new("psql")
                .args([
                    "--no-psqlrc",
                    "-qc",
                    &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                ])
                .envs(pg_env())
                .env(
                    "PGDATABASE",
                    url_parts(&db_core::testing::admin_url()).database,
                )
                .env("PGUSER", url_parts(&db_core::testing::admin_url()).user)
                .status();
        }
    }
}

#[test]
fn services_run_as_processes_on_databases_made_by_init_postgres() {
    let suffix = format!("{:x}", rand_suffix());
    let runtime_db = format!("e2e_agent_runtime_{suffix}");
    let auth_db = format!("e2e_auth_{suffix}");
    let _cleanup = DropDatabases(vec![runtime_db.clone(), auth_db.clone()]);

    // init-postgres.sh twice: the first creates, the second changes nothing and succeeds.
    let extra = format!("{runtime_db},{auth_db}");
    let first = init_postgres(&extra);
    assert!(
        first.contains(&format!("created database {runtime_db}")),
        "{first}"
    );
    let second = init_postgres(&extra);
    for name in ["agent_runtime", "auth_db", &runtime_db, &auth_db] {
        assert!(
            second.contains(&format!("database {name} exists")),
            "{second}"
        );
        assert_eq!(
            psql(&format!(
                "SELECT count(*) FROM pg_database WHERE datname = '{name}'"
            ))
            .trim(),
            "1",
            "{name} exists"
        );
    }
    assert!(
        !second.contains("created"),
        "second run created nothing: {second}"
    );

    let server = url_parts(&db_core::testing::admin_url());
    // With trust authentication the server ignores the password: a made-up one proves the
    // services never log it.
    let password = server
        .password
        .clone()
        .unwrap_or_else(|| "e2e-db-secret-pw".to_owned());
    let pg_url = |db: &str| {
        let auth = format!("{}:{password}", server.user);
        format!("postgresql://{auth}@{}:{}/{db}", server.host, server.port)
    };
    let dir = tempfile::tempdir().unwrap();
    run_pair(dir.path(), pg_url(&auth_db), pg_url(&runtime_db));
    // The rows are in the database init-postgres.sh made.
    assert_eq!(
        psql_in(&runtime_db, "SELECT count(*) FROM messages").trim(),
        "2"
    );
}

/// The seed's mixed configuration: agent-runtime on SQLite (its default relative path, in the
/// working folder), auth-service on PostgreSQL.
#[test]
fn mixed_configuration_sqlite_runtime_with_postgres_auth() {
    let auth_db = format!("e2e_auth_mixed_{:x}", rand_suffix());
    let _cleanup = DropDatabases(vec![auth_db.clone()]);
    init_postgres(&auth_db);
    let server = url_parts(&db_core::testing::admin_url());
    let credentials = match &server.password {
        Some(p) => format!("{}:{p}", server.user),
        None => server.user.clone(),
    };
    let auth_url = format!(
        "postgresql+asyncpg://{credentials}@{}:{}/{auth_db}",
        server.host, server.port
    );
    let dir = tempfile::tempdir().unwrap();
    run_pair(
        dir.path(),
        auth_url,
        "sqlite:///data/agent_runtime.db".to_owned(),
    );
    assert!(dir.path().join("data/agent_runtime.db").exists());
    assert!(!dir.path().join("data/auth.db").exists());
}

/// One token request to auth-service at `addr` (for the grants the CLI has no command for).
fn grant(addr: &str, request: codelab_proto::auth::v1::TokenRequest) -> Result<String, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut auth = codelab_proto::auth::v1::auth_service_client::AuthServiceClient::connect(
            addr.to_owned(),
        )
        .await
        .map_err(|e| e.to_string())?;
        auth.token(request)
            .await
            .map(|r| r.into_inner().access_token)
            .map_err(|s| format!("{:?}: {}", s.code(), s.message()))
    })
}

/// Starts auth-service on `auth_db_url` and agent-runtime on `runtime_db_url` as processes in
/// `dir`, runs login → append → read with the CLI, uses every kind of credential auth-service
/// handles (generated first-start secret, refresh token, a created client's secret, a created
/// user's password), checks both metrics endpoints, that every log line is JSON and that no
/// secret reached one, and stops both with SIGTERM.
fn run_pair(dir: &Path, auth_db_url: String, runtime_db_url: String) {
    let (auth_port, auth_metrics) = (free_port(), free_port());
    let (runtime_port, runtime_metrics) = (free_port(), free_port());
    let admin_password = "e2e-admin-password";
    // The key-encryption key as a Docker/Kubernetes secret file would give it.
    let kek = auth_service::kek::Keks::generate();
    let kek_file = dir.join("auth-kek.secret");
    std::fs::write(&kek_file, secrecy::ExposeSecret::expose_secret(&kek)).unwrap();

    let mut auth = Process::start(
        "auth-service",
        dir,
        &[
            (
                "AUTH_SERVICE__GRPC_ADDR".into(),
                format!("127.0.0.1:{auth_port}"),
            ),
            (
                "AUTH_SERVICE__METRICS_ADDR".into(),
                format!("127.0.0.1:{auth_metrics}"),
            ),
            ("AUTH_SERVICE__DB_URL".into(), auth_db_url.clone()),
            ("AUTH_SERVICE__ADMIN_PASSWORD".into(), admin_password.into()),
            (
                "AUTH_SERVICE__KEY_ENCRYPTION_KEY_FILE".into(),
                kek_file.display().to_string(),
            ),
            // Cheap hashing keeps the test fast; the parameters are checked elsewhere.
            ("AUTH_SERVICE__PASSWORD__MEMORY_KIB".into(), "1024".into()),
            ("AUTH_SERVICE__PASSWORD__ITERATIONS".into(), "1".into()),
        ],
    );
    let auth_addr = format!("http://127.0.0.1:{auth_port}");
    wait_serving(&mut auth, &auth_addr);
    // AUTH_SERVICE__INTERNAL_CLIENT_SECRET is unset: the generated secret is in the
    // credentials file (owner only; on PostgreSQL `data/` of the working folder), and the log
    // names only the file.
    let credentials = auth_service::credentials::CredentialsFile::new(
        dir.join("data").join(auth_service::credentials::FILE_NAME),
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(credentials.path())
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", credentials.path().display(), auth.log()))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "credentials file is owner-only");
    }
    let internal_secret = credentials
        .read()
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == auth_service::credentials::INTERNAL_CLIENT_SECRET_KEY)
        .map(|(_, v)| secrecy::ExposeSecret::expose_secret(&v).to_owned())
        .expect("generated internal client secret in the credentials file");
    let absolute = std::fs::canonicalize(credentials.path()).unwrap();
    assert!(
        auth.log().contains(&absolute.display().to_string()),
        "the log names the credentials file: {}",
        auth.log()
    );

    let mut runtime = Process::start(
        "agent-runtime",
        dir,
        &[
            (
                "AGENT_RUNTIME__GRPC_ADDR".into(),
                format!("127.0.0.1:{runtime_port}"),
            ),
            (
                "AGENT_RUNTIME__METRICS_ADDR".into(),
                format!("127.0.0.1:{runtime_metrics}"),
            ),
            ("AGENT_RUNTIME__DB_URL".into(), runtime_db_url.clone()),
            (
                "AGENT_RUNTIME__AUTH__AUTH_SERVICE_URL".into(),
                auth_addr.clone(),
            ),
        ],
    );
    let runtime_addr = format!("http://127.0.0.1:{runtime_port}");
    wait_serving(&mut runtime, &runtime_addr);

    // login → append → read.
    let login: serde_json::Value = serde_json::from_str(&codelab(
        &[
            "login",
            "--auth-addr",
            &auth_addr,
            "--username",
            "admin",
            "--json",
        ],
        &[("CODELAB_PASSWORD", admin_password)],
    ))
    .expect("login --json prints JSON");
    let token = login["access_token"].as_str().unwrap().to_owned();
    let refresh_token = login["refresh_token"].as_str().unwrap().to_owned();
    assert!(!refresh_token.is_empty());
    let chat = dir.join("chat.jsonl");
    std::fs::write(
        &chat,
        "{\"id\": \"deploy-1\", \"messages\": [{\"role\": \"user\", \"content\": \"ping\"}, {\"role\": \"assistant\", \"content\": \"pong\"}]}\n",
    )
    .unwrap();
    codelab(
        &[
            "sessions",
            "import",
            chat.to_str().unwrap(),
            "--addr",
            &runtime_addr,
        ],
        &[("CODELAB_TOKEN", &token)],
    );
    let exported = codelab(
        &["sessions", "export", "deploy-1", "--addr", &runtime_addr],
        &[("CODELAB_TOKEN", &token)],
    );
    assert!(
        exported.contains("ping") && exported.contains("pong"),
        "{exported}"
    );
    // Every other kind of credential, each used once: a refresh, a created user's password
    // (and a wrong one), a created confidential client's secret, the generated internal one.
    use codelab_proto::auth::v1::TokenRequest;
    grant(
        &auth_addr,
        TokenRequest {
            grant_type: "refresh_token".into(),
            client_id: "codelab-cli".into(),
            refresh_token: refresh_token.clone(),
            ..TokenRequest::default()
        },
    )
    .expect("refresh grant");
    let user_password = "e2e-user-password-42";
    codelab(
        &[
            "users",
            "create",
            "e2e-user",
            "--email",
            "e2e@example.org",
            "--auth-addr",
            &auth_addr,
        ],
        &[
            ("CODELAB_TOKEN", &token),
            ("CODELAB_NEW_PASSWORD", user_password),
        ],
    );
    codelab(
        &["login", "--auth-addr", &auth_addr, "--username", "e2e-user"],
        &[("CODELAB_PASSWORD", user_password)],
    );
    let wrong = Command::new(env!("CARGO_BIN_EXE_codelab"))
        .args(["login", "--auth-addr", &auth_addr, "--username", "e2e-user"])
        .env_remove("CODELAB_TOKEN")
        .env("CODELAB_PASSWORD", "e2e-wrong-password-7")
        .output()
        .unwrap();
    assert!(!wrong.status.success(), "a wrong password is refused");
    let created: serde_json::Value = serde_json::from_str(&codelab(
        &[
            "clients",
            "create",
            "e2e-service",
            "--name",
            "e2e service",
            "--confidential",
            "--scopes",
            "api:read",
            "--grant-types",
            "client_credentials",
            "--json",
            "--auth-addr",
            &auth_addr,
        ],
        &[("CODELAB_TOKEN", &token)],
    ))
    .expect("clients create --json prints JSON");
    let client_secret = created["client_secret"].as_str().unwrap().to_owned();
    for (client_id, secret) in [
        ("e2e-service", &client_secret),
        ("codelab-internal", &internal_secret),
    ] {
        grant(
            &auth_addr,
            TokenRequest {
                grant_type: "client_credentials".into(),
                client_id: client_id.into(),
                client_secret: secret.clone(),
                ..TokenRequest::default()
            },
        )
        .unwrap_or_else(|e| panic!("client_credentials for {client_id}: {e}"));
    }

    // Metrics show those RPCs with their codes, and the pool.
    let metrics = scrape(runtime_metrics);
    for needle in [
        r#"codelab_rpc_requests_total{service="agent-runtime",method="/codelab.agent.v1.SessionService/AppendMessages",code="Ok"} 1"#,
        r#"codelab_rpc_requests_total{service="agent-runtime",method="/codelab.agent.v1.SessionService/ListMessages",code="Ok"}"#,
        r#"codelab_rpc_duration_seconds_count{service="agent-runtime",method="/codelab.agent.v1.SessionService/AppendMessages"} 1"#,
        r#"codelab_db_pool_connections{service="agent-runtime",database="agent_runtime",state="max"} 16"#,
        "codelab_db_errors_total{kind=\"query\"}",
    ] {
        assert!(metrics.contains(needle), "no {needle} in\n{metrics}");
    }
    let metrics = scrape(auth_metrics);
    assert!(
        metrics.contains(
            r#"codelab_rpc_requests_total{service="auth-service",method="/codelab.auth.v1.AuthService/Token",code="Ok"} 5"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"method="/codelab.auth.v1.AuthService/GetJwks",code="Ok"}"#),
        "agent-runtime fetched the keys: {metrics}"
    );

    // JSON logs: one object a line.
    assert!(
        runtime.stop(),
        "agent-runtime stops cleanly: {}",
        runtime.log()
    );
    assert!(auth.stop(), "auth-service stops cleanly: {}", auth.log());
    for process in [&runtime, &auth] {
        let log = process.log();
        let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(!lines.is_empty(), "{} logged nothing", process.name);
        for line in lines {
            let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!(
                    "{}: LOG_FORMAT=json line is not JSON ({e}): {line}",
                    process.name
                )
            });
            assert!(value.get("level").is_some(), "{line}");
        }
    }
    // No secret in any log line: passwords, tokens, client secrets, database passwords.
    let mut secrets = vec![
        admin_password.to_owned(),
        token.clone(),
        refresh_token,
        internal_secret,
        client_secret,
        user_password.to_owned(),
        "e2e-wrong-password-7".to_owned(),
        secrecy::ExposeSecret::expose_secret(&kek).to_owned(),
    ];
    for url in [&auth_db_url, &runtime_db_url] {
        if let Some(password) = url_parts(url).password {
            secrets.push(password);
        }
    }
    for log in [auth.log(), runtime.log()] {
        for secret in &secrets {
            assert!(
                !log.contains(secret.as_str()),
                "a secret reached a log line ({} characters, starting {:?})",
                secret.len(),
                &secret[..3]
            );
        }
    }
}

fn psql_in(database: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-v", "ON_ERROR_STOP=1", "--no-psqlrc", "-Atc", sql])
        .envs(pg_env())
        .env("PGDATABASE", database)
        .env("PGUSER", url_parts(&db_core::testing::admin_url()).user)
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn config_check_prints_effective_settings_without_secrets_and_every_problem() {
    // A working pair: exit 0, defaults shown as variables, warnings for what is random.
    let kek = "Y29kZWxhYi10ZXN0LWtlay1vbmUtMzItYnl0ZXMtb2s=";
    let out = codelab_isolated(
        &["config", "check", "--offline"],
        &[("AUTH_SERVICE__KEY_ENCRYPTION_KEY", kek)],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("AGENT_RUNTIME__DB__POOL_SIZE=16\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("AUTH_SERVICE__GRPC_ADDR=127.0.0.1:50052\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("# warning: AUTH_SERVICE__ADMIN_PASSWORD is unset"),
        "{stdout}"
    );
    assert!(
        stdout.contains("AUTH_SERVICE__KEY_ENCRYPTION_KEY=[redacted]\n") && !stdout.contains(kek),
        "{stdout}"
    );

    // Secrets redacted; several problems reported at once, each naming its variable; exit 1.
    let out = codelab_isolated(
        &["config", "check", "--offline"],
        &[
            ("AUTH_SERVICE__ADMIN_PASSWORD", "admin-secret-value"),
            (
                "AUTH_SERVICE__DB_URL",
                "postgresql://codelab:db-secret-value@db.internal:5432/auth_db",
            ),
            ("AGENT_RUNTIME__AUTH__ISSUER", "https://other.example"),
            ("AGENT_RUNTIME__DB__POOL_SIZE", "0"),
            ("AUTH_SERVICE__REFRESH_GRACE_SECS", "600"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}");
    assert!(stderr.contains("4 configuration problem(s)"), "{stderr}");
    assert!(
        !stdout.contains("admin-secret-value") && !stdout.contains("db-secret-value"),
        "{stdout}"
    );
    assert!(
        stdout.contains("AUTH_SERVICE__ADMIN_PASSWORD=[redacted]\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("AUTH_SERVICE__DB_URL=postgres://codelab:***@db.internal:5432/auth_db"),
        "{stdout}"
    );
    for needle in [
        "# error: AGENT_RUNTIME__DB__POOL_SIZE must be at least 1",
        "# error: AGENT_RUNTIME__AUTH__ISSUER=\"https://other.example\" differs from AUTH_SERVICE__ISSUER",
        "# error: AUTH_SERVICE__REFRESH_GRACE_SECS must be between 0 and 60",
        "# error: AUTH_SERVICE__KEY_ENCRYPTION_KEY is unset",
    ] {
        assert!(stdout.contains(needle), "no {needle:?} in {stdout}");
    }

    // A value that does not parse names its variable; --json for scripts.
    let out = codelab_isolated(
        &[
            "config",
            "check",
            "--offline",
            "--json",
            "--service",
            "agent-runtime",
        ],
        &[("AGENT_RUNTIME__DB__POOL_SIZE", "many")],
    );
    assert!(!out.status.success());
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reports.as_array().unwrap().len(), 1);
    let problem = reports[0]["problems"][0].as_str().unwrap();
    assert!(
        problem.contains("AGENT_RUNTIME__DB__POOL_SIZE"),
        "{problem}"
    );

    // Without --offline an unreachable PostgreSQL is a problem.
    let port = free_port();
    let out = codelab_isolated(
        &["config", "check", "--service", "auth-service"],
        &[(
            "AUTH_SERVICE__DB_URL",
            &format!("postgresql://codelab@127.0.0.1:{port}/auth_db"),
        )],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("# error: AUTH_SERVICE__DB_URL (postgres://codelab@127.0.0.1"),
        "{stdout}"
    );
}

#[test]
fn healthcheck_fails_when_nothing_serves() {
    let port = free_port();
    let out = codelab_isolated(
        &[
            "healthcheck",
            "--addr",
            &format!("http://127.0.0.1:{port}"),
            "--timeout-ms",
            "2000",
        ],
        &[],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
}
