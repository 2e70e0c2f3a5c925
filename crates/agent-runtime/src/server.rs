//! The gRPC server: database, migrations, authentication, the three services, health,
//! reflection, the request size limit on every service and graceful shutdown.

use crate::auth::{AuthError, Authenticator};
use crate::config::{Config, ConfigError};
use crate::grpc::limit::size_limited;
use crate::grpc::{AgentContextApi, ApprovalApi, SessionApi, Shared};
use crate::page_token::PageTokens;
use crate::store::Store;
use codelab_proto::agent::v1::agent_context_service_server::AgentContextServiceServer;
use codelab_proto::agent::v1::approval_service_server::ApprovalServiceServer;
use codelab_proto::agent::v1::session_service_server::SessionServiceServer;
use db_core::{DbError, Pool};
use secrecy::ExposeSecret;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Invalid configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database could not be reached or migrated.
    #[error("database: {0}")]
    Database(#[from] DbError),
    /// The token verifier could not be set up (no JWK Set).
    #[error("authentication setup: {0}")]
    Auth(#[from] AuthError),
    /// Binding the address or accepting connections failed.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    /// The gRPC transport failed.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The reflection service could not be built.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

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
    tracing::info!(database = %url, "connecting to database");
    let pool = Pool::connect(&url, &config.db.pool_config()).await?;
    if config.db.auto_migrate {
        let applied = db_core::migrate::run_pending(&pool, &crate::migrations::MIGRATIONS).await?;
        if !applied.is_empty() {
            tracing::info!(?applied, "applied migrations");
        }
    } else {
        // Not migrating is allowed; running on a schema whose migrations were edited is not.
        db_core::migrate::check(&pool, &crate::migrations::MIGRATIONS).await?;
    }
    let auth = Authenticator::from_config(&config.auth).await?;
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
    let max = config.limits.max_request_bytes;
    let admin = database_admin::DatabaseOps::new(
        url.clone(),
        config.backup.dir.clone(),
        &crate::migrations::MIGRATIONS,
        crate::grpc::status::DOMAIN,
    );
    let scheduled = database_admin::spawn_scheduled_backups(&admin, &config.backup);

    let (reporter, health_service) = tonic_health::server::health_reporter();
    set_serving(&reporter, ServingStatus::Serving).await;
    let monitor = {
        let reporter = reporter.clone();
        tokio::spawn(db_core::service::watch_database(
            pool.clone(),
            Duration::from_millis(config.health_check_interval_ms),
            move |reachable| {
                let reporter = reporter.clone();
                async move {
                    let status = if reachable {
                        ServingStatus::Serving
                    } else {
                        ServingStatus::NotServing
                    };
                    set_serving(&reporter, status).await;
                }
            },
        ))
    };

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(codelab_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(codelab_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let metrics = db_core::metrics::Metrics::new(
        "agent-runtime",
        &[
            SESSION,
            AGENT_CONTEXT,
            APPROVAL,
            ADMIN,
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ],
        &[],
        vec![("agent_runtime".to_owned(), pool.clone())],
    );
    let metrics_endpoint = match config.metrics_addr {
        Some(addr) => Some(db_core::metrics::MetricsEndpoint::start(addr, metrics.clone()).await?),
        None => None,
    };

    let addr = listener.local_addr()?;
    let tls = service_kit::tls::TlsServer::from_settings(&config.tls)
        .map_err(|e| ConfigError(format!("AGENT_RUNTIME__TLS__*: {e}")))?;
    let reloader = tls.as_ref().map(|t| {
        service_kit::reload::spawn_watcher(t.cert().clone(), service_kit::reload::POLL_INTERVAL)
    });
    tracing::info!(%addr, auth = if shared.auth.is_disabled() { "DISABLED" } else { "jwt" }, tls = tls.is_some(), "agent-runtime serving");

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, finishing in-flight RPCs");
        let _ = stop_tx.send(());
    };
    // Every service gets the same request limit; `size_limited` turns the decoder's refusal
    // into RESOURCE_EXHAUSTED with an ErrorInfo (grpc/limit.rs).
    let server = Server::builder()
        .trace_fn(|req| tracing::info_span!("rpc", method = %req.uri().path()))
        .layer(metrics.layer())
        .add_service(size_limited(
            health_service.max_decoding_message_size(max),
            max,
        ))
        .add_service(size_limited(
            reflection_v1.max_decoding_message_size(max),
            max,
        ))
        .add_service(size_limited(
            reflection_v1alpha.max_decoding_message_size(max),
            max,
        ))
        .add_service(size_limited(
            SessionServiceServer::new(SessionApi::new(shared.clone()))
                .max_decoding_message_size(max),
            max,
        ))
        .add_service(size_limited(
            AgentContextServiceServer::new(AgentContextApi::new(shared.clone()))
                .max_decoding_message_size(max),
            max,
        ))
        .add_service(size_limited(
            ApprovalServiceServer::new(ApprovalApi::new(shared.clone()))
                .max_decoding_message_size(max),
            max,
        ))
        .add_service(size_limited(
            database_admin::DatabaseAdminService::new(
                admin,
                crate::grpc::admin::AdminHooks::new(shared),
            )
            .into_server()
            .max_decoding_message_size(max),
            max,
        ))
        // Plain TCP or TLS (service-kit), TCP_NODELAY either way: without it, Nagle's algorithm
        // and the client's delayed ACK hold small responses for ~40 ms.
        .serve_with_incoming_shutdown(service_kit::incoming::incoming(listener, tls), signal);

    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let result = tokio::select! {
        r = server => r.map_err(ServeError::from),
        () = async { let _ = stop_rx.await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_secs = grace.as_secs(), "in-flight RPCs did not finish in time; stopping");
            Ok(())
        }
    };
    monitor.abort();
    if let Some(task) = reloader {
        task.abort();
    }
    if let Some(endpoint) = metrics_endpoint {
        endpoint.stop().await;
    }
    if let Some(task) = scheduled {
        task.abort();
    }
    pool.close();
    tracing::info!("agent-runtime stopped");
    result
}

/// Sets the overall and per-service health status.
async fn set_serving(reporter: &HealthReporter, status: ServingStatus) {
    for service in ["", SESSION, AGENT_CONTEXT, APPROVAL, ADMIN] {
        reporter.set_service_status(service, status).await;
    }
}

const SESSION: &str = "codelab.agent.v1.SessionService";
const AGENT_CONTEXT: &str = "codelab.agent.v1.AgentContextService";
const APPROVAL: &str = "codelab.agent.v1.ApprovalService";
const ADMIN: &str = "codelab.admin.v1.DatabaseAdmin";

pub use db_core::service::shutdown_signal;
