//! What both services share at start and stop: the `…__DB__*` settings, the layered
//! configuration loader (built-in defaults < TOML file < `.env` < environment) with errors that
//! name the environment variable, logging setup, the database health watch and the shutdown
//! signal.

use crate::pool::{PoolConfig, SqliteSynchronous};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use crate::pool::Pool;

/// `<PREFIX>__DB__*`: pool and migration settings of one service.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct DbSettings {
    /// Most open connections.
    pub pool_size: usize,
    /// Wait for a free connection, in ms.
    pub wait_timeout_ms: u64,
    /// Connection setup limit, in ms.
    pub connect_timeout_ms: u64,
    /// SQLite lock wait, in ms.
    pub busy_timeout_ms: u64,
    /// SQLite `synchronous`.
    pub synchronous: SqliteSynchronous,
    /// PostgreSQL `statement_timeout`, in ms (0 = none).
    pub statement_timeout_ms: u64,
    /// Apply pending migrations at start.
    pub auto_migrate: bool,
}

impl Default for DbSettings {
    fn default() -> Self {
        let pool = PoolConfig::default();
        DbSettings {
            pool_size: pool.max_size,
            wait_timeout_ms: pool.wait_timeout_ms,
            connect_timeout_ms: pool.connect_timeout_ms,
            busy_timeout_ms: pool.busy_timeout_ms,
            synchronous: pool.synchronous,
            statement_timeout_ms: pool.statement_timeout_ms,
            auto_migrate: true,
        }
    }
}

impl DbSettings {
    /// The pool settings.
    pub fn pool_config(&self) -> PoolConfig {
        PoolConfig {
            max_size: self.pool_size,
            wait_timeout_ms: self.wait_timeout_ms,
            connect_timeout_ms: self.connect_timeout_ms,
            busy_timeout_ms: self.busy_timeout_ms,
            synchronous: self.synchronous,
            statement_timeout_ms: self.statement_timeout_ms,
        }
    }
}

/// Loads a service configuration `T`: `T::default()` values (via `#[serde(default)]`) < `file`
/// (TOML, required when given) < `.env` in the working directory (loaded into the process
/// environment; a missing one is fine) < environment variables `<prefix>__<KEY>`, nested keys
/// joined by `__` (`AUTH_SERVICE__DB__POOL_SIZE` → `db.pool_size`).
///
/// # Errors
/// A message naming the offending variable when possible, e.g.
/// `AUTH_SERVICE__DB__POOL_SIZE: invalid digit found in string`; `.env: …` for a malformed
/// `.env`; the file's error for a missing or malformed TOML file.
pub fn load_layered<T: DeserializeOwned>(prefix: &str, file: Option<&Path>) -> Result<T, String> {
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        return Err(format!(".env: {e}"));
    }
    let mut builder = config::Config::builder();
    if let Some(file) = file {
        builder = builder.add_source(config::File::from(file).required(true));
    }
    builder = builder.add_source(
        config::Environment::with_prefix(prefix)
            .prefix_separator("__")
            .separator("__")
            // `KEY=` (as in .env.example) means "unset": the default applies.
            .ignore_empty(true)
            .try_parsing(true),
    );
    builder
        .build()
        .and_then(config::Config::try_deserialize)
        .map_err(|e| name_variable(prefix, &e.to_string()))
}

/// Serializes a secret as `"[redacted]"` (or `null` when unset or empty), for printing an
/// effective configuration (`codelab config check`) without revealing it.
///
/// # Errors
/// Never fails on its own; returns the serializer's error.
pub fn serialize_redacted<S: serde::Serializer>(
    secret: &Option<secrecy::SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use secrecy::ExposeSecret;
    match secret {
        Some(s) if !s.expose_secret().is_empty() => serializer.serialize_str("[redacted]"),
        _ => serializer.serialize_none(),
    }
}

/// Serializes a database URL with its password redacted (see [`crate::DbUrl`]'s `Display`);
/// a URL that does not parse prints as `"[invalid]"` (it might carry a password).
///
/// # Errors
/// Never fails on its own; returns the serializer's error.
pub fn serialize_db_url<S: serde::Serializer>(
    url: &secrecy::SecretString,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use secrecy::ExposeSecret;
    match crate::DbUrl::parse(url.expose_secret()) {
        Ok(url) => serializer.collect_str(&url),
        Err(_) => serializer.serialize_str("[invalid]"),
    }
}

