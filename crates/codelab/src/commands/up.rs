//! `codelab up`: auth-service and agent-runtime in this process, for local development.
//!
//! Each service reads its own configuration (defaults < `--config` / `--auth-config` TOML file
//! < `.env` < `AGENT_RUNTIME__*` / `AUTH_SERVICE__*` variables), with these changes:
//!
//! - the databases are the SQLite files `<--data-dir>/agent_runtime.db` and
//!   `<--data-dir>/auth.db` (folder created when missing), unless `AGENT_RUNTIME__DB_URL` /
//!   `AUTH_SERVICE__DB_URL` is set;
//! - agent-runtime trusts the auth-service it runs next to (its `AUTH_SERVICE__GRPC_ADDR`),
//!   unless `AGENT_RUNTIME__AUTH__AUTH_SERVICE_URL` is set. Authentication stays on;
//!   `AGENT_RUNTIME__AUTH__DISABLED=true` turns it off (development only, logged loudly).
//!
//! auth-service's key-encryption key is `AUTH_SERVICE__KEY_ENCRYPTION_KEY` or `…_FILE` when
//! set, else the file `<--data-dir>/auth-kek`, generated on the first start (mode 0600).
//!
//! On its first start auth-service creates the user `admin` with a generated password (or
//! `AUTH_SERVICE__ADMIN_PASSWORD`) and writes it to its credentials file (mode 0600, next to
//! `auth.db`); `codelab up` shows it once on its own stderr, the developer's terminal. The
//! service's log lines carry only the file's path. Serves until Ctrl-C or SIGTERM;
//! when one service stops with an error, the other is stopped too.

mod kek_file;

pub use kek_file::KEK_FILE;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use agent_runtime::config::Config;
use anyhow::Context as _;
use secrecy::SecretString;

/// Environment variable that, when set, wins over `--data-dir` for agent-runtime.
pub const DB_URL_ENV: &str = "AGENT_RUNTIME__DB_URL";

/// Environment variable that, when set, wins over `--data-dir` for auth-service.
pub const AUTH_DB_URL_ENV: &str = "AUTH_SERVICE__DB_URL";

/// Environment variable that, when set, wins over the embedded auth-service's address.
pub const AUTH_SERVICE_URL_ENV: &str = agent_runtime::auth::AUTH_SERVICE_URL_ENV;

/// agent-runtime's SQLite file name inside `--data-dir`.
pub const DB_FILE: &str = "agent_runtime.db";

/// auth-service's SQLite file name inside `--data-dir`.
pub const AUTH_DB_FILE: &str = "auth.db";

/// Options of `codelab up`.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// agent-runtime TOML configuration file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// auth-service TOML configuration file.
    #[arg(long, value_name = "FILE")]
    pub auth_config: Option<PathBuf>,
    /// Folder of the SQLite databases `agent_runtime.db` and `auth.db`, created when missing;
    /// each is ignored when AGENT_RUNTIME__DB_URL / AUTH_SERVICE__DB_URL is set.
    #[arg(long, value_name = "DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

/// Both services' configurations as `codelab up` runs them.
#[derive(Debug, Clone)]
pub struct Configs {
    /// auth-service.
    pub auth: auth_service::config::Config,
    /// agent-runtime, trusting `auth` unless configured otherwise.
    pub runtime: Config,
}

