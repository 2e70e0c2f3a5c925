//! `codelab login`: the OAuth 2.0 password grant against auth-service; prints the access token.
//!
//! Only the token goes to stdout, so `export TOKEN=$(codelab login)` works; `--json` prints the
//! whole token response instead (with the refresh token). The password comes from
//! `CODELAB_PASSWORD`, one line of stdin (`--password-stdin`) or a no-echo prompt, never from
//! the command line.

use crate::client::{self, DEFAULT_AUTH_ADDR, describe};
use crate::{output, password};
use codelab_proto::auth::v1::{TokenRequest, TokenResponse};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;

/// Environment variable holding the password.
pub const PASSWORD_ENV: &str = "CODELAB_PASSWORD";

/// The client `codelab login` uses by default: the public client seeded by auth-service.
pub const CLI_CLIENT_ID: &str = "codelab-cli";

/// Options of `codelab login`.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// auth-service gRPC address.
    #[arg(long, env = "CODELAB_AUTH_ADDR", default_value = DEFAULT_AUTH_ADDR)]
    pub auth_addr: String,
    /// PEM file of the CAs trusted for an `https://` address (only these; the Mozilla roots
    /// when unset).
    #[arg(long, env = client::CA_FILE_ENV)]
    pub ca_file: Option<std::path::PathBuf>,
    /// User to log in as.
    #[arg(long, short = 'u', env = "CODELAB_USERNAME", default_value = "admin")]
    pub username: String,
    /// OAuth client to log in through.
    #[arg(long, default_value = CLI_CLIENT_ID)]
    pub client_id: String,
    /// Scopes to ask for, space-separated (default: all the user and client may have).
    #[arg(long, default_value = "")]
    pub scope: String,
    /// Read the password from the first line of stdin (when CODELAB_PASSWORD is unset).
    #[arg(long)]
    pub password_stdin: bool,
    /// Print the whole token response as JSON (access and refresh token, expiry, scope).
    #[arg(long)]
    pub json: bool,
    /// The password, for callers that have it already (tests); else read per the module docs.
    #[arg(skip)]
    pub password: Option<SecretString>,
}

/// Runs `codelab login`.
///
/// # Errors
/// No password, no auth-service, or a refused grant (`invalid_grant` for a wrong username or
/// password or a disabled account, `RESOURCE_EXHAUSTED` when locked out).
pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let response = login(&opts).await?;
    if opts.json {
        output::print(&output::json(&token_json(&response)))?;
    } else {
        output::println(&response.access_token)?;
    }
    Ok(())
}

/// The token response for `opts` (reads the password as `run` does).
///
/// # Errors
/// As [`run`].
pub async fn login(opts: &Opts) -> anyhow::Result<TokenResponse> {
    let password = match &opts.password {
        Some(p) => p.clone(),
        None => password::read(password::Source {
            env: PASSWORD_ENV,
            stdin: opts.password_stdin,
            prompt: &format!("Password for {}: ", opts.username),
        })?,
    };
    let conn = client::connect_to(
        "auth-service",
        &opts.auth_addr,
        None,
        opts.ca_file.as_deref(),
    )
    .await?;
    let response = conn
        .auth()
        .token(TokenRequest {
            grant_type: "password".to_owned(),
            client_id: opts.client_id.clone(),
            username: opts.username.clone(),
            password: password.expose_secret().to_owned(),
            scope: opts.scope.clone(),
            ..TokenRequest::default()
        })
        .await
        .map_err(|s| anyhow::anyhow!("logging in as `{}`: {}", opts.username, describe(&s)))?
        .into_inner();
    Ok(response)
}

/// The RFC 6749 §5.1 JSON shape of a token response.
pub fn token_json(response: &TokenResponse) -> serde_json::Value {
    json!({
        "access_token": response.access_token,
        "token_type": response.token_type,
        "expires_in": response.expires_in,
        "refresh_token": response.refresh_token,
        "scope": response.scope,
    })
}
