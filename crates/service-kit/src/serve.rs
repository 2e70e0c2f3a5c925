//! Serving one service: the tonic server both services run, around the routes that are their
//! own. It adds grpc.health.v1 (tracking the database's reachability) and reflection v1 and
//! v1alpha, puts the request size limit on those too, adds `GET /health` and the answer to
//! unknown paths ([`crate::http_routes`]), serves every gRPC service as gRPC-Web too
//! ([`crate::grpc_web`]) with CORS for the configured origins ([`crate::cors`]), counts every
//! request (Prometheus, optionally served on its own address), serves HTTP/2 and HTTP/1.1 over
//! plain TCP or TLS (with certificate reload), and stops gracefully: no new connections,
//! in-flight RPCs get the grace period, then the service's background tasks stop and the pool
//! closes.
//!
//! Layers, outermost first: the request span, metrics, CORS, gRPC-Web, then the routes (the
//! service's own, health, reflection, `/health`, the unknown-path fallback). CORS sits outside
//! gRPC-Web so that a preflight never reaches the translation and every answer, a gRPC-Web
//! one included, gets the CORS headers.

use crate::cors::CorsSettings;
use crate::http_routes::Reachable;
use crate::limit::{Refusal, SizeLimited};
use crate::settings::ConfigError;
use crate::tls::{TlsServer, TlsSettings};
use db_core::{DbError, Pool};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::AbortHandle;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// Why a service could not start or stopped with an error; `E` is the service's own start-up
/// failure (shown as it displays itself).
#[derive(Debug, thiserror::Error)]
pub enum ServeError<E: std::error::Error + 'static> {
    /// Invalid configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database could not be reached or migrated.
    #[error("database: {0}")]
    Database(#[from] DbError),
    /// The service's own start-up step failed.
    #[error(transparent)]
    Service(E),
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

/// What the server needs to know about the service it serves, besides its routes.
pub struct Service {
    /// Name in log lines and the metrics' `service` label (`agent-runtime`).
    pub name: &'static str,
    /// The service's version in `GET /health` (its `CARGO_PKG_VERSION`).
    pub version: &'static str,
    /// Environment prefix, to name the TLS and CORS variables in errors (`AGENT_RUNTIME`).
    pub env_prefix: &'static str,
    /// Full names of the gRPC services in the routes (`codelab.agent.v1.SessionService`):
    /// their health status follows the database, their RPCs are labelled in metrics.
    pub grpc_services: &'static [&'static str],
    /// The service's own HTTP paths in the routes, labelled in metrics
    /// (`/.well-known/jwks.json`); `/health` is always added.
    pub http_paths: &'static [&'static str],
    /// The database's name in metrics, and its pool: probed for health, closed at the end.
    pub database: (&'static str, Pool),
    /// Largest encoded request message, in bytes, on every service.
    pub max_request_bytes: usize,
    /// The answer to a larger request (the service's `RESOURCE_EXHAUSTED`).
    pub refuse: Refusal,
    /// How often the database is probed for the health service.
    pub health_check_interval: Duration,
    /// Time in-flight RPCs get to finish once `shutdown` has resolved.
    pub shutdown_grace: Duration,
    /// Prometheus `GET /metrics` address; none when unset.
    pub metrics_addr: Option<SocketAddr>,
    /// `…__TLS__*`: TLS when set, plaintext otherwise.
    pub tls: TlsSettings,
    /// `…__CORS__*`: the browser origins allowed to call the service; none by default.
    pub cors: CorsSettings,
    /// The service's background tasks, aborted when the server stops.
    pub tasks: Vec<AbortHandle>,
}

/// `inner` with the request size limit of `service` (see [`SizeLimited`]).
pub fn limited<S>(service: &Service, inner: S) -> SizeLimited<S> {
    SizeLimited::new(inner, service.max_request_bytes, service.refuse)
}