/// Runs auth-service and agent-runtime until Ctrl-C / SIGTERM, or until one of them fails.
///
/// # Errors
/// An invalid configuration, a data folder that cannot be created, or a service that cannot
/// start (address in use, database unreachable, failed migration, no keys) or fails later.
pub async fn run(opts: Opts) -> anyhow::Result<()> {
    agent_runtime::telemetry::init();
    let Configs { auth, runtime } = effective_configs(&opts)?;
    let auth_url = format!("http://{}", loopback(auth.grpc_addr));
    if runtime.auth.disabled {
        tracing::warn!(
            "authentication is DISABLED (AGENT_RUNTIME__AUTH__DISABLED=true): agent-runtime \
             accepts every request without a token; development only, never expose this server"
        );
    }
    tracing::info!(
        agent_runtime = %runtime.grpc_addr,
        auth_service = %auth.grpc_addr,
        "codelab up: starting auth-service and agent-runtime"
    );
    // Printed for the person at the terminal, not logged: it is an instruction, not an event.
    eprintln!(
        "codelab up: agent-runtime on http://{}, auth-service on {auth_url}.\n\
         codelab up: get a token with `export TOKEN=$(codelab login --auth-addr {auth_url} --username admin)`;\n\
         codelab up: the admin password is AUTH_SERVICE__ADMIN_PASSWORD, or the one generated on \
         the first start (shown below then, and kept in {}).",
        loopback(runtime.grpc_addr),
        auth.credentials_file().path().display()
    );

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let mut auth_task = tokio::spawn(auth_service::run_with(
        auth,
        stopped(stop_rx.clone()),
        Some(Box::new(show_generated)),
    ));
    let mut runtime_task = tokio::spawn(agent_runtime::run(runtime, stopped(stop_rx)));
    let signal = agent_runtime::shutdown_signal();
    tokio::pin!(signal);
    let mut auth_done = None;
    let mut runtime_done = None;
    tokio::select! {
        () = &mut signal => {}
        r = &mut auth_task => auth_done = Some(r),
        r = &mut runtime_task => runtime_done = Some(r),
    }
    let _ = stop_tx.send(true);
    let auth_done = match auth_done {
        Some(r) => r,
        None => auth_task.await,
    };
    let runtime_done = match runtime_done {
        Some(r) => r,
        None => runtime_task.await,
    };
    // auth-service first: agent-runtime failing without keys is usually its consequence.
    auth_done
        .context("auth-service task failed")?
        .context("auth-service stopped with an error")?;
    runtime_done
        .context("agent-runtime task failed")?
        .context("agent-runtime stopped with an error")?;
    tracing::info!("codelab up: stopped");
    Ok(())
}

/// Shows the credentials auth-service generated on its first start to the person at the
/// terminal. Written with `eprintln!`, not `tracing`: an instruction for this terminal, never
/// a log event.
fn show_generated(generated: &auth_service::seed::Generated) {
    use secrecy::ExposeSecret as _;
    let file = generated
        .file
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    if let Some(p) = &generated.admin_password {
        eprintln!(
            "codelab up: auth-service created user `admin` with generated password {} \
             (kept in {file}; set AUTH_SERVICE__ADMIN_PASSWORD to choose it)",
            p.expose_secret()
        );
    }
    if let Some(s) = &generated.internal_client_secret {
        eprintln!(
            "codelab up: auth-service created client `codelab-internal` with generated secret {} \
             (kept in {file}; set AUTH_SERVICE__INTERNAL_CLIENT_SECRET to choose it)",
            s.expose_secret()
        );
    }
}

/// Both configurations as `codelab up` runs them: loaded from the files and the environment,
/// databases in `--data-dir` unless their URL variables are set, agent-runtime trusting the
/// embedded auth-service unless `AGENT_RUNTIME__AUTH__AUTH_SERVICE_URL` is set.
///
/// # Errors
/// An invalid configuration file or variable, or a data folder that cannot be created.
pub fn effective_configs(opts: &Opts) -> anyhow::Result<Configs> {
    let mut runtime = Config::load_unvalidated(opts.config.as_deref())
        .context("invalid agent-runtime configuration")?;
    let mut auth = auth_service::config::Config::load_unvalidated(opts.auth_config.as_deref())
        .context("invalid auth-service configuration")?;
    // Read after `load`, which also brings in `.env`.
    let from_env = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if !from_env(DB_URL_ENV) || !from_env(AUTH_DB_URL_ENV) {
        db_core::owner_only::create_dir_all(&opts.data_dir)
            .with_context(|| format!("cannot create data folder {}", opts.data_dir.display()))?;
    }
    if from_env(DB_URL_ENV) {
        tracing::info!("agent-runtime database from {DB_URL_ENV}");
    } else {
        runtime.db_url = SecretString::from(sqlite_url(&opts.data_dir));
    }
    if from_env(AUTH_DB_URL_ENV) {
        tracing::info!("auth-service database from {AUTH_DB_URL_ENV}");
    } else {
        auth.db_url = SecretString::from(sqlite_url_of(&opts.data_dir, AUTH_DB_FILE));
    }
    // auth-service's key-encryption key: AUTH_SERVICE__KEY_ENCRYPTION_KEY(_FILE) when set,
    // else one generated once into `<data-dir>/auth-kek` (owner-only, outside the database).
    use secrecy::ExposeSecret as _;
    let key_set = auth
        .key_encryption_key
        .as_ref()
        .is_some_and(|k| !k.expose_secret().is_empty());
    let file_set = auth
        .key_encryption_key_file
        .as_ref()
        .is_some_and(|f| !f.as_os_str().is_empty());
    if !key_set && !file_set {
        auth.key_encryption_key_file = Some(kek_file::ensure(&opts.data_dir)?);
    }
    // An explicit AGENT_RUNTIME__AUTH__JWKS_URL still wins over this (see agent-runtime's auth).
    // With AUTH_SERVICE__TLS__* set, over https (the certificate must name the loopback address
    // and AGENT_RUNTIME__AUTH__CA_FILE must trust it when it is from a private CA).
    if !from_env(AUTH_SERVICE_URL_ENV) {
        let scheme = if auth.tls.is_enabled() {
            "https"
        } else {
            "http"
        };
        runtime.auth.auth_service_url = format!("{scheme}://{}", loopback(auth.grpc_addr));
    }
    runtime
        .validate()
        .context("invalid agent-runtime configuration")?;
    auth.validate()
        .context("invalid auth-service configuration")?;
    Ok(Configs { auth, runtime })
}

