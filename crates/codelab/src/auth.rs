//! `codelab auth`: auth-service operations that are neither users nor clients.

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