/// Serves `routes` (the service's own gRPC services, each already limited with [`limited`],
/// and any HTTP routes added through `Routes::into_axum_router`; none at `/health`) plus
/// health, reflection, `GET /health` and gRPC-Web on `listener` until `shutdown` resolves and
/// in-flight RPCs have finished or the grace period has passed. `announce` is told the bound
/// address and whether TLS is on once everything is ready, to log the service's own "serving"
/// line.
///
/// # Errors
/// [`ServeError`] when reflection, the metrics address, TLS or CORS cannot be set up, or the
/// transport fails.
pub async fn serve<E: std::error::Error + 'static>(
    service: Service,
    routes: Routes,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    announce: impl FnOnce(SocketAddr, bool),
) -> Result<(), ServeError<E>> {
    let pool = service.database.1.clone();
    // Shared by every database probe: a clone is a reference count, not a new list.
    let statuses: std::sync::Arc<[&'static str]> = std::iter::once("")
        .chain(service.grpc_services.iter().copied())
        .collect();
    let (reporter, health) = tonic_health::server::health_reporter();
    set_serving(&reporter, &statuses, ServingStatus::Serving).await;
    let database = Reachable::new();
    let probed = database.clone();
    let monitor = tokio::spawn(db_core::service::watch_database(
        pool.clone(),
        service.health_check_interval,
        move |reachable| {
            let reporter = reporter.clone();
            let statuses = statuses.clone();
            probed.set(reachable);
            async move {
                let status = if reachable {
                    ServingStatus::Serving
                } else {
                    ServingStatus::NotServing
                };
                set_serving(&reporter, &statuses, status).await;
            }
        },
    ));
    let served = Served {
        routes,
        health,
        database,
    };
    let result = serve_routes(&service, served, listener, shutdown, announce).await;
    monitor.abort();
    for task in &service.tasks {
        task.abort();
    }
    pool.close();
    tracing::info!("{} stopped", service.name);
    result
}

/// What [`serve_routes`] serves: the service's routes, the health service and the database
/// reachability behind `GET /health`.
struct Served<H> {
    routes: Routes,
    health: tonic_health::pb::health_server::HealthServer<H>,
    database: Reachable,
}

/// Everything of [`serve`] after health: reflection, metrics, TLS, the server, the grace period.
async fn serve_routes<E: std::error::Error + 'static>(
    service: &Service,
    served: Served<impl tonic_health::pb::health_server::Health>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    announce: impl FnOnce(SocketAddr, bool),
) -> Result<(), ServeError<E>> {
    let Served {
        routes,
        health,
        database: reachable,
    } = served;
    let cors = service
        .cors
        .layer(service.env_prefix)
        .map_err(ConfigError)?;
    let max = service.max_request_bytes;
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    // Every service gets the same request limit, health and reflection included.
    let routes = routes
        .add_service(limited(service, health.max_decoding_message_size(max)))
        .add_service(limited(
            service,
            reflection_v1.max_decoding_message_size(max),
        ))
        .add_service(limited(
            service,
            reflection_v1alpha.max_decoding_message_size(max),
        ));
    let routes = Routes::from(crate::http_routes::add(
        routes.into_axum_router(),
        reachable,
        service.version,
    ));

    let labelled: Vec<&str> = service
        .grpc_services
        .iter()
        .copied()
        .chain([
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ])
        .collect();
    let (database, pool) = &service.database;
    let http_paths: Vec<&str> = service
        .http_paths
        .iter()
        .copied()
        .chain([crate::http_routes::HEALTH_PATH])
        .collect();
    let metrics = db_core::metrics::Metrics::new(
        service.name,
        &labelled,
        &http_paths,
        vec![((*database).to_owned(), pool.clone())],
    );
    let metrics_endpoint = match service.metrics_addr {
        Some(addr) => Some(db_core::metrics::MetricsEndpoint::start(addr, metrics.clone()).await?),
        None => None,
    };
    let result = async {
        let addr = listener.local_addr()?;
        let tls = TlsServer::from_settings(&service.tls)
            .map_err(|e| ConfigError(format!("{}__TLS__*: {e}", service.env_prefix)))?;
        let reloader = tls
            .as_ref()
            .map(|t| crate::reload::spawn_watcher(t.cert().clone(), crate::reload::POLL_INTERVAL));
        announce(addr, tls.is_some());

        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections, finishing in-flight RPCs");
            let _ = stop_tx.send(());
        };
        let server = Server::builder()
            // gRPC-Web and plain HTTP clients (browsers, probes, curl) often speak HTTP/1.1.
            .accept_http1(true)
            .trace_fn(|req| tracing::info_span!("rpc", method = %req.uri().path()))
            .layer(metrics.layer())
            .layer(tower::util::option_layer(cors))
            .layer(crate::grpc_web::GrpcWebLayer)
            .add_routes(routes)
            // Plain TCP or TLS, TCP_NODELAY either way: without it, Nagle's algorithm and the
            // client's delayed ACK hold small responses for ~40 ms.
            .serve_with_incoming_shutdown(crate::incoming::incoming(listener, tls), signal);

        let grace = service.shutdown_grace;
        let result = tokio::select! {
            r = server => r.map_err(ServeError::from),
            () = async { let _ = stop_rx.await; tokio::time::sleep(grace).await } => {
                tracing::warn!(grace_secs = grace.as_secs(), "in-flight RPCs did not finish in time; stopping");
                Ok(())
            }
        };
        if let Some(task) = reloader {
            task.abort();
        }
        result
    }
    .await;
    if let Some(endpoint) = metrics_endpoint {
        endpoint.stop().await;
    }
    result
}

/// Sets the overall (`""`) and per-service health status.
async fn set_serving(reporter: &HealthReporter, services: &[&str], status: ServingStatus) {
    for service in services {
        reporter.set_service_status(service, status).await;
    }
}

/// Reflection over codelab's contract and grpc.health.v1, for both protocol versions.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(codelab_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}