/// `sqlite:///<dir>/agent_runtime.db`: relative to the working directory for a relative `dir`,
/// `sqlite:////abs/…` for an absolute one.
pub fn sqlite_url(dir: &Path) -> String {
    sqlite_url_of(dir, DB_FILE)
}

fn sqlite_url_of(dir: &Path, file: &str) -> String {
    format!("sqlite:///{}", dir.join(file).display())
}

/// The address to connect to for a listen address: an unspecified IP (`0.0.0.0`, `[::]`)
/// becomes the loopback address of its family.
pub fn loopback(addr: SocketAddr) -> SocketAddr {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;

    #[test]
    fn configs_keep_auth_on_trust_the_embedded_auth_service_and_use_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("nested/data");
        let file = dir.path().join("agent-runtime.toml");
        std::fs::write(&file, "grpc_addr = \"127.0.0.1:50777\"\n").unwrap();
        let auth_file = dir.path().join("auth-service.toml");
        std::fs::write(&auth_file, "grpc_addr = \"0.0.0.0:50778\"\n").unwrap();
        let opts = Opts {
            config: Some(file),
            auth_config: Some(auth_file),
            data_dir: data_dir.clone(),
        };
        let configs = effective_configs(&opts).unwrap();
        assert_eq!(configs.runtime.grpc_addr.to_string(), "127.0.0.1:50777");
        assert_eq!(configs.auth.grpc_addr.to_string(), "0.0.0.0:50778");
        if std::env::var_os("AGENT_RUNTIME__AUTH__DISABLED").is_none() {
            assert!(!configs.runtime.auth.disabled);
        }
        if std::env::var_os(AUTH_SERVICE_URL_ENV).is_none() {
            assert_eq!(
                configs.runtime.auth.auth_service_url,
                "http://127.0.0.1:50778"
            );
        }
        if std::env::var_os(DB_URL_ENV).is_none() {
            assert_eq!(
                configs.runtime.db_url.expose_secret(),
                sqlite_url(&data_dir)
            );
            assert!(data_dir.is_dir());
        }
        if std::env::var_os("AUTH_SERVICE__KEY_ENCRYPTION_KEY").is_none()
            && std::env::var_os("AUTH_SERVICE__KEY_ENCRYPTION_KEY_FILE").is_none()
        {
            let kek = data_dir.join(KEK_FILE);
            assert_eq!(configs.auth.key_encryption_key_file.as_ref(), Some(&kek));
            assert!(kek.is_file());
        }
        if std::env::var_os(AUTH_DB_URL_ENV).is_none() {
            assert_eq!(
                configs.auth.db_url.expose_secret(),
                format!("sqlite:///{}/auth.db", data_dir.display())
            );
        }
    }

    #[test]
    fn missing_config_file_is_an_error() {
        let opts = Opts {
            config: Some("/nonexistent/x.toml".into()),
            auth_config: None,
            data_dir: "data".into(),
        };
        let e = effective_configs(&opts).unwrap_err();
        assert!(format!("{e:#}").contains("x.toml"), "{e:#}");
    }

    #[test]
    fn sqlite_url_for_relative_and_absolute_dirs() {
        assert_eq!(
            sqlite_url(Path::new("data")),
            "sqlite:///data/agent_runtime.db"
        );
        assert_eq!(
            sqlite_url(Path::new("/var/lib/codelab")),
            "sqlite:////var/lib/codelab/agent_runtime.db"
        );
    }

    #[test]
    fn loopback_replaces_unspecified_addresses() {
        let v4: SocketAddr = "0.0.0.0:50052".parse().unwrap();
        assert_eq!(loopback(v4).to_string(), "127.0.0.1:50052");
        let v6: SocketAddr = "[::]:50052".parse().unwrap();
        assert_eq!(loopback(v6).to_string(), "[::1]:50052");
        let host: SocketAddr = "10.0.0.5:50052".parse().unwrap();
        assert_eq!(loopback(host), host);
    }
}
