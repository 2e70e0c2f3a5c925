//! The server of auth-service: its database, migrations, seed data, signing keys, three services
//! and the OAuth endpoints over HTTP ([`crate::oauth_http`]), served by service-kit (health,
//! reflection, gRPC-Web, CORS, `GET /health`, the request size limit on every service, metrics,
//! TLS and graceful shutdown).

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
use service_kit::serve::limited;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::service::interceptor::InterceptedService;

use crate::oauth_http::JWKS_PATH;

/// Why the server could not start or stopped with an error.
pub type ServeError = service_kit::serve::ServeError<StartError>;

/// auth-service's own start-up failure: seeding or loading the signing keys failed.
#[derive(Debug, thiserror::Error)]
#[error("start-up: {0}")]
pub struct StartError(#[from] pub Error);

/// `err` as the [`ServeError`] of a failed start-up step.
fn startup(err: Error) -> ServeError {
    ServeError::Service(StartError(err))
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
        Err(SealError::Store(e)) => Err(startup(e)),
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

/// The gRPC services auth-service registers besides health and reflection.
const SERVICES: [&str; 4] = [
    "codelab.auth.v1.AuthService",
    "codelab.auth.v1.UserService",
    "codelab.auth.v1.ClientService",
    "codelab.admin.v1.DatabaseAdmin",
];

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
/// reflection (v1 and v1alpha), gRPC-Web, and on the same port over HTTP the OAuth endpoints
/// ([`crate::oauth_http`]: `/oauth/token`, `/oauth/revoke`, `/oauth/introspect`, RFC 8414
/// metadata, the JWK Set) and `GET /health`.
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
    let pool =
        service_kit::database::open(&url, &config.db, &crate::migrations::MIGRATIONS).await?;
    let store = Store::new(pool.clone());
    let passwords = Passwords::new(&config.password).map_err(startup)?;
    if config.password.below_owasp() {
        tracing::warn!(
            "AUTH_SERVICE__PASSWORD__* is below the OWASP minimum (argon2id m=19456 KiB, t=2, \
             p=1); use it for tests only"
        );
    }
    let generated = crate::seed::seed(&store, &passwords, &config)
        .await
        .map_err(startup)?;
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
    .await
    .map_err(startup)?;
    let reload = tokio::spawn(keys.clone().reload_periodically());
    let oauth = OAuth::new(store.clone(), keys.clone(), passwords.clone(), &config);
    let shared = Shared {
        oauth,
        store,
        passwords,
        allow_registration: config.allow_registration,
        address: AddressSource::from_settings(&config.lockout),
    };
    let admin = service_kit::admin::Admin::start(
        url,
        &config.backup,
        &crate::migrations::MIGRATIONS,
        crate::grpc::status::DOMAIN,
    );
    let limit = crate::grpc::rate_limit::RateLimit::new(
        &config.rate_limit,
        AddressSource::from_settings(&config.lockout),
    );
    let forget = tokio::spawn(limit.clone().forget_idle_periodically());

    let max = config.max_request_bytes;
    let http =
        crate::oauth_http::HttpApi::new(shared.clone(), limit.clone(), keys, max, &config.issuer);
    let service = service_kit::serve::Service {
        name: "auth-service",
        version: env!("CARGO_PKG_VERSION"),
        env_prefix: crate::config::ENV_PREFIX,
        grpc_services: &SERVICES,
        http_paths: &crate::oauth_http::PATHS,
        database: ("auth", pool),
        max_request_bytes: max,
        // RESOURCE_EXHAUSTED with an ErrorInfo (service-kit's limit.rs) in auth-service's domain.
        refuse: |size, limit| {
            service_kit::limit::request_too_large(crate::grpc::status::DOMAIN, size, limit)
        },
        health_check_interval: Duration::from_millis(config.health_check_interval_ms),
        shutdown_grace: Duration::from_secs(config.shutdown_grace_secs),
        metrics_addr: config.metrics_addr,
        tls: config.tls.clone(),
        cors: config.cors.clone(),
        tasks: [reload.abort_handle(), forget.abort_handle()]
            .into_iter()
            .chain(admin.scheduled())
            .collect(),
    };
    // Every auth-service service is rate limited per address.
    let routes = Routes::new(InterceptedService::new(
        limited(
            &service,
            AuthServiceServer::new(AuthApi::new(shared.clone())).max_decoding_message_size(max),
        ),
        limit.interceptor(),
    ))
    .add_service(InterceptedService::new(
        limited(
            &service,
            UserServiceServer::new(UserApi::new(shared.clone())).max_decoding_message_size(max),
        ),
        limit.interceptor(),
    ))
    .add_service(InterceptedService::new(
        limited(
            &service,
            ClientServiceServer::new(ClientApi::new(shared.clone())).max_decoding_message_size(max),
        ),
        limit.interceptor(),
    ))
    .add_service(InterceptedService::new(
        limited(
            &service,
            admin.server(crate::grpc::admin::AdminHooks::new(shared.clone()), max),
        ),
        limit.interceptor(),
    ));
    // The OAuth endpoints over HTTP, on the same port (HTTP/1.1 and HTTP/2).
    let router = routes.into_axum_router().merge(http.router());
    let issuer = &config.issuer;
    service_kit::serve::serve(
        service,
        Routes::from(router),
        listener,
        shutdown,
        |addr, tls| {
            tracing::info!(%addr, %issuer, tls, "auth-service serving (gRPC; HTTP /oauth/*, {JWKS_PATH})");
        },
    )
    .await
}
