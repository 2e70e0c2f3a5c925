//! The gRPC server of agent-runtime: its database, authentication and three services, served by
//! service-kit (health, reflection, the request size limit on every service, metrics, TLS and
//! graceful shutdown).

use crate::auth::{AuthError, Authenticator};
use crate::config::Config;
use crate::grpc::{AgentContextApi, ApprovalApi, SessionApi, Shared};
use crate::page_token::PageTokens;
use crate::store::Store;
use codelab_proto::agent::v1::agent_context_service_server::AgentContextServiceServer;
use codelab_proto::agent::v1::approval_service_server::ApprovalServiceServer;
use codelab_proto::agent::v1::session_service_server::SessionServiceServer;
use secrecy::ExposeSecret;
use service_kit::serve::limited;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tonic::service::Routes;

/// Why the server could not start or stopped with an error.
pub type ServeError = service_kit::serve::ServeError<StartError>;

/// agent-runtime's own start-up failure: the token verifier could not be set up (no JWK Set).
#[derive(Debug, thiserror::Error)]
#[error("authentication setup: {0}")]
pub struct StartError(#[from] pub AuthError);

/// Binds `config.grpc_addr` and serves until `shutdown` resolves (see [`serve`]).
///
/// # Errors
/// [`ServeError`] when the address cannot be bound or start-up fails.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let listener = TcpListener::bind(config.grpc_addr).await?;
    serve(config, listener, shutdown).await
}

/// Serves agent-runtime on `listener` until `shutdown` resolves: connects the pool, applies
/// pending migrations (unless `db.auto_migrate` is off), loads the JWK Set, then serves the
/// three services with grpc.health.v1 and reflection (v1 and v1alpha). On shutdown it stops
/// accepting, gives in-flight RPCs `shutdown_grace_secs`, and closes the pool.
///
/// # Errors
/// [`ServeError`] when the database, migrations or key set are unavailable at start, or the
/// transport fails.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    config.validate()?;
    let url = config.database_url()?;
    let pool =
        service_kit::database::open(&url, &config.db, &crate::migrations::MIGRATIONS).await?;
    let auth = Authenticator::from_config(&config.auth)
        .await
        .map_err(|e| ServeError::Service(StartError(e)))?;
    let tokens = match &config.page_token_secret {
        Some(secret) if !secret.expose_secret().is_empty() => {
            PageTokens::new(secret.expose_secret().as_bytes())
        }
        _ => PageTokens::random(),
    };
    let shared = Shared {
        store: Store::new(pool.clone()).with_limits(config.limits.session_limits()),
        auth,
        tokens,
        limits: config.limits.clone(),
        counter: crate::tokenizer::Counter::per_core(config.tokenizer),
    };
    let admin = service_kit::admin::Admin::start(
        url,
        &config.backup,
        &crate::migrations::MIGRATIONS,
        crate::grpc::status::DOMAIN,
    );

    let max = config.limits.max_request_bytes;
    let service = service_kit::serve::Service {
        name: "agent-runtime",
        version: env!("CARGO_PKG_VERSION"),
        env_prefix: crate::config::ENV_PREFIX,
        grpc_services: &[SESSION, AGENT_CONTEXT, APPROVAL, ADMIN],
        http_paths: &[],
        database: ("agent_runtime", pool),
        max_request_bytes: max,
        // RESOURCE_EXHAUSTED with agent-runtime's ErrorInfo (grpc/limit.rs).
        refuse: crate::grpc::limit::refuse,
        health_check_interval: Duration::from_millis(config.health_check_interval_ms),
        shutdown_grace: Duration::from_secs(config.shutdown_grace_secs),
        metrics_addr: config.metrics_addr,
        tls: config.tls.clone(),
        cors: config.cors.clone(),
        tasks: admin.scheduled().into_iter().collect(),
    };
    let routes = Routes::new(limited(
        &service,
        SessionServiceServer::new(SessionApi::new(shared.clone())).max_decoding_message_size(max),
    ))
    .add_service(limited(
        &service,
        AgentContextServiceServer::new(AgentContextApi::new(shared.clone()))
            .max_decoding_message_size(max),
    ))
    .add_service(limited(
        &service,
        ApprovalServiceServer::new(ApprovalApi::new(shared.clone())).max_decoding_message_size(max),
    ))
    .add_service(limited(
        &service,
        admin.server(crate::grpc::admin::AdminHooks::new(shared.clone()), max),
    ));
    let auth = if shared.auth.is_disabled() {
        "DISABLED"
    } else {
        "jwt"
    };
    service_kit::serve::serve(service, routes, listener, shutdown, |addr, tls| {
        tracing::info!(%addr, auth, tls, "agent-runtime serving");
    })
    .await
}

const SESSION: &str = "codelab.agent.v1.SessionService";
const AGENT_CONTEXT: &str = "codelab.agent.v1.AgentContextService";
const APPROVAL: &str = "codelab.agent.v1.ApprovalService";
const ADMIN: &str = "codelab.admin.v1.DatabaseAdmin";

pub use db_core::service::shutdown_signal;
