//! A service's database at start: connect the pool, then apply pending migrations or, when
//! `…__DB__AUTO_MIGRATE` is off, check that the applied ones are unchanged.

use db_core::migrate::MigrationSet;
use db_core::{DbError, DbSettings, DbUrl, Pool};

/// Connects to `url` with `settings`' pool and brings its schema to `migrations` (or checks
/// it, when `settings.auto_migrate` is off). Logs the (password-free) URL and the migrations
/// applied.
///
/// # Errors
/// [`DbError`] when the database is unreachable, a migration fails, or an applied migration
/// was edited.
pub async fn open(
    url: &DbUrl,
    settings: &DbSettings,
    migrations: &'static MigrationSet,
) -> Result<Pool, DbError> {
    tracing::info!(database = %url, "connecting to database");
    let pool = Pool::connect(url, &settings.pool_config()).await?;
    if settings.auto_migrate {
        let applied = db_core::migrate::run_pending(&pool, migrations).await?;
        if !applied.is_empty() {
            tracing::info!(?applied, "applied migrations");
        }
    } else {
        // Not migrating is allowed; running on a schema whose migrations were edited is not.
        db_core::migrate::check(&pool, migrations).await?;
    }
    Ok(pool)
}

/// A unit test that fails when a migration folder under the crate's `migrations/` is not
/// listed in `$set` (a `db_core::migrate::MigrationSet`).
#[macro_export]
macro_rules! every_migration_folder_is_listed {
    ($set:path) => {
        #[cfg(test)]
        #[test]
        fn every_migration_folder_is_listed() {
            let root = ::std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
            ::db_core::migrate::check_listed(&$set, &root).unwrap();
        }
    };
}
