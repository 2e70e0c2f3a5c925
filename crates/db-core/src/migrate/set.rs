//! What a service's migrations are: [`Migration`] (one folder), [`MigrationSet`] (one list per
//! backend, embedded by [`migration_set!`](crate::migration_set)), their checksums.

use crate::Backend;
use sha2::Digest as _;

/// One migration: the folder name and the embedded SQL of both directions.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Folder name, `2026-11-21-000000_conversation_store`.
    pub dir: &'static str,
    /// `up.sql`.
    pub up: &'static str,
    /// `down.sql`.
    pub down: &'static str,
}

impl Migration {
    /// diesel's version: the folder name up to the first `_`, dashes removed
    /// (`20261121000000`).
    pub fn version(&self) -> String {
        self.dir
            .split('_')
            .next()
            .unwrap_or_default()
            .replace('-', "")
    }

    /// The name after the version (`conversation_store`).
    pub fn name(&self) -> &'static str {
        self.dir.split_once('_').map_or("", |(_, n)| n)
    }

    /// sha256 (lowercase hex) of `up.sql` with line endings normalised.
    pub fn checksum(&self) -> String {
        checksum(self.up)
    }
}

/// sha256 (hex) of SQL text after turning `\r\n` and `\r` into `\n` and trimming trailing
/// whitespace, so editors and checkouts that only change line endings do not change it.
pub fn checksum(sql: &str) -> String {
    let normalised = sql.replace("\r\n", "\n").replace('\r', "\n");
    hex(&sha2::Sha256::digest(normalised.trim_end().as_bytes()))
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A service's migrations, one list per backend, oldest first. Build it with
/// [`migration_set!`](crate::migration_set!); both lists hold the same versions.
pub struct MigrationSet {
    /// Short name of the database (`agent_runtime`, `auth`); also seeds the advisory lock key
    /// and is written into backup manifests.
    pub name: &'static str,
    /// `migrations/postgres`.
    pub postgres: &'static [Migration],
    /// `migrations/sqlite`.
    pub sqlite: &'static [Migration],
}

impl std::fmt::Debug for MigrationSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MigrationSet")
            .field("name", &self.name)
            .field("migrations", &self.sqlite.len())
            .finish()
    }
}

impl MigrationSet {
    /// The list for `backend`.
    pub fn for_backend(&self, backend: Backend) -> &'static [Migration] {
        match backend {
            Backend::Postgres => self.postgres,
            Backend::Sqlite => self.sqlite,
        }
    }

    /// The newest version this binary knows (`None` for an empty set).
    pub fn latest_version(&self) -> Option<String> {
        self.sqlite.iter().map(Migration::version).max()
    }

    /// Whether this binary knows `version`.
    pub fn knows(&self, version: &str) -> bool {
        self.sqlite.iter().any(|m| m.version() == version)
    }

    /// PostgreSQL advisory-lock key: the first 8 bytes (big-endian) of
    /// sha256(`codelab-migrations:<name>`). Everything that applies this set's migrations (the
    /// engine here, a restore) takes it, so they exclude each other.
    pub(crate) fn lock_key(&self) -> i64 {
        let digest = sha2::Sha256::digest(format!("codelab-migrations:{}", self.name));
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        i64::from_be_bytes(bytes)
    }
}

/// Builds a `&'static` [`MigrationSet`] from migration folder names, embedding
/// `migrations/{postgres,sqlite}/<dir>/{up,down}.sql` of the calling crate.
///
/// ```ignore
/// pub static MIGRATIONS: MigrationSet = db_core::migration_set!(
///     "agent_runtime",
///     ["2026-11-21-000000_conversation_store"]
/// );
/// ```
///
/// A missing file is a compile error. List every folder: a test of the service compares the
/// list with the folders on disk ([`check_listed`]).
///
/// `migration_set!(name, root = "tests/migrations", [...])` reads another folder of the crate.
#[macro_export]
macro_rules! migration_set {
    ($name:expr, [$($dir:literal),* $(,)?]) => {
        $crate::migration_set!($name, root = "migrations", [$($dir),*])
    };
    ($name:expr, root = $root:literal, [$($dir:literal),* $(,)?]) => {
        $crate::migrate::MigrationSet {
            name: $name,
            postgres: &[$($crate::migrate::Migration {
                dir: $dir,
                up: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $root, "/postgres/", $dir, "/up.sql")),
                down: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $root, "/postgres/", $dir, "/down.sql")),
            }),*],
            sqlite: &[$($crate::migrate::Migration {
                dir: $dir,
                up: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $root, "/sqlite/", $dir, "/up.sql")),
                down: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $root, "/sqlite/", $dir, "/down.sql")),
            }),*],
        }
    };
}

/// Checks that `set` lists exactly the migration folders under `root/{postgres,sqlite}` (for a
/// service's test: a folder added but not listed would never be applied).
///
/// # Errors
/// A message naming the unlisted or missing folders, or the unreadable directory.
pub fn check_listed(set: &MigrationSet, root: &std::path::Path) -> Result<(), String> {
    for (backend, list) in [("postgres", set.postgres), ("sqlite", set.sqlite)] {
        let dir = root.join(backend);
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let listed: Vec<String> = list.iter().map(|m| m.dir.to_owned()).collect();
        if on_disk != listed {
            return Err(format!(
                "{}: folders {on_disk:?} but the migration set lists {listed:?}",
                dir.display()
            ));
        }
    }
    Ok(())
}
