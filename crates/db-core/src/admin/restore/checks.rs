//! The refusals of a restore: a backup of another database or from a newer schema, a target
//! that is another database's, a target newer than the backup or lacking a backup's column.

use crate::admin::backup::format::Manifest;
use crate::admin::schema::Schema;
use crate::admin::{AdminError, Result, tables_of};
use crate::migrate::{self, MigrationSet, MigrationState};
use crate::{Backend, DbUrl};

/// Refuses a manifest of another database or from a schema newer than `set` knows.
pub(crate) fn check_restorable(manifest: &Manifest, set: &MigrationSet) -> Result<()> {
    if manifest.database != set.name {
        return Err(AdminError::Refused(format!(
            "backup is of database `{}`, not `{}`",
            manifest.database, set.name
        )));
    }
    if let Some(v) = &manifest.schema_version
        && !set.knows(v)
    {
        return Err(AdminError::Refused(format!(
            "backup schema version {v} is unknown to this binary (newest known: {}); use a \
             newer codelab",
            set.latest_version().unwrap_or_else(|| "none".into())
        )));
    }
    Ok(())
}

/// Refuses a target that belongs to another database than `set`'s: its migration ledger holds
/// versions `set` does not know ([`MigrationState::Missing`]), or it has tables that no
/// migration of `set` creates. Restoring over such a target would replace another database's
/// rows (the CLI once picked the migrations from the backup, so a backup of `auth` restored
/// "into" `agent_runtime` passed every other check).
pub(super) async fn check_target_belongs(
    url: &DbUrl,
    set: &MigrationSet,
    status: &migrate::StatusReport,
    live: &Schema,
) -> Result<()> {
    let name = set.name;
    let unknown: Vec<&str> = status
        .in_state(MigrationState::Missing)
        .iter()
        .map(|m| m.version.as_str())
        .collect();
    if !unknown.is_empty() {
        return Err(AdminError::Refused(format!(
            "target {url} is not a `{name}` database: its migration ledger holds version(s) {} \
             that `{name}` does not know (another database's, or applied by a newer codelab); \
             restore into a `{name}` database or an empty one",
            unknown.join(", ")
        )));
    }
    let known = tables_of(set).await?;
    let foreign: Vec<&str> = live
        .tables
        .keys()
        .filter(|t| !known.contains(*t))
        .map(String::as_str)
        .collect();
    if !foreign.is_empty() {
        return Err(AdminError::Refused(format!(
            "target {url} is not a `{name}` database: it has table(s) {} that no migration of \
             `{name}` creates; restore into a `{name}` database or an empty one",
            foreign.join(", ")
        )));
    }
    Ok(())
}

/// The migrations of `set` a target whose ledger holds `applied` needs to reach the backup's
/// `version`, oldest first (none for a backup of a never-migrated database). Read inside the
/// load transaction, so a concurrent migrator cannot slip in between.
///
/// # Errors
/// [`AdminError::Refused`] when the target holds a version newer than `version` or one `set`
/// does not know.
pub(super) fn migrations_to_apply(
    set: &MigrationSet,
    backend: Backend,
    applied: &[String],
    version: Option<&str>,
) -> Result<Vec<&'static migrate::Migration>> {
    if let Some(unknown) = applied.iter().find(|a| !set.knows(a)) {
        return Err(AdminError::Refused(format!(
            "target holds migration {unknown}, unknown to `{}`",
            set.name
        )));
    }
    let Some(v) = version else {
        return Ok(Vec::new());
    };
    if let Some(newer) = applied.iter().find(|a| a.as_str() > v) {
        return Err(AdminError::Refused(format!(
            "target schema {newer} is newer than the backup's {v}"
        )));
    }
    Ok(set
        .for_backend(backend)
        .iter()
        .filter(|m| {
            let mv = m.version();
            mv.as_str() <= v && !applied.contains(&mv)
        })
        .collect())
}

/// Checks that every table and column of the backup exists in the target's `schema`.
pub(super) fn check_target_columns(manifest: &Manifest, schema: &Schema) -> Result<()> {
    for t in &manifest.tables {
        let Some(live) = schema.tables.get(&t.name) else {
            return Err(AdminError::Refused(format!(
                "table {} of the backup does not exist in the target",
                t.name
            )));
        };
        if let Some(c) = t
            .columns
            .iter()
            .find(|c| !live.columns.iter().any(|l| &l.name == *c))
        {
            return Err(AdminError::Refused(format!(
                "column {}.{c} of the backup does not exist in the target",
                t.name
            )));
        }
    }
    Ok(())
}
