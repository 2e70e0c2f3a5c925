//! `codelab users`: manage auth-service accounts over gRPC (`UserService`; needs an
//! administrator's token, `--token` or `CODELAB_TOKEN`).
//!
//! A user is named by user id or username; a username is looked up with `ListUsers`. New
//! passwords come from `CODELAB_NEW_PASSWORD`, one line of stdin (`--password-stdin`) or a
//! no-echo prompt, never from the command line. Changing your own password (the token's user)
//! needs your current one too: `CODELAB_PASSWORD`, a line of stdin (`--current-password-stdin`,
//! read before the new password's line) or a prompt.

use crate::client::{self, AuthChannel, AuthConnectOpts, describe_with_hint};
use crate::commands::sessions::format_timestamp;
use crate::{output, password};
use anyhow::Context as _;
use codelab_proto::auth::v1::user_service_client::UserServiceClient;
use codelab_proto::auth::v1::{
    ChangePasswordRequest, CreateUserRequest, DeleteUserRequest, DisableUserRequest,
    GetCurrentUserRequest, GetUserRequest, ListUsersRequest, UnlockUserRequest, User,
};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;

/// Environment variable holding the new password of `create` and `passwd`.
pub const NEW_PASSWORD_ENV: &str = "CODELAB_NEW_PASSWORD";

/// Environment variable holding your current password when `passwd` changes your own (the
/// same one `codelab login` reads).
pub const CURRENT_PASSWORD_ENV: &str = crate::commands::login::PASSWORD_ENV;

/// The `users` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a user (password from CODELAB_NEW_PASSWORD, --password-stdin or a prompt).
    Create(CreateOpts),
    /// List users.
    List(crate::client::ListOpts),
    /// Show one user.
    Get(UserOpts),
    /// Disable a user: no more logins, refresh tokens revoked.
    Disable(UserOpts),
    /// Enable a disabled user again.
    Enable(UserOpts),
    /// Delete a user and their refresh tokens.
    Delete(UserOpts),
    /// End a user's failed-login lockout now (audited).
    Unlock(UserOpts),
    /// Set a user's password (CODELAB_NEW_PASSWORD, --password-stdin or a prompt); revokes
    /// their refresh tokens. Your own needs your current password too (CODELAB_PASSWORD,
    /// --current-password-stdin or a prompt).
    Passwd(PasswdOpts),
}

/// Options of `users create`.
#[derive(Debug, Clone, clap::Args)]
pub struct CreateOpts {
    /// Username: 3–64 characters of [A-Za-z0-9._-].
    pub username: String,
    /// Email address.
    #[arg(long, default_value = "")]
    pub email: String,
    /// Scopes the user may be granted, space-separated (default "api:read api:write").
    #[arg(long, default_value = "")]
    pub scopes: String,
    /// Read the password from the first line of stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// Print the user as JSON.
    #[arg(long)]
    pub json: bool,
    /// Server and credentials.
    #[command(flatten)]
    pub connect: AuthConnectOpts,
}

/// Options of the subcommands that act on one user.
#[derive(Debug, Clone, clap::Args)]
pub struct UserOpts {
    /// User id or username.
    pub user: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Server and credentials.
    #[command(flatten)]
    pub connect: AuthConnectOpts,
}

/// Options of `users passwd`.
#[derive(Debug, Clone, clap::Args)]
pub struct PasswdOpts {
    /// User id or username.
    pub user: String,
    /// Read the new password from a line of stdin (after the current password's line when
    /// --current-password-stdin is given too).
    #[arg(long)]
    pub password_stdin: bool,
    /// When changing your own password: read the current one from the first line of stdin
    /// (when CODELAB_PASSWORD is unset).
    #[arg(long)]
    pub current_password_stdin: bool,
    /// Server and credentials.
    #[command(flatten)]
    pub connect: AuthConnectOpts,
}

