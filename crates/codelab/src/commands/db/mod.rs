//! `codelab db …`: see, migrate, back up, restore, copy and clean every codelab database.
//!
//! Databases are named ([`registry::DATABASES`]) and their URLs come from the services'
//! variables (`AGENT_RUNTIME__DB_URL`, read from the environment or `.env`), or from `--url`.
//! Backups live under `--backup-dir` (`CODELAB_BACKUP_DIR`, default `backups`). Every
//! subcommand is one module exposing `Opts` and `async fn run(opts)`; the work is done by
//! `db_core::admin` and `db_core::migrate`.
//!
//! Every failure ends with a message naming the bad thing and exit status 1; `drift` exits 1
//! when it finds drift, `health` when a database is unhealthy.

pub mod backup;
pub mod backups;
pub mod cleanup;
pub mod copy;
pub mod drift;
pub mod health;
pub mod list;
pub mod migrate;
pub mod progress;
pub mod prune;
pub mod redo;
pub mod registry;
pub mod restore;
pub mod rollback;
pub mod stats;
pub mod status;
pub mod verify;

use anyhow::Context as _;
use db_core::DbUrl;
use db_core::admin::DatabaseSpec;
use std::path::PathBuf;

/// The `db` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Registered databases, SQLite files found under the data folder, and backups.
    List(list::Opts),
    /// Backend, size, tables with row counts and schema version.
    Stats(stats::Opts),
    /// Apply pending migrations (all, or up to --to).
    Migrate(migrate::Opts),
    /// Revert migrations (--steps N, or --to V which stays applied).
    Rollback(rollback::Opts),
    /// Revert the newest migration and apply it again.
    Redo(redo::Opts),
    /// Applied, pending, modified and missing migrations.
    Status(status::Opts),
    /// Back up a database (or all) into the backup folder.
    Backup(backup::Opts),
    /// Check a backup's files against its manifest (--deep: also restore it to a scratch database).
    Verify(verify::Opts),
    /// Restore a backup (verified first; --force to replace existing rows).
    Restore(restore::Opts),
    /// Copy every row from one database to another (e.g. SQLite → PostgreSQL).
    Copy(copy::Opts),
    /// List backups, newest first.
    Backups(backups::Opts),
    /// Delete old backups (dry run unless --execute).
    Prune(prune::Opts),
    /// Remove old data (dry run unless --execute).
    Cleanup(cleanup::Opts),
    /// Compare the live schema with what the applied migrations produce (exit 1 on drift).
    Drift(drift::Opts),
    /// Connect time, round trip and schema status of every database.
    #[command(mut_arg("json", |a| a.help("Print JSON instead of a table")))]
    Health(health::Opts),
}

/// Runs a `db` subcommand.
///
/// # Errors
/// Whatever the subcommand reports; every message names the database, file or option at fault.
pub async fn run(command: Command) -> anyhow::Result<()> {
    // The services' URLs may be in `.env`; a malformed one is reported.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        return Err(anyhow::anyhow!(".env: {e}"));
    }
    match command {
        Command::List(o) => list::run(o).await,
        Command::Stats(o) => stats::run(o).await,
        Command::Migrate(o) => migrate::run(o).await,
        Command::Rollback(o) => rollback::run(o).await,
        Command::Redo(o) => redo::run(o).await,
        Command::Status(o) => status::run(o).await,
        Command::Backup(o) => backup::run(o).await,
        Command::Verify(o) => verify::run(o).await,
        Command::Restore(o) => restore::run(o).await,
        Command::Copy(o) => copy::run(o).await,
        Command::Backups(o) => backups::run(o).await,
        Command::Prune(o) => prune::run(o).await,
        Command::Cleanup(o) => cleanup::run(o).await,
        Command::Drift(o) => drift::run(o).await,
        Command::Health(o) => health::run(o).await,
    }
}

/// Which database a command acts on: a registered name, `--url`, or both (the name picks the
/// migrations, the URL the database).
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Database name (`agent_runtime`, `auth`); optional for commands that act on all, or when
    /// the environment configures the URL of exactly one (`AGENT_RUNTIME__DB_URL` or
    /// `AUTH_SERVICE__DB_URL`).
    #[arg(value_name = "DATABASE")]
    pub database: Option<String>,
    /// Database URL instead of the configured one (`sqlite:///data/x.db`, `postgres://…`).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

