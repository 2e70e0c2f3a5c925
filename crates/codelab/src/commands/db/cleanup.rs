//! `codelab db cleanup agent_runtime --inactive-hours H --purge-deleted-days D [--execute]` and
//! `codelab db cleanup auth [--refresh-token-days D] [--login-attempt-days D] [--audit-days D]
//! [--execute]`.
//!
//! Dry run by default: prints what would go. With `--execute`, works in batches (each its own
//! short transaction, so the service keeps writing), then runs `VACUUM` on SQLite.

use super::{Target, print_json};
use crate::output::println;
use db_core::admin::Progress as _;

/// Options of `db cleanup`.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Database (`agent_runtime` or `auth`).
    #[command(flatten)]
    pub target: Target,
    /// Soft-delete sessions idle for this many hours (0 = skip).
    #[arg(long, value_name = "H", default_value_t = 0)]
    pub inactive_hours: i64,
    /// Remove for good sessions soft-deleted this many days ago, with their messages (0 = skip).
    #[arg(long, value_name = "D", default_value_t = 0)]
    pub purge_deleted_days: i64,
    /// auth: remove refresh tokens expired or revoked more than this many days ago.
    #[arg(long, value_name = "D", default_value_t = 7)]
    pub refresh_token_days: i64,
    /// auth: remove login-attempt counters untouched for this many days.
    #[arg(long, value_name = "D", default_value_t = 1)]
    pub login_attempt_days: i64,
    /// auth: remove audit entries older than this many days.
    #[arg(long, value_name = "D", default_value_t = 365)]
    pub audit_days: i64,
    /// Sessions (agent_runtime) or rows of each kind (auth) per batch.
    #[arg(long, default_value_t = 500)]
    pub batch: i64,
    /// agent_runtime: messages purged per batch at most, summed over its sessions (a longer
    /// session is purged alone).
    #[arg(long, value_name = "N", default_value_t = agent_runtime::store::CleanupBatch::DEFAULT.messages)]
    pub batch_messages: i64,
    /// Delete (without it, only print what would go).
    #[arg(long)]
    pub execute: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Applies the database's retention: agent_runtime's sessions, or auth's expired tokens, old
/// login counters and audit entries.
///
/// # Errors
/// A database without a cleanup rule, negative limits, database errors.
pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let db = opts.target.one()?;
    if db.spec.name == "auth" {
        return run_auth(&opts, &db).await;
    }
    if db.spec.name != "agent_runtime" {
        anyhow::bail!(
            "no cleanup rule for database `{}` in this build",
            db.spec.name
        );
    }
    if opts.inactive_hours < 0 || opts.purge_deleted_days < 0 {
        anyhow::bail!("--inactive-hours and --purge-deleted-days must be ≥ 0");
    }
    if opts.batch < 1 || opts.batch_messages < 1 {
        anyhow::bail!("--batch and --batch-messages must be ≥ 1");
    }
    let batch = agent_runtime::store::CleanupBatch {
        sessions: opts.batch,
        messages: opts.batch_messages,
    };
    if opts.inactive_hours == 0 && opts.purge_deleted_days == 0 {
        anyhow::bail!("nothing to do: give --inactive-hours and/or --purge-deleted-days");
    }
    let pool = db.open_existing().await?;
    let store = agent_runtime::store::Store::new(pool.clone());
    let err = |e: agent_runtime::error::Error| anyhow::anyhow!("{}: {e}", db.label());
    let plan = store
        .cleanup_sessions(opts.inactive_hours, opts.purge_deleted_days, true)
        .await
        .map_err(err)?;
    let mut done = agent_runtime::model::CleanupReport::default();
    let mut batches = 0_u64;
    let mut vacuumed = false;
    if opts.execute {
        let progress = super::progress::Reporter::new();
        progress.start(
            "cleanup sessions",
            u64::try_from(plan.purged + plan.soft_deleted).unwrap_or(0),
        );
        loop {
            let step = store
                .cleanup_sessions_batch(opts.inactive_hours, opts.purge_deleted_days, batch)
                .await
                .map_err(err)?;
            done.purged += step.purged;
            done.soft_deleted += step.soft_deleted;
            progress.advance(u64::try_from(step.purged + step.soft_deleted).unwrap_or(0));
            if step.purged == 0 && step.soft_deleted == 0 {
                break;
            }
            batches += 1;
        }
        progress.finish();
        pool.close();
        vacuumed = db_core::admin::vacuum(&db.url).await?;
    }
    if opts.json {
        return print_json(&serde_json::json!({
            "database": db.spec.name,
            "dry_run": !opts.execute,
            "would_purge": plan.purged,
            "would_soft_delete": plan.soft_deleted,
            "purged": done.purged,
            "soft_deleted": done.soft_deleted,
            "batches": batches,
            "vacuumed": vacuumed,
        }));
    }
    if opts.execute {
        println(&format!(
            "{}: purged {} sessions deleted more than {} days ago, soft-deleted {} idle more than {} h, in {} batch(es){}",
            db.spec.name,
            done.purged,
            opts.purge_deleted_days,
            done.soft_deleted,
            opts.inactive_hours,
            batches,
            if vacuumed { "; VACUUM done" } else { "" }
        ))?;
    } else {
        println(&format!(
            "{}: would purge {} sessions deleted more than {} days ago (with their messages) and \
             soft-delete {} sessions idle more than {} h (dry run: pass --execute)",
            db.spec.name,
            plan.purged,
            opts.purge_deleted_days,
            plan.soft_deleted,
            opts.inactive_hours
        ))?;
    }
    Ok(())
}

/// auth: removes what is past retention in batches (each its own transaction), or, dry, counts
/// it in one snapshot.
async fn run_auth(opts: &Opts, db: &super::Resolved) -> anyhow::Result<()> {
    if opts.refresh_token_days < 1 || opts.login_attempt_days < 1 || opts.audit_days < 1 {
        anyhow::bail!("--refresh-token-days, --login-attempt-days and --audit-days must be ≥ 1");
    }
    if opts.batch < 1 {
        anyhow::bail!("--batch must be ≥ 1");
    }
    let pool = db.open_existing().await?;
    let store = auth_service::store::Store::new(pool.clone());
    let retention = auth_service::store::Retention {
        refresh_token_days: opts.refresh_token_days,
        login_attempt_days: opts.login_attempt_days,
        audit_days: opts.audit_days,
    };
    let cleaned = if opts.execute {
        store.cleanup_in_batches(retention, opts.batch).await
    } else {
        store.cleanup(retention, true).await
    }
    .map_err(|e| anyhow::anyhow!("{}: {e}", db.label()))?;
    pool.close();
    let vacuumed = opts.execute && db_core::admin::vacuum(&db.url).await?;
    if opts.json {
        return print_json(&serde_json::json!({
            "database": db.spec.name,
            "dry_run": !opts.execute,
            "refresh_tokens": cleaned.refresh_tokens,
            "login_attempts": cleaned.login_attempts,
            "audit_logs": cleaned.audit_logs,
            "vacuumed": vacuumed,
        }));
    }
    let verb = if opts.execute {
        "removed"
    } else {
        "would remove"
    };
    println(&format!(
        "{}: {verb} {} refresh tokens, {} login counters, {} audit entries{}",
        db.spec.name,
        cleaned.refresh_tokens,
        cleaned.login_attempts,
        cleaned.audit_logs,
        if opts.execute {
            if vacuumed { "; VACUUM done" } else { "" }
        } else {
            " (dry run: pass --execute)"
        }
    ))?;
    Ok(())
}