/// Serializes a URL setting (a JWKS URL, a service address) with its userinfo password and
/// secret query parameters redacted ([`crate::redact::redact_text`]).
///
/// # Errors
/// Never fails on its own; returns the serializer's error.
pub fn serialize_url<S: serde::Serializer>(url: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&crate::redact::redact_text(url))
}

/// [`serialize_url`] for an optional setting (`null` when unset).
///
/// # Errors
/// Never fails on its own; returns the serializer's error.
pub fn serialize_optional_url<S: serde::Serializer>(
    url: &Option<String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => serialize_url(url, serializer),
        None => serializer.serialize_none(),
    }
}

/// Flattens a serialized configuration into `(VARIABLE, value)` pairs named as the environment
/// variables that set them: `{"db": {"pool_size": 16}}` with prefix `AUTH_SERVICE` gives
/// `("AUTH_SERVICE__DB__POOL_SIZE", "16")`. `null` gives an empty value. Sorted by name.
pub fn environment_view(prefix: &str, config: &serde_json::Value) -> Vec<(String, String)> {
    fn walk(path: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    walk(&format!("{path}__{}", key.to_ascii_uppercase()), value, out);
                }
            }
            serde_json::Value::Null => out.push((path.to_owned(), String::new())),
            serde_json::Value::String(s) => out.push((path.to_owned(), s.clone())),
            other => out.push((path.to_owned(), other.to_string())),
        }
    }
    let mut out = Vec::new();
    walk(prefix, config, &mut out);
    out.sort();
    out
}

/// Rewrites config-rs's "… for key `db.pool_size`" into the environment variable's name.
fn name_variable(prefix: &str, message: &str) -> String {
    if let Some(start) = message.find("for key `")
        && let Some(len) = message[start + 9..].find('`')
    {
        let key = &message[start + 9..start + 9 + len];
        let var = format!("{prefix}__{}", key.replace('.', "__").to_ascii_uppercase());
        return format!("{var}: {}", message[..start].trim_end());
    }
    message.to_owned()
}

/// Installs the global `tracing` subscriber: `RUST_LOG` filters (default `info`);
/// `LOG_FORMAT=json` prints one JSON object per line with span fields, anything else
/// human-readable lines. Calling it again (tests, `codelab up`) is harmless.
///
/// Secrets never reach a log line: URLs are logged through `DbUrl` (password redacted); the
/// services never log tokens, passwords or client secrets.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.try_init()
    };
}

/// Probes `pool` every `every` (at least 100 ms) for ever, calling `on_change(reachable)` each
/// time the database starts or stops answering (a probe that fails or takes longer than
/// `max(every, 1 s)` counts as unreachable). Starts from "reachable"; logs each change. Run it
/// in a task and abort the task to stop.
pub async fn watch_database<F, Fut>(pool: Pool, every: Duration, mut on_change: F)
where
    F: FnMut(bool) -> Fut,
    Fut: Future<Output = ()>,
{
    let every = every.max(Duration::from_millis(100));
    let mut reachable = true;
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let ok = match tokio::time::timeout(every.max(Duration::from_secs(1)), pool.ping()).await {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => {
                if reachable {
                    tracing::warn!(error = %e, "database unreachable: health NOT_SERVING");
                }
                false
            }
            Err(_) => {
                if reachable {
                    tracing::warn!("database probe timed out: health NOT_SERVING");
                }
                false
            }
        };
        if ok != reachable {
            reachable = ok;
            if ok {
                tracing::info!("database reachable again: health SERVING");
            }
            on_change(ok).await;
        }
    }
}

/// Resolves on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_error_names_the_variable() {
        let m = name_variable(
            "AGENT_RUNTIME",
            "invalid digit found in string for key `db.pool_size`",
        );
        assert_eq!(
            m,
            "AGENT_RUNTIME__DB__POOL_SIZE: invalid digit found in string"
        );
        assert_eq!(name_variable("X", "no key here"), "no key here");
    }
}
