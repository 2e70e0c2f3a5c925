//! `codelab auth`: auth-service operations that are neither users nor clients.
//!
//! `rotate-keys` calls the running service over gRPC; `rotate-kek` works on the auth database
//! itself (through auth-service's store), as the service would at start, because the
//! key-encryption key is configuration and never travels over the network.

use crate::client::{self, AuthConnectOpts, describe_with_hint};
use crate::output;
use codelab_proto::auth::v1::RotateSigningKeyRequest;
use serde_json::json;

/// The `auth` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a new signing key and sign with it from now on (AuthService.RotateSigningKey);
    /// the previous key stays published until its tokens have expired.
    RotateKeys(RotateKeysOpts),
    /// Re-encrypt every stored signing key under the first key-encryption key of
    /// AUTH_SERVICE__KEY_ENCRYPTION_KEY (or _FILE), in one transaction. Reads AUTH_SERVICE__DB_URL
    /// and the KEK variables as auth-service does (.env, environment, --auth-config). To rotate
    /// the KEK: prepend the new KEK to the list (`NEW,OLD`) everywhere, restart, run this, then
    /// drop the old KEK.
    RotateKek(RotateKekOpts),
}

/// Options of `auth rotate-kek`.
#[derive(Debug, Clone, clap::Args)]
pub struct RotateKekOpts {
    /// auth-service TOML configuration file (as `codelab up --auth-config`).
    #[arg(long, value_name = "FILE")]
    pub auth_config: Option<std::path::PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Options of `auth rotate-keys`.
#[derive(Debug, Clone, clap::Args)]
pub struct RotateKeysOpts {
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Server and credentials.
    #[command(flatten)]
    pub connect: AuthConnectOpts,
}

/// Runs an `auth` subcommand.
///
/// # Errors
/// No auth-service, or a refused call (needs scope api:admin).
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::RotateKek(opts) => rotate_kek(&opts).await,
        Command::RotateKeys(opts) => {
            let conn = client::connect_auth(&opts.connect).await?;
            let rotated = conn
                .auth()
                .rotate_signing_key(RotateSigningKeyRequest {})
                .await
                .map_err(|s| {
                    anyhow::anyhow!("rotating the signing key: {}", describe_with_hint(&s))
                })?
                .into_inner();
            if opts.json {
                output::print(&output::json(&json!({
                    "kid": rotated.kid,
                    "published_kids": rotated.published_kids,
                })))?;
            } else {
                output::println(&format!(
                    "signing with new key {}; published keys: {}",
                    rotated.kid,
                    rotated.published_kids.join(", ")
                ))?;
            }
            Ok(())
        }
    }
}

/// `auth rotate-kek`: every signing key opened with the configured KEKs and sealed under the
/// first, in one transaction (nothing changes if one row does not open).
///
/// # Errors
/// A missing or malformed KEK or database URL (naming the variable), an unreachable or
/// unmigrated database, or a stored key no configured KEK opens.
async fn rotate_kek(opts: &RotateKekOpts) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use auth_service::store::{Reseal, Store};
    let config = auth_service::config::Config::load_unvalidated(opts.auth_config.as_deref())?;
    let keks = config.key_encryption_keys()?;
    let url = config.database_url()?;
    let pool = db_core::Pool::connect(&url, &config.db.pool_config())
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let result = async {
        db_core::migrate::check(&pool, &auth_service::migrations::MIGRATIONS)
            .await
            .context("the auth database's migrations (start auth-service once to apply them)")?;
        Store::new(pool.clone())
            .seal_signing_keys(&keks, Reseal::NotUnderPrimary)
            .await
            .context("re-encrypting the signing keys (nothing was changed)")
    }
    .await;
    pool.close();
    let sealed = result?;
    if opts.json {
        output::print(&output::json(&json!({
            "kek_id": keks.primary_id(),
            "keys": sealed.rows,
            "reencrypted_kids": sealed.rewritten,
        })))?;
    } else {
        output::println(&format!(
            "{} of {} signing keys re-encrypted under KEK {}; every key now opens with it",
            sealed.rewritten.len(),
            sealed.rows,
            keks.primary_id()
        ))?;
    }
    Ok(())
}
