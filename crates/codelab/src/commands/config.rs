//! `codelab config check`: the effective configuration of each service as its variables
//! (secrets redacted), and every problem with it.
//!
//! Both services are loaded exactly as they load themselves (defaults < `--config` TOML <
//! `.env` < environment). A problem is anything the service would refuse to start with, or
//! that would break the pair (agent-runtime expecting another `iss`/`aud` than auth-service
//! issues, a PostgreSQL database that does not answer); a warning is a setting it starts with
//! that an operator should know about (authentication disabled, a random page-token key,
//! SQLite durability below `full`, seeded secrets that will be random, a non-loopback listen
//! address without TLS). The command exits
//! with status 1 when there is a problem, so deployment scripts can run it before starting.

use crate::output;
use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// `codelab config …`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print each service's effective configuration (secrets redacted) and its problems; exit
    /// status 1 when a service would not start or the two would not work together.
    Check(CheckOpts),
}

/// Options of `codelab config check`.
#[derive(Debug, Args)]
pub struct CheckOpts {
    /// Only this service.
    #[arg(long, value_enum)]
    pub service: Option<Service>,
    /// TOML file layered under `.env` and the environment, as the services' `--config`.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Do not connect to PostgreSQL databases (configuration only).
    #[arg(long)]
    pub offline: bool,
    /// One JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The services whose configuration is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Service {
    /// agent-runtime (`AGENT_RUNTIME__…`).
    AgentRuntime,
    /// auth-service (`AUTH_SERVICE__…`).
    AuthService,
}

/// What `config check` found for one service.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `agent-runtime` or `auth-service`.
    pub service: &'static str,
    /// `(VARIABLE, value)` sorted by name; secrets show as `[redacted]`, URLs without password.
    pub variables: Vec<(String, String)>,
    /// What keeps the service from starting or working with the other one.
    pub problems: Vec<String>,
    /// What it starts with but an operator should know.
    pub warnings: Vec<String>,
}

/// Runs `codelab config …`.
///
/// # Errors
/// When any service has a problem (after printing the reports), or stdout is closed.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Check(opts) => check(opts).await,
    }
}

async fn check(opts: CheckOpts) -> anyhow::Result<()> {
    let reports = reports(&opts).await;
    if opts.json {
        output::print(&output::json(&serde_json::to_value(&reports)?))?;
    } else {
        output::print(&render(&reports))?;
    }
    let problems: usize = reports.iter().map(|r| r.problems.len()).sum();
    if problems > 0 {
        bail!("{problems} configuration problem(s)");
    }
    Ok(())
}

/// Loads and checks the selected services.
pub async fn reports(opts: &CheckOpts) -> Vec<Report> {
    let file = opts.config.as_deref();
    let agent = agent_runtime::config::Config::load_unvalidated(file);
    let auth = auth_service::config::Config::load_unvalidated(file);
    let mut reports = Vec::new();
    if opts.service.is_none_or(|s| s == Service::AgentRuntime) {
        let mut report = match &agent {
            Ok(config) => Report {
                service: "agent-runtime",
                variables: variables(agent_runtime::config::ENV_PREFIX, config),
                problems: config.problems(),
                warnings: with_exposure(
                    config.warnings(),
                    agent_runtime::config::ENV_PREFIX,
                    config.grpc_addr,
                    &config.tls,
                ),
            },
            Err(e) => unloadable("agent-runtime", e),
        };
        if let (Ok(agent), Ok(auth)) = (&agent, &auth) {
            report.problems.extend(pair_problems(agent, auth));
        }
        if let Ok(config) = &agent
            && !opts.offline
            && let Ok(url) = config.database_url()
        {
            report
                .problems
                .extend(database_problem(agent_runtime::config::ENV_PREFIX, &url).await);
        }
        reports.push(report);
    }
    if opts.service.is_none_or(|s| s == Service::AuthService) {
        let mut report = match &auth {
            Ok(config) => Report {
                service: "auth-service",
                variables: variables(auth_service::config::ENV_PREFIX, config),
                problems: config.problems(),
                warnings: with_exposure(
                    config.warnings(),
                    auth_service::config::ENV_PREFIX,
                    config.grpc_addr,
                    &config.tls,
                ),
            },
            Err(e) => unloadable("auth-service", e),
        };
        if let Ok(config) = &auth
            && !opts.offline
            && let Ok(url) = config.database_url()
        {
            report
                .problems
                .extend(database_problem(auth_service::config::ENV_PREFIX, &url).await);
        }
        reports.push(report);
    }
    reports
}

