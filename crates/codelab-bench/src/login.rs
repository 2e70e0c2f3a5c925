//! `codelab-bench login`: the OAuth 2.0 password grant (`AuthService.Token`, RFC 6749 §4.3)
//! against auth-service, each client logging in as the same user again and again.
//!
//! A login costs one argon2id verification (OWASP parameters: m = 19 MiB, t = 2, p = 1; tens of
//! ms of one core) plus one write transaction (lockout counters, a new refresh-token family,
//! the audit entry), so this workload measures auth-service's login ceiling, bounded by the
//! CPU. auth-service's per-address rate limit (`AUTH_SERVICE__RATE_LIMIT__*`, 20/s by default)
//! applies to this client too: raise it, or turn it off with `0`, for the server under test,
//! or the report counts `RESOURCE_EXHAUSTED` answers.

use anyhow::Context as _;
use codelab_proto::auth::v1::auth_service_server::SERVICE_NAME;
use codelab_proto::auth::v1::{TokenRequest, TokenResponse};
use secrecy::{ExposeSecret as _, SecretString};

use crate::RunOpts;
use crate::report::{Report, Row};
use crate::runner::{self, Workload};
use crate::wire::{MethodPath, WireClient};
use codelab::client::{self, DEFAULT_AUTH_ADDR};
use codelab::commands::login::{CLI_CLIENT_ID, PASSWORD_ENV};

/// Options of `codelab-bench login`.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// auth-service gRPC address (must be a loopback one).
    #[arg(long, env = "CODELAB_AUTH_ADDR", default_value = DEFAULT_AUTH_ADDR)]
    pub auth_addr: String,
    /// User every client logs in as; the password comes from `CODELAB_PASSWORD` or a prompt.
    #[arg(long, short = 'u', env = "CODELAB_USERNAME", default_value = "admin")]
    pub username: String,
    /// OAuth client the logins go through (a public client allowed the password grant).
    #[arg(long, default_value = CLI_CLIENT_ID)]
    pub client_id: String,
    /// Clients, duration, output.
    #[command(flatten)]
    pub run: RunOpts,
    /// The password, for callers that have it already (tests); else read from the environment.
    #[arg(skip)]
    pub password: Option<SecretString>,
}

struct LoginClient {
    client: WireClient,
    method: MethodPath,
    request: TokenRequest,
}

impl Workload for LoginClient {
    async fn call(&mut self) -> Result<(), tonic::Status> {
        self.client
            .unary::<_, TokenResponse>(&self.method, &self.request)
            .await
            .map(|_| ())
    }
}

/// Checks the credentials with one login, runs the workload and returns the report without
/// printing it.
///
/// # Errors
/// A non-loopback address, no password, an unreachable auth-service, or a first login that is
/// refused (wrong password, locked account, client not allowed the password grant).
pub async fn measure(opts: Opts) -> anyhow::Result<Report> {
    crate::ensure_loopback(&opts.auth_addr).await?;
    let password = match &opts.password {
        Some(p) => p.clone(),
        None => codelab::password::read(codelab::password::Source {
            env: PASSWORD_ENV,
            stdin: false,
            prompt: &format!("Password for {}: ", opts.username),
        })?,
    };
    let request = TokenRequest {
        grant_type: "password".to_owned(),
        client_id: opts.client_id.clone(),
        username: opts.username.clone(),
        password: password.expose_secret().to_owned(),
        ..TokenRequest::default()
    };
    let method = MethodPath::new(SERVICE_NAME, "Token")?;
    let mut clients = Vec::with_capacity(opts.run.clients as usize);
    for _ in 0..opts.run.clients {
        clients.push(LoginClient {
            client: WireClient::connect(&opts.auth_addr, None)
                .await
                .context("cannot connect to auth-service")?,
            method: method.clone(),
            request: request.clone(),
        });
    }
    clients[0]
        .client
        .unary::<_, TokenResponse>(&method, &request)
        .await
        .map_err(|s| anyhow::anyhow!(client::describe(&s)))
        .with_context(|| format!("the first login as `{}` was refused", opts.username))?;
    let m = runner::drive(clients, opts.run.warmup, opts.run.duration).await;
    Ok(Report::new(
        "login",
        opts.auth_addr.clone(),
        &opts.run,
        format!("password grant as `{}`", opts.username),
        vec![Row::new("login", &m)],
    ))
}
