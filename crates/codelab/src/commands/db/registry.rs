//! The databases codelab manages, by name. Adding a service's database is one line here.

use anyhow::Context as _;
use db_core::DbUrl;
use db_core::admin::DatabaseSpec;

/// Every managed database: name, URL variable and default, migrations.
pub static DATABASES: &[DatabaseSpec] = &[
    DatabaseSpec {
        name: "agent_runtime",
        url_env: "AGENT_RUNTIME__DB_URL",
        default_url: "sqlite:///data/agent_runtime.db",
        migrations: &agent_runtime::migrations::MIGRATIONS,
    },
    DatabaseSpec {
        name: "auth",
        url_env: "AUTH_SERVICE__DB_URL",
        default_url: "sqlite:///data/auth.db",
        migrations: &auth_service::migrations::MIGRATIONS,
    },
];

/// The registered names.
pub fn names() -> Vec<&'static str> {
    DATABASES.iter().map(|d| d.name).collect()
}

/// The entry called `name`.
///
/// # Errors
/// An unknown name; the message lists the known ones.
pub fn find(name: &str) -> anyhow::Result<&'static DatabaseSpec> {
    DATABASES.iter().find(|d| d.name == name).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown database `{name}`: known databases are {}",
            names().join(", ")
        )
    })
}

/// The URL of `spec` from its variable (environment or `.env`), else its default.
///
/// # Errors
/// A variable that does not parse as a database URL (the message names it).
pub fn configured_url(spec: &DatabaseSpec) -> anyhow::Result<DbUrl> {
    match std::env::var(spec.url_env) {
        Ok(v) if !v.trim().is_empty() => DbUrl::parse(&v).with_context(|| spec.url_env.to_owned()),
        _ => Ok(DbUrl::parse(spec.default_url)?),
    }
}

/// Which registered database a database at some URL is, by its migration ledger.
#[derive(Debug)]
pub enum Owner {
    /// Nothing applied (no ledger, or a SQLite file that does not exist yet): anyone's.
    Empty,
    /// The one database whose migrations know every applied version.
    Database(&'static DatabaseSpec),
    /// Applied versions (listed) that no single database's migrations account for.
    Unknown(Vec<String>),
}

/// Tells which database `url` holds from its applied migrations.
///
/// # Errors
/// A database that cannot be reached or read (the message names the URL).
pub async fn owner(url: &DbUrl) -> anyhow::Result<Owner> {
    if url.sqlite_path().is_some_and(|p| !p.exists()) {
        return Ok(Owner::Empty);
    }
    let mut applied: Vec<String> = Vec::new();
    let mut owners = Vec::new();
    for spec in DATABASES {
        let status = db_core::migrate::status(url, spec.migrations)
            .await
            .with_context(|| format!("reading the migration ledger of {url}"))?;
        applied = status.applied().iter().map(|m| m.version.clone()).collect();
        if !applied.is_empty()
            && status
                .in_state(db_core::migrate::MigrationState::Missing)
                .is_empty()
        {
            owners.push(spec);
        }
    }
    Ok(match (applied.is_empty(), owners.as_slice()) {
        (true, _) => Owner::Empty,
        (false, [one]) => Owner::Database(one),
        (false, _) => Owner::Unknown(applied),
    })
}
