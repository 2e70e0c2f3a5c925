//! The server: database, migrations, seed data, signing keys, the three services, the HTTP JWK
//! Set route, health, reflection, request limits and graceful shutdown.

use crate::config::{Config, ConfigError};
use crate::error::Error;
use crate::grpc::{AddressSource, AuthApi, ClientApi, Shared, UserApi};
use crate::keys::KeyRing;
use crate::oauth::OAuth;
use crate::passwords::Passwords;
use crate::seed::Generated;
use crate::store::Store;
use codelab_proto::auth::v1::auth_service_server::AuthServiceServer;
use codelab_proto::auth::v1::client_service_server::ClientServiceServer;
use codelab_proto::auth::v1::user_service_server::UserServiceServer;
use db_core::{DbError, Pool};
use service_kit::limit::SizeLimited;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// Path of the JWK Set over plain HTTP (RFC 8414 §2 `jwks_uri` convention).
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// `Cache-Control` of the HTTP JWK Set: short enough that a rotation reaches verifiers soon
/// (verifiers also refetch on an unknown `kid`).
pub const JWKS_CACHE_CONTROL: &str = "public, max-age=300";

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Invalid configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database could not be reached or migrated.
    #[error("database: {0}")]
    Database(#[from] DbError),
    /// Seeding or loading the signing keys failed.
    #[error("start-up: {0}")]
    Startup(#[from] Error),
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

/// Checks that every stored signing key opens under the configured KEKs and seals the
/// plaintext ones (a database made before envelope encryption), in one transaction; a KEK that
/// cannot open a row stops the start as a [`ConfigError`] naming the variable.
async fn seal_signing_keys(store: &Store, keks: &crate::kek::Keks) -> Result<(), ServeError> {
    use crate::store::{Reseal, SealError};
    match store.seal_signing_keys(keks, Reseal::Plaintext).await {
        Ok(sealed) => {
            if !sealed.rewritten.is_empty() {
                tracing::warn!(
                    kids = ?sealed.rewritten,
                    kek = keks.primary_id(),
                    "sealed plaintext signing keys under the key-encryption key"
                );
            }
            Ok(())
        }
        Err(SealError::Kek(e)) => Err(ConfigError(e.0).into()),
        Err(SealError::Store(e)) => Err(e.into()),
    }
}

/// Binds `config.grpc_addr` and serves until `shutdown` resolves (see [`serve`]).
///
/// # Errors
/// [`ServeError`] when the address cannot be bound or start-up fails.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    run_with(config, shutdown, None).await
}

/// [`run`], telling `on_generated` about first-start credentials (see [`serve_with`]).
///
/// # Errors
/// As [`run`].
pub async fn run_with(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_generated: Option<OnGenerated>,
) -> Result<(), ServeError> {
    let listener = TcpListener::bind(config.grpc_addr).await?;
    serve_with(config, listener, shutdown, on_generated).await
}

/// Told once, after seeding, what it generated (already written to the credentials file).
/// For a program that embeds the service and owns a terminal (`codelab up`); the service
/// itself only logs the file's path.
pub type OnGenerated = Box<dyn FnOnce(&Generated) + Send>;

const SERVICES: [&str; 5] = [
    "",
    "codelab.auth.v1.AuthService",
    "codelab.auth.v1.UserService",
    "codelab.auth.v1.ClientService",
    "codelab.admin.v1.DatabaseAdmin",
];

async fn set_serving(reporter: &HealthReporter, status: ServingStatus) {
    for service in SERVICES {
        reporter.set_service_status(service, status).await;
    }
}

/// Serves auth-service on `listener` until `shutdown` resolves (see [`serve_with`]).
///
/// # Errors
/// As [`serve_with`].
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    serve_with(config, listener, shutdown, None).await
}