/// Runs a `users` subcommand.
///
/// # Errors
/// No auth-service, no password, an unknown user, or a refused call (the message carries the
/// gRPC code and, for `UNAUTHENTICATED` / `PERMISSION_DENIED`, what to do).
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Create(opts) => {
            let password = new_password(opts.password_stdin, &opts.username)?;
            let mut users = connect(&opts.connect).await?;
            let user = users
                .create_user(CreateUserRequest {
                    username: opts.username.clone(),
                    email: opts.email,
                    password: password.expose_secret().to_owned(),
                    scopes: opts.scopes,
                })
                .await
                .map_err(|s| {
                    anyhow::anyhow!(
                        "creating user `{}`: {}",
                        opts.username,
                        describe_with_hint(&s)
                    )
                })?
                .into_inner();
            print_user(&user, opts.json)
        }
        Command::List(opts) => {
            let mut users = connect(&opts.connect).await?;
            let listed = users
                .list_users(ListUsersRequest {
                    page_size: opts.page_size,
                    page_token: opts.page_token,
                })
                .await;
            super::page::print("users", listed, user_json, table, opts.json)
        }
        Command::Get(opts) => {
            let mut users = connect(&opts.connect).await?;
            let user = resolve(&mut users, &opts.user).await?;
            print_user(&user, opts.json)
        }
        Command::Disable(opts) => set_enabled(opts, false).await,
        Command::Enable(opts) => set_enabled(opts, true).await,
        Command::Delete(opts) => {
            let mut users = connect(&opts.connect).await?;
            let user = resolve(&mut users, &opts.user).await?;
            users
                .delete_user(DeleteUserRequest {
                    user_id: user.user_id.clone(),
                })
                .await
                .map_err(|s| {
                    anyhow::anyhow!("deleting user `{}`: {}", opts.user, describe_with_hint(&s))
                })?;
            if opts.json {
                output::print(&output::json(&json!({ "deleted": user.user_id })))?;
            } else {
                output::println(&format!(
                    "deleted user {} ({})",
                    user.username, user.user_id
                ))?;
            }
            Ok(())
        }
        Command::Unlock(opts) => {
            let mut users = connect(&opts.connect).await?;
            let user = resolve(&mut users, &opts.user).await?;
            let unlocked = users
                .unlock_user(UnlockUserRequest {
                    user_id: user.user_id.clone(),
                })
                .await
                .map_err(|s| {
                    anyhow::anyhow!("unlocking user `{}`: {}", opts.user, describe_with_hint(&s))
                })?
                .into_inner();
            if opts.json {
                output::print(&output::json(&json!({
                    "user_id": user.user_id,
                    "username": user.username,
                    "was_locked": unlocked.was_locked,
                    "cleared_failures": unlocked.cleared_failures,
                })))?;
            } else if unlocked.was_locked {
                output::println(&format!(
                    "unlocked {} ({} failed logins forgotten)",
                    user.username, unlocked.cleared_failures
                ))?;
            } else {
                output::println(&format!(
                    "{} was not locked out ({} failed logins forgotten)",
                    user.username, unlocked.cleared_failures
                ))?;
            }
            Ok(())
        }
        Command::Passwd(opts) => {
            let mut users = connect(&opts.connect).await?;
            // The token's own user (none for a client_credentials token).
            let me = users
                .get_current_user(GetCurrentUserRequest {})
                .await
                .ok()
                .map(tonic::Response::into_inner);
            let (user, own) = match me {
                Some(me)
                    if me.user_id == opts.user || me.username.eq_ignore_ascii_case(&opts.user) =>
                {
                    (me, true)
                }
                _ => (resolve(&mut users, &opts.user).await?, false),
            };
            // auth-service asks for the current password only of your own account.
            let current = if own {
                password::read(password::Source {
                    env: CURRENT_PASSWORD_ENV,
                    stdin: opts.current_password_stdin,
                    prompt: &format!("Current password for {}: ", user.username),
                })
                .context("reading your current password")?
            } else {
                SecretString::from(String::new())
            };
            let password = new_password(opts.password_stdin, &user.username)?;
            let changed = users
                .change_password(ChangePasswordRequest {
                    user_id: user.user_id.clone(),
                    current_password: current.expose_secret().to_owned(),
                    new_password: password.expose_secret().to_owned(),
                })
                .await
                .map_err(|s| {
                    anyhow::anyhow!(
                        "changing the password of `{}`: {}",
                        opts.user,
                        describe_with_hint(&s)
                    )
                })?
                .into_inner();
            output::println(&format!(
                "password of {} changed; {} refresh tokens revoked",
                user.username, changed.revoked_refresh_tokens
            ))?;
            Ok(())
        }
    }
}

