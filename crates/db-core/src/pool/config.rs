//! Pool and per-connection settings: [`PoolConfig`] and SQLite's [`SqliteSynchronous`].

/// SQLite `PRAGMA journal_size_limit` of every pooled connection, in bytes (64 MiB).
///
/// SQLite reuses its WAL file from the start after each checkpoint and never shrinks it on its
/// own: one large transaction (a retention purge, a restore, deleting a session of millions of
/// messages) would leave a WAL of that size on disk until the service stops. With the limit,
/// the first commit after the WAL restarts truncates it back to at most this size. Steady
/// writes keep the WAL near SQLite's automatic checkpoint mark (1,000 pages, ~4 MiB).
/// Source: <https://www.sqlite.org/pragma.html#pragma_journal_size_limit>.
pub const SQLITE_JOURNAL_SIZE_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

/// SQLite's `PRAGMA synchronous` level.
///
/// `Full` (the default) fsyncs the WAL on every commit, so an acknowledged write survives a
/// power cut. On Linux the sync is `fdatasync(2)`: the bundled SQLite is built with
/// `HAVE_FDATASYNC` (`LIBSQLITE3_FLAGS` in `.cargo/config.toml`), as SQLite's own configure
/// builds it. `Normal` may lose the last commits on power loss (never on a process crash) and
/// is several times faster on slow disks. Source: <https://www.sqlite.org/pragma.html#pragma_synchronous>.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    /// No fsync at all (tests and throwaway data only).
    Off,
    /// fsync at WAL checkpoints only.
    Normal,
    /// fsync the WAL on every commit (default).
    #[default]
    Full,
    /// Like `Full`, and also fsync the directory after deleting a journal.
    Extra,
}

impl SqliteSynchronous {
    /// The setting as written in configuration: `off`, `normal`, `full` or `extra`.
    pub fn name(self) -> &'static str {
        match self {
            SqliteSynchronous::Off => "off",
            SqliteSynchronous::Normal => "normal",
            SqliteSynchronous::Full => "full",
            SqliteSynchronous::Extra => "extra",
        }
    }

    /// The setting as `PRAGMA synchronous` takes it.
    pub(super) fn pragma(self) -> &'static str {
        match self {
            SqliteSynchronous::Off => "OFF",
            SqliteSynchronous::Normal => "NORMAL",
            SqliteSynchronous::Full => "FULL",
            SqliteSynchronous::Extra => "EXTRA",
        }
    }
}

/// Pool and per-connection settings (the `…__DB__*` variables of each service).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default)]
pub struct PoolConfig {
    /// Most connections open at once. SQLite in-memory databases always use 1.
    pub max_size: usize,
    /// How long a caller waits for a free connection before `DbError::Unavailable`, in ms.
    pub wait_timeout_ms: u64,
    /// How long establishing one connection may take, in ms.
    pub connect_timeout_ms: u64,
    /// SQLite `busy_timeout`: how long a writer waits for the lock, in ms.
    pub busy_timeout_ms: u64,
    /// SQLite `PRAGMA synchronous`.
    pub synchronous: SqliteSynchronous,
    /// PostgreSQL `statement_timeout` in ms (0 = none).
    pub statement_timeout_ms: u64,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_size: 16,
            wait_timeout_ms: 5_000,
            connect_timeout_ms: 5_000,
            busy_timeout_ms: 5_000,
            synchronous: SqliteSynchronous::Full,
            statement_timeout_ms: 30_000,
        }
    }
}
