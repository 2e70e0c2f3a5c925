//! The services in the test's own process: agent-runtime and auth-service on `127.0.0.1:0`, each
//! on its own database, stopped when dropped.
//!
//! Shared by the `codelab` tests and, through `#[path]`, the `codelab-bench` tests, so it uses
//! nothing else of this folder.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use db_core::testing::TestDb;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The URL the services' configurations take (`connection_string()` is a bare path for SQLite).
pub fn db_url(db: &TestDb) -> String {
    match db.url().sqlite_path() {
        Some(path) => format!("sqlite:///{}", path.display()),
        None => db.url().connection_string(),
    }
}

/// The future a service served by [`Running::spawn`] stops on.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A service task on `127.0.0.1:0`, stopped when dropped or by [`Running::stop`].
pub struct Running {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The address it listens on.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), String>>>,
    /// Kept until the service is gone: dropping it removes the database.
    _db: Option<TestDb>,
}

impl Running {
    /// Binds `127.0.0.1:0` and spawns `serve(listener, shutdown)`, keeping `db` as long as the
    /// service runs.
    pub async fn spawn<F, E>(
        db: Option<TestDb>,
        serve: impl FnOnce(TcpListener, Shutdown) -> F,
    ) -> Running
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Debug + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = serve(
            listener,
            Box::pin(async move {
                let _ = stopped.await;
            }),
        );
        let task = tokio::spawn(async move { served.await.map_err(|e| format!("{e:?}")) });
        Running {
            url: format!("http://{addr}"),
            addr,
            stop: Some(stop),
            task: Some(task),
            _db: db,
        }
    }

    /// Signals shutdown and waits for the service to end; panics when it panicked or stopped
    /// with an error.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("a running service");
        let result = task.await.expect("server task panicked");
        result.expect("server stopped with an error");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// agent-runtime on `db` with built-in defaults (not `Config::load`: the test must not depend on
/// the environment or a `.env`), changed by `configure`.
pub async fn agent_runtime(
    db: TestDb,
    configure: impl FnOnce(&mut agent_runtime::config::Config),
) -> Running {
    let mut config = agent_runtime::config::Config {
        db_url: SecretString::from(db_url(&db)),
        ..Default::default()
    };
    configure(&mut config);
    Running::spawn(Some(db), |listener, shutdown| {
        agent_runtime::serve(config, listener, shutdown)
    })
    .await
}

/// agent-runtime on `db` with authentication off: for tests about what it stores, not who may.
pub async fn agent_runtime_without_auth(db: TestDb) -> Running {
    agent_runtime(db, |config| config.auth.disabled = true).await
}

/// A file of the shared conversation data set, `testdata/conversations/<name>`.
pub fn conversation_file(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/conversations")
        .join(name)
}

/// auth-service's configuration for tests on `db`: `admin_password` for the seeded admin, the
/// internal client's secret and a key-encryption key set (so nothing is generated into a
/// credentials file in the working folder), the cheapest password hashing, a 2 s shutdown.
pub fn auth_config(db: &TestDb, admin_password: &str) -> auth_service::config::Config {
    auth_service::config::Config {
        db_url: SecretString::from(db_url(db)),
        admin_password: Some(SecretString::from(admin_password.to_owned())),
        internal_client_secret: Some(SecretString::from("internal-secret-for-tests")),
        key_encryption_key: Some(auth_service::kek::Keks::generate()),
        password: auth_service::passwords::PasswordSettings {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
            max_concurrent: 2,
        },
        shutdown_grace_secs: 2,
        ..auth_service::config::Config::default()
    }
}

/// auth-service on `db` with `config`.
pub async fn auth_service(db: TestDb, config: auth_service::config::Config) -> Running {
    Running::spawn(Some(db), |listener, shutdown| {
        auth_service::serve(config, listener, shutdown)
    })
    .await
}

/// auth-service as the command tests need it: [`auth_config`] with the per-address rate limit
/// and lockout out of the way (one test process is one address sending far faster than a
/// person; both have their own tests in auth-service), on a fresh `backend` database.
pub async fn auth_service_for_commands(backend: db_core::Backend, admin_password: &str) -> Running {
    let db = TestDb::new(backend).await;
    let config = auth_service::config::Config {
        rate_limit: auth_service::config::RateLimitSettings {
            requests_per_second: 0,
            burst: 0,
        },
        // Every command comes from 127.0.0.1: only the username limit is exercised here.
        lockout: auth_service::config::LockoutSettings {
            max_failures_per_ip: 1000,
            ..Default::default()
        },
        ..auth_config(&db, admin_password)
    };
    auth_service(db, config).await
}

/// A connection to the agent-runtime at `url` that has answered a call: the service binds
/// before it is polled, so the port accepts connections at once; this retries for up to 5 s
/// while it runs its migrations.
pub async fn connect(url: &str) -> codelab::client::Connection {
    use codelab::client;
    use codelab_proto::agent::v1::ListSessionsRequest;

    let opts = client::ConnectOpts {
        addr: url.to_owned(),
        token: None,
        ca_file: None,
    };
    let mut last = None;
    for _ in 0..50 {
        match client::connect(&opts).await {
            Ok(c) => match c
                .sessions()
                .list_sessions(ListSessionsRequest::default())
                .await
            {
                Ok(_) => return c,
                Err(e) => last = Some(client::describe(&e)),
            },
            Err(e) => last = Some(format!("{e:#}")),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("agent-runtime at {url} never answered: {last:?}");
}