/// Options of the reports over one or every database (`stats`, `status`, `drift`, `health`).
#[derive(Debug, Clone, clap::Args)]
pub struct ReportOpts {
    /// Database (all registered ones when omitted).
    #[command(flatten)]
    pub target: Target,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// Options of the commands that write a whole database (`copy`, `restore`).
#[derive(Debug, Clone, clap::Args)]
pub struct WriteOpts {
    /// Replace the rows of a non-empty target (a safety backup is taken first).
    #[arg(long)]
    pub force: bool,
    /// Backup folder (also receives the safety backup).
    #[command(flatten)]
    pub dir: BackupDir,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `--backup-dir`.
#[derive(Debug, Clone, clap::Args)]
pub struct BackupDir {
    /// Folder of backups.
    #[arg(
        long,
        value_name = "DIR",
        env = "CODELAB_BACKUP_DIR",
        default_value = "backups"
    )]
    pub backup_dir: PathBuf,
}

/// One resolved database.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Its registry entry.
    pub spec: &'static DatabaseSpec,
    /// Its URL.
    pub url: DbUrl,
}

impl Resolved {
    /// `name (url)`: what an error about this database is about.
    pub fn label(&self) -> String {
        format!("{} ({})", self.spec.name, self.url)
    }

    /// A pool on this database, which must exist: a missing SQLite file is an error rather than
    /// a new empty database.
    ///
    /// # Errors
    /// A missing SQLite file, or a database that cannot be opened.
    pub async fn open_existing(&self) -> anyhow::Result<db_core::Pool> {
        if let Some(p) = self.url.sqlite_path()
            && !p.is_file()
        {
            anyhow::bail!("SQLite database file {} does not exist", p.display());
        }
        db_core::Pool::connect(&self.url, &db_core::PoolConfig::default())
            .await
            .with_context(|| self.label())
    }
}

impl Target {
    /// The one database meant.
    ///
    /// # Errors
    /// An unknown name, no name when several are registered and the environment does not
    /// configure exactly one, an invalid URL.
    pub fn one(&self) -> anyhow::Result<Resolved> {
        let spec = match &self.database {
            Some(name) => registry::find(name)?,
            None => match registry::DATABASES {
                [only] => only,
                many => {
                    // The one database this environment configures, if exactly one is.
                    let configured: Vec<&'static db_core::admin::DatabaseSpec> = many
                        .iter()
                        .filter(|d| std::env::var(d.url_env).is_ok_and(|v| !v.trim().is_empty()))
                        .collect();
                    match configured.as_slice() {
                        [one] => *one,
                        _ => anyhow::bail!(
                            "name the database: one of {}",
                            registry::names().join(", ")
                        ),
                    }
                }
            },
        };
        let url = match &self.url {
            Some(u) => DbUrl::parse(u).context("--url")?,
            None => registry::configured_url(spec)?,
        };
        Ok(Resolved { spec, url })
    }

    /// The database named, or, when none is, every registered one that exists here: its URL
    /// variable is set, or its default SQLite file is present (a database never configured nor
    /// created on this machine is left out). `--url` needs a name.
    ///
    /// # Errors
    /// As [`Target::one`].
    pub fn all_or_one(&self) -> anyhow::Result<Vec<Resolved>> {
        if self.database.is_some() || self.url.is_some() {
            return Ok(vec![self.one()?]);
        }
        let all: Vec<Resolved> = registry::DATABASES
            .iter()
            .map(|spec| {
                Ok(Resolved {
                    spec,
                    url: registry::configured_url(spec)?,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let present: Vec<Resolved> = all
            .iter()
            .filter(|d| {
                std::env::var(d.spec.url_env).is_ok_and(|v| !v.trim().is_empty())
                    || d.url.sqlite_path().is_none_or(|p| p.is_file())
            })
            .cloned()
            .collect();
        Ok(if present.is_empty() { all } else { present })
    }
}

/// Prints `value` as pretty JSON on stdout.
///
/// # Errors
/// A closed stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    crate::output::println(&serde_json::to_string_pretty(value)?)?;
    Ok(())
}

/// A table for people (comfy-table, UTF-8 borders, fits the terminal).
pub fn table(header: &[&str]) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
        .set_header(header.iter().copied());
    t
}

/// `1.5 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_human() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