/// Serves auth-service on `listener` until `shutdown` resolves: connects the pool, applies
/// pending migrations (unless `db.auto_migrate` is off), seeds the admin user and standard
/// clients on first start (generated credentials go to the credentials file, mode 0600, and
/// to `on_generated`; the log gets only the file's path), loads or creates
/// the signing keys, then serves `AuthService`, `UserService`, `ClientService`, grpc.health.v1,
/// reflection (v1 and v1alpha) and, on the same port over HTTP/1.1, `GET /.well-known/jwks.json`.
/// On shutdown it stops accepting, gives in-flight RPCs `shutdown_grace_secs`, and closes the
/// pool.
///
/// # Errors
/// [`ServeError`] when the database, migrations, seeding or keys fail at start, or the
/// transport fails.
pub async fn serve_with(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_generated: Option<OnGenerated>,
) -> Result<(), ServeError> {
    config.validate()?;
    let keks = config.key_encryption_keys()?;
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
    let store = Store::new(pool.clone());
    let passwords = Passwords::new(&config.password)?;
    if config.password.below_owasp() {
        tracing::warn!(
            "AUTH_SERVICE__PASSWORD__* is below the OWASP minimum (argon2id m=19456 KiB, t=2, \
             p=1); use it for tests only"
        );
    }
    let generated = crate::seed::seed(&store, &passwords, &config).await?;
    if let Some(file) = &generated.file {
        let what = match (&generated.admin_password, &generated.internal_client_secret) {
            (Some(_), Some(_)) => "the admin password and the codelab-internal secret",
            (Some(_), None) => "the admin password",
            _ => "the codelab-internal secret",
        };
        // The path only: log pipelines must never receive a password.
        tracing::warn!(
            path = %file.display(),
            "first start: generated {what}, written to the credentials file (owner-only); \
             store the file's content and delete it, or set AUTH_SERVICE__ADMIN_PASSWORD / \
             AUTH_SERVICE__INTERNAL_CLIENT_SECRET to choose them"
        );
        if let Some(announce) = on_generated {
            announce(&generated);
        }
    }
    seal_signing_keys(&store, &keks).await?;
    let keys = KeyRing::load(
        store.clone(),
        keks,
        config.issuer.clone(),
        config.audience.clone(),
        config.leeway_secs,
        Duration::from_secs(config.key_refresh_secs),
    )
    .await?;
    let reload = tokio::spawn(keys.clone().reload_periodically());
    let oauth = OAuth::new(store.clone(), keys.clone(), passwords.clone(), &config);
    let shared = Shared {
        oauth,
        store,
        passwords,
        allow_registration: config.allow_registration,
        address: AddressSource::from_settings(&config.lockout),
    };
    let max = config.max_request_bytes;

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

    let limit = crate::grpc::rate_limit::RateLimit::new(
        &config.rate_limit,
        AddressSource::from_settings(&config.lockout),
    );
    let forget = tokio::spawn(limit.clone().forget_idle_periodically());
    // Every service gets the same request limit, answered with RESOURCE_EXHAUSTED and an
    // ErrorInfo (service-kit's limit.rs), health and reflection included.
    let refuse: service_kit::limit::Refusal = |size, limit| {
        service_kit::limit::request_too_large(crate::grpc::status::DOMAIN, size, limit)
    };
    let routes = Routes::new(SizeLimited::new(
        health_service.max_decoding_message_size(max),
        max,
        refuse,
    ))
    .add_service(SizeLimited::new(
        reflection_v1.max_decoding_message_size(max),
        max,
        refuse,
    ))
    .add_service(SizeLimited::new(
        reflection_v1alpha.max_decoding_message_size(max),
        max,
        refuse,
    ))
    .add_service(InterceptedService::new(
        SizeLimited::new(
            AuthServiceServer::new(AuthApi::new(shared.clone())).max_decoding_message_size(max),
            max,
            refuse,
        ),
        limit.interceptor(),
    ))
    .add_service(InterceptedService::new(
        SizeLimited::new(
            UserServiceServer::new(UserApi::new(shared.clone())).max_decoding_message_size(max),
            max,
            refuse,
        ),
        limit.interceptor(),
    ))
    .add_service(InterceptedService::new(
        SizeLimited::new(
            ClientServiceServer::new(ClientApi::new(shared.clone())).max_decoding_message_size(max),
            max,
            refuse,
        ),
        limit.interceptor(),
    ))
    .add_service(InterceptedService::new(
        SizeLimited::new(
            database_admin::DatabaseAdminService::new(
                admin.clone(),
                crate::grpc::admin::AdminHooks::new(shared),
            )
            .into_server()
            .max_decoding_message_size(max),
            max,
            refuse,
        ),
        limit.interceptor(),
    ));
    let jwks_keys = keys.clone();
    let router = routes.into_axum_router().route(
        JWKS_PATH,
        axum::routing::get(move || {
            let keys = jwks_keys.clone();
            async move {
                (
                    [
                        (http::header::CONTENT_TYPE, "application/jwk-set+json"),
                        (http::header::CACHE_CONTROL, JWKS_CACHE_CONTROL),
                    ],
                    keys.current_jwks_json().await,
                )
            }
        }),
    );

    let metrics = db_core::metrics::Metrics::new(
        "auth-service",
        &[
            SERVICES[1],
            SERVICES[2],
            SERVICES[3],
            SERVICES[4],
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ],
        &[JWKS_PATH],
        vec![("auth".to_owned(), pool.clone())],
    );
    let metrics_endpoint = match config.metrics_addr {
        Some(addr) => Some(db_core::metrics::MetricsEndpoint::start(addr, metrics.clone()).await?),
        None => None,
    };

    let addr = listener.local_addr()?;
    let tls = service_kit::tls::TlsServer::from_settings(&config.tls)
        .map_err(|e| ConfigError(format!("AUTH_SERVICE__TLS__*: {e}")))?;
    let reloader = tls.as_ref().map(|t| {
        service_kit::reload::spawn_watcher(t.cert().clone(), service_kit::reload::POLL_INTERVAL)
    });
    tracing::info!(%addr, issuer = %config.issuer, tls = tls.is_some(), "auth-service serving (gRPC; HTTP {JWKS_PATH})");

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, finishing in-flight RPCs");
        let _ = stop_tx.send(());
    };
    let server = Server::builder()
        .accept_http1(true)
        .trace_fn(|req| tracing::info_span!("rpc", method = %req.uri().path()))
        .layer(metrics.layer())
        .add_routes(Routes::from(router))
        // Plain TCP or TLS (service-kit), TCP_NODELAY either way.
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
    reload.abort();
    if let Some(task) = reloader {
        task.abort();
    }
    forget.abort();
    if let Some(task) = scheduled {
        task.abort();
    }
    if let Some(endpoint) = metrics_endpoint {
        endpoint.stop().await;
    }
    pool.close();
    tracing::info!("auth-service stopped");
    result
}