async fn connect(opts: &AuthConnectOpts) -> anyhow::Result<UserServiceClient<AuthChannel>> {
    Ok(client::connect_auth(opts).await?.users())
}

fn new_password(stdin: bool, username: &str) -> anyhow::Result<SecretString> {
    password::read(password::Source {
        env: NEW_PASSWORD_ENV,
        stdin,
        prompt: &format!("New password for {username}: "),
    })
    .context("reading the new password")
}

async fn set_enabled(opts: UserOpts, enable: bool) -> anyhow::Result<()> {
    let mut users = connect(&opts.connect).await?;
    let user = resolve(&mut users, &opts.user).await?;
    let verb = if enable { "enabling" } else { "disabling" };
    let user = users
        .disable_user(DisableUserRequest {
            user_id: user.user_id,
            enable,
        })
        .await
        .map_err(|s| anyhow::anyhow!("{verb} user `{}`: {}", opts.user, describe_with_hint(&s)))?
        .into_inner();
    print_user(&user, opts.json)
}

/// The user whose id or username is `user`: `GetUser` first, then a walk through `ListUsers`
/// for a matching username (case-insensitive, as auth-service compares them).
///
/// # Errors
/// No such user, or a refused call.
pub async fn resolve(
    users: &mut UserServiceClient<AuthChannel>,
    user: &str,
) -> anyhow::Result<User> {
    match users
        .get_user(GetUserRequest {
            user_id: user.to_owned(),
        })
        .await
    {
        Ok(found) => return Ok(found.into_inner()),
        Err(s)
            if matches!(
                s.code(),
                tonic::Code::NotFound | tonic::Code::InvalidArgument
            ) => {}
        Err(s) => anyhow::bail!("looking up user `{user}`: {}", describe_with_hint(&s)),
    }
    let mut page_token = String::new();
    loop {
        let page = users
            .list_users(ListUsersRequest {
                page_size: 1000,
                page_token: page_token.clone(),
            })
            .await
            .map_err(|s| anyhow::anyhow!("looking up user `{user}`: {}", describe_with_hint(&s)))?
            .into_inner();
        if let Some(found) = page
            .users
            .into_iter()
            .find(|u| u.username.eq_ignore_ascii_case(user))
        {
            return Ok(found);
        }
        if page.next_page_token.is_empty() || page.next_page_token == page_token {
            anyhow::bail!("no user with id or username `{user}`");
        }
        page_token = page.next_page_token;
    }
}

fn print_user(user: &User, json: bool) -> anyhow::Result<()> {
    if json {
        output::print(&output::json(&user_json(user)))?;
    } else {
        output::print(&table(std::slice::from_ref(user)))?;
    }
    Ok(())
}

/// Users as a table: USERNAME, ID, EMAIL, SCOPES, ACTIVE, LAST LOGIN.
pub fn table(users: &[User]) -> String {
    output::table(
        &["USERNAME", "ID", "EMAIL", "SCOPES", "ACTIVE", "LAST LOGIN"],
        users.iter().map(|u| {
            vec![
                u.username.clone(),
                u.user_id.clone(),
                u.email.clone(),
                u.scopes.clone(),
                if u.is_active { "yes" } else { "no" }.to_owned(),
                format_timestamp(u.last_login_at.as_ref()),
            ]
        }),
    )
}

/// A user as JSON (timestamps RFC 3339, `null` when unset).
pub fn user_json(user: &User) -> serde_json::Value {
    json!({
        "user_id": user.user_id,
        "username": user.username,
        "email": user.email,
        "is_active": user.is_active,
        "is_verified": user.is_verified,
        "scopes": user.scopes,
        "created_at": rfc3339(user.created_at.as_ref()),
        "updated_at": rfc3339(user.updated_at.as_ref()),
        "last_login_at": rfc3339(user.last_login_at.as_ref()),
    })
}

/// A protobuf timestamp as RFC 3339 (`2025-01-31T12:00:00.123456Z`), or `null`.
pub fn rfc3339(ts: Option<&prost_types::Timestamp>) -> serde_json::Value {
    ts.and_then(|t| {
        chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
    })
    .map(|t| serde_json::Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)))
    .unwrap_or(serde_json::Value::Null)
}