/// `warnings` plus one when the service listens beyond loopback without TLS.
fn with_exposure(
    mut warnings: Vec<String>,
    prefix: &str,
    addr: std::net::SocketAddr,
    tls: &service_kit::tls::TlsSettings,
) -> Vec<String> {
    warnings.extend(service_kit::tls::exposure_warning(prefix, addr, tls));
    warnings
}

fn unloadable(service: &'static str, error: &impl std::fmt::Display) -> Report {
    Report {
        service,
        variables: Vec::new(),
        problems: vec![error.to_string()],
        warnings: Vec::new(),
    }
}

fn variables<T: Serialize>(prefix: &str, config: &T) -> Vec<(String, String)> {
    match serde_json::to_value(config) {
        Ok(value) => db_core::service::environment_view(prefix, &value),
        Err(e) => vec![(format!("{prefix}__*"), format!("[cannot show: {e}]"))],
    }
}

/// agent-runtime must accept the tokens auth-service issues: same `iss`, and `aud` among
/// the audiences auth-service puts in access tokens.
fn pair_problems(
    agent: &agent_runtime::config::Config,
    auth: &auth_service::config::Config,
) -> Vec<String> {
    let mut problems = Vec::new();
    let uses_auth_service = !agent.auth.disabled
        && agent
            .auth
            .jwks_url
            .as_deref()
            .is_none_or(|u| u.trim().is_empty());
    if !uses_auth_service {
        return problems;
    }
    if agent.auth.issuer != auth.issuer {
        problems.push(format!(
            "AGENT_RUNTIME__AUTH__ISSUER={:?} differs from AUTH_SERVICE__ISSUER={:?}: \
             agent-runtime would reject every token auth-service issues",
            agent.auth.issuer, auth.issuer
        ));
    }
    if agent.auth.audience != auth.audience {
        problems.push(format!(
            "AGENT_RUNTIME__AUTH__AUDIENCE={:?} differs from AUTH_SERVICE__AUDIENCE={:?}: \
             agent-runtime would reject every token auth-service issues",
            agent.auth.audience, auth.audience
        ));
    }
    problems
}

/// A PostgreSQL database must answer within 3 s. SQLite files are not opened (opening would
/// create them); a missing file is created at start.
async fn database_problem(prefix: &str, url: &db_core::DbUrl) -> Option<String> {
    if url.backend() != db_core::Backend::Postgres {
        return None;
    }
    let config = db_core::PoolConfig {
        max_size: 1,
        connect_timeout_ms: 3_000,
        wait_timeout_ms: 3_000,
        ..db_core::PoolConfig::default()
    };
    let ping = async {
        let pool = db_core::Pool::new(url, &config)?;
        let result = pool.ping().await;
        pool.close();
        result
    };
    match tokio::time::timeout(Duration::from_secs(5), ping).await {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(format!("{prefix}__DB_URL ({url}): {e}")),
        Err(_) => Some(format!("{prefix}__DB_URL ({url}): no answer within 5 s")),
    }
}

/// The text form: one block per service, variables as `NAME=value` lines (pasteable into a
/// `.env`), then problems (`error:`) and warnings (`warning:`).
pub fn render(reports: &[Report]) -> String {
    let mut text = String::new();
    for report in reports {
        text.push_str(&format!("# {}\n", report.service));
        for (name, value) in &report.variables {
            text.push_str(&format!("{name}={value}\n"));
        }
        if report.problems.is_empty() && report.warnings.is_empty() {
            text.push_str("# ok: no problems\n");
        }
        for problem in &report.problems {
            text.push_str(&format!("# error: {problem}\n"));
        }
        for warning in &report.warnings {
            text.push_str(&format!("# warning: {warning}\n"));
        }
        text.push('\n');
    }
    text
}
